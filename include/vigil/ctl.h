/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control-socket wire format (docs/control-socket.md): each message is a
 * 4-byte big-endian length followed by that many bytes of one JSON object.
 * Requests carry "cmd"; replies carry "ok" and, on failure, "error".
 */
#ifndef VIGIL_CTL_H
#define VIGIL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "vigil/err.h"

#define VG_CTL_DEFAULT_SOCKET "/run/vigil/vigil.sock"
#define VG_CTL_MAX_FRAME (1u << 30) /* no request is ever larger; admins get vg_ctl_max_request() */
#define VG_CTL_MAX_REPLY (64u << 20)
#define VG_CTL_TIMEOUT_MS 5000
#define VG_CTL_USER_MAX_REQUEST (256u << 10) /* non-admin callers never need more */
#define VG_CTL_ADMIN_IDLE_MS 120000	     /* an admin's request: at most this long without progress */
#define VG_CTL_PIPELINE_MAX 64		     /* requests in flight on one pipelined connection, at most */

/* err->code of a failed call: nothing listens on the socket (missing, refused) ... */
#define VG_CTL_ABSENT "vigild_absent"
/* ... or vigild exists but does not answer in time (backlog full, reset, stopped, timeout). */
#define VG_CTL_BUSY "vigild_busy"

/* The largest request an admin may send: a bundle of max_bundle_bytes and its signature, base64,
 * inside JSON. vigild enforces it; vigilctl checks it before sending. */
uint32_t vg_ctl_max_request(uint64_t max_bundle_bytes);

/* Client side: connect, send req, wait for the reply; every step bounded by timeout_ms together. */
int vg_ctl_call(const char *socket_path, json_t *req, json_t **reply, int timeout_ms, struct vg_err *err);

/*
 * A policy.push larger than VG_CTL_USER_MAX_REQUEST goes as raw bytes (docs/control-socket.md):
 * the frame's body is one line of JSON, {"cmd":"policy.push","bundle_bytes":N,"sig_bytes":M},
 * a newline, then the N bytes of the bundle and the M bytes of its signature.
 */
struct vg_ctl_push {
	size_t bundle_off, bundle_len, sig_off, sig_len;
};
/* A raw push's first bytes: the 4-byte frame length and the header line; returns their number,
 * -EMSGSIZE beyond 1 GiB. The bundle's and the signature's bytes follow it unchanged. */
#define VG_CTL_PUSH_HEAD_MAX 128
int vg_ctl_push_head(size_t len, size_t siglen, char head[VG_CTL_PUSH_HEAD_MAX]);
/* vg_ctl_call for a raw push: the three parts are sent from where they are, never copied. */
int vg_ctl_call_push(const char *socket_path, const char *bundle, size_t len, const char *sig, size_t siglen,
		     json_t **reply, int timeout_ms, struct vg_err *err);
/* 1 with the parts' places when body is a raw push, 0 when it is none (a JSON request), -EINVAL
 * with err when its header says raw push and the rest does not match it. Fuzzed (fuzz_push). */
int vg_ctl_push_split(const char *body, size_t len, struct vg_ctl_push *out, struct vg_err *err);
/* Pipelined client (docs/control-socket.md "Pipelining"): one connection carries many requests,
 * answered in the order they were sent. open asks vigild for up to `window` requests in flight
 * (0: VG_CTL_PIPELINE_MAX; vigild may grant fewer). send queues a request (req is not stolen)
 * and fails with -ENOBUFS while the window is full: recv the oldest answer first. recv returns
 * the answer of the oldest request still waiting. Each call is bounded by timeout_ms. */
struct vg_ctl_pipe;
int vg_ctl_pipe_open(const char *socket_path, unsigned window, int timeout_ms, struct vg_ctl_pipe **out,
		     struct vg_err *err);
int vg_ctl_pipe_send(struct vg_ctl_pipe *p, json_t *req, struct vg_err *err);
int vg_ctl_pipe_recv(struct vg_ctl_pipe *p, json_t **reply, struct vg_err *err);
unsigned vg_ctl_pipe_inflight(const struct vg_ctl_pipe *p);
void vg_ctl_pipe_close(struct vg_ctl_pipe *p);
/* Encode a message into a freshly allocated frame. */
int vg_ctl_frame(json_t *msg, char **out, size_t *len);
/* Parse a request body (bounded, strict: object with string "cmd"). Fuzzed. */
int vg_ctl_parse_request(const char *buf, size_t len, json_t **out, struct vg_err *err);
json_t *vg_ctl_error_reply(const struct vg_err *err);
/* The one answer to "is vigild down" (failmode=safe, break-glass): the call failed as absent, or
 * vigild answered that it has no policy. A busy or refusing vigild is not down. */
bool vg_ctl_vigild_absent(const struct vg_err *err);

/* Who may call a command: the one authorisation table (vg_ctl_commands), checked by vigild before
 * any module sees the request and printed into docs/control-socket.md by `vigild --list-commands`. */
enum vg_ctl_who {
	VG_CTL_ANYONE, /* any local user: public status, or data about the caller only */
	VG_CTL_ADMIN,  /* uid 0 or a member of admin_group */
	VG_CTL_ROOT,   /* uid 0 only (pam_vigil.so) */
};

struct vg_ctl_command {
	const char *name;
	enum vg_ctl_who who;
	const char *what;
};

extern const struct vg_ctl_command vg_ctl_commands[];
const struct vg_ctl_command *vg_ctl_command_find(const char *name);
const char *vg_ctl_who_name(enum vg_ctl_who who);
/* 0 when a caller (uid, admin) may run name; else -EPERM "permission_denied" or -ENOENT
 * "unknown_command" with err */
int vg_ctl_authorize(const char *name, uid_t uid, bool admin, const char *admin_group, struct vg_err *err);

#endif
