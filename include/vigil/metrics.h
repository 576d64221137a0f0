/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus text exposition (format 0.0.4) of vigild's status document
 * (the reply of the `status` control command). Pure: the same function feeds
 * the node_exporter textfile, the optional HTTP endpoint and `vigilctl metrics`.
 * The metric names are documented in docs/monitoring.md.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>

/* Render status as exposition text; *out is malloc'd and NUL-terminated.
 * now is written as vigil_metrics_timestamp_seconds. Returns 0 or -ENOMEM. */
int vg_metrics_render(const json_t *status, time_t now, char **out, size_t *len);

/* The names of every metric family, in output order (for the docs test). */
size_t vg_metrics_families(const char *const **names);

#endif
