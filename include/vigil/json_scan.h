/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded JSON scanner (RFC 8259) that builds no tree: it validates values
 * in place and says where they are, so that a bundle's large identity arrays
 * are read one element at a time (lib/bundle.c) instead of as a jansson tree.
 * It accepts what jansson's json_loadb() accepts (strict UTF-8, no \u0000, no
 * lone surrogate, integers that fit in 64 bits, nesting depth ≤ 2048);
 * fuzz/fuzz_json_scan.c compares the two verdicts on every input.
 */
#ifndef VIGIL_JSON_SCAN_H
#define VIGIL_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#define VG_JSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

enum vg_json_kind {
	VG_JSON_OBJECT,
	VG_JSON_ARRAY,
	VG_JSON_STRING,
	VG_JSON_INTEGER,
	VG_JSON_REAL,
	VG_JSON_TRUE,
	VG_JSON_FALSE,
	VG_JSON_NULL,
};

/* one value: its bytes, a string with its quotes */
struct vg_json_tok {
	enum vg_json_kind kind;
	const char *start, *end;
};

struct vg_json_scan {
	const char *buf, *p, *end;
	const char *err_at; /* where the input stopped being JSON */
	const char *err;    /* why (a static string) */
};

void vg_json_scan_init(struct vg_json_scan *s, const char *buf, size_t len);
/* The next value, validated whole, at nesting depth depth (the document's root is 1); -EINVAL
 * with err and err_at set when the input is not JSON. */
int vg_json_scan_value(struct vg_json_scan *s, unsigned depth, struct vg_json_tok *t);
/* the first byte of the next value (whitespace skipped), 0 at the end */
char vg_json_scan_peek(struct vg_json_scan *s);
/*
 * Items of a container: vg_json_scan_open() moves inside the one that starts at
 * container->start; then each vg_json_scan_item() reads one (set *first before the first
 * call). An object's items have a key. With val NULL it stops before the value, which the
 * caller then reads. 1: an item, 0: the container ended (s->p after it), -EINVAL: not JSON.
 * depth is the container's.
 */
int vg_json_scan_open(struct vg_json_scan *s, const struct vg_json_tok *container);
int vg_json_scan_item(struct vg_json_scan *s, bool object, unsigned depth, bool *first, struct vg_json_tok *key,
		      struct vg_json_tok *val);
/* only whitespace left */
int vg_json_scan_end(struct vg_json_scan *s);

/* A scanned string token decoded into out (NUL-terminated); -ENOSPC if it needs more than outlen. */
int vg_json_str_decode(const struct vg_json_tok *t, char *out, size_t outlen, size_t *len);
/* bytes a decoded string needs at most, its NUL included */
size_t vg_json_str_max(const struct vg_json_tok *t);

/*
 * The string value of key in the object buf holds, when all of buf is JSON: 1 with *val,
 * 0 when the key is absent or its value no string (or the object has it twice), -EINVAL when
 * buf is no JSON object.
 */
int vg_json_scan_top_string(const char *buf, size_t len, const char *key, struct vg_json_tok *val);

/* the line and column (characters, as jansson counts) of p in [buf, end), for error messages */
void vg_json_line_col(const char *buf, const char *end, const char *p, int *line, int *col);

#endif
