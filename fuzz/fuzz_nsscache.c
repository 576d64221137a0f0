/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the NSS cache reader (nss/nsscache_read.c), the code
 * libnss_vigil.so.2 runs on files in every process. Input: one byte picking
 * the file kind, then the file. Mutations reach the lookups twice: with the
 * checksums skipped, and with the header checksum recomputed so the lazy
 * page checks run. Every lookup, fill and enumeration must stay in bounds.
 * Seeds: files of format 2 (no index: binary searches) and of format 3
 * (*-index.seed: lookups walk the hash index, so mutations reach its
 * descriptor and slots: loops, offsets out of range, wrong keys or records).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nsscache_read.h"

static int count_gid(gid_t gid, void *arg)
{
	(*(size_t *)arg)++;
	return 0;
}

static void exercise(const struct vg_nssc_view *v, const char *key)
{
	static const char *const names[] = { "alice", "sre", "vigil-elevated", "mallory", "", "zzzzzzzz" };
	char buf[512];
	struct passwd pw;
	struct spwd sp;
	struct group gr;
	size_t n = 0;

	for (size_t i = 0; i <= v->count && i < 4096; i++) {
		const struct vg_nssc_passwd *p = vg_nssc_pw_at(v, i);
		const struct vg_nssc_group *g = vg_nssc_gr_at(v, i);

		if (p) {
			(void)vg_nssc_fill_passwd(v, p, &pw, buf, i % 2 ? sizeof(buf) : 24);
			(void)vg_nssc_fill_shadow(v, p, &sp, buf, i % 2 ? sizeof(buf) : 12);
			(void)vg_nssc_pw_live(p, (time_t)i * 1000000000);
		}
		if (g)
			(void)vg_nssc_fill_group(v, g, &gr, buf, i % 2 ? sizeof(buf) : 24);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) + 1; i++) {
		const char *name = i < sizeof(names) / sizeof(names[0]) ? names[i] : key;
		const struct vg_nssc_passwd *p = vg_nssc_pw_by_name(v, name);
		const struct vg_nssc_group *g = vg_nssc_gr_by_name(v, name);

		if (p)
			(void)vg_nssc_fill_passwd(v, p, &pw, buf, sizeof(buf));
		if (g)
			(void)vg_nssc_fill_group(v, g, &gr, buf, sizeof(buf));
		(void)vg_nssc_grant_live(v, name, 1800000000);
		(void)vg_nssc_user_groups(v, v, name, 1800000000, count_gid, &n);
	}
	for (uint32_t id = 60000; id < 60003; id++) {
		const struct vg_nssc_passwd *p = vg_nssc_pw_by_uid(v, id);
		const struct vg_nssc_group *g = vg_nssc_gr_by_gid(v, id + 99);

		if (p)
			(void)vg_nssc_fill_passwd(v, p, &pw, buf, sizeof(buf));
		if (g)
			(void)vg_nssc_fill_group(v, g, &gr, buf, sizeof(buf));
	}
	(void)vg_nssc_fill_elevation(v, 1800000000, &gr, buf, sizeof(buf));
	(void)vg_nssc_fill_elevation(v, 0, &gr, buf, 40);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_nssc_view v;
	enum vg_nssc_kind kind;
	char key[16];
	uint8_t *copy;

	if (size < 1)
		return 0;
	kind = (enum vg_nssc_kind)(VG_NSSC_PASSWD + data[0] % 3);
	data++;
	size--;
	/* an mmap'd file is page-aligned; the reader refuses anything less than 8 */
	copy = aligned_alloc(8, (size + 7) & ~(size_t)7);
	if (!copy && size)
		return 0;
	if (size)
		memcpy(copy, data, size);
	snprintf(key, sizeof(key), "%.*s", (int)(size < 8 ? size : 8), (const char *)data);
	if (vg_nssc_view_parse(copy, size, kind, 0, &v) == 0)
		exercise(&v, key);
	if (vg_nssc_view_parse(copy, size, kind, VG_NSSC_SKIP_CHECKSUM, &v) == 0) {
		struct vg_nssc_header *h = (struct vg_nssc_header *)(void *)copy;
		size_t n = vg_nssc_lazy_size(size);
		void *lazy = calloc(1, n);

		exercise(&v, key);
		/* the section bounds were checked above, so the page table is in the buffer */
		h->checksum = vg_nssc_header_checksum(h, copy + h->sec[VG_NSSC_SEC_PAGES].off);
		if (lazy && vg_nssc_view_parse_lazy(copy, size, kind, lazy, n, &v) == 0)
			exercise(&v, key);
		free(lazy);
	}
	free(copy);
	return 0;
}
