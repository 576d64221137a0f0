/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded JSON scanner (include/vigil/json_scan.h): validates in place, allocates
 * nothing, never reads past end. Recursion is bounded by VG_JSON_MAX_DEPTH.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/json_scan.h"

void vg_json_scan_init(struct vg_json_scan *s, const char *buf, size_t len)
{
	*s = (struct vg_json_scan){ .buf = buf, .p = buf, .end = buf + len };
}

static int fail(struct vg_json_scan *s, const char *at, const char *why)
{
	s->err_at = at;
	s->err = why;
	return -EINVAL;
}

static void skip_ws(struct vg_json_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool is_digit(const struct vg_json_scan *s)
{
	return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* length of the strict UTF-8 sequence at p (no overlong form, surrogate or value past U+10FFFF), 0 if none */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	uint32_t v;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if (c < 0xe0) {
		n = 2;
		v = c & 0x1f;
	} else if (c < 0xf0) {
		n = 3;
		v = c & 0x0f;
	} else if (c < 0xf5) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n;
}

/* four hex digits at p (bounded by end), or -1 */
static int32_t hex4(const char *p, const char *end)
{
	int32_t v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* \uXXXX (and its low surrogate) at s->p, after the backslash and the u */
static int scan_unicode(struct vg_json_scan *s, const char *esc)
{
	int32_t v = hex4(s->p, s->end), lo;

	if (v < 0)
		return fail(s, esc, "invalid escape");
	s->p += 4;
	if (v == 0)
		return fail(s, esc, "\\u0000 is not allowed");
	if (v >= 0xdc00 && v <= 0xdfff)
		return fail(s, esc, "invalid Unicode (lone low surrogate)");
	if (v < 0xd800 || v > 0xdbff)
		return 0;
	if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
		return fail(s, esc, "invalid Unicode (lone high surrogate)");
	lo = hex4(s->p + 2, s->end);
	if (lo < 0xdc00 || lo > 0xdfff)
		return fail(s, esc, "invalid Unicode (high surrogate without a low one)");
	s->p += 6;
	return 0;
}

static int scan_string(struct vg_json_scan *s)
{
	s->p++; /* the opening quote */
	for (;;) {
		unsigned char c;
		size_t n;

		/* the common run: printable ASCII without a quote or a backslash */
		while (s->p < s->end && (unsigned char)*s->p >= 0x20 && (unsigned char)*s->p < 0x80 && *s->p != '"' &&
		       *s->p != '\\')
			s->p++;
		if (s->p >= s->end)
			return fail(s, s->p, "premature end of input in a string");
		c = (unsigned char)*s->p;
		if (c == '"') {
			s->p++;
			return 0;
		}
		if (c < 0x20)
			return fail(s, s->p, "control character in a string");
		if (c == '\\') {
			const char *esc = s->p++;

			if (s->p >= s->end)
				return fail(s, esc, "premature end of input in a string");
			c = (unsigned char)*s->p++;
			if (c == 'u') {
				if (scan_unicode(s, esc) < 0)
					return -EINVAL;
			} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
				return fail(s, esc, "invalid escape");
			}
			continue;
		}
		n = utf8_len((const unsigned char *)s->p, (const unsigned char *)s->end);
		if (!n)
			return fail(s, s->p, "invalid UTF-8");
		s->p += n;
	}
}

/* an integer must fit in 64 bits; a real must not overflow a double (as jansson decides) */
static int number_range(struct vg_json_scan *s, const char *start, bool real)
{
	char small[64], *copy = small;
	size_t n = (size_t)(s->p - start);
	bool bad;

	if (!real && n - (*start == '-') <= 18) /* an integer of 18 digits fits in 64 bits */
		return 0;

	if (n >= sizeof(small) && !(copy = malloc(n + 1)))
		return fail(s, start, "out of memory");
	memcpy(copy, start, n);
	copy[n] = '\0';
	errno = 0;
	if (real) {
		bad = isinf(strtod(copy, NULL));
	} else {
		(void)strtoll(copy, NULL, 10);
		bad = errno == ERANGE;
	}
	if (copy != small)
		free(copy);
	return bad ? fail(s, start, real ? "real number overflow" : "too big integer") : 0;
}

static int scan_number(struct vg_json_scan *s, enum vg_json_kind *kind)
{
	const char *start = s->p;
	bool real = false;

	if (*s->p == '-')
		s->p++;
	if (!is_digit(s))
		return fail(s, start, "invalid token");
	if (*s->p == '0') {
		s->p++;
		if (is_digit(s))
			return fail(s, start, "invalid token (leading zero)");
	} else {
		while (is_digit(s))
			s->p++;
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!is_digit(s))
			return fail(s, start, "invalid token");
		while (is_digit(s))
			s->p++;
		real = true;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!is_digit(s))
			return fail(s, start, "invalid token");
		while (is_digit(s))
			s->p++;
		real = true;
	}
	*kind = real ? VG_JSON_REAL : VG_JSON_INTEGER;
	return number_range(s, start, real);
}

