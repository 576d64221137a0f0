/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bundle parser and strict validator (docs/bundle.md). Input is untrusted
 * until the signature checked out, and even then a mistake by the security
 * team must become a clear error with a JSON path, never a half-applied policy.
 * Every allocation lives in one arena owned by the bundle.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <linux/types.h>

#include "../bpf/vigil_maps.h"
#include "vigil/assertion.h"
#include "vigil/bundle.h"
#include "vigil/crypto.h"
#include "vigil/json_scan.h"
#include "vigil/dns.h"
#include "vigil/util.h"

#define MAX_NAME 32
#define MAX_STR 4096
#define MAX_ITEMS (4u << 20) /* any single array */

/* ---- arena ---- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
};

/* n bytes the caller fills at once (no zeroing) */
static void *arena_alloc_raw(struct arena *a, size_t n)
{
	struct chunk *c = a->head;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->cap - c->used < n) {
		size_t cap = n > (256u << 10) ? n : (256u << 10);

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static void *arena_alloc(struct arena *a, size_t n)
{
	void *p = arena_alloc_raw(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

static void arena_free(struct arena *a)
{
	struct chunk *c = a->head;

	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}

/* ---- the JSON tree of one parse ----
 * jansson allocates every value, key and hash table of the tree on its own: a 100k-user bundle
 * costs millions of malloc/free pairs and a walk to free them. While vg_bundle_parse runs,
 * jansson's allocations on that thread come from chunks that double in size (so few that
 * ownership is a short range check), dropped at once with the tree; other threads are untouched. */

struct json_arena {
	struct chunk *head; /* newest (largest) first */
};

static __thread struct json_arena *json_arena;

static void *json_arena_malloc(size_t n)
{
	struct json_arena *a = json_arena;
	struct chunk *c;

	if (!a)
		return malloc(n);
	c = a->head;
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->cap - c->used < n) {
		size_t cap = c ? (c->cap < (64u << 20) ? c->cap * 2 : c->cap) : (1u << 20);

		if (cap < n)
			cap = n;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;

	c->used += n;
	return p;
}

static void json_arena_free(void *p)
{
	struct json_arena *a = json_arena;

	if (!p)
		return;
	for (struct chunk *c = a ? a->head : NULL; c; c = c->next)
		if ((char *)p >= (char *)c->data && (char *)p < (char *)c->data + c->cap)
			return;
	free(p);
}

static void json_arena_install(void)
{
	json_set_alloc_funcs(json_arena_malloc, json_arena_free);
}

static void json_arena_begin(struct json_arena *a)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	a->head = NULL;
	pthread_once(&once, json_arena_install);
#ifndef __SANITIZE_ADDRESS__ /* sanitizer builds keep every jansson allocation visible to ASan */
	json_arena = a;
#endif
}

/* drops the tree (root may be NULL) */
static void json_arena_end(struct json_arena *a, json_t *root)
{
	if (!json_arena)
		json_decref(root);
	json_arena = NULL;
	while (a->head) {
		struct chunk *n = a->head->next;

		free(a->head);
		a->head = n;
	}
}

/* Values of one identity element are dropped before the next is read: their memory serves the
 * next one, so 100k users never make a 100k-user tree. */
struct json_mark {
	struct chunk *head;
	size_t used;
};

static struct json_mark json_arena_mark(void)
{
	struct json_arena *a = json_arena;

	return (struct json_mark){ a ? a->head : NULL, a && a->head ? a->head->used : 0 };
}

/* everything allocated since m is dead */
static void json_arena_release(struct json_mark m)
{
	struct json_arena *a = json_arena;
	struct chunk *keep, *c;

	if (!a || !a->head)
		return;
	if (a->head == m.head) {
		a->head->used = m.used;
		return;
	}
	/* the newest chunk holds only dead values: kept, empty, for the next element */
	keep = a->head;
	for (c = keep->next; c && c != m.head;) {
		struct chunk *n = c->next;

		free(c);
		c = n;
	}
	keep->next = c;
	keep->used = 0;
}

/* ---- small open-addressing set for duplicate detection ---- */

struct set {
	uint64_t *keys; /* 0 = empty; stored as hash|1 with a side check for strings */
	const char **strs;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h | 1;
}

static int set_init(struct set *s, size_t expect)
{
	s->cap = 16;
	while (s->cap < expect * 2 + 16)
		s->cap <<= 1;
	s->n = 0;
	s->keys = calloc(s->cap, sizeof(*s->keys));
	s->strs = calloc(s->cap, sizeof(*s->strs));
	return s->keys && s->strs ? 0 : -ENOMEM;
}

static void set_free(struct set *s)
{
	free(s->keys);
	free(s->strs);
}

static int set_grow(struct set *s);

/* returns 1 if inserted, 0 if already present, -ENOMEM */
static int set_add_str(struct set *s, const char *str)
{
	uint64_t h = hash_str(str);
	size_t i;

	if ((s->n + 1) * 2 > s->cap && set_grow(s) < 0)
		return -ENOMEM;
	i = h & (s->cap - 1);
	while (s->keys[i]) {
		if (s->keys[i] == h && !strcmp(s->strs[i], str))
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->keys[i] = h;
	s->strs[i] = str;
	s->n++;
	return 1;
}

static bool set_has_str(const struct set *s, const char *str)
{
	uint64_t h = hash_str(str);
	size_t i = h & (s->cap - 1);

	while (s->keys[i]) {
		if (s->keys[i] == h && !strcmp(s->strs[i], str))
			return true;
		i = (i + 1) & (s->cap - 1);
	}
	return false;
}

static size_t u64_slot(uint64_t v, size_t cap)
{
	return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int set_add_u64(struct set *s, uint64_t v)
{
	uint64_t k = (v << 1) | 1;
	size_t i;

	if ((s->n + 1) * 2 > s->cap && set_grow(s) < 0)
		return -ENOMEM;
	i = u64_slot(v, s->cap);
	while (s->keys[i]) {
		if (s->keys[i] == k)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->keys[i] = k;
	s->n++;
	return 1;
}

/* Double the table; string entries rehash by their stored hash, integers by their value. */
static int set_grow(struct set *s)
{
	size_t cap = s->cap * 2;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	const char **strs = calloc(cap, sizeof(*strs));

	if (!keys || !strs) {
		free(keys);
		free(strs);
		return -ENOMEM;
	}
	for (size_t j = 0; j < s->cap; j++) {
		size_t i;

		if (!s->keys[j])
			continue;
		i = s->strs[j] ? (size_t)(s->keys[j] & (cap - 1)) : u64_slot(s->keys[j] >> 1, cap);
		while (keys[i])
			i = (i + 1) & (cap - 1);
		keys[i] = s->keys[j];
		strs[i] = s->strs[j];
	}
	free(s->keys);
	free(s->strs);
	s->keys = keys;
	s->strs = strs;
	s->cap = cap;
	return 0;
}

/* Rule ids (1..0x7fffffff, 0 = empty slot): 4 bytes a slot, since a 1M-rule bundle needs 2M slots. */
struct idset {
	uint32_t *keys;
	size_t cap, n;
};

static int idset_init(struct idset *s, size_t expect)
{
	s->cap = 16;
	while (s->cap < expect * 2 + 16)
		s->cap <<= 1;
	s->n = 0;
	s->keys = calloc(s->cap, sizeof(*s->keys));
	return s->keys ? 0 : -ENOMEM;
}

static void idset_put(uint32_t *keys, size_t cap, uint32_t id)
{
	size_t i = u64_slot(id, cap);

	while (keys[i])
		i = (i + 1) & (cap - 1);
	keys[i] = id;
}

/* 1 if inserted, 0 if already present, -ENOMEM */
static int idset_add(struct idset *s, uint32_t id)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		uint32_t *keys = calloc(s->cap * 2, sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		for (size_t j = 0; j < s->cap; j++)
			if (s->keys[j])
				idset_put(keys, s->cap * 2, s->keys[j]);
		free(s->keys);
		s->keys = keys;
		s->cap *= 2;
	}
	for (i = u64_slot(id, s->cap); s->keys[i]; i = (i + 1) & (s->cap - 1))
		if (s->keys[i] == id)
			return 0;
	s->keys[i] = id;
	s->n++;
	return 1;
}

/* ---- parse context ---- */

/* one array read from the bytes: start NULL when it is in the tree */
struct streamed {
	struct vg_json_tok tok;
	size_t n;
};

/*
 * A large bundle's big arrays, read from the bytes (lib/json_scan.c): $.identity.users and
 * .groups, every $.tenants[i].egress and $.shared_services[i].rules (indexed by i).
 */
struct identity_stream {
	const char *buf;
	size_t len;
	struct vg_json_tok users, groups; /* start NULL: not streamed */
	size_t nusers, ngroups;
	struct streamed *tenant_egress, *shared_rules;
	size_t ntenants, nshared;
};

struct ctx {
	struct arena *arena;
	struct vg_err *err;
	struct idset rule_ids;
	const struct identity_stream *stream; /* NULL: the whole bundle is a jansson tree */
	const struct vg_portrange *last_ports; /* the previous rule's port list, which the next may share */
	size_t last_nports;
};

#define FAIL(c, code, path, ...) vg_err_set((c)->err, EINVAL, code, path, __VA_ARGS__)

/* A rule's port list in the bundle's arena: the previous rule's when it is the same (a large
 * bundle mostly repeats one list, and 1M copies would cost 16 MB), else a copy. */
static struct vg_portrange *ports_keep(struct ctx *c, const struct vg_portrange *pr, size_t n)
{
	struct vg_portrange *p;

	if (c->last_ports && c->last_nports == n && !memcmp(c->last_ports, pr, n * sizeof(*pr)))
		return (struct vg_portrange *)c->last_ports;
	if (!(p = arena_alloc_raw(c->arena, n * sizeof(*pr))))
		return NULL;
	memcpy(p, pr, n * sizeof(*pr));
	c->last_ports = p;
	c->last_nports = n;
	return p;
}

/* $.tenants[i].egress (tenants) or $.shared_services[i].rules when read from the bytes, else NULL */
static const struct streamed *streamed_at(const struct ctx *c, bool tenants, size_t i)
{
	const struct identity_stream *st = c->stream;
	const struct streamed *l;

	if (!st || i >= (tenants ? st->ntenants : st->nshared))
		return NULL;
	l = tenants ? &st->tenant_egress[i] : &st->shared_rules[i];
	return l->tok.start ? l : NULL;
}

const char *vg_json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static void sub(char *out, size_t len, const char *path, const char *key)
{
	snprintf(out, len, "%s.%s", path, key);
}

static void idx(char *out, size_t len, const char *path, size_t i)
{
	snprintf(out, len, "%s[%zu]", path, i);
}

/* Only the listed keys are allowed; the required ones must be present. */
static int check_fields(struct ctx *c, json_t *obj, const char *path, const char *const *allowed,
			const char *const *required)
{
	const char *key;
	json_t *v;
	char p[256];

	if (!json_is_object(obj))
		return FAIL(c, "schema_type", path, "must be an object, found %s", vg_json_type_name(obj));
	json_object_foreach(obj, key, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			if (!strcmp(*a, key))
				ok = true;
		if (!ok) {
			sub(p, sizeof(p), path, key);
			return FAIL(c, "schema_unknown_field", p,
				    "unknown field \"%.64s\" (check the spelling against docs/bundle.md)", key);
		}
	}
	for (const char *const *r = required; r && *r; r++)
		if (!json_object_get(obj, *r)) {
			sub(p, sizeof(p), path, *r);
			return FAIL(c, "schema_missing", p, "required field is missing");
		}
	return 0;
}

static char *astrdup(struct ctx *c, const char *s)
{
	size_t n = strlen(s);
	char *d = arena_alloc_raw(c->arena, n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

/* The string value of key (NULL when absent and not required), checked, not copied. The path
 * is written only for an error: 100k users make a million calls. */
static int str_value(struct ctx *c, json_t *obj, const char *path, const char *key, bool required, size_t maxlen,
		     const char **out)
{
	json_t *v = json_object_get(obj, key);
	char p[256];

	*out = NULL;
	if (v && json_is_string(v) && json_string_length(v) <= maxlen &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		*out = json_string_value(v);
		return 0;
	}
	sub(p, sizeof(p), path, key);
	if (!v) {
		if (required)
			return FAIL(c, "schema_missing", p, "required field is missing");
		return 0;
	}
	if (!json_is_string(v))
		return FAIL(c, "schema_type", p, "must be a string, found %s", vg_json_type_name(v));
	if (json_string_length(v) > maxlen)
		return FAIL(c, "schema_value", p, "longer than %zu characters", maxlen);
	return FAIL(c, "schema_value", p, "contains a NUL character");
}

static int get_str(struct ctx *c, json_t *obj, const char *path, const char *key, bool required, size_t maxlen,
		   char **out)
{
	const char *v;
	int r = str_value(c, obj, path, key, required, maxlen, &v);

	*out = NULL;
	if (r < 0 || !v)
		return r;
	*out = astrdup(c, v);
	return *out ? 0 : -ENOMEM;
}

static int get_name(struct ctx *c, json_t *obj, const char *path, const char *key, char **out)
{
	char p[256];
	int r = get_str(c, obj, path, key, true, MAX_NAME, out);

	if (r < 0)
		return r;
	if (!vg_str_valid_name(*out, MAX_NAME)) {
		sub(p, sizeof(p), path, key);
		return FAIL(c, "schema_value", p,
			    "\"%s\" is not a valid name: use letters, digits, '_', '.', '-' (max %d), not starting with '.' or '-'",
			    *out, MAX_NAME);
	}
	return 0;
}

static int get_int(struct ctx *c, json_t *obj, const char *path, const char *key, bool required, int64_t lo,
		   int64_t hi, int64_t dflt, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char p[256];

	*out = dflt;
	if (v && json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
		*out = json_integer_value(v);
		return 0;
	}
	sub(p, sizeof(p), path, key);
	if (!v) {
		if (required)
			return FAIL(c, "schema_missing", p, "required field is missing");
		return 0;
	}
	if (!json_is_integer(v))
		return FAIL(c, "schema_type", p, "must be an integer, found %s", vg_json_type_name(v));
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return FAIL(c, "schema_value", p, "%lld is out of range [%lld, %lld]",
			    (long long)json_integer_value(v), (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return 0;
}

static int get_u32(struct ctx *c, json_t *obj, const char *path, const char *key, bool required, uint32_t lo,
		   uint32_t hi, uint32_t dflt, uint32_t *out)
{
	int64_t v;
	int r = get_int(c, obj, path, key, required, lo, hi, dflt, &v);

	*out = (uint32_t)v;
	return r;
}

static int get_bool(struct ctx *c, json_t *obj, const char *path, const char *key, bool dflt, bool *out)
{
	json_t *v = json_object_get(obj, key);
	char p[256];

	*out = dflt;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		sub(p, sizeof(p), path, key);
		return FAIL(c, "schema_type", p, "must be true or false, found %s", vg_json_type_name(v));
	}
	*out = json_is_true(v);
	return 0;
}

static int get_time(struct ctx *c, json_t *obj, const char *path, const char *key, time_t *out)
{
	const char *s;
	char p[256];
	int r = str_value(c, obj, path, key, true, 64, &s);

	if (r < 0)
		return r;
	if (vg_time_parse(s, out) < 0) {
		sub(p, sizeof(p), path, key);
		return FAIL(c, "schema_value", p, "\"%s\" is not an RFC 3339 UTC time such as 2026-11-23T09:00:00Z", s);
	}
	return 0;
}

/* enum field: returns the index of the matching choice */
static int get_choice(struct ctx *c, json_t *obj, const char *path, const char *key, const char *const *choices,
		      int dflt, int *out)
{
	char p[256], list[128] = "";
	const char *s;
	int r = str_value(c, obj, path, key, false, 64, &s);

	*out = dflt;
	if (r < 0 || !s)
		return r;
	for (int i = 0; choices[i]; i++) {
		if (!strcmp(choices[i], s)) {
			*out = i;
			return 0;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "", choices[i]);
	}
	sub(p, sizeof(p), path, key);
	return FAIL(c, "schema_value", p, "\"%s\" is not one of: %s", s, list);
}

/* optional array; *arr NULL when absent */
static int get_array(struct ctx *c, json_t *obj, const char *path, const char *key, bool required, json_t **arr)
{
	json_t *v = json_object_get(obj, key);
	char p[256];

	*arr = NULL;
	sub(p, sizeof(p), path, key);
	if (!v) {
		if (required)
			return FAIL(c, "schema_missing", p, "required field is missing");
		return 0;
	}
	if (!json_is_array(v))
		return FAIL(c, "schema_type", p, "must be an array, found %s", vg_json_type_name(v));
	if (json_array_size(v) > MAX_ITEMS)
		return FAIL(c, "schema_value", p, "more than %u items", MAX_ITEMS);
	*arr = v;
	return 0;
}

/* An optional array of items, each parsed by fn into an arena array of elem-sized slots. */
typedef int (*item_fn)(struct ctx *c, json_t *v, const char *path, void *out, const void *arg);

static int parse_list(struct ctx *c, json_t *obj, const char *path, const char *key, size_t elem, item_fn fn,
		      const void *arg, void **out, size_t *n)
{
	json_t *arr, *v;
	size_t i;
	char p[256], pi[280];
	int r = get_array(c, obj, path, key, false, &arr);

	*out = NULL;
	*n = 0;
	if (r < 0 || !arr)
		return r;
	sub(p, sizeof(p), path, key);
	*out = arena_alloc(c->arena, elem * (json_array_size(arr) + 1));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		idx(pi, sizeof(pi), p, i);
		if ((r = fn(c, v, pi, (char *)*out + i * elem, arg)) < 0)
			return r;
	}
	*n = json_array_size(arr);
	return 0;
}

/* one string of 1..*(size_t *)maxlen characters */
static int str_item(struct ctx *c, json_t *v, const char *path, void *out, const void *maxlen)
{
	size_t max = *(const size_t *)maxlen;

	if (!json_is_string(v))
		return FAIL(c, "schema_type", path, "must be a string, found %s", vg_json_type_name(v));
	if (json_string_length(v) > max || json_string_length(v) == 0)
		return FAIL(c, "schema_value", path, "must be 1 to %zu characters", max);
	*(char **)out = astrdup(c, json_string_value(v));
	return *(char **)out ? 0 : -ENOMEM;
}

static int get_str_array(struct ctx *c, json_t *obj, const char *path, const char *key, size_t maxlen,
			 char ***out, size_t *n)
{
	return parse_list(c, obj, path, key, sizeof(char *), str_item, &maxlen, (void **)out, n);
}

/* ---- CIDRs, rules ---- */

int vg_cidr_parse(const char *s, struct vg_cidr *out)
{
	char buf[64], *slash, *end;
	long plen;
	uint8_t addr[16];
	int family, maxlen;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		family = AF_INET6;
		maxlen = 128;
	} else {
		return -EINVAL;
	}
	plen = maxlen;
	if (slash) {
		if (!slash[1] || slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		plen = strtol(slash + 1, &end, 10);
		if (*end || plen < 0 || plen > maxlen)
			return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->family = (uint8_t)family;
	out->prefixlen = (uint8_t)plen;
	memcpy(out->addr, addr, family == AF_INET ? 4 : 16);
	/* host bits set ("10.0.0.1/8") are almost always a typo: refuse rather than guess */
	for (int bit = (int)plen; bit < maxlen; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EDOM;
	return 0;
}

int vg_cidr_format(const struct vg_cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family, c->addr, a, sizeof(a)))
		return -EINVAL;
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
	return 0;
}

bool vg_cidr_contains(const struct vg_cidr *c, int family, const uint8_t *addr)
{
	int full = c->prefixlen / 8, rem = c->prefixlen % 8;

	if (family != c->family)
		return false;
	if (memcmp(c->addr, addr, (size_t)full))
		return false;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));

		if ((c->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

int vg_cidr_parse_json(struct json_t *v, const char *p, struct vg_cidr *out, struct vg_err *err)
{
	int r;

	if (!json_is_string(v))
		return vg_err_set(err, EINVAL, "schema_type", p, "must be a CIDR string such as 10.0.0.0/8, found %s",
				  vg_json_type_name(v));
	r = vg_cidr_parse(json_string_value(v), out);
	if (r == -EDOM)
		return vg_err_set(err, EINVAL, "schema_bad_cidr", p,
				  "\"%.64s\" has host bits set beyond the prefix length: write the network address",
				  json_string_value(v));
	if (r < 0)
		return vg_err_set(err, EINVAL, "schema_bad_cidr", p,
				  "\"%.64s\" is not a CIDR: expected ADDRESS/PREFIX such as 10.0.0.0/8 or 2001:db8::/32",
				  json_string_value(v));
	return 0;
}

static int parse_cidr_value(struct ctx *c, json_t *v, const char *p, struct vg_cidr *out)
{
	return vg_cidr_parse_json(v, p, out, c->err);
}

static int parse_ports(struct ctx *c, json_t *arr, const char *p, uint8_t *nports, struct vg_portrange **ports)
{
	struct vg_portrange pr[VG_MAX_PORTS];
	size_t i, n = json_array_size(arr);
	json_t *v;
	char pi[300];
	int r;

	if (n == 0)
		return FAIL(c, "schema_value", p, "an empty port list allows nothing: leave \"ports\" out for every port");
	if (n > VG_MAX_PORTS)
		return FAIL(c, "schema_value", p, "at most %d port entries per rule; split the rule", VG_MAX_PORTS);
	json_array_foreach(arr, i, v) {
		idx(pi, sizeof(pi), p, i);
		if ((r = vg_port_parse_json(v, pi, &pr[i], c->err)) < 0)
			return r;
	}
	if (!(*ports = ports_keep(c, pr, n)))
		return -ENOMEM;
	*nports = (uint8_t)n;
	return 0;
}

/* "443" or "8000-8100" (the whole string): 0 with *lo, *hi (not yet range-checked) */
static int port_string(const char *s, long *lo, long *hi)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	*lo = *hi = strtol(s, &end, 10);
	if (*end == '-') {
		if (end[1] < '0' || end[1] > '9')
			return -EINVAL;
		*hi = strtol(end + 1, &end, 10);
	}
	return *end ? -EINVAL : 0;
}

static bool port_range_ok(long lo, long hi)
{
	return lo >= 1 && hi <= 65535 && lo <= hi;
}

int vg_port_parse_json(struct json_t *v, const char *path, struct vg_portrange *out, struct vg_err *err)
{
	long lo, hi;

	if (json_is_integer(v))
		lo = hi = (long)json_integer_value(v);
	else if (!json_is_string(v) || port_string(json_string_value(v), &lo, &hi) < 0)
		goto bad;
	if (!port_range_ok(lo, hi))
		return vg_err_set(err, EINVAL, "schema_value", path, "port range %ld-%ld is outside 1-65535 or reversed",
				  lo, hi);
	out->lo = (uint16_t)lo;
	out->hi = (uint16_t)hi;
	return 0;
bad:
	return vg_err_set(err, EINVAL, "schema_value", path, "a port is a number (443) or a range string (\"8000-8100\")");
}

/* The one destination a rule names (docs/bundle.md "Rules"). */
enum rule_dst { DST_CIDR, DST_FQDN, DST_PATTERN };
static const char *const rule_dsts[] = { "cidr", "fqdn", "pattern" };

/*
 * Rules by name are allowed only where the tenant's DNS goes through vigild's forwarder
 * (NAMES_OK: tenants and shared services); $.host rules name addresses.
 */
static int rule_dst(struct ctx *c, json_t *obj, const char *path, bool names_ok, enum rule_dst *out)
{
	char p[256];
	int n = 0;

	for (int i = 0; i < (int)VG_ARRAY_SIZE(rule_dsts); i++)
		if (json_object_get(obj, rule_dsts[i])) {
			*out = (enum rule_dst)i;
			n++;
		}
	if (n > 1)
		return FAIL(c, "schema_value", path,
			    "a rule names exactly one of \"cidr\", \"fqdn\" or \"pattern\": write one rule for each");
	if (n == 0 && !names_ok) {
		sub(p, sizeof(p), path, "cidr");
		return FAIL(c, "schema_missing", p, "required field is missing");
	}
	if (n == 0)
		return FAIL(c, "schema_missing", path,
			    "the rule names no destination: add \"cidr\" (addresses), \"fqdn\" (one DNS name) or "
			    "\"pattern\" (\"*.example.com\")");
	if (*out != DST_CIDR && !names_ok) {
		sub(p, sizeof(p), path, rule_dsts[*out]);
		return FAIL(c, "schema_value", p,
			    "$.host rules name addresses (\"cidr\") only: names are learned from a tenant's own lookups "
			    "through vigild's DNS forwarder, so they belong in a tenant's egress or a shared service");
	}
	return 0;
}

/* "fqdn": one name; "pattern": "*." and a name; both in their normalised form (docs/dns.md) */
static int parse_name_value(struct ctx *c, json_t *obj, const char *path, enum rule_dst dst, char **out)
{
	const char *key = rule_dsts[dst];
	struct vg_err derr;
	const char *star;
	char p[256];
	int r = get_str(c, obj, path, key, true, VG_DNS_NAME_MAX + 3, out);

	if (r < 0)
		return r;
	sub(p, sizeof(p), path, key);
	star = strchr(*out, '*');
	if (star && (star != *out || star[1] != '.' || strchr(star + 1, '*')))
		return FAIL(c, "schema_value", p,
			    "\"%s\": '*' stands for one whole first label only, in a \"pattern\" such as \"*.example.com\"",
			    *out);
	if (dst == DST_FQDN && star)
		return FAIL(c, "schema_value", p, "\"%s\" is a pattern: write \"pattern\": \"%s\"", *out, *out);
	if (dst == DST_PATTERN && !star)
		return FAIL(c, "schema_value", p,
			    "\"%s\" is one name: write \"fqdn\": \"%s\", or \"pattern\": \"*.%s\" for the names one "
			    "label below it", *out, *out, *out);
	if (vg_dns_pattern_check(*out, &derr) < 0)
		return FAIL(c, "schema_value", p, "\"%s\": %s", *out, derr.msg);
	return 0;
}

/* id (unique across the bundle, rules by address and by name alike), proto, ports, comment */
static int parse_rule_common(struct ctx *c, json_t *obj, const char *path, uint32_t *id, uint8_t *proto,
			     uint8_t *nports, struct vg_portrange **ports)
{
	static const char *const protos[] = { "any", "tcp", "udp", "icmp", NULL };
	static const uint8_t proto_nums[] = { VG_PROTO_ANY, VG_PROTO_TCP, VG_PROTO_UDP, VG_PROTO_ICMP };
	char p[256];
	json_t *parr;
	int64_t v;
	int pi, r;

	if ((r = get_int(c, obj, path, "id", true, 1, 0x7fffffff, 0, &v)) < 0)
		return r;
	*id = (uint32_t)v;
	if ((r = idset_add(&c->rule_ids, *id)) < 0)
		return r;
	if (r == 0) {
		sub(p, sizeof(p), path, "id");
		return vg_err_set(c->err, EINVAL, "schema_duplicate", p,
				  "rule id %u is used twice; rule ids are unique across the bundle", *id);
	}
	if ((r = get_choice(c, obj, path, "proto", protos, 0, &pi)) < 0)
		return r;
	*proto = proto_nums[pi];
	if ((r = get_array(c, obj, path, "ports", false, &parr)) < 0)
		return r;
	if (parr) {
		sub(p, sizeof(p), path, "ports");
		if (*proto == VG_PROTO_ICMP)
			return FAIL(c, "schema_value", p, "ICMP has no ports: remove \"ports\" or change \"proto\"");
		if ((r = parse_ports(c, parr, p, nports, ports)) < 0)
			return r;
	}
	if (json_object_get(obj, "comment") && !json_is_string(json_object_get(obj, "comment"))) {
		sub(p, sizeof(p), path, "comment");
		return FAIL(c, "schema_type", p, "must be a string");
	}
	return 0;
}

/* One egress rule: by address into RULE, or by name into NAME (*IS_NAME says which). */
static int parse_rule(struct ctx *c, json_t *obj, const char *path, bool names_ok, struct vg_rule *rule,
		      struct vg_name_rule *name, bool *is_name)
{
	static const char *const allowed[] = { "id", "cidr", "fqdn", "pattern", "proto", "ports", "comment", NULL };
	static const char *const required[] = { "id", NULL };
	enum rule_dst dst = DST_CIDR;
	char p[256];
	int r;

	if ((r = check_fields(c, obj, path, allowed, required)) < 0 || (r = rule_dst(c, obj, path, names_ok, &dst)) < 0)
		return r;
	*is_name = dst != DST_CIDR;
	if (*is_name) {
		if ((r = parse_rule_common(c, obj, path, &name->id, &name->proto, &name->nports, &name->ports)) < 0)
			return r;
		return parse_name_value(c, obj, path, dst, &name->pattern);
	}
	if ((r = parse_rule_common(c, obj, path, &rule->id, &rule->proto, &rule->nports, &rule->ports)) < 0)
		return r;
	sub(p, sizeof(p), path, "cidr");
	return parse_cidr_value(c, json_object_get(obj, "cidr"), p, &rule->cidr);
}

static int cidr_item(struct ctx *c, json_t *v, const char *path, void *out, const void *arg)
{
	return parse_cidr_value(c, v, path, out);
}

/* Element v of a rule list (at pi; n: the list's length) into the next rule by address or by name. */
static int rule_item(struct ctx *c, json_t *v, const char *pi, size_t n, struct vg_rule *rules, size_t *nrules,
		     struct vg_name_rule **names, size_t *nnames)
{
	struct vg_name_rule scratch;
	bool is_name = false;
	int r;

	/* the array of names only when a list has one (most have none) */
	if (names && !*names && json_is_object(v) && (json_object_get(v, "fqdn") || json_object_get(v, "pattern")) &&
	    !(*names = arena_alloc(c->arena, sizeof(**names) * n)))
		return -ENOMEM;
	if ((r = parse_rule(c, v, pi, names != NULL, &rules[*nrules], names && *names ? &(*names)[*nnames] : &scratch,
			    &is_name)) < 0)
		return r;
	if (is_name)
		(*nnames)++;
	else
		(*nrules)++;
	return 0;
}

static int streamed_rules(struct ctx *c, const struct streamed *st, const char *p, struct vg_rule *rules,
			  size_t *nrules, struct vg_name_rule **names, size_t *nnames);

/*
 * An egress list, in its order: rules by address into RULES, rules by name into NAMES
 * (NULL for $.host, which takes addresses only). Both count in TOTAL. ST: the list read
 * from the bytes (the tree then holds [] in its place), NULL: from the tree.
 */
static int parse_rules(struct ctx *c, json_t *obj, const char *path, const char *key, const struct streamed *st,
		       struct vg_rule **rules, size_t *nrules, struct vg_name_rule **names, size_t *nnames,
		       size_t *total)
{
	json_t *arr, *v;
	size_t i, n;
	char p[256], pi[280];
	int r = get_array(c, obj, path, key, false, &arr);

	*rules = NULL;
	*nrules = 0;
	if (names) {
		*names = NULL;
		*nnames = 0;
	}
	if (r < 0 || !arr)
		return r;
	n = (st ? st->n : json_array_size(arr)) + 1;
	*rules = arena_alloc(c->arena, sizeof(**rules) * n);
	if (!*rules)
		return -ENOMEM;
	sub(p, sizeof(p), path, key);
	*total += n - 1;
	if (st)
		return streamed_rules(c, st, p, *rules, nrules, names, nnames);
	json_array_foreach(arr, i, v) {
		idx(pi, sizeof(pi), p, i);
		if ((r = rule_item(c, v, pi, n, *rules, nrules, names, nnames)) < 0)
			return r;
	}
	return 0;
}

static int parse_cidrs(struct ctx *c, json_t *obj, const char *path, const char *key, struct vg_cidr **out,
		       size_t *n)
{
	return parse_list(c, obj, path, key, sizeof(**out), cidr_item, NULL, (void **)out, n);
}

/* ---- sections ---- */

static const char *const modes[] = { "enforce", "audit", NULL };

static int parse_shared(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "name", "rules", "comment", NULL };
	static const char *const required[] = { "name", "rules", NULL };
	json_t *arr, *v;
	size_t i;
	char pi[64];
	struct set names;
	int r = get_array(c, root, "$", "shared_services", false, &arr);

	if (r < 0 || !arr)
		return r;
	b->shared_services = arena_alloc(c->arena, sizeof(*b->shared_services) * (json_array_size(arr) + 1));
	if (!b->shared_services || set_init(&names, json_array_size(arr)) < 0)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		struct vg_shared_service *s = &b->shared_services[i];

		idx(pi, sizeof(pi), "$.shared_services", i);
		if ((r = check_fields(c, v, pi, allowed, required)) < 0 || (r = get_name(c, v, pi, "name", &s->name)) < 0)
			break;
		if (!set_add_str(&names, s->name)) {
			r = vg_err_set(c->err, EINVAL, "schema_duplicate", pi, "shared service \"%s\" is defined twice",
				       s->name);
			break;
		}
		if ((r = parse_rules(c, v, pi, "rules", streamed_at(c, false, i), &s->rules, &s->nrules, &s->names,
				     &s->nnames, &b->nrules_total)) < 0)
			break;
		b->nshared_services++;
	}
	set_free(&names);
	return r;
}

/*
 * The canonical spelling of s, resolved lexically (cgroupfs has no symlinks):
 * "/a" for "/a/", "//a", "/a/." or "/b/../a"; "/" for the root.
 */
static void cgroup_canonical(const char *s, char *out, size_t len)
{
	size_t n = 0;

	while (*s) {
		size_t l = strcspn(s, "/");

		if (l == 2 && !strncmp(s, "..", 2)) {
			while (n > 0 && out[--n] != '/')
				;
		} else if (l && !(l == 1 && s[0] == '.') && n + l + 2 <= len) {
			out[n++] = '/';
			memcpy(out + n, s, l);
			n += l;
		}
		s += l + (s[l] == '/');
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
}

/*
 * A tenant cgroup is spelt one way only: '/', then names separated by single
 * '/', no "." or "..", no trailing '/'; so equal cgroups are equal strings.
 */
static int parse_cgroup_path(struct ctx *c, const char *s, const char *p)
{
	char canon[1040];
	unsigned depth = 0;

	if (s[0] != '/')
		return FAIL(c, "schema_value", p, "\"%s\" must be a cgroup v2 path starting with '/'", s);
	cgroup_canonical(s, canon, sizeof(canon));
	if (strcmp(s, canon)) {
		if (!strcmp(canon, "/"))
			return FAIL(c, "schema_value", p, "\"%s\" is the cgroup2 root, which is no tenant's: "
					"processes outside every tenant follow $.host", s);
		return FAIL(c, "schema_value", p, "\"%s\" is not a canonical cgroup path (no empty, \".\" or \"..\" "
				"components, no trailing '/'): write \"%s\"", s, canon);
	}
	if (!strcmp(s, "/"))
		return FAIL(c, "schema_value", p, "\"/\" is the cgroup2 root, which is no tenant's: "
				"processes outside every tenant follow $.host");
	for (const char *q = s; *q; q++) {
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return FAIL(c, "schema_value", p, "cgroup path \"%s\" holds a control character", s);
		if (*q == '/' && strcspn(q + 1, "/") > 255)
			return FAIL(c, "schema_value", p, "a name in cgroup path \"%s\" is longer than 255 bytes", s);
		depth += *q == '/';
	}
	if (depth >= VG_ENF_MAX_CGROUP_DEPTH)
		return FAIL(c, "schema_value", p, "cgroup path \"%s\" is %u levels deep: vigil follows at most %u", s,
			    depth, VG_ENF_MAX_CGROUP_DEPTH - 1);
	return 0;
}

/* One listed tenant cgroup, for the overlap check. */
struct cgroup_ref {
	const char *path;
	size_t tenant, k;
};

/* the end of a path sorts first, then '/', then every other byte */
static unsigned cgroup_rank(unsigned char ch)
{
	return ch == '\0' ? 0 : ch == '/' ? 1 : ch + 1u;
}

/* Path order in which a cgroup's descendants follow it, contiguous; ties in listing order. */
static int cgroup_ref_cmp(const void *a, const void *b)
{
	const struct cgroup_ref *x = a, *y = b;
	const unsigned char *p = (const unsigned char *)x->path, *q = (const unsigned char *)y->path;

	for (; *p && *p == *q; p++, q++)
		;
	if (*p != *q)
		return cgroup_rank(*p) < cgroup_rank(*q) ? -1 : 1;
	if (x->tenant != y->tenant)
		return x->tenant < y->tenant ? -1 : 1;
	return x->k < y->k ? -1 : x->k > y->k;
}

/* a is b or one of b's ancestors */
static bool cgroup_covers(const char *a, const char *b)
{
	size_t l = strlen(a);

	return !strncmp(a, b, l) && (b[l] == '\0' || b[l] == '/');
}

static int cgroup_conflict(struct ctx *c, const struct vg_bundle *b, const struct cgroup_ref *up,
			   const struct cgroup_ref *e)
{
	char pe[96], pu[96];

	snprintf(pe, sizeof(pe), "$.tenants[%zu].cgroups[%zu]", e->tenant, e->k);
	snprintf(pu, sizeof(pu), "$.tenants[%zu].cgroups[%zu]", up->tenant, up->k);
	if (up->tenant == e->tenant)
		return vg_err_set(c->err, EINVAL, "schema_duplicate", pe, "cgroup \"%s\" is listed twice (also at %s)",
				  e->path, pu);
	if (!strcmp(up->path, e->path))
		return vg_err_set(c->err, EINVAL, "schema_duplicate", pe,
				  "cgroup \"%s\" of tenant \"%s\" is also tenant \"%s\"'s (%s): a cgroup belongs to "
				  "one tenant", e->path, b->tenants[e->tenant].name, b->tenants[up->tenant].name, pu);
	return vg_err_set(c->err, EINVAL, "schema_overlap", pe,
			  "cgroup \"%s\" of tenant \"%s\" is inside cgroup \"%s\" of tenant \"%s\" (%s): a cgroup "
			  "and everything below it belong to one tenant", e->path, b->tenants[e->tenant].name, up->path,
			  b->tenants[up->tenant].name, pu);
}

/*
 * No cgroup of one tenant equals or lies below another tenant's: the deepest
 * listed cgroup governs a process, so either would hand one tenant's
 * processes to another (an enforce tenant's to an audit one). Below one's own
 * cgroup is allowed (redundant); the same cgroup twice is not.
 */
static int check_cgroup_overlap(struct ctx *c, const struct vg_bundle *b)
{
	struct cgroup_ref *refs, *stack[VG_ENF_MAX_CGROUP_DEPTH + 1];
	size_t n = 0, depth = 0;
	int r = 0;

	for (size_t i = 0; i < b->ntenants; i++)
		n += b->tenants[i].ncgroups;
	if (n < 2)
		return 0;
	refs = calloc(n, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < b->ntenants; i++)
		for (size_t k = 0; k < b->tenants[i].ncgroups; k++)
			refs[n++] = (struct cgroup_ref){ b->tenants[i].cgroups[k], i, k };
	qsort(refs, n, sizeof(*refs), cgroup_ref_cmp);
	for (size_t i = 0; i < n && !r; i++) {
		while (depth && !cgroup_covers(stack[depth - 1]->path, refs[i].path))
			depth--;
		if (depth && (stack[depth - 1]->tenant != refs[i].tenant ||
			      !strcmp(stack[depth - 1]->path, refs[i].path)))
			r = cgroup_conflict(c, b, stack[depth - 1], &refs[i]);
		else
			stack[depth++] = &refs[i];
	}
	free(refs);
	return r;
}

/* "sockets": ["raw", "packet", "mptcp"]: kinds a tenant may open beyond TCP, UDP and ping */
static int parse_sockets(struct ctx *c, json_t *v, const char *pi, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} kinds[] = { { "raw", VG_TENANT_SOCK_RAW }, { "packet", VG_TENANT_SOCK_PACKET }, { "mptcp", VG_TENANT_SOCK_MPTCP } };
	char p[128], pj[160];
	char **names;
	size_t n;
	int r;

	*out = 0;
	if ((r = get_str_array(c, v, pi, "sockets", MAX_NAME, &names, &n)) < 0)
		return r;
	sub(p, sizeof(p), pi, "sockets");
	for (size_t k = 0; k < n; k++) {
		size_t j;

		for (j = 0; j < VG_ARRAY_SIZE(kinds); j++)
			if (!strcmp(names[k], kinds[j].name))
				break;
		idx(pj, sizeof(pj), p, k);
		if (j == VG_ARRAY_SIZE(kinds))
			return FAIL(c, "schema_value", pj, "unknown socket kind \"%s\": use raw, packet or mptcp", names[k]);
		*out |= kinds[j].bit;
	}
	return 0;
}

/* "connect_rate": {"per_second": N, "burst": B}: the tenant's token bucket of new connections (docs/enforcement.md) */
static int parse_connect_rate(struct ctx *c, json_t *v, const char *pi, struct vg_connect_rate *out)
{
	static const char *const allowed[] = { "per_second", "burst", "comment", NULL };
	static const char *const required[] = { "per_second", NULL };
	json_t *cr = json_object_get(v, "connect_rate");
	char p[128];
	int r;

	*out = (struct vg_connect_rate){ 0 };
	if (!cr)
		return 0;
	sub(p, sizeof(p), pi, "connect_rate");
	if ((r = check_fields(c, cr, p, allowed, required)) < 0 ||
	    (r = get_u32(c, cr, p, "per_second", true, 1, VG_CONNECT_RATE_MAX, 0, &out->per_second)) < 0)
		return r;
	/* a burst defaults to one second's worth */
	return get_u32(c, cr, p, "burst", false, 1, VG_CONNECT_RATE_MAX, out->per_second, &out->burst);
}

static int parse_tenants(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "name", "id", "mode", "cgroups", "segments", "egress", "shared",
					       "sockets", "connect_rate", "comment", NULL };
	static const char *const required[] = { "name", "id", "cgroups", NULL };
	json_t *arr, *v;
	size_t i;
	char pi[64], p[128], pj[160];
	struct set names, ids;
	int r = get_array(c, root, "$", "tenants", false, &arr);

	if (r < 0 || !arr)
		return r;
	if (json_array_size(arr) > 65535)
		return FAIL(c, "schema_value", "$.tenants", "at most 65535 tenants");
	b->tenants = arena_alloc(c->arena, sizeof(*b->tenants) * (json_array_size(arr) + 1));
	if (!b->tenants || set_init(&names, json_array_size(arr)) < 0 || set_init(&ids, json_array_size(arr)) < 0)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		struct vg_tenant *t = &b->tenants[i];
		int64_t id;
		int mode;
		char **shared;
		size_t nshared;

		idx(pi, sizeof(pi), "$.tenants", i);
		if ((r = check_fields(c, v, pi, allowed, required)) < 0 || (r = get_name(c, v, pi, "name", &t->name)) < 0 ||
		    (r = get_int(c, v, pi, "id", true, 1, 65535, 0, &id)) < 0 ||
		    (r = get_choice(c, v, pi, "mode", modes, 0, &mode)) < 0)
			goto out;
		t->id = (uint32_t)id;
		t->mode = (enum vg_mode)mode;
		if (!set_add_str(&names, t->name)) {
			sub(p, sizeof(p), pi, "name");
			r = vg_err_set(c->err, EINVAL, "schema_duplicate", p, "tenant name \"%s\" is used twice", t->name);
			goto out;
		}
		if (!set_add_u64(&ids, t->id)) {
			sub(p, sizeof(p), pi, "id");
			r = vg_err_set(c->err, EINVAL, "schema_duplicate", p,
				       "tenant id %u is used twice; tenant ids are unique", t->id);
			goto out;
		}
		if ((r = get_str_array(c, v, pi, "cgroups", 1024, &t->cgroups, &t->ncgroups)) < 0)
			goto out;
		sub(p, sizeof(p), pi, "cgroups");
		if (t->ncgroups == 0) {
			r = FAIL(c, "schema_value", p, "a tenant needs at least one cgroup");
			goto out;
		}
		for (size_t k = 0; k < t->ncgroups; k++) {
			idx(pj, sizeof(pj), p, k);
			if ((r = parse_cgroup_path(c, t->cgroups[k], pj)) < 0)
				goto out;
		}
		if ((r = parse_cidrs(c, v, pi, "segments", &t->segments, &t->nsegments)) < 0 ||
		    (r = parse_rules(c, v, pi, "egress", streamed_at(c, true, i), &t->egress, &t->negress, &t->names,
				     &t->nnames, &b->nrules_total)) < 0 ||
		    (r = get_str_array(c, v, pi, "shared", MAX_NAME, &shared, &nshared)) < 0 ||
		    (r = parse_sockets(c, v, pi, &t->sockets)) < 0 ||
		    (r = parse_connect_rate(c, v, pi, &t->connect_rate)) < 0)
			goto out;
		t->shared = arena_alloc(c->arena, sizeof(size_t) * (nshared + 1));
		if (!t->shared) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t k = 0; k < nshared; k++) {
			size_t s;

			for (s = 0; s < b->nshared_services; s++)
				if (!strcmp(b->shared_services[s].name, shared[k]))
					break;
			if (s == b->nshared_services) {
				sub(p, sizeof(p), pi, "shared");
				idx(pj, sizeof(pj), p, k);
				r = FAIL(c, "schema_reference", pj,
					 "shared service \"%s\" is not defined in $.shared_services", shared[k]);
				goto out;
			}
			t->shared[t->nshared++] = s;
		}
		b->ntenants++;
	}
	if ((r = check_cgroup_overlap(c, b)) < 0)
		goto out;
	/* segments of different tenants must not overlap: segmentation would be ambiguous */
	for (size_t a = 0; a < b->ntenants; a++)
		for (size_t x = a + 1; x < b->ntenants; x++)
			for (size_t sa = 0; sa < b->tenants[a].nsegments; sa++)
				for (size_t sx = 0; sx < b->tenants[x].nsegments; sx++) {
					const struct vg_cidr *ca = &b->tenants[a].segments[sa];
					const struct vg_cidr *cx = &b->tenants[x].segments[sx];

					if (vg_cidr_contains(ca, cx->family, cx->addr) ||
					    vg_cidr_contains(cx, ca->family, ca->addr)) {
						char f1[64], f2[64];

						vg_cidr_format(ca, f1, sizeof(f1));
						vg_cidr_format(cx, f2, sizeof(f2));
						snprintf(p, sizeof(p), "$.tenants[%zu].segments[%zu]", x, sx);
						r = FAIL(c, "schema_overlap", p,
							 "segment %s of tenant \"%s\" overlaps segment %s of tenant \"%s\"", f2,
							 b->tenants[x].name, f1, b->tenants[a].name);
						goto out;
					}
				}
out:
	set_free(&names);
	set_free(&ids);
	return r;
}

static int parse_host(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "mode", "default", "egress", "comment", NULL };
	static const char *const dflts[] = { "allow", "deny", NULL };
	json_t *h = json_object_get(root, "host");
	int mode, dflt, r;

	b->host.mode = VG_MODE_ENFORCE;
	b->host.dflt = VG_DEFAULT_ALLOW;
	if (!h)
		return 0;
	if ((r = check_fields(c, h, "$.host", allowed, NULL)) < 0 ||
	    (r = get_choice(c, h, "$.host", "mode", modes, 0, &mode)) < 0 ||
	    (r = get_choice(c, h, "$.host", "default", dflts, 0, &dflt)) < 0 ||
	    (r = parse_rules(c, h, "$.host", "egress", NULL, &b->host.egress, &b->host.negress, NULL, NULL, &b->nrules_total)) < 0)
		return r;
	b->host.mode = (enum vg_mode)mode;
	b->host.dflt = (enum vg_default)dflt;
	return 0;
}

