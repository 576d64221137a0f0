/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIGIL_UTIL_H
#define VIGIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigil/err.h"

/* systemd-style scope cleanup */
static inline void vg_freep(void *p) { free(*(void **)p); }
static inline void vg_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ __attribute__((cleanup(vg_freep)))
#define _cleanup_close_ __attribute__((cleanup(vg_closep)))

#define VG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Read a whole file, at most max bytes (-EFBIG beyond); *out is NUL-terminated. */
int vg_read_file(const char *path, size_t max, char **out, size_t *len);
/* Like vg_read_file, for names an untrusted party may have created (the inbox): never follows a
 * symlink, never blocks in open (FIFO), -EINVAL for anything but a regular file. */
int vg_read_regular(const char *path, size_t max, char **out, size_t *len);
/* The one check for every file vigild trusts (config, trust, keys, state): a regular file, owned
 * by root, not writable by group or others; else an error naming the file and the fix. */
int vg_file_trusted(const char *path, const struct stat *st, struct vg_err *err);
/* vg_file_trusted on the file PATH names (symlinks followed), for files another program opens
 * (libcurl's TLS CA, certificate and key); errors name the file. */
int vg_path_trusted(const char *path, struct vg_err *err);

/* A bounded in-memory body for libcurl (CURLOPT_WRITEFUNCTION vg_body_write, CURLOPT_WRITEDATA
 * the struct): more than max bytes ends the transfer with too_big set; data stays NUL-terminated. */
struct vg_body {
	char *data;
	size_t len, max;
	bool too_big;
};
size_t vg_body_write(char *p, size_t size, size_t n, void *arg);
/* vg_read_file + vg_file_trusted on the opened file; errors (with err) name the file. */
int vg_read_trusted(const char *path, size_t max, char **out, size_t *len, struct vg_err *err);
/* At most max bytes from offset off of a trusted file (the same check); *total: its size. */
int vg_read_trusted_range(const char *path, uint64_t off, size_t max, char **out, size_t *len, uint64_t *total,
			  struct vg_err *err);

/* The one place that decides file modes: every file vigild writes is one of these. */
enum vg_file_kind {
	VG_FILE_PUBLIC, /* 0644: status, caches meant for every user */
	VG_FILE_SECRET, /* 0600: anything holding secrets or hashes of them (bundles, keys, grants) */
	VG_DIR_PUBLIC,	/* 0755 */
	VG_DIR_SECRET,	/* 0700 */
};
unsigned vg_file_mode(enum vg_file_kind kind);

/* Write via a temp file (random name, O_EXCL) + fsync + rename + fsync(dir): readers see old or
 * new, never half. */
int vg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
int vg_mkdir_p(const char *path, unsigned mode);
/* after renames in dir: make them durable */
int vg_fsync_dir(const char *dir);

/* The one clock. Tests may pin it with VIGIL_FAKE_NOW (seconds since epoch) in test builds. */
time_t vg_now(void);
uint64_t vg_now_ms_monotonic(void);
/* CPU time of the calling thread (timing reports, never decisions) */
uint64_t vg_thread_cpu_us(void);
/* RFC 3339 UTC "2026-11-23T09:00:00Z" (fractional seconds accepted and dropped) */
int vg_time_parse(const char *s, time_t *out);
void vg_time_format(time_t t, char buf[32]);

void vg_hex(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* base64 (standard or url-safe alphabet, padding optional); returns decoded length or -EINVAL */
int vg_b64_decode(const char *in, uint8_t **out, size_t *outlen);
char *vg_b64_encode(const uint8_t *in, size_t len, bool url);

/* sha256 hex of data (65 bytes incl. NUL) */
void vg_sha256_hex(const void *data, size_t len, char out[65]);
void vg_sha256(const void *data, size_t len, uint8_t out[32]);

bool vg_str_valid_name(const char *s, size_t maxlen); /* [A-Za-z0-9_][A-Za-z0-9_.-]* */

#endif
