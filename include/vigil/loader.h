/* SPDX-License-Identifier: Apache-2.0 */
/* The host-dependent checks of the bundle loader, as pure functions (docs/bundle.md#loading). */
#ifndef VIGIL_LOADER_H
#define VIGIL_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vigil/bundle.h"
#include "vigil/err.h"

int vg_check_size(size_t len, uint64_t max, struct vg_err *err);
/* hostname matches one of scope.hosts (fnmatch, case-insensitive) and every scope label is in
 * labels ("k=v,k2=v2") */
int vg_check_scope(const struct vg_bundle *b, const char *hostname, const char *labels, struct vg_err *err);
/* the same for any signed document's scope; what names the document in the message ("bundle") */
int vg_scope_check(const struct vg_scope *sc, const char *what, const char *hostname, const char *labels,
		   struct vg_err *err);
/* issued_at <= now + skew; expires_at > now (an expired bundle is still re-applied at startup) */
int vg_check_time(const struct vg_bundle *b, time_t now, uint32_t skew_s, bool startup, struct vg_err *err);
/* version > highest, or == highest with the same digest (re-apply); -EALREADY when it already runs */
int vg_check_version(const struct vg_bundle *b, int64_t highest, const char *highest_digest,
		     const char *running_digest, bool startup, struct vg_err *err);

#endif
