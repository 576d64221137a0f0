/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Emergency document parser and strict validator (docs/emergency.md). The input is untrusted
 * until its signatures checked out, and bounded everywhere: at most VG_EMERGENCY_MAX_BYTES,
 * VG_EMERGENCY_MAX_ACTIONS actions, VG_EMERGENCY_MAX_ALLOW rules per quarantine.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "vigil/emergency.h"
#include "vigil/util.h"

#define FAIL(err, code, path, ...) vg_err_set(err, EINVAL, code, path, __VA_ARGS__)

/* obj is an object holding only allowed keys, and every required one */
static int fields(json_t *obj, const char *path, const char *const *allowed, const char *const *required,
		  struct vg_err *err)
{
	const char *key;
	json_t *v;
	char p[320];

	if (!json_is_object(obj))
		return FAIL(err, "schema_type", path, "must be an object, found %s", vg_json_type_name(obj));
	json_object_foreach(obj, key, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok) {
			snprintf(p, sizeof(p), "%s.%.64s", path, key);
			return FAIL(err, "schema_unknown_field", p,
				    "unknown field \"%.64s\" (check the spelling against docs/emergency.md)", key);
		}
	}
	for (const char *const *r = required; r && *r; r++)
		if (!json_object_get(obj, *r)) {
			snprintf(p, sizeof(p), "%s.%s", path, *r);
			return FAIL(err, "schema_missing", p, "required field is missing");
		}
	return 0;
}

/* a string of 1..max characters, no NUL, copied into out (max + 1 bytes) */
static int str_field(json_t *obj, const char *path, const char *key, size_t max, char *out, struct vg_err *err)
{
	json_t *v = json_object_get(obj, key);
	char p[320];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!json_is_string(v))
		return FAIL(err, "schema_type", p, "must be a string, found %s", vg_json_type_name(v));
	if (json_string_length(v) == 0 || json_string_length(v) > max)
		return FAIL(err, "schema_value", p, "must be 1 to %zu characters", max);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return FAIL(err, "schema_value", p, "contains a NUL character");
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

/* a name as bundles spell tenants and ids: [A-Za-z0-9_][A-Za-z0-9_.-]* */
static int name_field(json_t *obj, const char *path, const char *key, size_t max, char *out, struct vg_err *err)
{
	char p[320];
	int r = str_field(obj, path, key, max, out, err);

	if (r < 0)
		return r;
	if (!vg_str_valid_name(out, max)) {
		snprintf(p, sizeof(p), "%s.%s", path, key);
		return FAIL(err, "schema_value", p,
			    "\"%s\" is not a valid name: use letters, digits, '_', '.', '-' (max %zu), not starting with '.' or '-'",
			    out, max);
	}
	return 0;
}

static int time_field(json_t *obj, const char *key, time_t *out, struct vg_err *err)
{
	char s[65], p[32];
	int r = str_field(obj, "$", key, 64, s, err);

	if (r < 0)
		return r;
	if (vg_time_parse(s, out) < 0) {
		snprintf(p, sizeof(p), "$.%s", key);
		return FAIL(err, "schema_value", p, "\"%s\" is not an RFC 3339 UTC time such as 2026-11-23T09:00:00Z", s);
	}
	return 0;
}

static json_t *array_field(json_t *obj, const char *path, const char *key, size_t lo, size_t hi, struct vg_err *err)
{
	json_t *v = json_object_get(obj, key);
	char p[320];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!json_is_array(v)) {
		FAIL(err, "schema_type", p, "must be an array, found %s", vg_json_type_name(v));
		return NULL;
	}
	if (json_array_size(v) < lo || json_array_size(v) > hi) {
		FAIL(err, "schema_value", p, "must hold %zu to %zu entries", lo, hi);
		return NULL;
	}
	return v;
}

