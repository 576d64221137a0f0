/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NSS cache: files vigild writes (lib/nsscache_write.c) and
 * libnss_vigil.so.2 maps read-only (nss/nsscache_read.c). Format: docs/nss.md.
 *
 * Three files in the cache directory. Each is a header, a page table, then
 * the body: sections at 8-aligned offsets. Integers are in the writer's
 * native byte order (byte_order tells a foreign file apart); strings are
 * offsets into the STRINGS section, NUL-terminated, offset 0 is "".
 *
 *   passwd.cache   records: struct vg_nssc_passwd, indexes by name and by uid;
 *                  also the source of shadow entries (locked, aging disabled)
 *   group.cache    records: struct vg_nssc_group, indexes by name and by gid,
 *                  MEMBERS (uint32 string offsets) and MEMBER_INDEX (who is in what)
 *   members.cache  the elevation group (gid in aux, name in aux_name) and
 *                  records: struct vg_nssc_grant (one per user, latest expiry),
 *                  index by name; readers hide a grant once expires <= now
 *
 * Format 3 adds a hash index (struct vg_nssc_index, at header.index) to
 * passwd.cache and group.cache: a lookup by name or id reads one slot, one
 * record and its strings instead of a binary search. It lies after the
 * sections, inside the checked body, in a header field readers of format 2
 * ignore, so the version word stays 2: both readers read both files.
 *
 * Integrity: header.checksum covers the header (checksum field zero) and the
 * page table; the page table holds one checksum per 4 KiB page of the body.
 * Readers check the header at map time and each body page the first time a
 * lookup touches it, so a process that resolves one user reads a few pages of
 * a 100k-user file, not all of it.
 *
 * Only types and inline helpers here: the NSS module includes this header and
 * links nothing but libc; the writer functions live in libvigil.
 */
#ifndef VIGIL_NSSCACHE_H
#define VIGIL_NSSCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vigil/bundle.h"
#include "vigil/err.h"
#include "vigil/grant.h"

#define VG_NSSC_MAGIC "VIGILNSS" /* 8 bytes, no NUL */
#define VG_NSSC_VERSION 2u /* 2: passwd records carry expires */
#define VG_NSSC_BYTE_ORDER 0x01020304u
#define VG_NSSC_MAX_FILE (1ull << 30)
#define VG_NSSC_NONE UINT32_MAX /* "no string" in aux_name */
#define VG_NSSC_PAGE 4096u

#define VG_NSSC_PASSWD_FILE "passwd.cache"
#define VG_NSSC_GROUP_FILE "group.cache"
#define VG_NSSC_MEMBERS_FILE "members.cache"
#define VG_NSSC_GEN_FILE "generation"
#define VG_NSSC_DEFAULT_DIR "/var/lib/vigil/nss"

/*
 * The generation file: one page, rewritten in place (never truncated or
 * replaced) after every change of the cache files. Readers map it shared and
 * compare counter with the value they last saw: equal means their copies are
 * current, with no system call.
 */
#define VG_NSSC_GEN_MAGIC "VIGILGEN" /* 8 bytes, no NUL */
#define VG_NSSC_GEN_SIZE 4096
struct vg_nssc_gen {
	char magic[8];
	uint64_t counter; /* starts at 1; 0 is "no generation file" for readers */
};

enum vg_nssc_kind { VG_NSSC_PASSWD = 1, VG_NSSC_GROUP = 2, VG_NSSC_MEMBERS = 3 };

enum vg_nssc_sec {
	VG_NSSC_SEC_RECORDS = 0,
	VG_NSSC_SEC_BY_NAME,	  /* uint32 record indexes, names ascending (strcmp) */
	VG_NSSC_SEC_BY_ID,	  /* uint32 record indexes, ids ascending (passwd, group) */
	VG_NSSC_SEC_MEMBERS,	  /* group: uint32 string offsets, each group's slice */
	VG_NSSC_SEC_MEMBER_INDEX, /* group: struct vg_nssc_member_ref, by member name then gid */
	VG_NSSC_SEC_STRINGS,
	VG_NSSC_SEC_PAGES, /* uint64 per body page; right after the header, before the body */
	VG_NSSC_SEC__COUNT
};

