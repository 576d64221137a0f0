/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/config.h"
#include "vigil/util.h"

enum kind { K_STR, K_U32, K_U64, K_BOOL, K_SIZE, K_CHOICE };

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	size_t len;	    /* K_STR: buffer size */
	const char *dflt;   /* every key has a default */
	const char *choices; /* K_CHOICE: "a|b" */
};

#define S(n, d) { #n, K_STR, offsetof(struct vg_config, n), sizeof(((struct vg_config *)0)->n), d, NULL }
#define U(n, d) { #n, K_U32, offsetof(struct vg_config, n), 0, d, NULL }
#define Z(n, d) { #n, K_SIZE, offsetof(struct vg_config, n), 0, d, NULL }
#define B(n, d) { #n, K_BOOL, offsetof(struct vg_config, n), 0, d, NULL }
#define C(n, d, c) { #n, K_CHOICE, offsetof(struct vg_config, n), sizeof(((struct vg_config *)0)->n), d, c }

/* The documented keys and their defaults (docs/vigild.conf.md). */
static const struct key keys[] = {
	S(state_dir, "/var/lib/vigil"),
	S(run_dir, "/run/vigil"),
	S(socket, "/run/vigil/vigil.sock"),
	S(bpffs_dir, "/sys/fs/bpf/vigil"),
	S(trust_file, "/etc/vigil/trust.json"),
	S(inbox_dir, "/var/lib/vigil/inbox"),
	S(cgroup_root, ""),
	S(nss_cache_dir, "/var/lib/vigil/nss"),
	S(posture_root, "/"),
	S(posture_edr_units, ""),
	U(posture_interval_s, "60"),
	S(breakglass_spool, "/var/lib/vigil/breakglass.spool"),
	S(hostname, ""),
	S(labels, ""),
	S(admin_group, "vigil-admin"),
	Z(max_bundle_bytes, "64M"),
	U(clock_skew_s, "300"),
	U(ctl_timeout_ms, "5000"),
	S(pull_url, ""),
	U(pull_interval_s, "300"),
	U(pull_jitter_s, "30"),
	U(pull_backoff_max_s, "3600"),
	S(pull_ca_file, ""),
	S(pull_cert_file, ""),
	S(pull_key_file, ""),
	S(emergency_url, ""),
	U(emergency_interval_s, "10"),
	U(emergency_jitter_s, "5"),
	Z(audit_segment_bytes, "16M"),
	Z(audit_spool_max_bytes, "1G"),
	U(audit_checkpoint_every, "1000"),
	U(audit_checkpoint_interval_s, "60"),
	C(audit_when_full, "degrade", "degrade|rotate"),
	U(audit_retention_days, "730"),
	B(enforce, "true"),
	U(event_rate_limit, "1000"),
	U(enforce_max_entries, "16777216"),
	U(dns_learned_per_tenant, "65536"),
	U(dns_busy_poll_us, "200"),
	U(dns_listen_poll_us, "0"),
	U(dns_cache_entries, "10000"),
	Z(dns_cache_bytes, "8M"),
	C(failmode, "secure", "secure|safe"),
	S(metrics_textfile, ""),
	U(metrics_interval_s, "15"),
	S(metrics_listen, ""),
};

static int parse_u64(const char *v, uint64_t *out, bool sized)
{
	char *end;
	unsigned long long x;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	if (sized && *end) {
		unsigned shift = 0;

		switch (*end) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: return -EINVAL;
		}
		end++;
		if (x > (UINT64_MAX >> shift))
			return -EINVAL;
		x <<= shift;
	}
	if (*end)
		return -EINVAL;
	*out = x;
	return 0;
}