static int check_abs_paths(struct ctx *c, char **v, size_t n, const char *path)
{
	char p[300];

	for (size_t i = 0; i < n; i++)
		if (v[i][0] != '/') {
			idx(p, sizeof(p), path, i);
			return FAIL(c, "schema_value", p, "\"%s\" must be an absolute path", v[i]);
		}
	return 0;
}

static int parse_posture(struct ctx *c, json_t *el, struct vg_elevation *e)
{
	static const char *const allowed[] = { "edr", "disk_encryption", "patch_max_age_days", "secure_boot", "max_age",
					       "unknown", "edr_agents", "exempt_mounts", NULL };
	static const char *const envs[] = { "dev", "stage", "prod", NULL };
	static const char *const unknowns[] = { "fail", "pass", NULL };
	json_t *po = json_object_get(el, "posture");
	const char *key;
	json_t *v;
	char p[128], q[160];
	int r;

	if (!po)
		return 0;
	if (!json_is_object(po))
		return FAIL(c, "schema_type", "$.elevation.posture", "must be an object keyed by environment");
	json_object_foreach(po, key, v) {
		int env = -1, unk;
		struct vg_posture_req *req;

		for (int i = 0; envs[i]; i++)
			if (!strcmp(envs[i], key))
				env = i;
		sub(p, sizeof(p), "$.elevation.posture", key);
		if (env < 0)
			return FAIL(c, "schema_unknown_field", p, "unknown environment \"%.32s\": use dev, stage or prod",
				    key);
		req = &e->posture[env];
		req->present = true;
		if ((r = check_fields(c, v, p, allowed, NULL)) < 0 || (r = get_bool(c, v, p, "edr", false, &req->edr)) < 0 ||
		    (r = get_bool(c, v, p, "disk_encryption", false, &req->disk_encryption)) < 0 ||
		    (r = get_bool(c, v, p, "secure_boot", false, &req->secure_boot)) < 0 ||
		    (r = get_u32(c, v, p, "patch_max_age_days", false, 0, 3650, 0, &req->patch_max_age_days)) < 0 ||
		    (r = get_u32(c, v, p, "max_age", false, 1, 86400, 300, &req->max_age_s)) < 0 ||
		    (r = get_choice(c, v, p, "unknown", unknowns, env == VG_ENV_DEV ? 1 : 0, &unk)) < 0 ||
		    (r = get_str_array(c, v, p, "edr_agents", 1024, &req->edr_agents, &req->nedr_agents)) < 0 ||
		    (r = get_str_array(c, v, p, "exempt_mounts", 1024, &req->exempt_mounts, &req->nexempt_mounts)) < 0)
			return r;
		req->unknown_as = (enum vg_unknown_as)unk;
		sub(q, sizeof(q), p, "edr_agents");
		if ((r = check_abs_paths(c, req->edr_agents, req->nedr_agents, q)) < 0)
			return r;
		sub(q, sizeof(q), p, "exempt_mounts");
		if ((r = check_abs_paths(c, req->exempt_mounts, req->nexempt_mounts, q)) < 0)
			return r;
	}
	return 0;
}