static int scan_literal(struct vg_json_scan *s, const char *word, enum vg_json_kind k, enum vg_json_kind *kind)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n))
		return fail(s, s->p, "invalid token");
	s->p += n;
	*kind = k;
	return 0;
}

char vg_json_scan_peek(struct vg_json_scan *s)
{
	skip_ws(s);
	return s->p < s->end ? *s->p : '\0';
}

int vg_json_scan_open(struct vg_json_scan *s, const struct vg_json_tok *container)
{
	if (container->kind != VG_JSON_OBJECT && container->kind != VG_JSON_ARRAY)
		return fail(s, container->start, "not a container");
	s->p = container->start + 1;
	return 0;
}

int vg_json_scan_item(struct vg_json_scan *s, bool object, unsigned depth, bool *first, struct vg_json_tok *key,
		      struct vg_json_tok *val)
{
	char close = object ? '}' : ']';

	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, s->p, "premature end of input");
	if (*s->p == close) {
		s->p++;
		return 0;
	}
	if (!*first) {
		if (*s->p != ',')
			return fail(s, s->p, object ? "',' or '}' expected" : "',' or ']' expected");
		s->p++;
		skip_ws(s);
	}
	*first = false;
	if (object) {
		if (s->p >= s->end || *s->p != '"')
			return fail(s, s->p, "string expected as an object key");
		key->kind = VG_JSON_STRING;
		key->start = s->p;
		if (scan_string(s) < 0)
			return -EINVAL;
		key->end = s->p;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return fail(s, s->p, "':' expected");
		s->p++;
	}
	if (!val)
		return 1;
	return vg_json_scan_value(s, depth + 1, val) < 0 ? -EINVAL : 1;
}

static int scan_container(struct vg_json_scan *s, bool object, unsigned depth)
{
	struct vg_json_tok k, v;
	bool first = true;
	int r;

	s->p++;
	while ((r = vg_json_scan_item(s, object, depth, &first, &k, &v)) > 0)
		;
	return r;
}

int vg_json_scan_value(struct vg_json_scan *s, unsigned depth, struct vg_json_tok *t)
{
	int r;

	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, s->p, "premature end of input");
	if (depth > VG_JSON_MAX_DEPTH)
		return fail(s, s->p, "maximum parsing depth reached");
	t->start = s->p;
	switch (*s->p) {
	case '{':
		t->kind = VG_JSON_OBJECT;
		r = scan_container(s, true, depth);
		break;
	case '[':
		t->kind = VG_JSON_ARRAY;
		r = scan_container(s, false, depth);
		break;
	case '"':
		t->kind = VG_JSON_STRING;
		r = scan_string(s);
		break;
	case 't':
		r = scan_literal(s, "true", VG_JSON_TRUE, &t->kind);
		break;
	case 'f':
		r = scan_literal(s, "false", VG_JSON_FALSE, &t->kind);
		break;
	case 'n':
		r = scan_literal(s, "null", VG_JSON_NULL, &t->kind);
		break;
	default:
		r = (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) ? scan_number(s, &t->kind)
								       : fail(s, s->p, "invalid token");
	}
	t->end = s->p;
	return r < 0 ? -EINVAL : 0;
}