static int parse_scope(json_t *root, struct vg_scope *sc, struct vg_err *err)
{
	static const char *const allowed[] = { "hosts", "labels", NULL };
	static const char *const required[] = { "hosts", NULL };
	json_t *s = json_object_get(root, "scope"), *hosts, *labels, *v;
	const char *key;
	char p[320];
	size_t i;
	int r;

	if ((r = fields(s, "$.scope", allowed, required, err)) < 0)
		return r;
	if (!(hosts = array_field(s, "$.scope", "hosts", 1, VG_EMERGENCY_MAX_HOSTS, err)))
		return -EINVAL;
	sc->hosts = calloc(json_array_size(hosts), sizeof(char *));
	if (!sc->hosts)
		return -ENOMEM;
	json_array_foreach(hosts, i, v) {
		snprintf(p, sizeof(p), "$.scope.hosts[%zu]", i);
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 253 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return FAIL(err, "schema_value", p, "must be a host name or glob of 1 to 253 characters");
		if (!(sc->hosts[i] = strdup(json_string_value(v))))
			return -ENOMEM;
		sc->nhosts++;
	}
	labels = json_object_get(s, "labels");
	if (!labels)
		return 0;
	if (!json_is_object(labels) || json_object_size(labels) > VG_EMERGENCY_MAX_LABELS)
		return FAIL(err, "schema_type", "$.scope.labels", "must be an object of at most %u string labels",
			    VG_EMERGENCY_MAX_LABELS);
	sc->label_keys = calloc(json_object_size(labels), sizeof(char *));
	sc->label_values = calloc(json_object_size(labels), sizeof(char *));
	if (!sc->label_keys || !sc->label_values)
		return -ENOMEM;
	json_object_foreach(labels, key, v) {
		snprintf(p, sizeof(p), "$.scope.labels.%.64s", key);
		if (!json_is_string(v) || json_string_length(v) > 253 || strlen(key) > 64)
			return FAIL(err, "schema_type", p, "must be a string of at most 253 characters (keys: 64)");
		sc->label_keys[sc->nlabels] = strdup(key);
		sc->label_values[sc->nlabels] = strdup(json_string_value(v));
		sc->nlabels++;
		if (!sc->label_keys[sc->nlabels - 1] || !sc->label_values[sc->nlabels - 1])
			return -ENOMEM;
	}
	return 0;
}

static int parse_allow(json_t *o, const char *path, struct vg_rule *rule, uint32_t id, struct vg_err *err)
{
	static const char *const allowed[] = { "cidr", "proto", "ports", "comment", NULL };
	static const char *const required[] = { "cidr", NULL };
	static const struct {
		const char *name;
		uint8_t num;
	} protos[] = { { "any", VG_PROTO_ANY }, { "tcp", VG_PROTO_TCP }, { "udp", VG_PROTO_UDP }, { "icmp", VG_PROTO_ICMP } };
	json_t *proto, *ports, *v;
	char p[320];
	size_t i;
	int r;

	if ((r = fields(o, path, allowed, required, err)) < 0)
		return r;
	rule->id = id;
	snprintf(p, sizeof(p), "%s.cidr", path);
	if ((r = vg_cidr_parse_json(json_object_get(o, "cidr"), p, &rule->cidr, err)) < 0)
		return r;
	rule->proto = VG_PROTO_ANY;
	if ((proto = json_object_get(o, "proto"))) {
		snprintf(p, sizeof(p), "%s.proto", path);
		for (i = 0; i < VG_ARRAY_SIZE(protos); i++)
			if (json_is_string(proto) && !strcmp(json_string_value(proto), protos[i].name))
				break;
		if (i == VG_ARRAY_SIZE(protos))
			return FAIL(err, "schema_value", p, "must be one of: any, tcp, udp, icmp");
		rule->proto = protos[i].num;
	}
	if (!json_object_get(o, "ports"))
		return 0;
	snprintf(p, sizeof(p), "%s.ports", path);
	if (rule->proto == VG_PROTO_ICMP)
		return FAIL(err, "schema_value", p, "ICMP has no ports: remove \"ports\" or change \"proto\"");
	if (!(ports = array_field(o, path, "ports", 1, VG_MAX_PORTS, err)))
		return -EINVAL;
	rule->ports = calloc(json_array_size(ports), sizeof(*rule->ports));
	if (!rule->ports)
		return -ENOMEM;
	json_array_foreach(ports, i, v) {
		snprintf(p, sizeof(p), "%s.ports[%zu]", path, i);
		if ((r = vg_port_parse_json(v, p, &rule->ports[i], err)) < 0)
			return r;
		rule->nports++;
	}
	return 0;
}