static int parse_breakglass(struct ctx *c, json_t *el, struct vg_elevation *e)
{
	static const char *const allowed[] = { "id", "user", "hash", "not_after", "duration", "comment", NULL };
	static const char *const required[] = { "id", "user", "hash", "not_after", NULL };
	json_t *arr, *v;
	size_t i;
	char pi[64], p[96];
	int r = get_array(c, el, "$.elevation", "break_glass", false, &arr);

	if (r < 0 || !arr)
		return r;
	e->breakglass = arena_alloc(c->arena, sizeof(*e->breakglass) * (json_array_size(arr) + 1));
	if (!e->breakglass)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		struct vg_breakglass *bg = &e->breakglass[i];

		idx(pi, sizeof(pi), "$.elevation.break_glass", i);
		if ((r = check_fields(c, v, pi, allowed, required)) < 0 || (r = get_name(c, v, pi, "id", &bg->id)) < 0 ||
		    (r = get_name(c, v, pi, "user", &bg->user)) < 0 ||
		    (r = get_str(c, v, pi, "hash", true, 512, &bg->hash)) < 0 ||
		    (r = get_time(c, v, pi, "not_after", &bg->not_after)) < 0 ||
		    (r = get_u32(c, v, pi, "duration", false, 60, 14400, 900, &bg->duration_s)) < 0)
			return r;
		if (strncmp(bg->hash, "$pbkdf2-sha256$", 15)) {
			sub(p, sizeof(p), pi, "hash");
			return FAIL(c, "schema_value", p,
				    "must be \"$pbkdf2-sha256$ITERATIONS$SALT$HASH\" (make one with: vigilctl breakglass hash)");
		}
		e->nbreakglass++;
	}
	return 0;
}