struct vg_nssc_section {
	uint64_t off, size; /* bytes */
};

struct vg_nssc_header {
	char magic[8];
	uint32_t version;
	uint32_t kind; /* enum vg_nssc_kind */
	uint32_t byte_order;
	uint32_t header_size; /* sizeof(struct vg_nssc_header) */
	uint64_t file_size;
	uint64_t checksum;   /* of the header (this field zero) and the page table */
	uint64_t generation; /* bundle version the file was written from */
	int64_t written_at;
	uint32_t id_min, id_max; /* declared uid range (passwd) or gid range (group, members) */
	uint32_t count;		 /* records */
	uint32_t aux;		 /* members: elevation gid (0: no elevation group) */
	uint32_t aux_name;	 /* members: elevation group name, or VG_NSSC_NONE */
	uint32_t index;		 /* offset of struct vg_nssc_index (format 3); 0: none (format 2) */
	struct vg_nssc_section sec[VG_NSSC_SEC__COUNT];
};

/*
 * The hash index of format 3: open addressing with linear probing, one table
 * by name and one by id, each a power of two of slots. A name's slot is
 * vg_nssc_name_hash() & (slots - 1), its key the hash's upper 32 bits; an
 * id's slot is vg_nssc_id_hash() & (slots - 1), its key the id itself. A
 * lookup walks from its slot to the first empty one, never further than the
 * writer's longest walk (probe, at most VG_NSSC_MAX_PROBE).
 */
#define VG_NSSC_INDEX_MAGIC "VIGILIDX" /* 8 bytes, no NUL */
#define VG_NSSC_MAX_PROBE 64u
#define VG_NSSC_MAX_SLOTS (1u << 27)
#define VG_NSSC_EMPTY UINT32_MAX /* rec of an empty slot */

struct vg_nssc_index {
	char magic[8];
	uint32_t name_slots, id_slots; /* powers of two; 0: no table */
	uint32_t name_probe, id_probe; /* the longest walk in each table, >= 1 when it has slots */
	uint64_t name_off, id_off;     /* file offsets of the tables (struct vg_nssc_slot[]) */
};

struct vg_nssc_slot {
	uint32_t key;	   /* the name hash's upper half, or the id */
	uint32_t rec;	   /* record index, or VG_NSSC_EMPTY */
	uint32_t name;	   /* the record's name (string offset): read beside the record, not after it */
	uint32_t reserved; /* 0 */
};

struct vg_nssc_passwd {
	uint32_t uid, gid;
	uint32_t name, gecos, dir, shell; /* string offsets */
	int64_t expires;		  /* the user's valid_until; 0: none. Served while expires > now */
};

struct vg_nssc_group {
	uint32_t gid;
	uint32_t name;
	uint32_t members;  /* first entry in SEC_MEMBERS */
	uint32_t nmembers;
};

struct vg_nssc_member_ref {
	uint32_t name;	/* member name (string offset) */
	uint32_t group; /* record index in group.cache */
};

struct vg_nssc_grant {
	uint32_t uid;
	uint32_t name; /* user name (string offset) */
	int64_t expires;
};

/*
 * Corruption check, not authentication (the files are root-owned, 0644): a
 * bijective mix per 64-bit word, so any single changed word changes the
 * result. len is a multiple of 8. Chain calls, then vg_nssc_hash_final().
 */
static inline uint64_t vg_nssc_hash(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h;
}

static inline uint64_t vg_nssc_hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return h;
}

/* FNV-1a over the name's bytes, then mixed: slot from the low bits, key from the high ones */
static inline uint64_t vg_nssc_name_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return vg_nssc_hash_final(h);
}

static inline uint64_t vg_nssc_id_hash(uint32_t id) { return vg_nssc_hash_final(id * 0x9e3779b97f4a7c15ull); }