static int parse_quarantine(json_t *o, const char *path, struct vg_em_quarantine *q, struct vg_err *err)
{
	static const char *const allowed[] = { "action", "tenant", "id", "allow", "comment", NULL };
	static const char *const required[] = { "tenant", NULL };
	json_t *allow, *v;
	char p[320];
	size_t i;
	int r;

	if ((r = fields(o, path, allowed, required, err)) < 0 || (r = name_field(o, path, "tenant", 32, q->tenant, err)) < 0)
		return r;
	if (json_object_get(o, "id")) {
		if ((r = name_field(o, path, "id", VG_EMERGENCY_ID_MAX, q->id, err)) < 0)
			return r;
	} else {
		snprintf(q->id, sizeof(q->id), "%s", q->tenant);
	}
	if (!json_object_get(o, "allow"))
		return 0;
	if (!(allow = array_field(o, path, "allow", 0, VG_EMERGENCY_MAX_ALLOW, err)))
		return -EINVAL;
	q->allow = calloc(json_array_size(allow) + 1, sizeof(*q->allow));
	if (!q->allow)
		return -ENOMEM;
	json_array_foreach(allow, i, v) {
		snprintf(p, sizeof(p), "%s.allow[%zu]", path, i);
		q->nallow++;
		if ((r = parse_allow(v, p, &q->allow[i], (uint32_t)i + 1, err)) < 0)
			return r;
	}
	return 0;
}

/* exactly one of the keys is present; returns its index */
static int one_of(json_t *o, const char *path, const char *const *keys, int *which, struct vg_err *err)
{
	int n = 0;

	for (int i = 0; keys[i]; i++)
		if (json_object_get(o, keys[i])) {
			*which = i;
			n++;
		}
	if (n != 1)
		return FAIL(err, "schema_value", path, "needs exactly one of \"%s\", \"%s\", \"%s\"", keys[0], keys[1],
			    keys[2]);
	return 0;
}

static int true_field(json_t *o, const char *path, const char *key, struct vg_err *err)
{
	char p[320];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!json_is_true(json_object_get(o, key)))
		return FAIL(err, "schema_value", p, "must be true");
	return 0;
}

static int parse_revoke(json_t *o, const char *path, struct vg_em_action *a, struct vg_err *err)
{
	static const char *const allowed[] = { "action", "all", "user", "host", "comment", NULL };
	static const char *const keys[] = { "all", "user", "host", NULL };
	int which, r;

	if ((r = fields(o, path, allowed, NULL, err)) < 0 || (r = one_of(o, path, keys, &which, err)) < 0)
		return r;
	switch (which) {
	case 0:
		a->revoke = VG_EM_REVOKE_ALL;
		return true_field(o, path, "all", err);
	case 1:
		a->revoke = VG_EM_REVOKE_USER;
		return name_field(o, path, "user", VG_EMERGENCY_ID_MAX, a->target, err);
	default:
		a->revoke = VG_EM_REVOKE_HOST;
		return str_field(o, path, "host", 253, a->target, err);
	}
}

static int parse_release(json_t *o, const char *path, struct vg_em_action *a, struct vg_err *err)
{
	static const char *const allowed[] = { "action", "quarantine", "tenant", "freeze", "comment", NULL };
	static const char *const keys[] = { "quarantine", "tenant", "freeze", NULL };
	int which, r;

	if ((r = fields(o, path, allowed, NULL, err)) < 0 || (r = one_of(o, path, keys, &which, err)) < 0)
		return r;
	switch (which) {
	case 0:
		a->release = VG_EM_RELEASE_QUARANTINE;
		return name_field(o, path, "quarantine", VG_EMERGENCY_ID_MAX, a->target, err);
	case 1:
		a->release = VG_EM_RELEASE_TENANT;
		return name_field(o, path, "tenant", 32, a->target, err);
	default:
		a->release = VG_EM_RELEASE_FREEZE;
		return true_field(o, path, "freeze", err);
	}
}

