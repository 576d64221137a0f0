/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded reader of the NSS cache files (include/vigil/nsscache.h), shared by
 * libnss_vigil.so.2, its unit tests and the fuzz target. Links only libc.
 *
 * Parsing checks the header, the section bounds, the hash index's bounds
 * (format 3; a file without one is searched by its sorted indexes, as in
 * format 2) and the header checksum;
 * body pages are checked against the page table either all at once
 * (vg_nssc_view_parse) or each the first time an access touches it
 * (vg_nssc_view_parse_lazy, what the NSS module uses). Every access also
 * checks its own indexes and string offsets, so even a file changed in place
 * after parsing is never read out of bounds (lookups then just fail).
 */
#ifndef VIGIL_NSSCACHE_READ_H
#define VIGIL_NSSCACHE_READ_H

#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "vigil/nsscache.h"

enum { VG_NSSC_SKIP_CHECKSUM = 1 }; /* fuzzing only: reach the code past the checksums */

struct vg_nssc_lazy; /* which pages were checked; caller-provided, zeroed */

struct vg_nssc_view {
	const uint8_t *base;
	size_t size;
	uint32_t kind, count, id_min, id_max, aux, aux_name;
	uint64_t generation;
	const void *records;
	const uint32_t *by_name, *by_id; /* by_id is NULL in members.cache */
	const uint32_t *members;
	size_t nmembers;
	const struct vg_nssc_member_ref *refs;
	size_t nrefs;
	const char *strings;
	size_t strings_len;
	const struct vg_nssc_slot *name_slots, *id_slots; /* format 3's hash index; NULL: binary search */
	uint32_t name_mask, id_mask, name_probe, id_probe;
	const uint64_t *pages; /* page table */
	size_t npages, body_off;
	struct vg_nssc_lazy *lazy; /* NULL: every page was checked at parse time */
};

/* 0, or -EBADMSG (corrupt/truncated/foreign), -EINVAL (unaligned buffer) */
int vg_nssc_view_parse(const void *buf, size_t len, enum vg_nssc_kind kind, unsigned flags,
		       struct vg_nssc_view *v);
/* Bytes of zeroed state vg_nssc_view_parse_lazy() needs for a file of len bytes. */
size_t vg_nssc_lazy_size(size_t len);
int vg_nssc_view_parse_lazy(const void *buf, size_t len, enum vg_nssc_kind kind, struct vg_nssc_lazy *state,
			    size_t state_len, struct vg_nssc_view *v);
/*
 * Lazily loaded views: before parse_lazy, a loader may be set; the buffer then
 * needs only the header and page table, and each body page is brought in by
 * load(ctx, page, off, len) the first time an access touches it (the NSS
 * module reads into private memory, so a file changed on disk cannot fault).
 * A loader returning < 0 marks the view damaged, like a checksum mismatch.
 */
typedef int vg_nssc_load_fn(void *ctx, size_t page, size_t off, size_t len);
void vg_nssc_lazy_set_loader(struct vg_nssc_lazy *state, vg_nssc_load_fn *load, void *ctx);
/* Loads and checks every body page now (enumerations): false when one does not match. */
bool vg_nssc_view_check_all(const struct vg_nssc_view *v);
/* A lazily checked page did not match: the file is damaged, answer UNAVAIL. */
bool vg_nssc_view_corrupt(const struct vg_nssc_view *v);

/* The NUL-terminated string at off and its length, or NULL when off is bad. */
const char *vg_nssc_str(const struct vg_nssc_view *v, uint32_t off, size_t *len);

/* Record lookups: NULL when absent (or the file is inconsistent). */
const struct vg_nssc_passwd *vg_nssc_pw_by_name(const struct vg_nssc_view *v, const char *name);
const struct vg_nssc_passwd *vg_nssc_pw_by_uid(const struct vg_nssc_view *v, uint32_t uid);
const struct vg_nssc_passwd *vg_nssc_pw_at(const struct vg_nssc_view *v, size_t i); /* name order */
const struct vg_nssc_group *vg_nssc_gr_by_name(const struct vg_nssc_view *v, const char *name);
const struct vg_nssc_group *vg_nssc_gr_by_gid(const struct vg_nssc_view *v, uint32_t gid);
const struct vg_nssc_group *vg_nssc_gr_at(const struct vg_nssc_view *v, size_t i);
/* the user's grant if it is still live at now */
const struct vg_nssc_grant *vg_nssc_grant_live(const struct vg_nssc_view *m, const char *user, time_t now);
/* members.cache names an elevation group */
bool vg_nssc_has_elevation(const struct vg_nssc_view *m);

/* A user is served while its expires (valid_until) is unset or after now: vigild need not run. */
bool vg_nssc_pw_live(const struct vg_nssc_passwd *r, time_t now);

/* Fill glibc structs with strings copied into buf: 0, -ERANGE (buf too small), -EBADMSG. */
int vg_nssc_fill_passwd(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, struct passwd *pw,
			char *buf, size_t len);
/* The user's shadow entry: password "*" (no password login), aging disabled
 * (-1), sp_expire the day after valid_until (-1 without one). */
int vg_nssc_fill_shadow(const struct vg_nssc_view *v, const struct vg_nssc_passwd *r, struct spwd *sp, char *buf,
			size_t len);
int vg_nssc_fill_group(const struct vg_nssc_view *v, const struct vg_nssc_group *r, struct group *gr,
		       char *buf, size_t len);
/* the elevation group with the members whose grant is live at now */
int vg_nssc_fill_elevation(const struct vg_nssc_view *m, time_t now, struct group *gr, char *buf,
			   size_t len);

/* Every supplementary gid of user: identity groups, then the elevation group
 * while the user's grant is live. m may be NULL. Stops at the first cb < 0. */
int vg_nssc_user_groups(const struct vg_nssc_view *g, const struct vg_nssc_view *m, const char *user,
			time_t now, int (*cb)(gid_t gid, void *arg), void *arg);

#endif