static int set_key(struct vg_config *c, const struct key *k, const char *v)
{
	char *field = (char *)c + k->off;
	uint64_t x;

	switch (k->kind) {
	case K_STR:
		if (strlen(v) >= k->len)
			return -ENAMETOOLONG;
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case K_CHOICE: {
		size_t n = strlen(v);
		const char *p = k->choices;

		while (p && *p) {
			const char *bar = strchr(p, '|');
			size_t len = bar ? (size_t)(bar - p) : strlen(p);

			if (len == n && !strncmp(p, v, n)) {
				memcpy(field, v, n + 1);
				return 0;
			}
			p = bar ? bar + 1 : NULL;
		}
		return -EINVAL;
	}
	case K_U32:
		if (parse_u64(v, &x, false) || x > UINT32_MAX)
			return -EINVAL;
		*(uint32_t *)(void *)field = (uint32_t)x;
		return 0;
	case K_U64:
	case K_SIZE:
		if (parse_u64(v, &x, k->kind == K_SIZE))
			return -EINVAL;
		*(uint64_t *)(void *)field = x;
		return 0;
	case K_BOOL:
		if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
			*(bool *)field = true;
		else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
			*(bool *)field = false;
		else
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

void vg_config_defaults(struct vg_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < VG_ARRAY_SIZE(keys); i++)
		(void)set_key(c, &keys[i], keys[i].dflt);
}

static const char *kind_hint(const struct key *k)
{
	switch (k->kind) {
	case K_U32: return "a non-negative integer";
	case K_U64: return "a non-negative integer";
	case K_SIZE: return "a size such as 4096, 512K, 64M or 1G";
	case K_BOOL: return "true or false";
	case K_CHOICE: return k->choices;
	default: return "a string";
	}
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int vg_config_parse(struct vg_config *c, const char *text, const char *path, struct vg_err *err)
{
	char *copy = strdup(text), *save = NULL, *line;
	int lineno = 0, r = 0;
	char where[300];

	if (!copy)
		return -ENOMEM;
	/* strsep keeps empty lines so line numbers stay right */
	save = copy;
	while ((line = strsep(&save, "\n"))) {
		char *eq, *k, *v;
		const struct key *key = NULL;

		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			r = vg_err_set(err, EINVAL, "config_syntax", where,
				       "expected \"key = value\", got \"%.80s\"", line);
			break;
		}
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (strlen(v) >= 2 && v[0] == '"' && v[strlen(v) - 1] == '"') {
			v[strlen(v) - 1] = '\0';
			v++;
		}
		for (size_t i = 0; i < VG_ARRAY_SIZE(keys); i++)
			if (!strcmp(keys[i].name, k))
				key = &keys[i];
		if (!key) {
			r = vg_err_set(err, EINVAL, "config_unknown_key", where,
				       "unknown key \"%.64s\" (see vigild.conf(5) for the keys)", k);
			break;
		}
		if (set_key(c, key, v) < 0) {
			r = vg_err_set(err, EINVAL, "config_bad_value", where, "bad value \"%.80s\" for %s: expected %s",
				       v, key->name, kind_hint(key));
			break;
		}
	}
	free(copy);
	if (r == 0 && (c->ctl_timeout_ms < VG_CTL_TIMEOUT_FLOOR_MS || c->ctl_timeout_ms > VG_CTL_TIMEOUT_CEILING_MS))
		r = vg_err_set(err, EINVAL, "config_bad_value", path,
			       "ctl_timeout_ms must be between %u and %u (got %u)", VG_CTL_TIMEOUT_FLOOR_MS,
			       VG_CTL_TIMEOUT_CEILING_MS, c->ctl_timeout_ms);
	if (r == 0 && (c->max_bundle_bytes < VG_MAX_BUNDLE_BYTES_FLOOR || c->max_bundle_bytes > VG_MAX_BUNDLE_BYTES_CEILING))
		r = vg_err_set(err, EINVAL, "config_bad_value", path,
			       "max_bundle_bytes must be between 1K and %uM (got %llu)", VG_MAX_BUNDLE_BYTES_CEILING >> 20,
			       (unsigned long long)c->max_bundle_bytes);
	return r;
}

int vg_config_load(struct vg_config *c, const char *path, struct vg_err *err)
{
	char *text = NULL;
	int r;

	vg_config_defaults(c);
	r = vg_read_trusted(path, 1 << 20, &text, NULL, err);
	if (r < 0)
		return r;
	r = vg_config_parse(c, text, path, err);
	free(text);
	return r;
}