/* https://HOST[:PORT], or plain http only on the loopback names (WebAuthn treats those as secure) */
static bool origin_ok(const char *o)
{
	const char *rest;

	if (!strncmp(o, "https://", 8))
		rest = o + 8;
	else if (!strncmp(o, "http://localhost", 16))
		rest = o + 16;
	else if (!strncmp(o, "http://127.0.0.1", 16))
		rest = o + 16;
	else
		return false;
	if (rest == o + 8)
		return *rest && !strpbrk(rest, "/?#@ ");
	if (*rest == '\0')
		return true;
	if (*rest != ':' || !rest[1])
		return false;
	for (rest++; *rest; rest++)
		if (*rest < '0' || *rest > '9')
			return false;
	return true;
}

static int parse_grant_reach(struct ctx *c, json_t *el, struct vg_elevation *e)
{
	static const char *const names[] = { [VG_REACH_SESSION] = "session", [VG_REACH_SERVICE] = "service",
					     [VG_REACH_USER] = "user" };
	char *v = NULL;
	int r = get_str(c, el, "$.elevation", "grant_reach", false, 16, &v);

	if (r < 0 || !v)
		return r;
	for (size_t i = 0; i < VG_ARRAY_SIZE(names); i++)
		if (strcmp(v, names[i]) == 0) {
			e->grant_reach = (enum vg_grant_reach)i;
			return 0;
		}
	return FAIL(c, "schema_value", "$.elevation.grant_reach", "\"%s\" is not one of session, service, user", v);
}