static int parse_action(json_t *o, const char *path, struct vg_em_action *a, struct vg_err *err)
{
	static const char *const freeze_allowed[] = { "action", "comment", NULL };
	json_t *kind = json_object_get(o, "action");
	char p[320];

	if (!json_is_object(o))
		return FAIL(err, "schema_type", path, "must be an object, found %s", vg_json_type_name(o));
	snprintf(p, sizeof(p), "%s.action", path);
	if (!kind)
		return FAIL(err, "schema_missing", p, "required field is missing");
	for (int k = VG_EM_QUARANTINE; k <= VG_EM_RELEASE; k++)
		if (json_is_string(kind) && !strcmp(json_string_value(kind), vg_em_kind_name(k)))
			a->kind = k;
	switch (a->kind) {
	case VG_EM_QUARANTINE: return parse_quarantine(o, path, &a->quarantine, err);
	case VG_EM_REVOKE: return parse_revoke(o, path, a, err);
	case VG_EM_FREEZE: return fields(o, path, freeze_allowed, NULL, err);
	case VG_EM_RELEASE: return parse_release(o, path, a, err);
	}
	return FAIL(err, "schema_value", p, "must be one of: quarantine, revoke, freeze, release");
}

/* the same tenant or quarantine id twice in one document is a mistake, never meant */
static int check_duplicates(const struct vg_emergency *e, struct vg_err *err)
{
	char p[64];

	for (size_t i = 0; i < e->nactions; i++)
		for (size_t j = 0; j < i; j++) {
			const struct vg_em_quarantine *a = &e->actions[i].quarantine, *b = &e->actions[j].quarantine;

			if (e->actions[i].kind != VG_EM_QUARANTINE || e->actions[j].kind != VG_EM_QUARANTINE)
				continue;
			snprintf(p, sizeof(p), "$.actions[%zu]", i);
			if (!strcmp(a->tenant, b->tenant) || !strcmp(a->id, b->id))
				return vg_err_set(err, EINVAL, "schema_duplicate", p,
						  "tenant \"%s\" or quarantine id \"%s\" is quarantined twice (also $.actions[%zu])",
						  a->tenant, a->id, j);
		}
	return 0;
}

static int parse_root(json_t *root, struct vg_emergency *e, struct vg_err *err)
{
	static const char *const allowed[] = { "counter", "issued_at", "expires_at", "reason", "scope", "actions",
					       "comment", NULL };
	static const char *const required[] = { "counter", "issued_at", "expires_at", "reason", "scope", "actions",
						NULL };
	json_t *ctr = json_object_get(root, "counter"), *actions, *v;
	char p[64];
	size_t i;
	int r;

	if ((r = fields(root, "$", allowed, required, err)) < 0)
		return r;
	if (!json_is_integer(ctr) || json_integer_value(ctr) < 1)
		return FAIL(err, "schema_value", "$.counter", "must be an integer >= 1");
	e->counter = json_integer_value(ctr);
	if ((r = time_field(root, "issued_at", &e->issued_at, err)) < 0 ||
	    (r = time_field(root, "expires_at", &e->expires_at, err)) < 0)
		return r;
	if (e->expires_at <= e->issued_at)
		return FAIL(err, "schema_value", "$.expires_at", "expires_at must be later than issued_at");
	if ((r = str_field(root, "$", "reason", VG_EMERGENCY_REASON_MAX, e->reason, err)) < 0 ||
	    (r = parse_scope(root, &e->scope, err)) < 0)
		return r;
	if (!(actions = array_field(root, "$", "actions", 1, VG_EMERGENCY_MAX_ACTIONS, err)))
		return -EINVAL;
	e->actions = calloc(json_array_size(actions), sizeof(*e->actions));
	if (!e->actions)
		return -ENOMEM;
	json_array_foreach(actions, i, v) {
		snprintf(p, sizeof(p), "$.actions[%zu]", i);
		e->nactions++;
		if ((r = parse_action(v, p, &e->actions[i], err)) < 0)
			return r;
	}
	return check_duplicates(e, err);
}