int vg_json_scan_end(struct vg_json_scan *s)
{
	skip_ws(s);
	return s->p == s->end ? 0 : fail(s, s->p, "end of file expected");
}

size_t vg_json_str_max(const struct vg_json_tok *t)
{
	return (size_t)(t->end - t->start) - 1; /* the quotes out, the NUL in */
}

static size_t utf8_put(char *o, uint32_t v)
{
	if (v < 0x80) {
		o[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		o[0] = (char)(0xc0 | v >> 6);
		o[1] = (char)(0x80 | (v & 0x3f));
		return 2;
	}
	if (v < 0x10000) {
		o[0] = (char)(0xe0 | v >> 12);
		o[1] = (char)(0x80 | (v >> 6 & 0x3f));
		o[2] = (char)(0x80 | (v & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | v >> 18);
	o[1] = (char)(0x80 | (v >> 12 & 0x3f));
	o[2] = (char)(0x80 | (v >> 6 & 0x3f));
	o[3] = (char)(0x80 | (v & 0x3f));
	return 4;
}

/* the token was scanned: escapes are well formed and surrogates paired */
int vg_json_str_decode(const struct vg_json_tok *t, char *out, size_t outlen, size_t *len)
{
	const char *p = t->start + 1, *end = t->end - 1;
	size_t n = 0;

	if (outlen < vg_json_str_max(t))
		return -ENOSPC;
	while (p < end) {
		const char *run = p;

		while (p < end && *p != '\\')
			p++;
		memcpy(out + n, run, (size_t)(p - run));
		n += (size_t)(p - run);
		if (p >= end)
			break;
		p++;
		switch (*p++) {
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u': {
			int32_t v = hex4(p, end);

			if (v < 0)
				return -EINVAL;
			p += 4;
			if (v >= 0xd800 && v <= 0xdbff) {
				int32_t lo = hex4(p + 2, end);

				if (lo < 0xdc00 || lo > 0xdfff)
					return -EINVAL;
				v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			n += utf8_put(out + n, (uint32_t)v);
			break;
		}
		default: out[n++] = p[-1]; /* " \ / */
		}
	}
	out[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

int vg_json_scan_top_string(const char *buf, size_t len, const char *key, struct vg_json_tok *val)
{
	struct vg_json_scan s;
	struct vg_json_tok root, k, v;
	size_t klen = strlen(key);
	bool first = true;
	int found = 0, r;
	char name[64];

	if (klen >= sizeof(name))
		return 0;
	vg_json_scan_init(&s, buf, len);
	if (vg_json_scan_peek(&s) != '{')
		return -EINVAL;
	root = (struct vg_json_tok){ .kind = VG_JSON_OBJECT, .start = s.p };
	vg_json_scan_open(&s, &root);
	while ((r = vg_json_scan_item(&s, true, 1, &first, &k, &v)) > 0) {
		if (vg_json_str_max(&k) > sizeof(name) || vg_json_str_decode(&k, name, sizeof(name), NULL) < 0 ||
		    strcmp(name, key))
			continue;
		found = found || v.kind != VG_JSON_STRING ? -1 : 1;
		*val = v;
	}
	if (r < 0 || vg_json_scan_end(&s) < 0)
		return -EINVAL;
	return found > 0;
}

void vg_json_line_col(const char *buf, const char *end, const char *p, int *line, int *col)
{
	const char *q;

	*line = 1;
	*col = 0;
	for (q = buf; q < p; q++)
		if (*q == '\n')
			(*line)++;
	for (q = p; q > buf && q[-1] != '\n'; q--)
		;
	for (; q <= p && q < end; q++)
		if ((*q & 0xc0) != 0x80)
			(*col)++;
}