static int parse_elevation(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "group", "gid", "allowed", "services", "max_duration", "default_duration",
					       "require_uv", "require_reason", "reason_pattern", "touch_within_grant",
					       "grant_reach", "rp_id", "origins", "posture", "break_glass", "comment", NULL };
	static const char *const required[] = { "group", "gid", "rp_id", NULL };
	json_t *el = json_object_get(root, "elevation");
	struct vg_elevation *e = &b->elevation;
	char p[128];
	int r;

	if (!el)
		return 0;
	e->present = true;
	if ((r = check_fields(c, el, "$.elevation", allowed, required)) < 0 ||
	    (r = get_name(c, el, "$.elevation", "group", &e->group)) < 0 ||
	    (r = get_u32(c, el, "$.elevation", "gid", true, 1, 0x7ffffffe, 0, &e->gid)) < 0 ||
	    (r = get_str_array(c, el, "$.elevation", "allowed", MAX_NAME + 1, &e->allowed, &e->nallowed)) < 0 ||
	    (r = get_str_array(c, el, "$.elevation", "services", 64, &e->services, &e->nservices)) < 0 ||
	    (r = get_u32(c, el, "$.elevation", "max_duration", false, 60, 86400, 3600, &e->max_duration_s)) < 0 ||
	    (r = get_u32(c, el, "$.elevation", "default_duration", false, 60, 86400, e->max_duration_s,
			 &e->default_duration_s)) < 0 ||
	    (r = get_bool(c, el, "$.elevation", "require_uv", false, &e->require_uv)) < 0 ||
	    (r = get_bool(c, el, "$.elevation", "require_reason", true, &e->require_reason)) < 0 ||
	    (r = get_str(c, el, "$.elevation", "reason_pattern", false, 256, &e->reason_pattern)) < 0 ||
	    (r = get_bool(c, el, "$.elevation", "touch_within_grant", false, &e->touch_within_grant)) < 0 ||
	    (r = get_str(c, el, "$.elevation", "rp_id", true, 253, &e->rp_id)) < 0 ||
	    (r = get_str_array(c, el, "$.elevation", "origins", 512, &e->origins, &e->norigins)) < 0)
		return r;
	if ((r = parse_grant_reach(c, el, e)) < 0)
		return r;
	if (e->gid < 1000 || e->gid == 65534 || e->gid == 65535)
		return FAIL(c, "schema_value", "$.elevation.gid",
			    "%u is a system gid (below 1000, or nogroup 65534/65535): local groups such as sudo (27) "
			    "live there; choose a gid in $.identity.gid_range",
			    e->gid);
	if (e->default_duration_s > e->max_duration_s)
		return FAIL(c, "schema_value", "$.elevation.default_duration",
			    "default_duration (%u s) is longer than max_duration (%u s)", e->default_duration_s,
			    e->max_duration_s);
	if (e->reason_pattern) {
		regex_t re;

		if (regcomp(&re, e->reason_pattern, REG_EXTENDED | REG_NOSUB) != 0)
			return FAIL(c, "schema_value", "$.elevation.reason_pattern",
				    "not a valid POSIX extended regular expression");
		regfree(&re);
	}
	for (size_t i = 0; i < e->norigins; i++) {
		const char *o = e->origins[i];

		if (!origin_ok(o)) {
			snprintf(p, sizeof(p), "$.elevation.origins[%zu]", i);
			return FAIL(c, "schema_value", p,
				    "\"%s\" is not an https:// origin (WebAuthn needs a secure context)", o);
		}
	}
	for (size_t i = 0; i < e->nallowed; i++) {
		const char *a = e->allowed[i][0] == '%' ? e->allowed[i] + 1 : e->allowed[i];

		if (!vg_str_valid_name(a, MAX_NAME)) {
			snprintf(p, sizeof(p), "$.elevation.allowed[%zu]", i);
			return FAIL(c, "schema_value", p, "\"%s\" is not a user name or %%group", e->allowed[i]);
		}
	}
	if ((r = parse_posture(c, el, e)) < 0)
		return r;
	return parse_breakglass(c, el, e);
}

static int parse_range(struct ctx *c, json_t *obj, const char *path, const char *key, uint32_t *lo, uint32_t *hi)
{
	json_t *v = json_object_get(obj, key);
	char p[128];

	sub(p, sizeof(p), path, key);
	if (!v)
		return FAIL(c, "schema_missing", p, "required field is missing");
	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0)) ||
	    !json_is_integer(json_array_get(v, 1)))
		return FAIL(c, "schema_type", p, "must be [MIN, MAX] with two integers");
	if (json_integer_value(json_array_get(v, 0)) < 1000 || json_integer_value(json_array_get(v, 1)) > 0x7ffffffe ||
	    json_integer_value(json_array_get(v, 0)) > json_integer_value(json_array_get(v, 1)))
		return FAIL(c, "schema_value", p,
			    "must satisfy 1000 <= MIN <= MAX < 2^31-1 (ids below 1000 belong to the system)");
	*lo = (uint32_t)json_integer_value(json_array_get(v, 0));
	*hi = (uint32_t)json_integer_value(json_array_get(v, 1));
	return 0;
}

static int parse_credential(struct ctx *c, json_t *v, const char *pi, struct vg_credential *cr)
{
	static const char *const allowed[] = { "id", "alg", "public_key", "uv", "comment", NULL };
	static const char *const required[] = { "id", "alg", "public_key", NULL };
	static const char *const algs[] = { "es256", "eddsa", "rs256", NULL };
	static const int alg_nums[] = { VG_COSE_ES256, VG_COSE_EDDSA, VG_COSE_RS256 };
	char p[256];
	int alg, r;

	if ((r = check_fields(c, v, pi, allowed, required)) < 0 ||
	    (r = get_str(c, v, pi, "id", true, 1024, &cr->id_b64)) < 0 ||
	    (r = get_choice(c, v, pi, "alg", algs, 0, &alg)) < 0 ||
	    (r = get_str(c, v, pi, "public_key", true, 4096, &cr->public_key)) < 0 ||
	    (r = get_bool(c, v, pi, "uv", false, &cr->uv)) < 0)
		return r;
	cr->alg = alg_nums[alg];
	{
		uint8_t *raw;
		size_t n;

		if (vg_b64_decode(cr->id_b64, &raw, &n) < 0 || n == 0) {
			sub(p, sizeof(p), pi, "id");
			return FAIL(c, "schema_value", p, "credential id must be non-empty base64url");
		}
		cr->id = arena_alloc(c->arena, n);
		if (!cr->id) {
			free(raw);
			return -ENOMEM;
		}
		memcpy(cr->id, raw, n);
		cr->id_len = n;
		free(raw);
	}
	if (strncmp(cr->public_key, "-----BEGIN PUBLIC KEY-----", 26)) {
		sub(p, sizeof(p), pi, "public_key");
		return FAIL(c, "schema_value", p,
			    "must be a PEM SubjectPublicKeyInfo (-----BEGIN PUBLIC KEY-----), as printed by vigilctl enroll");
	}
	{
		struct vg_err kerr = { 0 };

		if (vg_credential_check(cr, &kerr) < 0) {
			sub(p, sizeof(p), pi, "public_key");
			return FAIL(c, "schema_value", p, "%s", kerr.msg);
		}
	}
	return 0;
}

/* ---- identity: the users and groups, from the tree or one element at a time from the bytes ---- */

static int syntax_at(struct ctx *c, const char *at, const char *why)
{
	char where[64];
	int line, col;

	vg_json_line_col(c->stream->buf, c->stream->buf + c->stream->len, at, &line, &col);
	snprintf(where, sizeof(where), "line %d, column %d", line, col);
	return vg_err_set(c->err, EINVAL, "json_syntax", where, "not valid JSON: %s", why);
}

/* One scanned value as jansson would have made it: strings, integers and literals directly;
 * containers and reals by jansson from their own bytes. */
