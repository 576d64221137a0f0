/* SPDX-License-Identifier: Apache-2.0 */
/* The audit module of vigild (docs/audit.md): what other modules may ask it. */
#ifndef VIGIL_AGENT_AUDIT_H
#define VIGIL_AGENT_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"

/* The spool is full and when_full=degrade: elevation must be refused with reason
 * "audit_degraded"; egress deny events are aggregated into counts. */
bool vg_audit_degraded(struct vg_daemon *d);

/* Group commit across producers (docs/audit.md "Durability"): the seq the next event gets,
 * and a callback once every record before `end` is durable (r = 0) or the disk refused the
 * batch holding them (r < 0: nothing in it may be acknowledged). The callback runs from the
 * loop after that commit. Returns 1 (no callback) when they are durable already, 0 when
 * queued, -errno. */
typedef void (*vg_audit_durable_cb)(struct vg_daemon *d, int r, void *arg);
uint64_t vg_audit_next_seq(struct vg_daemon *d);
int vg_audit_when_durable(struct vg_daemon *d, uint64_t end, vg_audit_durable_cb cb, void *arg);

/* The local log's event records from seq `from` on, oldest first, as fn(type, data, arg) with
 * the type without its "dev.vigil." prefix: for state a module writes after answering and
 * rebuilds from records that were durable before the answer (elevation's sign counters).
 * Bytes that are not a record are skipped. 0, or -errno (-ENODEV: no log open). */
typedef void (*vg_audit_replay_cb)(const char *type, json_t *data, void *arg);
int vg_audit_replay(struct vg_daemon *d, uint64_t from, vg_audit_replay_cb fn, void *arg, struct vg_err *err);

#endif
