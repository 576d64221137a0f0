/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SCIM 2.0 (RFC 7643/7644) /Users and /Groups list responses -> the bundle's
 * identity section (docs/scim.md). Pure: JSON text in, identity JSON and
 * warnings out; bounded, fuzzed (fuzz/fuzz_scim.c).
 */
#ifndef VIGIL_SCIM_H
#define VIGIL_SCIM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

#define VG_SCIM_USER_EXT "urn:ietf:params:scim:schemas:extension:posix:2.0:User"
#define VG_SCIM_GROUP_EXT                                                      \
  "urn:ietf:params:scim:schemas:extension:posix:2.0:Group"
#define VG_SCIM_MAX_BYTES (64u << 20) /* per input document */
#define VG_SCIM_MAX_PAGES 1000
#define VG_SCIM_MAX_USERS 200000
#define VG_SCIM_MAX_GROUPS 100000
#define VG_SCIM_MAX_MEMBERS 200000 /* per group */

struct vg_scim_in {
  /* each: one ListResponse, or a JSON array of ListResponse pages */
  const char *users;
  size_t users_len;
  const char *groups; /* NULL: no groups */
  size_t groups_len;
  /* the previous bundle (or its identity object); NULL: none */
  const char *previous;
  size_t previous_len;
  /* 0/0: take the ranges from previous */
  uint32_t uid_min, uid_max, gid_min, gid_max;
};

/*
 * On success returns 0, *identity (the identity object) and *warnings (array of
 * {"doc": "users"|"groups"|"previous", "path": "$.Resources[3].userName",
 * "msg": ...}). A document that is not JSON, not a ListResponse or beyond the
 * limits is an error.
 */
int vg_scim_to_identity(const struct vg_scim_in *in, json_t **identity,
                        json_t **warnings, struct vg_err *err);

#endif