static int tok_json(struct ctx *c, const struct vg_json_tok *t, json_t **out)
{
	char small[256], *buf;
	size_t max, n;
	json_error_t jerr;

	switch (t->kind) {
	case VG_JSON_STRING:
		max = vg_json_str_max(t);
		buf = max <= sizeof(small) ? small : malloc(max);
		if (!buf)
			return -ENOMEM;
		*out = vg_json_str_decode(t, buf, max, &n) == 0 ? json_stringn(buf, n) : NULL;
		if (buf != small)
			free(buf);
		return *out ? 0 : syntax_at(c, t->start, "invalid string");
	case VG_JSON_INTEGER:
		if ((size_t)(t->end - t->start) >= sizeof(small))
			return syntax_at(c, t->start, "too big integer");
		memcpy(small, t->start, (size_t)(t->end - t->start));
		small[t->end - t->start] = '\0';
		errno = 0;
		*out = json_integer(strtoll(small, NULL, 10));
		return errno ? syntax_at(c, t->start, "too big integer") : *out ? 0 : -ENOMEM;
	case VG_JSON_TRUE: *out = json_true(); return 0;
	case VG_JSON_FALSE: *out = json_false(); return 0;
	case VG_JSON_NULL: *out = json_null(); return 0;
	default:
		*out = json_loadb(t->start, (size_t)(t->end - t->start), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
		return *out ? 0 : syntax_at(c, t->start + (jerr.position > 0 ? jerr.position - 1 : 0), jerr.text);
	}
}

/* an element of the array as a jansson value: an object's members one by one, duplicates refused */
static int element_json(struct ctx *c, const struct vg_json_tok *e, json_t **out)
{
	struct vg_json_scan s;
	struct vg_json_tok k, v;
	bool first = true;
	json_t *obj, *jv;
	char key[256];
	int r;

	if (e->kind != VG_JSON_OBJECT)
		return tok_json(c, e, out);
	if (!(obj = json_object()))
		return -ENOMEM;
	vg_json_scan_init(&s, c->stream->buf, c->stream->len);
	vg_json_scan_open(&s, e);
	while ((r = vg_json_scan_item(&s, true, 4, &first, &k, &v)) > 0) {
		/* a key longer than any allowed one is unknown: its first bytes name it */
		if (vg_json_str_max(&k) > sizeof(key)) {
			size_t n = sizeof(key) - 1;

			memcpy(key, k.start + 1, n);
			key[n] = '\0';
		} else if (vg_json_str_decode(&k, key, sizeof(key), NULL) < 0) {
			r = syntax_at(c, k.start, "invalid object key");
			break;
		}
		if (json_object_get(obj, key)) {
			r = syntax_at(c, k.start, "duplicate object key");
			break;
		}
		if ((r = tok_json(c, &v, &jv)) < 0)
			break;
		if (json_object_set_new(obj, key, jv) < 0) {
			r = syntax_at(c, k.start, "invalid object key");
			break;
		}
	}
	if (r < 0) {
		json_decref(obj);
		return r == -EINVAL && !c->err->msg[0] ? syntax_at(c, s.err_at, s.err) : r;
	}
	*out = obj;
	return 0;
}

/* ---- egress rules read from the bytes ---- */

/* a scanned string without escapes: its bytes between the quotes */
static bool plain(const struct vg_json_tok *t, const char **p, size_t *n)
{
	if (t->kind != VG_JSON_STRING || memchr(t->start + 1, '\\', (size_t)(t->end - t->start - 2)))
		return false;
	*p = t->start + 1;
	*n = (size_t)(t->end - t->start - 2);
	return true;
}

static bool plain_is(const struct vg_json_tok *t, const char *word)
{
	const char *p;
	size_t n;

	return plain(t, &p, &n) && n == strlen(word) && !memcmp(p, word, n);
}

/* a string without escapes into buf, NUL-terminated (false: escapes, or too long) */
static bool plain_copy(const struct vg_json_tok *t, char *buf, size_t len)
{
	const char *p;
	size_t n;

	if (!plain(t, &p, &n) || n >= len)
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return true;
}

/* an integer token in [lo, hi] */
static bool tok_int(const struct vg_json_tok *t, long lo, long hi, long *out)
{
	const char *p = t->start;
	bool neg = p < t->end && *p == '-';
	long long v = 0;

	/* the scanner checked the syntax; 18 digits cannot overflow */
	if (t->kind != VG_JSON_INTEGER || t->end - t->start - neg > 18)
		return false;
	for (p += neg; p < t->end; p++)
		v = v * 10 + (*p - '0');
	if (neg)
		v = -v;
	if (v < lo || v > hi)
		return false;
	*out = (long)v;
	return true;
}

/* "ports" of a rule read by fast_rule: 1 with rule->ports, 0 when anything is unusual, -ENOMEM */
static int fast_ports(struct ctx *c, const struct vg_json_tok *arr, struct vg_rule *rule)
{
	struct vg_portrange pr[VG_MAX_PORTS];
	struct vg_json_tok k, v;
	struct vg_json_scan s;
	bool first = true;
	size_t n = 0;
	char buf[16];
	long lo, hi;
	int r;

	vg_json_scan_init(&s, c->stream->buf, c->stream->len);
	vg_json_scan_open(&s, arr);
	while ((r = vg_json_scan_item(&s, false, 6, &first, &k, &v)) > 0) {
		if (n == VG_ARRAY_SIZE(pr))
			return 0;
		if (v.kind == VG_JSON_INTEGER) {
			if (!tok_int(&v, 1, 65535, &lo))
				return 0;
			hi = lo;
		} else if (!plain_copy(&v, buf, sizeof(buf)) || port_string(buf, &lo, &hi) < 0) {
			return 0;
		}
		if (!port_range_ok(lo, hi))
			return 0;
		pr[n].lo = (uint16_t)lo;
		pr[n++].hi = (uint16_t)hi;
	}
	if (r < 0 || n == 0)
		return 0;
	if (!(rule->ports = ports_keep(c, pr, n)))
		return -ENOMEM;
	rule->nports = (uint8_t)n;
	return 1;
}

/*
 * A rule by address written the common way ("id", "cidr", "proto", "ports", "comment";
 * strings without escapes; each key once; every value valid) straight from its bytes, with
 * no jansson object: 1 with *rule (its id taken), 0 for anything else, which the caller then
 * parses as jansson would, so that what is wrong is reported as always; -ENOMEM.
 */
static int fast_rule(struct ctx *c, const struct vg_json_tok *e, struct vg_rule *rule)
{
	static const char *const keys[] = { "id", "cidr", "proto", "ports", "comment" };
	static const enum vg_json_kind kinds[] = { VG_JSON_INTEGER, VG_JSON_STRING, VG_JSON_STRING, VG_JSON_ARRAY,
						   VG_JSON_STRING };
	static const char *const protos[] = { "any", "tcp", "udp", "icmp" };
	static const uint8_t proto_nums[] = { VG_PROTO_ANY, VG_PROTO_TCP, VG_PROTO_UDP, VG_PROTO_ICMP };
	struct vg_json_tok f[VG_ARRAY_SIZE(keys)] = { 0 }, k, v;
	struct vg_json_scan s;
	bool first = true;
	char cidr[64];
	size_t i;
	long id;
	int r;

	if (e->kind != VG_JSON_OBJECT)
		return 0;
	vg_json_scan_init(&s, c->stream->buf, c->stream->len);
	vg_json_scan_open(&s, e);
	while ((r = vg_json_scan_item(&s, true, 5, &first, &k, &v)) > 0) {
		for (i = 0; i < VG_ARRAY_SIZE(keys) && !plain_is(&k, keys[i]); i++)
			;
		if (i == VG_ARRAY_SIZE(keys) || f[i].start || v.kind != kinds[i])
			return 0;
		f[i] = v;
	}
	if (r < 0 || !tok_int(&f[0], 1, 0x7fffffff, &id) || !plain_copy(&f[1], cidr, sizeof(cidr)) ||
	    vg_cidr_parse(cidr, &rule->cidr) < 0)
		return 0;
	rule->proto = VG_PROTO_ANY;
	if (f[2].start) {
		for (i = 0; i < VG_ARRAY_SIZE(protos) && !plain_is(&f[2], protos[i]); i++)
			;
		if (i == VG_ARRAY_SIZE(protos))
			return 0;
		rule->proto = proto_nums[i];
	}
	rule->nports = 0;
	rule->ports = NULL;
	if (f[3].start && (rule->proto == VG_PROTO_ICMP || (r = fast_ports(c, &f[3], rule)) <= 0))
		return r < 0 ? r : 0;
	/* a duplicate id: the caller's parse reports it */
	if ((r = idset_add(&c->rule_ids, (uint32_t)id)) <= 0)
		return r;
	rule->id = (uint32_t)id;
	return 1;
}

/* A rule list read from the bytes: each element by fast_rule, or as jansson would have made it. */
static int streamed_rules(struct ctx *c, const struct streamed *st, const char *p, struct vg_rule *rules,
			  size_t *nrules, struct vg_name_rule **names, size_t *nnames)
{
	struct vg_json_tok k, e;
	struct vg_json_scan s;
	bool first = true;
	char pi[280];
	size_t i = 0;
	int r;

	vg_json_scan_init(&s, c->stream->buf, c->stream->len);
	vg_json_scan_open(&s, &st->tok);
	while ((r = vg_json_scan_item(&s, false, 4, &first, &k, &e)) > 0) {
		struct json_mark m;
		json_t *v;

		if ((r = fast_rule(c, &e, &rules[*nrules])) > 0) {
			(*nrules)++;
			i++;
			continue;
		}
		if (r < 0)
			return r;
		m = json_arena_mark();
		idx(pi, sizeof(pi), p, i++);
		if ((r = element_json(c, &e, &v)) == 0) {
			r = rule_item(c, v, pi, st->n + 1, rules, nrules, names, nnames);
			json_decref(v);
		}
		json_arena_release(m);
		if (r < 0)
			return r;
	}
	return r < 0 ? syntax_at(c, s.err_at, s.err) : 0;
}

/* The elements of $.identity.users or .groups: from the tree, or read one at a time from the bytes. */
struct items {
	json_t *arr;
	size_t i, n;
	bool streamed, first;
	struct vg_json_scan scan;
};

static void items_init(struct ctx *c, struct items *it, json_t *arr, const struct vg_json_tok *tok, size_t n)
{
	memset(it, 0, sizeof(*it));
	it->arr = arr;
	it->n = json_array_size(arr);
	if (!c->stream || !tok->start)
		return;
	it->streamed = it->first = true;
	it->n = n;
	vg_json_scan_init(&it->scan, c->stream->buf, c->stream->len);
	vg_json_scan_open(&it->scan, tok);
}

/* 1 with *v (the caller drops it), 0 after the last */
static int items_next(struct ctx *c, struct items *it, json_t **v)
{
	struct vg_json_tok k, e;
	int r;

	if (!it->streamed) {
		if (it->i >= it->n)
			return 0;
		*v = json_incref(json_array_get(it->arr, it->i++));
		return 1;
	}
	r = vg_json_scan_item(&it->scan, false, 3, &it->first, &k, &e);
	if (r < 0)
		return syntax_at(c, it->scan.err_at, it->scan.err);
	if (r == 0)
		return 0;
	it->i++;
	return (r = element_json(c, &e, v)) < 0 ? r : 1;
}

static int parse_user(struct ctx *c, json_t *v, const char *pi, const struct vg_bundle *b, struct set *unames,
		      struct set *uids, struct vg_user *u)
{
	static const char *const uallowed[] = { "name",	       "uid",	     "gid",	    "gecos",
						"home",	       "shell",	     "state",	    "credentials",
						"valid_until", "comment",    NULL };
	static const char *const urequired[] = { "name", "uid", "gid", NULL };
	static const char *const states[] = { "active", "deprovisioned", NULL };
	const struct vg_identity *ident = &b->identity;
	char p[128], pj[160];
	json_t *creds, *cv;
	int state, r;
	size_t k;

	if ((r = check_fields(c, v, pi, uallowed, urequired)) < 0 || (r = get_name(c, v, pi, "name", &u->name)) < 0 ||
	    (r = get_u32(c, v, pi, "uid", true, ident->uid_min, ident->uid_max, 0, &u->uid)) < 0 ||
	    (r = get_u32(c, v, pi, "gid", true, ident->gid_min, ident->gid_max, 0, &u->gid)) < 0 ||
	    (r = get_str(c, v, pi, "gecos", false, 256, &u->gecos)) < 0 ||
	    (r = get_str(c, v, pi, "home", false, 1024, &u->home)) < 0 ||
	    (r = get_str(c, v, pi, "shell", false, 1024, &u->shell)) < 0 ||
	    (r = get_choice(c, v, pi, "state", states, 0, &state)) < 0)
		return r;
	u->state = (enum vg_user_state)state;
	if (json_object_get(v, "valid_until") && (r = get_time(c, v, pi, "valid_until", &u->valid_until)) < 0)
		return r;
	if (b->elevation.present && u->gid == b->elevation.gid) {
		sub(p, sizeof(p), pi, "gid");
		return FAIL(c, "schema_value", p,
			    "%u is the elevation group's gid ($.elevation.gid): \"%s\" would always be "
			    "elevated; give the user another primary group",
			    u->gid, u->name);
	}
	if (strchr(u->gecos ? u->gecos : "", ':') || strchr(u->gecos ? u->gecos : "", '\n')) {
		sub(p, sizeof(p), pi, "gecos");
		return FAIL(c, "schema_value", p, "must not contain ':' or a newline");
	}
	if ((u->home && u->home[0] != '/') || (u->shell && u->shell[0] != '/')) {
		sub(p, sizeof(p), pi, u->home && u->home[0] != '/' ? "home" : "shell");
		return FAIL(c, "schema_value", p, "must be an absolute path");
	}
	if (!set_add_str(unames, u->name)) {
		sub(p, sizeof(p), pi, "name");
		return vg_err_set(c->err, EINVAL, "schema_duplicate", p, "user \"%s\" is defined twice", u->name);
	}
	if (!set_add_u64(uids, u->uid)) {
		sub(p, sizeof(p), pi, "uid");
		return vg_err_set(c->err, EINVAL, "schema_duplicate", p, "uid %u is used by two users", u->uid);
	}
	if ((r = get_array(c, v, pi, "credentials", false, &creds)) < 0 || !creds)
		return r;
	sub(p, sizeof(p), pi, "credentials");
	if (json_array_size(creds) > 16)
		return FAIL(c, "schema_value", p, "at most 16 credentials per user");
	u->creds = arena_alloc(c->arena, sizeof(*u->creds) * (json_array_size(creds) + 1));
	if (!u->creds)
		return -ENOMEM;
	json_array_foreach(creds, k, cv) {
		idx(pj, sizeof(pj), p, k);
		if ((r = parse_credential(c, cv, pj, &u->creds[k])) < 0)
			return r;
	}
	u->ncreds = json_array_size(creds);
	return 0;
}

static int parse_group(struct ctx *c, json_t *v, const char *pi, const struct vg_bundle *b, const struct set *unames,
		       struct set *gnames, struct set *gids, struct vg_group *g)
{
	static const char *const gallowed[] = { "name", "gid", "members", "comment", NULL };
	static const char *const grequired[] = { "name", "gid", NULL };
	char p[128], pj[160];
	int r;

	if ((r = check_fields(c, v, pi, gallowed, grequired)) < 0 || (r = get_name(c, v, pi, "name", &g->name)) < 0 ||
	    (r = get_u32(c, v, pi, "gid", true, b->identity.gid_min, b->identity.gid_max, 0, &g->gid)) < 0 ||
	    (r = get_str_array(c, v, pi, "members", MAX_NAME, &g->members, &g->nmembers)) < 0)
		return r;
	if (!set_add_str(gnames, g->name) || (b->elevation.group && !strcmp(g->name, b->elevation.group))) {
		sub(p, sizeof(p), pi, "name");
		return vg_err_set(c->err, EINVAL, "schema_duplicate", p,
				  "group \"%s\" is defined twice (or is the elevation group)", g->name);
	}
	if (!set_add_u64(gids, g->gid) || (b->elevation.present && g->gid == b->elevation.gid)) {
		sub(p, sizeof(p), pi, "gid");
		return vg_err_set(c->err, EINVAL, "schema_duplicate", p,
				  "gid %u is used by two groups (or by the elevation group)", g->gid);
	}
	for (size_t k = 0; k < g->nmembers; k++)
		if (!set_has_str(unames, g->members[k])) {
			sub(p, sizeof(p), pi, "members");
			idx(pj, sizeof(pj), p, k);
			return FAIL(c, "schema_reference", pj, "\"%s\" is not a user of $.identity.users", g->members[k]);
		}
	return 0;
}

/* One identity array: each element parsed by parse_user or parse_group and dropped before the next. */
static int parse_identity_list(struct ctx *c, json_t *id, const char *key, struct vg_bundle *b, struct set *unames,
			       struct set *names, struct set *ids)
{
	bool users = !strcmp(key, "users");
	const struct identity_stream *st = c->stream;
	struct vg_identity *ident = &b->identity;
	char path[32], pi[64];
	struct items it;
	json_t *arr, *v;
	size_t elem = users ? sizeof(struct vg_user) : sizeof(struct vg_group);
	void *list;
	int r;

	snprintf(path, sizeof(path), "$.identity.%s", key);
	if ((r = get_array(c, id, "$.identity", key, false, &arr)) < 0)
		return r;
	items_init(c, &it, arr, st ? (users ? &st->users : &st->groups) : NULL, st ? (users ? st->nusers : st->ngroups) : 0);
	if (it.n > MAX_ITEMS)
		return FAIL(c, "schema_value", path, "more than %u items", MAX_ITEMS);
	if (set_init(names, it.n) < 0 || set_init(ids, it.n) < 0)
		return -ENOMEM;
	if (!arr)
		return 0;
	if (!(list = arena_alloc(c->arena, elem * (it.n + 1))))
		return -ENOMEM;
	if (users)
		ident->users = list;
	else
		ident->groups = list;
	for (;;) {
		struct json_mark m = json_arena_mark();

		if ((r = items_next(c, &it, &v)) <= 0)
			return r;
		idx(pi, sizeof(pi), path, it.i - 1);
		if (users)
			r = parse_user(c, v, pi, b, names, ids, &ident->users[it.i - 1]);
		else
			r = parse_group(c, v, pi, b, unames, names, ids, &ident->groups[it.i - 1]);
		json_decref(v);
		json_arena_release(m);
		if (r < 0)
			return r;
		if (users)
			ident->nusers++;
		else
			ident->ngroups++;
	}
}

static int parse_identity(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "uid_range", "gid_range", "users", "groups", "comment", NULL };
	json_t *id = json_object_get(root, "identity");
	struct vg_identity *ident = &b->identity;
	struct set unames = { 0 }, uids = { 0 }, gnames = { 0 }, gids = { 0 };
	int r;

	if (!id)
		return 0;
	if ((r = check_fields(c, id, "$.identity", allowed, NULL)) < 0 ||
	    (r = parse_range(c, id, "$.identity", "uid_range", &ident->uid_min, &ident->uid_max)) < 0 ||
	    (r = parse_range(c, id, "$.identity", "gid_range", &ident->gid_min, &ident->gid_max)) < 0)
		return r;
	if (b->elevation.present && (b->elevation.gid < ident->gid_min || b->elevation.gid > ident->gid_max))
		return FAIL(c, "schema_value", "$.elevation.gid",
			    "%u is outside $.identity.gid_range [%u, %u]: the elevation gid must be one vigil owns",
			    b->elevation.gid, ident->gid_min, ident->gid_max);
	r = parse_identity_list(c, id, "users", b, NULL, &unames, &uids);
	if (r == 0)
		r = parse_identity_list(c, id, "groups", b, &unames, &gnames, &gids);
	set_free(&unames);
	set_free(&uids);
	set_free(&gnames);
	set_free(&gids);
	return r;
}