int vg_emergency_parse(const char *buf, size_t len, struct vg_emergency **out, struct vg_err *err)
{
	struct vg_emergency *e;
	json_error_t jerr;
	json_t *root;
	int r;

	*out = NULL;
	if (len > VG_EMERGENCY_MAX_BYTES)
		return vg_err_set(err, EFBIG, "too_large", NULL, "emergency document of %zu bytes exceeds %u bytes", len,
				  VG_EMERGENCY_MAX_BYTES);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char where[64];

		snprintf(where, sizeof(where), "line %d, column %d", jerr.line, jerr.column);
		return vg_err_set(err, EINVAL, "json_syntax", where, "not valid JSON: %s", jerr.text);
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		json_decref(root);
		return -ENOMEM;
	}
	vg_sha256_hex(buf, len, e->digest);
	r = parse_root(root, e, err);
	json_decref(root);
	if (r < 0) {
		if (r == -ENOMEM)
			vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory while parsing the emergency document");
		vg_emergency_free(e);
		return r;
	}
	*out = e;
	return 0;
}

void vg_emergency_free(struct vg_emergency *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nactions; i++) {
		struct vg_em_quarantine *q = &e->actions[i].quarantine;

		for (size_t k = 0; k < q->nallow; k++)
			free(q->allow[k].ports);
		free(q->allow);
	}
	free(e->actions);
	for (size_t i = 0; i < e->scope.nhosts; i++)
		free(e->scope.hosts[i]);
	for (size_t i = 0; i < e->scope.nlabels; i++) {
		free(e->scope.label_keys[i]);
		free(e->scope.label_values[i]);
	}
	free(e->scope.hosts);
	free(e->scope.label_keys);
	free(e->scope.label_values);
	free(e);
}

int vg_emergency_verify(const struct vg_trust *trust, const char *buf, size_t len, const char *sig, size_t siglen,
			struct vg_emergency **out, struct vg_err *err)
{
	int r;

	*out = NULL;
	if (len > VG_EMERGENCY_MAX_BYTES)
		return vg_err_set(err, EFBIG, "too_large", NULL, "emergency document of %zu bytes exceeds %u bytes", len,
				  VG_EMERGENCY_MAX_BYTES);
	if (!trust)
		return vg_err_set(err, EPERM, "trust_missing", NULL,
				  "no trust is in force: every emergency document is refused until the trust file is fixed");
	if ((r = vg_sig_verify(trust, VG_SIG_DOMAIN_EMERGENCY, buf, len, sig, siglen, err)) < 0)
		return r;
	return vg_emergency_parse(buf, len, out, err);
}

int vg_emergency_check_time(const struct vg_emergency *e, time_t now, uint32_t skew_s, struct vg_err *err)
{
	char t1[32], t2[32];

	vg_time_format(now, t2);
	if (e->issued_at > now + (time_t)skew_s) {
		vg_time_format(e->issued_at, t1);
		return vg_err_set(err, EPERM, "not_yet_valid", "$.issued_at",
				  "issued_at %s is in the future (now %s, allowed skew %u s): check the clocks", t1, t2,
				  skew_s);
	}
	if (e->expires_at <= now) {
		vg_time_format(e->expires_at, t1);
		return vg_err_set(err, EPERM, "expired", "$.expires_at", "the emergency document expired at %s (now %s)",
				  t1, t2);
	}
	return 0;
}

int vg_emergency_check_counter(const struct vg_emergency *e, int64_t highest, const char *highest_digest,
			       struct vg_err *err)
{
	if (e->counter == highest && !strcmp(e->digest, highest_digest))
		return vg_err_set(err, EALREADY, "unchanged", "$.counter", "emergency document %lld is already applied",
				  (long long)e->counter);
	if (e->counter <= highest)
		return vg_err_set(err, EPERM, "emergency_replay", "$.counter",
				  "counter %lld is not above %lld, the highest this host applied: a replayed or stale "
				  "document (issue a new one with a higher counter)",
				  (long long)e->counter, (long long)highest);
	return 0;
}

const char *vg_em_kind_name(enum vg_em_kind k)
{
	switch (k) {
	case VG_EM_QUARANTINE: return "quarantine";
	case VG_EM_REVOKE: return "revoke";
	case VG_EM_FREEZE: return "freeze";
	case VG_EM_RELEASE: return "release";
	}
	return "unknown";
}
