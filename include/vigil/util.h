/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIGIL_UTIL_H
#define VIGIL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
/* Write via temp file + fsync + rename + fsync(dir): readers see old or new, never half. */
int vg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
int vg_mkdir_p(const char *path, unsigned mode);

/* The one clock. Tests may pin it with VIGIL_FAKE_NOW (seconds since epoch) in test builds. */
time_t vg_now(void);
uint64_t vg_now_ms_monotonic(void);
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