/* ---- locating the identity arrays (a first pass that validates the whole document) ---- */

static bool key_is(const struct vg_json_tok *k, const char *name)
{
	char buf[16];

	return vg_json_str_max(k) <= sizeof(buf) && vg_json_str_decode(k, buf, sizeof(buf), NULL) == 0 &&
	       !strcmp(buf, name);
}

/* the array at s->p (at nesting depth depth), its elements counted */
static int locate_array(struct vg_json_scan *s, unsigned depth, struct vg_json_tok *t, size_t *n)
{
	struct vg_json_tok k, v;
	bool first = true;
	int r;

	t->kind = VG_JSON_ARRAY;
	t->start = s->p++;
	*n = 0;
	while ((r = vg_json_scan_item(s, false, depth, &first, &k, &v)) > 0)
		(*n)++;
	t->end = s->p;
	return r;
}

/* the array member key of the object at s->p (depth 3), into l */
static int locate_member(struct vg_json_scan *s, const char *key, struct streamed *l)
{
	struct vg_json_tok obj = { .kind = VG_JSON_OBJECT, .start = s->p }, k, v;
	bool first = true;
	int r;

	vg_json_scan_open(s, &obj);
	while ((r = vg_json_scan_item(s, true, 3, &first, &k, NULL)) > 0) {
		/* a second one stays in the tree, where jansson refuses the duplicate */
		if (!l->tok.start && key_is(&k, key) && vg_json_scan_peek(s) == '[')
			r = locate_array(s, 4, &l->tok, &l->n);
		else
			r = vg_json_scan_value(s, 4, &v);
		if (r < 0)
			return r;
	}
	return r;
}

/* $.tenants or $.shared_services at s->p: each element's key array as (*list)[i] */
static int locate_lists(struct vg_json_scan *s, const char *key, struct streamed **list, size_t *n)
{
	struct vg_json_tok arr = { .kind = VG_JSON_ARRAY, .start = s->p }, k, v;
	bool first = true;
	size_t cap = 0;
	int r;

	if (*list)
		return -EINVAL; /* twice: jansson says so */
	vg_json_scan_open(s, &arr);
	while ((r = vg_json_scan_item(s, false, 2, &first, &k, NULL)) > 0) {
		if (*n == cap) {
			struct streamed *m = realloc(*list, sizeof(**list) * (cap = cap ? cap * 2 : 16));

			if (!m)
				return -ENOMEM;
			*list = m;
		}
		memset(&(*list)[*n], 0, sizeof(**list));
		if (vg_json_scan_peek(s) == '{')
			r = locate_member(s, key, &(*list)[(*n)++]);
		else
			r = vg_json_scan_value(s, 3, &v), (*n)++;
		if (r < 0)
			return r;
	}
	return r;
}

static int locate_in_identity(struct vg_json_scan *s, struct identity_stream *st)
{
	struct vg_json_tok obj = { .kind = VG_JSON_OBJECT, .start = s->p }, k, v;
	bool first = true;
	int r;

	vg_json_scan_open(s, &obj);
	while ((r = vg_json_scan_item(s, true, 2, &first, &k, NULL)) > 0) {
		bool u = key_is(&k, "users"), g = !u && key_is(&k, "groups");

		if ((u || g) && vg_json_scan_peek(s) == '[') {
			if ((u ? st->users : st->groups).start)
				return -EINVAL; /* twice: jansson says so */
			r = locate_array(s, 3, u ? &st->users : &st->groups, u ? &st->nusers : &st->ngroups);
		} else {
			r = vg_json_scan_value(s, 3, &v);
		}
		if (r < 0)
			return r;
	}
	return r;
}

/* 0 with the arrays' places (none found: both start NULL); < 0 when the bytes are not JSON */
static int locate_identity(const char *buf, size_t len, struct identity_stream *st)
{
	struct vg_json_scan s;
	struct vg_json_tok root, k, v;
	bool first = true, seen = false;
	int r;

	*st = (struct identity_stream){ .buf = buf, .len = len };
	vg_json_scan_init(&s, buf, len);
	if (vg_json_scan_peek(&s) != '{')
		return -EINVAL;
	root = (struct vg_json_tok){ .kind = VG_JSON_OBJECT, .start = s.p };
	vg_json_scan_open(&s, &root);
	while ((r = vg_json_scan_item(&s, true, 1, &first, &k, NULL)) > 0) {
		bool tn = key_is(&k, "tenants");

		if (key_is(&k, "identity") && vg_json_scan_peek(&s) == '{') {
			if (seen)
				return -EINVAL;
			seen = true;
			r = locate_in_identity(&s, st);
		} else if ((tn || key_is(&k, "shared_services")) && vg_json_scan_peek(&s) == '[') {
			r = locate_lists(&s, tn ? "egress" : "rules", tn ? &st->tenant_egress : &st->shared_rules,
					 tn ? &st->ntenants : &st->nshared);
		} else {
			r = vg_json_scan_value(&s, 2, &v);
		}
		if (r < 0)
			return r;
	}
	return r < 0 ? r : vg_json_scan_end(&s);
}

/* the arrays read from the bytes, in document order, into cut (NULL: only counted) */
static int cut_cmp(const void *a, const void *b)
{
	const struct vg_json_tok *x = *(const struct vg_json_tok *const *)a, *y = *(const struct vg_json_tok *const *)b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static size_t stream_cuts(const struct identity_stream *st, const struct vg_json_tok **cut)
{
	size_t n = 0;

#define CUT(t)                           \
	do {                             \
		if ((t)->start && cut)   \
			cut[n] = (t);    \
		n += (t)->start != NULL; \
	} while (0)
	CUT(&st->users);
	CUT(&st->groups);
	for (size_t i = 0; i < st->ntenants; i++)
		CUT(&st->tenant_egress[i].tok);
	for (size_t i = 0; i < st->nshared; i++)
		CUT(&st->shared_rules[i].tok);
#undef CUT
	if (cut)
		qsort(cut, n, sizeof(*cut), cut_cmp);
	return n;
}

/* how many rules the streamed lists hold (the rule id set's size, known before the parse) */
static size_t stream_rules(const struct identity_stream *st)
{
	size_t n = 0;

	for (size_t i = 0; i < st->ntenants; i++)
		n += st->tenant_egress[i].n;
	for (size_t i = 0; i < st->nshared; i++)
		n += st->shared_rules[i].n;
	return n;
}

static void stream_free(struct identity_stream *st)
{
	free(st->tenant_egress);
	free(st->shared_rules);
	st->tenant_egress = st->shared_rules = NULL;
	st->ntenants = st->nshared = 0;
}

/* the document with the streamed arrays as [] (their elements are read from the bytes), NULL on ENOMEM */
static char *without_arrays(const struct identity_stream *st, size_t *outlen)
{
	size_t ncut = stream_cuts(st, NULL);
	const struct vg_json_tok **cut = malloc(sizeof(*cut) * (ncut + 1));
	char *out = cut ? malloc(st->len) : NULL, *o = out;
	const char *from = st->buf;

	if (!out) {
		free(cut);
		return NULL;
	}
	stream_cuts(st, cut);
	for (size_t i = 0; i < ncut; i++) {
		memcpy(o, from, (size_t)(cut[i]->start - from));
		o += cut[i]->start - from;
		memcpy(o, "[]", 2);
		o += 2;
		from = cut[i]->end;
	}
	memcpy(o, from, (size_t)(st->buf + st->len - from));
	o += st->buf + st->len - from;
	*outlen = (size_t)(o - out);
	free(cut);
	return out;
}

/*
 * The tree jansson makes of the bundle. With identity arrays, of the bundle without them
 * (c->stream then reads their elements one at a time): a 100k-user tree costs most of a
 * load's time. Any doubt (the scanner refuses the bytes, jansson the rest) and it is the
 * whole bundle's tree, whose error is then the one reported, as jansson says it.
 */
static json_t *bundle_tree(struct ctx *c, struct identity_stream *st, const char *buf, size_t len, json_error_t *jerr)
{
	json_t *root = NULL;
	size_t rlen;
	char *rest;

	if (locate_identity(buf, len, st) == 0 && stream_cuts(st, NULL) && (rest = without_arrays(st, &rlen))) {
		root = json_loadb(rest, rlen, JSON_REJECT_DUPLICATES, jerr);
		free(rest);
		if (root)
			c->stream = st;
	}
	return root ? root : json_loadb(buf, len, JSON_REJECT_DUPLICATES, jerr);
}

static int parse_audit(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "sinks", "comment", NULL };
	static const char *const sallowed[] = { "name", "type", "target", "tls", "ca_file", "cert_file", "key_file",
						"batch", "comment", NULL };
	static const char *const srequired[] = { "name", "type", "target", NULL };
	static const char *const types[] = { "relp", "https", NULL };
	json_t *au = json_object_get(root, "audit"), *arr, *v;
	size_t i;
	char pi[64];
	int r;

	if (!au)
		return 0;
	if ((r = check_fields(c, au, "$.audit", allowed, NULL)) < 0 ||
	    (r = get_array(c, au, "$.audit", "sinks", false, &arr)) < 0 || !arr)
		return r;
	if (json_array_size(arr) > 16)
		return FAIL(c, "schema_value", "$.audit.sinks", "at most 16 sinks");
	b->audit.sinks = arena_alloc(c->arena, sizeof(*b->audit.sinks) * (json_array_size(arr) + 1));
	if (!b->audit.sinks)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		struct vg_sink *s = &b->audit.sinks[i];
		int type;

		idx(pi, sizeof(pi), "$.audit.sinks", i);
		if ((r = check_fields(c, v, pi, sallowed, srequired)) < 0 || (r = get_name(c, v, pi, "name", &s->name)) < 0 ||
		    (r = get_choice(c, v, pi, "type", types, 0, &type)) < 0 ||
		    (r = get_str(c, v, pi, "target", true, 512, &s->target)) < 0 ||
		    (r = get_bool(c, v, pi, "tls", true, &s->tls)) < 0 ||
		    (r = get_str(c, v, pi, "ca_file", false, 255, &s->ca_file)) < 0 ||
		    (r = get_str(c, v, pi, "cert_file", false, 255, &s->cert_file)) < 0 ||
		    (r = get_str(c, v, pi, "key_file", false, 255, &s->key_file)) < 0 ||
		    (r = get_u32(c, v, pi, "batch", false, 1, 10000, 256, &s->batch)) < 0)
			return r;
		s->type = (enum vg_sink_type)type;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(b->audit.sinks[k].name, s->name))
				return vg_err_set(c->err, EINVAL, "schema_duplicate", pi, "sink \"%s\" is defined twice",
						  s->name);
		b->audit.nsinks++;
	}
	return 0;
}

