/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's core: the event loop, the subsystem (module) interface and the
 * daemon state every module sees. Each subsystem (enforce, elevation,
 * identity, posture, audit forwarding) is one struct vg_module listed in
 * agent/modules.c.
 */
#ifndef VIGIL_DAEMON_H
#define VIGIL_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "vigil/bundle.h"
#include "vigil/config.h"
#include "vigil/err.h"

struct vg_daemon;

struct vg_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool admin; /* root or member of the admin group */
};

/* Subsystems. Every callback is optional. */
struct vg_module {
	const char *name;
	/* after config load, before the first bundle is applied; may fail the start */
	int (*init)(struct vg_daemon *d, struct vg_err *err);
	/* A new bundle passed every generic check. Build everything needed to run it
	 * beside the running state, without changing the running state. Failing here
	 * rejects the bundle with err. */
	int (*prepare)(struct vg_daemon *d, const struct vg_bundle *b, void **staged, struct vg_err *err);
	/* Switch to the staged state. Must not fail (allocate in prepare). */
	void (*commit)(struct vg_daemon *d, const struct vg_bundle *b, void *staged);
	/* Another module's prepare failed: drop what prepare built. */
	void (*abort)(struct vg_daemon *d, void *staged);
	/* Handle a ctl command; return -ENOENT when cmd is not this module's.
	 * On success *reply is an object (the core adds "ok": true). */
	int (*ctl)(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req,
		   json_t **reply, struct vg_err *err);
	/* add this module's part to `vigilctl status` */
	void (*status)(struct vg_daemon *d, json_t *status);
	void (*shutdown)(struct vg_daemon *d);
};

extern const struct vg_module *vg_modules[];
/* vg_modules[i] failed to init: it is replaced by a stand-in whose status says "failed" and why. */
void vg_module_failed(size_t i, const struct vg_err *err);

/* Event loop */
typedef void (*vg_io_cb)(struct vg_daemon *d, int fd, uint32_t events, void *arg);
typedef void (*vg_timer_cb)(struct vg_daemon *d, void *arg);
int vg_loop_add_fd(struct vg_daemon *d, int fd, uint32_t events, vg_io_cb cb, void *arg);
void vg_loop_del_fd(struct vg_daemon *d, int fd);
/* one-shot timer in ms from now; returns an id > 0 */
int vg_loop_add_timer(struct vg_daemon *d, uint64_t delay_ms, vg_timer_cb cb, void *arg);
void vg_loop_cancel_timer(struct vg_daemon *d, int id);
/* Until UNTIL_NS (CLOCK_MONOTONIC ns) the loop polls its events without sleeping; 0 ends it at
 * once. For a module that expects an event within microseconds, where a sleep and a wakeup cost
 * more than the wait (the DNS forwarder, docs/dns.md); the module bounds the time itself. */
void vg_loop_busy_poll(struct vg_daemon *d, uint64_t until_ns);

/* Daemon state visible to modules */
const struct vg_config *vg_daemon_config(struct vg_daemon *d);
/* The running bundle, or NULL when none is applied. */
const struct vg_bundle *vg_daemon_bundle(struct vg_daemon *d);
const char *vg_daemon_hostname(struct vg_daemon *d);
/* The `status` document (what `vigilctl status` shows) into out. */
void vg_daemon_status(struct vg_daemon *d, json_t *out);

/* Answering later: in a ctl handler, the caller's request being handled (each request of a
 * pipelined connection has its own); the handler returns -EINPROGRESS and answers once with
 * vg_client_reply (r < 0: err is the answer). Answers go out in the order of the requests. */
struct vg_client;
struct vg_client *vg_ctl_defer(struct vg_daemon *d);
void vg_client_reply(struct vg_daemon *d, struct vg_client *c, int r, json_t *reply, const struct vg_err *err);
/* The caller of a deferred request hung up: its answer can no longer arrive. */
bool vg_client_gone(const struct vg_client *c);
/* In a ctl handler: the request being handled is answered without waiting for its audit records
 * to be durable. Only for an answer that authorises nothing (docs/audit.md "Durability"):
 * records become durable in seq order, so every later answer that waits covers them too. */
void vg_ctl_answer_before_durable(struct vg_daemon *d);

/* Audit: one emitter for every subsystem. type without the "dev.vigil." prefix,
 * e.g. "policy.applied". data is stolen. Adds policy_digest automatically. */
int vg_daemon_audit(struct vg_daemon *d, const char *type, const char *subject, json_t *data);

/* Log to stderr with a syslog priority prefix ("<3>" ...) that journald reads. */
void vg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