/* header (with checksum zero) + page table */
static inline uint64_t vg_nssc_header_checksum(const struct vg_nssc_header *h, const void *pages)
{
	struct vg_nssc_header c = *h;

	c.checksum = 0;
	return vg_nssc_hash_final(
		vg_nssc_hash(vg_nssc_hash(0x9e3779b97f4a7c15ull, &c, sizeof(c)), pages, h->sec[VG_NSSC_SEC_PAGES].size));
}

/* page i of the body; its index is mixed in so swapped pages do not match */
static inline uint64_t vg_nssc_page_checksum(uint64_t i, const void *page, size_t len)
{
	return vg_nssc_hash_final(vg_nssc_hash(0x9e3779b97f4a7c15ull ^ (i * 0x100000001b3ull), page, len));
}

/* One entry the writer refused to put in the cache, and why. */
struct vg_nssc_conflict {
	char kind[8];	/* "user", "group", "member", "grant" */
	char name[64];
	uint32_t id;
	char why[96];
};

struct vg_nssc_report {
	size_t nusers, ngroups, nmembers, ngrants; /* written */
	size_t nconflicts;
	struct vg_nssc_conflict *conflicts;
};
void vg_nssc_report_free(struct vg_nssc_report *r);

/* Names and ids of the host's local accounts (from passwd/group files). */
struct vg_nssc_local;
/* A missing file counts as empty; anything else unreadable is an error. */
int vg_nssc_local_load(const char *passwd_path, const char *group_path, struct vg_nssc_local **out,
		       struct vg_err *err);
void vg_nssc_local_free(struct vg_nssc_local *l);

/* A built cache file, ready for vg_nssc_buf_write(). */
struct vg_nssc_buf {
	uint8_t *data;
	size_t len;
};
void vg_nssc_buf_free(struct vg_nssc_buf *b);

/*
 * The elevation group must be vigil's alone on this host: neither its name
 * nor its gid may be a local group's, nor its gid a local user's primary gid
 * (they would be elevated without a grant). -EINVAL naming $.elevation.group
 * or $.elevation.gid; 0 when there is no elevation group or local is NULL.
 */
int vg_nssc_check_elevation(const char *elev_group, uint32_t elev_gid, const struct vg_nssc_local *local,
			    struct vg_err *err);
/*
 * Build passwd.cache and group.cache from the identity. Fails when
 * vg_nssc_check_elevation() does. Refused (left out and
 * listed in rep): uid/gid 0, ids outside the declared ranges, names or ids of
 * local accounts (local may be NULL), duplicates, fields that cannot appear in
 * a passwd line, and the elevation group's name/gid for an identity group.
 * Deprovisioned users, and users whose valid_until is not after now, are left out
 * of passwd and of every member list.
 */
int vg_nssc_build_identity(const struct vg_identity *id, const char *elev_group, uint32_t elev_gid,
			   const struct vg_nssc_local *local, uint64_t generation, time_t now,
			   struct vg_nssc_buf *passwd, struct vg_nssc_buf *group, struct vg_nssc_report *rep,
			   struct vg_err *err);
/*
 * Build members.cache: the elevation group (elev_group NULL: none) and one
 * entry per user holding a grant that has not expired at now (latest expiry wins).
 */
int vg_nssc_build_members(const char *elev_group, uint32_t elev_gid, const struct vg_grant *grants, size_t n,
			  uint32_t gid_min, uint32_t gid_max, uint64_t generation, time_t now,
			  struct vg_nssc_buf *out, struct vg_nssc_report *rep, struct vg_err *err);
/*
 * Replace a set of cache files together: each is written complete (temp file,
 * fsync) before the first rename, then the generation word is bumped so that
 * readers look again. Mode 0644 in a 0755 directory (readers refuse anything
 * writable by others than root).
 */
struct vg_nssc_file {
	const char *name; /* VG_NSSC_*_FILE */
	const struct vg_nssc_buf *buf;
};
int vg_nssc_write_set(const char *dir, const struct vg_nssc_file *files, size_t n, struct vg_err *err);
/* one file: vg_nssc_write_set() of one */
int vg_nssc_buf_write(const char *dir, const char *name, const struct vg_nssc_buf *b, struct vg_err *err);

#endif