static int parse_scope(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "hosts", "labels", NULL };
	static const char *const required[] = { "hosts", NULL };
	json_t *sc = json_object_get(root, "scope"), *labels, *v;
	const char *key;
	int r;

	if ((r = check_fields(c, sc, "$.scope", allowed, required)) < 0 ||
	    (r = get_str_array(c, sc, "$.scope", "hosts", 253, &b->scope.hosts, &b->scope.nhosts)) < 0)
		return r;
	if (b->scope.nhosts == 0)
		return FAIL(c, "schema_value", "$.scope.hosts",
			    "an empty host list matches no host: use [\"*\"] for every host");
	labels = json_object_get(sc, "labels");
	if (!labels)
		return 0;
	if (!json_is_object(labels))
		return FAIL(c, "schema_type", "$.scope.labels", "must be an object of string labels");
	b->scope.label_keys = arena_alloc(c->arena, sizeof(char *) * (json_object_size(labels) + 1));
	b->scope.label_values = arena_alloc(c->arena, sizeof(char *) * (json_object_size(labels) + 1));
	if (!b->scope.label_keys || !b->scope.label_values)
		return -ENOMEM;
	json_object_foreach(labels, key, v) {
		char p[128];

		sub(p, sizeof(p), "$.scope.labels", key);
		if (!json_is_string(v))
			return FAIL(c, "schema_type", p, "must be a string, found %s", vg_json_type_name(v));
		b->scope.label_keys[b->scope.nlabels] = astrdup(c, key);
		b->scope.label_values[b->scope.nlabels] = astrdup(c, json_string_value(v));
		b->scope.nlabels++;
	}
	return 0;
}

/* ---- dns (docs/dns.md): how vigild's forwarder answers tenants with rules by name ---- */

#define DNS_MAX_RESOLVERS 8

/* "10.0.0.53", "10.0.0.53:5353", "2001:db8::1" or "[2001:db8::1]:5353"; port 53 by default */
static int resolver_item(struct ctx *c, json_t *v, const char *path, void *out, const void *arg)
{
	struct vg_dns_resolver *res = out;
	char host[INET6_ADDRSTRLEN + 2];
	const char *s, *port = NULL, *end;
	size_t hl;
	long pn = 53;
	char *pe;

	if (!json_is_string(v))
		return FAIL(c, "schema_type", path, "must be a string such as \"10.0.0.53\" or \"[2001:db8::1]:5353\", found %s",
			    vg_json_type_name(v));
	s = json_string_value(v);
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end && end[1] == ':')
			port = end + 2;
		else if (end && end[1])
			end = NULL;
		s++;
	} else {
		end = strchr(s, ':');
		if (end && strchr(end + 1, ':'))
			end = s + strlen(s); /* an IPv6 address without a port */
		else if (end)
			port = end + 1;
		else
			end = s + strlen(s);
	}
	hl = end ? (size_t)(end - s) : 0;
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, res->addr) == 1 && json_string_value(v)[0] != '[')
		res->family = AF_INET;
	else if (inet_pton(AF_INET6, host, res->addr) == 1)
		res->family = AF_INET6;
	else
		goto bad;
	if (port) {
		if (*port < '0' || *port > '9')
			goto bad;
		pn = strtol(port, &pe, 10);
		if (*pe || pn < 1 || pn > 65535)
			goto bad;
	}
	res->port = (uint16_t)pn;
	if (!memcmp(res->addr, (const uint8_t[16]){ 0 }, res->family == AF_INET ? 4 : 16))
		return FAIL(c, "schema_value", path, "\"%s\" is the unspecified address: name the resolver's own address",
			    json_string_value(v));
	return 0;
bad:
	return FAIL(c, "schema_value", path,
		    "\"%.64s\" is not a resolver: write an IP address with an optional port, e.g. \"10.0.0.53\", "
		    "\"10.0.0.53:5353\", \"2001:db8::1\" or \"[2001:db8::1]:5353\"", json_string_value(v));
}

static int parse_resolvers(struct ctx *c, json_t *d, struct vg_dns_policy *dns)
{
	char p[64];
	int r = parse_list(c, d, "$.dns", "resolvers", sizeof(*dns->resolvers), resolver_item, NULL,
			   (void **)&dns->resolvers, &dns->nresolvers);

	if (r < 0)
		return r;
	if (json_object_get(d, "resolvers") && dns->nresolvers == 0)
		return FAIL(c, "schema_value", "$.dns.resolvers",
			    "an empty list forwards nowhere: name at least one resolver, or leave \"resolvers\" out when "
			    "no rule names a host");
	if (dns->nresolvers > DNS_MAX_RESOLVERS)
		return FAIL(c, "schema_value", "$.dns.resolvers", "at most %d resolvers", DNS_MAX_RESOLVERS);
	for (size_t i = 0; i < dns->nresolvers; i++)
		for (size_t k = 0; k < i; k++)
			if (!memcmp(&dns->resolvers[i], &dns->resolvers[k], sizeof(dns->resolvers[i]))) {
				idx(p, sizeof(p), "$.dns.resolvers", i);
				return FAIL(c, "schema_duplicate", p, "the same resolver as $.dns.resolvers[%zu]", k);
			}
	return 0;
}

static int parse_dns(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "resolvers", "ttl_min", "ttl_max", "grace", "refuse", "comment", NULL };
	static const char *const refuses[] = { "nxdomain", "refused", NULL };
	struct vg_dns_policy *dns = &b->dns;
	json_t *d = json_object_get(root, "dns");
	int refuse = VG_DNS_REFUSE_NXDOMAIN, r;

	dns->ttl_min = 30;
	dns->ttl_max = 86400;
	dns->grace = 60;
	dns->refuse = VG_DNS_REFUSE_NXDOMAIN;
	if (!d)
		return 0;
	if ((r = check_fields(c, d, "$.dns", allowed, NULL)) < 0 || (r = parse_resolvers(c, d, dns)) < 0 ||
	    (r = get_u32(c, d, "$.dns", "ttl_min", false, 1, 86400, 30, &dns->ttl_min)) < 0 ||
	    (r = get_u32(c, d, "$.dns", "ttl_max", false, 1, 604800, 86400, &dns->ttl_max)) < 0 ||
	    (r = get_u32(c, d, "$.dns", "grace", false, 0, 86400, 60, &dns->grace)) < 0 ||
	    (r = get_choice(c, d, "$.dns", "refuse", refuses, VG_DNS_REFUSE_NXDOMAIN, &refuse)) < 0)
		return r;
	dns->refuse = (enum vg_dns_refuse)refuse;
	if (dns->ttl_max < dns->ttl_min)
		return FAIL(c, "schema_value", "$.dns.ttl_max", "%u is below ttl_min (%u): answers are clamped into "
			    "[ttl_min, ttl_max]", dns->ttl_max, dns->ttl_min);
	return 0;
}

/* Rules by name need somewhere to forward the tenants' lookups to. */
static int check_names_resolvable(struct ctx *c, const struct vg_bundle *b)
{
	if (b->dns.nresolvers)
		return 0;
	for (size_t i = 0; i < b->ntenants; i++)
		if (b->tenants[i].nnames)
			return FAIL(c, "schema_missing", "$.dns.resolvers",
				    "tenant \"%s\" has rules by name ($.tenants[%zu].egress): list the resolvers vigild "
				    "forwards its lookups to, e.g. \"dns\": {\"resolvers\": [\"10.0.0.53\"]}",
				    b->tenants[i].name, i);
	for (size_t i = 0; i < b->nshared_services; i++)
		if (b->shared_services[i].nnames)
			return FAIL(c, "schema_missing", "$.dns.resolvers",
				    "shared service \"%s\" has rules by name ($.shared_services[%zu].rules): list the "
				    "resolvers vigild forwards lookups to, e.g. \"dns\": {\"resolvers\": [\"10.0.0.53\"]}",
				    b->shared_services[i].name, i);
	return 0;
}

static int parse_change(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "id", "approved_by", "reason", "rolls_back_to", NULL };
	static const char *const required[] = { "id", NULL };
	json_t *ch = json_object_get(root, "change");
	int r;

	if (!ch)
		return 0;
	if ((r = check_fields(c, ch, "$.change", allowed, required)) < 0 ||
	    (r = get_str(c, ch, "$.change", "id", true, 128, &b->change.id)) < 0 ||
	    (r = get_str_array(c, ch, "$.change", "approved_by", 128, &b->change.approved_by, &b->change.napproved)) < 0 ||
	    (r = get_str(c, ch, "$.change", "reason", false, 1024, &b->change.reason)) < 0)
		return r;
	if (json_object_get(ch, "rolls_back_to") && !json_is_integer(json_object_get(ch, "rolls_back_to")))
		return FAIL(c, "schema_type", "$.change.rolls_back_to", "must be an integer bundle version");
	return 0;
}

static int parse_root(struct ctx *c, json_t *root, struct vg_bundle *b)
{
	static const char *const allowed[] = { "version", "issued_at", "expires_at", "environment", "change", "scope",
					       "tenants", "shared_services", "host", "elevation", "identity", "audit",
					       "dns", "comment", NULL };
	static const char *const required[] = { "version", "issued_at", "expires_at", "environment", "scope", NULL };
	static const char *const envs[] = { "dev", "stage", "prod", NULL };
	int env, r;

	if ((r = check_fields(c, root, "$", allowed, required)) < 0 ||
	    (r = get_int(c, root, "$", "version", true, 1, INT64_MAX, 0, &b->version)) < 0 ||
	    (r = get_time(c, root, "$", "issued_at", &b->issued_at)) < 0 ||
	    (r = get_time(c, root, "$", "expires_at", &b->expires_at)) < 0)
		return r;
	if (!json_object_get(root, "environment"))
		return FAIL(c, "schema_missing", "$.environment", "required field is missing");
	if ((r = get_choice(c, root, "$", "environment", envs, 0, &env)) < 0)
		return r;
	b->environment = (enum vg_env)env;
	if (b->expires_at <= b->issued_at)
		return FAIL(c, "schema_value", "$.expires_at", "expires_at must be later than issued_at");
	if ((r = parse_change(c, root, b)) < 0 || (r = parse_scope(c, root, b)) < 0 ||
	    (r = parse_shared(c, root, b)) < 0 || (r = parse_tenants(c, root, b)) < 0 ||
	    (r = parse_host(c, root, b)) < 0 || (r = parse_elevation(c, root, b)) < 0 ||
	    (r = parse_identity(c, root, b)) < 0 || (r = parse_audit(c, root, b)) < 0 ||
	    (r = parse_dns(c, root, b)) < 0 || (r = check_names_resolvable(c, b)) < 0)
		return r;
	return 0;
}

int vg_bundle_parse(const char *buf, size_t len, struct vg_bundle **out, struct vg_err *err)
{
	char digest[65];

	vg_sha256_hex(buf, len, digest);
	return vg_bundle_parse_digested(buf, len, digest, out, err);
}

int vg_bundle_parse_digested(const char *buf, size_t len, const char *digest, struct vg_bundle **out,
			     struct vg_err *err)
{
	struct ctx c = { .err = err };
	struct identity_stream st;
	struct json_arena ja;
	struct vg_bundle *b;
	json_error_t jerr;
	json_t *root;
	int r;

	*out = NULL;
	c.arena = calloc(1, sizeof(*c.arena));
	if (!c.arena)
		return -ENOMEM;
	b = arena_alloc(c.arena, sizeof(*b));
	if (!b) {
		arena_free(c.arena);
		return -ENOMEM;
	}
	b->arena = c.arena;
	snprintf(b->digest, sizeof(b->digest), "%s", digest);
	json_arena_begin(&ja);
	root = bundle_tree(&c, &st, buf, len, &jerr);
	if (!root) {
		char where[64];

		stream_free(&st);
		json_arena_end(&ja, NULL);
		snprintf(where, sizeof(where), "line %d, column %d", jerr.line, jerr.column);
		r = vg_err_set(err, EINVAL, "json_syntax", where, "not valid JSON: %s", jerr.text);
		vg_bundle_free(b);
		return r;
	}
	if (idset_init(&c.rule_ids, 1024 + stream_rules(&st)) < 0) {
		stream_free(&st);
		json_arena_end(&ja, root);
		vg_bundle_free(b);
		return -ENOMEM;
	}
	r = parse_root(&c, root, b);
	free(c.rule_ids.keys);
	stream_free(&st);
	/* the whole tree goes with its chunks: no walk to free it */
	json_arena_end(&ja, root);
	if (r < 0) {
		if (r == -ENOMEM)
			vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory while parsing the bundle");
		vg_bundle_free(b);
		return r;
	}
	*out = b;
	return 0;
}

void vg_bundle_free(struct vg_bundle *b)
{
	if (b)
		arena_free(b->arena);
}

const char *vg_env_name(enum vg_env e)
{
	static const char *const n[] = { "dev", "stage", "prod" };

	return (unsigned)e < VG_ENV__COUNT ? n[e] : "?";
}

const char *vg_mode_name(enum vg_mode m)
{
	return m == VG_MODE_AUDIT ? "audit" : "enforce";
}

const char *vg_proto_name(uint8_t proto)
{
	switch (proto) {
	case VG_PROTO_TCP: return "tcp";
	case VG_PROTO_UDP: return "udp";
	case VG_PROTO_ICMP: return "icmp";
	default: return "any";
	}
}

const struct vg_tenant *vg_bundle_tenant_by_name(const struct vg_bundle *b, const char *name)
{
	for (size_t i = 0; i < b->ntenants; i++)
		if (!strcmp(b->tenants[i].name, name))
			return &b->tenants[i];
	return NULL;
}

const struct vg_user *vg_bundle_user_by_name(const struct vg_bundle *b, const char *name)
{
	for (size_t i = 0; i < b->identity.nusers; i++)
		if (!strcmp(b->identity.users[i].name, name))
			return &b->identity.users[i];
	return NULL;
}
