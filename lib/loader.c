/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fnmatch.h>
#include <string.h>

#include "vigil/loader.h"
#include "vigil/util.h"

int vg_check_size(size_t len, uint64_t max, struct vg_err *err)
{
	if (len > max)
		return vg_err_set(err, EFBIG, "too_large", NULL,
				  "bundle of %zu bytes exceeds max_bundle_bytes (%llu): split it or raise the limit", len,
				  (unsigned long long)max);
	return 0;
}

static bool label_matches(const char *labels, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	const char *p = labels;

	while (p && *p) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (*p == ' ' && len) {
			p++;
			len--;
		}
		eq = memchr(p, '=', len);
		if (eq && (size_t)(eq - p) == kl && !strncmp(p, key, kl) && len - kl - 1 == vl &&
		    !strncmp(eq + 1, value, vl))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

int vg_scope_check(const struct vg_scope *sc, const char *what, const char *hostname, const char *labels,
		   struct vg_err *err)
{
	bool host_ok = false;

	for (size_t i = 0; i < sc->nhosts; i++)
		if (fnmatch(sc->hosts[i], hostname, FNM_CASEFOLD) == 0)
			host_ok = true;
	if (!host_ok)
		return vg_err_set(err, EPERM, "scope_mismatch", "$.scope.hosts",
				  "this %s is not for host \"%s\" (its scope names other hosts)", what, hostname);
	for (size_t i = 0; i < sc->nlabels; i++)
		if (!label_matches(labels, sc->label_keys[i], sc->label_values[i]))
			return vg_err_set(err, EPERM, "scope_mismatch", "$.scope.labels",
					  "this host lacks label %s=%s (host labels: \"%s\", set in vigild.conf)",
					  sc->label_keys[i], sc->label_values[i], labels);
	return 0;
}

int vg_check_scope(const struct vg_bundle *b, const char *hostname, const char *labels, struct vg_err *err)
{
	return vg_scope_check(&b->scope, "bundle", hostname, labels, err);
}

int vg_check_time(const struct vg_bundle *b, time_t now, uint32_t skew_s, bool startup, struct vg_err *err)
{
	char t1[32], t2[32];

	if (b->issued_at > now + (time_t)skew_s) {
		vg_time_format(b->issued_at, t1);
		vg_time_format(now, t2);
		return vg_err_set(err, EPERM, "not_yet_valid", "$.issued_at",
				  "issued_at %s is in the future (now %s, allowed skew %u s): check the clocks", t1, t2,
				  skew_s);
	}
	if (b->expires_at <= now && !startup) {
		vg_time_format(b->expires_at, t1);
		vg_time_format(now, t2);
		return vg_err_set(err, EPERM, "expired", "$.expires_at",
				  "the bundle expired at %s (now %s): ask the security team for a fresh bundle", t1, t2);
	}
	return 0;
}

int vg_check_version(const struct vg_bundle *b, int64_t highest, const char *highest_digest,
		     const char *running_digest, bool startup, struct vg_err *err)
{
	if (b->version < highest)
		return vg_err_set(err, EPERM, "downgrade", "$.version",
				  "version %lld is older than version %lld already applied: a rollback is an explicit "
				  "command (vigilctl policy rollback)",
				  (long long)b->version, (long long)highest);
	if (b->version == highest) {
		if (strcmp(b->digest, highest_digest))
			return vg_err_set(err, EPERM, "version_reused", "$.version",
					  "version %lld was already applied with other contents (digest %.16s…): every "
					  "change needs a new version",
					  (long long)b->version, highest_digest);
		if (running_digest && !strcmp(running_digest, b->digest) && !startup)
			return vg_err_set(err, EALREADY, "unchanged", NULL, "version %lld is already running",
					  (long long)b->version);
	}
	return 0;
}
