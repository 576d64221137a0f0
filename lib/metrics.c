/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's status document as Prometheus text exposition. One table names
 * every family once (name, type, help, where its samples come from), so the
 * documentation (docs/monitoring.md) and the output cannot drift: the unit
 * test checks every family of the table appears in the doc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/metrics.h"
#include "vigil/util.h"

enum src {
	NUM,	   /* number or boolean at path */
	TIME,	   /* RFC 3339 string at path, as seconds since the epoch */
	EACH,	   /* object at path: one sample per key (label), value = obj[key][field] */
	EACH_ARR,  /* array at path: one sample per element, label = elem[key], value = elem[field] */
	PASS_MAP,  /* object at path of "pass"/"fail"/...: one sample per key, 1 when "pass" */
	INFO,	   /* constant 1 with labels taken from strings (see info_labels) */
};

struct family {
	const char *name;
	const char *type; /* counter | gauge */
	const char *help;
	enum src src;
	const char *path;  /* dotted path into the status document */
	const char *field; /* EACH/EACH_ARR: the member giving the value */
	const char *label; /* EACH/EACH_ARR/PASS_MAP: the label name */
	const char *key;   /* EACH_ARR: the member giving the label value */
	const char *extra; /* EACH: a string member of obj[key] added as a second label of that name */
};

/* INFO families: label name = dotted path of a string */
struct info_label {
	const char *family, *label, *path;
};

static const struct family families[] = {
	{ "vigil_build_info", "gauge", "vigild version and host name (value is always 1)", INFO, NULL, NULL, NULL, NULL, NULL },
	{ "vigil_metrics_timestamp_seconds", "gauge", "When vigild wrote these metrics; stale files mean vigild stopped writing", NUM, "@now", NULL, NULL, NULL, NULL },
	{ "vigil_start_timestamp_seconds", "gauge", "When the running vigild started", NUM, "vigild.started_at", NULL, NULL, NULL, NULL },
	/* policy */
	{ "vigil_policy_active", "gauge", "1 when a verified bundle is applied", NUM, "policy.active", NULL, NULL, NULL, NULL },
	{ "vigil_policy_info", "gauge", "The applied bundle: digest, environment, source (value is always 1)", INFO, NULL, NULL, NULL, NULL, NULL },
	{ "vigil_policy_version", "gauge", "Version of the applied bundle", NUM, "policy.version", NULL, NULL, NULL, NULL },
	{ "vigil_policy_highest_version", "gauge", "Highest bundle version ever applied on this host (anti-rollback floor)", NUM, "policy.highest_version", NULL, NULL, NULL, NULL },
	{ "vigil_policy_expired", "gauge", "1 when the applied bundle is past expires_at", NUM, "policy.expired", NULL, NULL, NULL, NULL },
	{ "vigil_policy_issued_timestamp_seconds", "gauge", "issued_at of the applied bundle", TIME, "policy.issued_at", NULL, NULL, NULL, NULL },
	{ "vigil_policy_applied_timestamp_seconds", "gauge", "When the applied bundle was applied", TIME, "policy.applied_at", NULL, NULL, NULL, NULL },
	{ "vigil_policy_expiry_timestamp_seconds", "gauge", "expires_at of the applied bundle", TIME, "policy.expires_at", NULL, NULL, NULL, NULL },
	{ "vigil_policy_last_error_timestamp_seconds", "gauge", "When the last bundle was refused (see vigilctl status for why)", TIME, "policy.last_error.at", NULL, NULL, NULL, NULL },
	{ "vigil_policy_tenants", "gauge", "Tenants in the applied bundle", NUM, "policy.tenants", NULL, NULL, NULL, NULL },
	{ "vigil_policy_rules", "gauge", "Egress rules in the applied bundle", NUM, "policy.rules", NULL, NULL, NULL, NULL },
	{ "vigil_trust_valid", "gauge", "1 when a valid trust file is loaded (0: every bundle is refused)", NUM, "@trust_valid", NULL, NULL, NULL, NULL },
	{ "vigil_trust_version", "gauge", "Version of the loaded trust file", NUM, "trust.version", NULL, NULL, NULL, NULL },
	{ "vigil_trust_threshold", "gauge", "Signatures a bundle needs", NUM, "trust.threshold", NULL, NULL, NULL, NULL },
	{ "vigil_pull_backoff_seconds", "gauge", "Current HTTPS pull back-off (0 when the last pull succeeded)", NUM, "pull.backoff_s", NULL, NULL, NULL, NULL },
	/* enforcement */
	{ "vigil_enforce_state", "gauge", "Enforcement state (value 1 on the current state's label)", INFO, NULL, NULL, NULL, NULL, NULL },
	{ "vigil_egress_allowed_total", "counter", "Egress decisions that allowed a tenant (per connect/sendmsg hook run and per full packet judgement)", EACH, "modules.enforce.tenants", "allowed", "tenant", NULL, "mode" },
	{ "vigil_egress_denied_total", "counter", "Egress decisions that denied a tenant (enforce mode)", EACH, "modules.enforce.tenants", "denied", "tenant", NULL, "mode" },
	{ "vigil_egress_would_deny_total", "counter", "Egress decisions that would have denied an audit-mode tenant", EACH, "modules.enforce.tenants", "would_deny", "tenant", NULL, "mode" },
	{ "vigil_egress_events_dropped_total", "counter", "Deny events sampled away under flood (counted, not lost)", EACH, "modules.enforce.tenants", "events_dropped", "tenant", NULL, NULL },
	{ "vigil_egress_packets_dropped_total", "counter", "Packets dropped on a cached deny verdict (flows the policy no longer allows)", EACH, "modules.enforce.tenants", "packets_dropped", "tenant", NULL, NULL },
	{ "vigil_egress_rate_limited_total", "counter", "New connections refused because the tenant exceeded its connect_rate", EACH, "modules.enforce.tenants", "rate_limited", "tenant", NULL, "mode" },
	{ "vigil_egress_rate_would_limit_total", "counter", "New connections of an audit-mode tenant beyond its connect_rate (let through)", EACH, "modules.enforce.tenants", "rate_would_limit", "tenant", NULL, "mode" },
	{ "vigil_tenant_cgroups_missing", "gauge", "Tenant cgroups named by the bundle that do not exist on this host", EACH, "modules.enforce.tenants", "cgroups_missing", "tenant", NULL, NULL },
	{ "vigil_host_egress_allowed_total", "counter", "Egress allowed for processes outside every tenant", NUM, "modules.enforce.host.allowed", NULL, NULL, NULL, NULL },
	{ "vigil_host_egress_denied_total", "counter", "Egress denied for processes outside every tenant", NUM, "modules.enforce.host.denied", NULL, NULL, NULL, NULL },
	{ "vigil_host_egress_packets_dropped_total", "counter", "Packets dropped on a cached deny outside every tenant", NUM, "modules.enforce.host.packets_dropped", NULL, NULL, NULL, NULL },
	{ "vigil_host_egress_would_deny_total", "counter", "Egress outside every tenant that audit mode would have denied", NUM, "modules.enforce.host.would_deny", NULL, NULL, NULL, NULL },
	{ "vigil_enforce_events_received_total", "counter", "Deny events read from the kernel ring buffer", NUM, "modules.enforce.events.received", NULL, NULL, NULL, NULL },
	{ "vigil_enforce_map_entries", "gauge", "Entries in the compiled policy maps", EACH, "modules.enforce.maps", "@self", "map", NULL, NULL },
	/* audit */
	{ "vigil_audit_degraded", "gauge", "1 when the audit log cannot accept events (elevation is refused)", NUM, "modules.audit.degraded", NULL, NULL, NULL, NULL },
	{ "vigil_audit_durable_seq", "gauge", "Highest audit sequence number on disk", NUM, "modules.audit.durable_seq", NULL, NULL, NULL, NULL },
	{ "vigil_audit_last_checkpoint_seq", "gauge", "Sequence number covered by the last signed checkpoint", NUM, "modules.audit.last_checkpoint_seq", NULL, NULL, NULL, NULL },
	{ "vigil_audit_spool_bytes", "gauge", "Bytes the local audit log occupies", NUM, "modules.audit.spool_bytes", NULL, NULL, NULL, NULL },
	{ "vigil_audit_spool_max_bytes", "gauge", "Configured limit of the local audit log", NUM, "modules.audit.spool_max_bytes", NULL, NULL, NULL, NULL },
	{ "vigil_audit_dropped_while_degraded_total", "counter", "Events refused because the audit log was full or failing", NUM, "modules.audit.dropped_while_degraded", NULL, NULL, NULL, NULL },
	{ "vigil_audit_dropped_by_rotate_total", "counter", "Unforwarded events removed by when_full=rotate", NUM, "modules.audit.dropped_by_rotate", NULL, NULL, NULL, NULL },
	{ "vigil_audit_sink_lag_events", "gauge", "Durable events a sink has not acknowledged yet", EACH_ARR, "modules.audit.sinks", "lag_events", "sink", "name", NULL },
	{ "vigil_audit_sink_lag_seconds", "gauge", "How long a sink has been behind", EACH_ARR, "modules.audit.sinks", "lag_seconds", "sink", "name", NULL },
	{ "vigil_audit_sink_sent_events_total", "counter", "Events a sink acknowledged", EACH_ARR, "modules.audit.sinks", "sent_events", "sink", "name", NULL },
	{ "vigil_audit_sink_failures_total", "counter", "Failed deliveries to a sink", EACH_ARR, "modules.audit.sinks", "failures", "sink", "name", NULL },
	{ "vigil_audit_sink_connected", "gauge", "1 while vigild holds a session to the sink", EACH_ARR, "modules.audit.sinks", "connected", "sink", "name", NULL },
	/* elevation */
	{ "vigil_elevation_grants", "gauge", "Live just-in-time elevation grants", NUM, "modules.elevation.grants", NULL, NULL, NULL, NULL },
	{ "vigil_elevation_pending_challenges", "gauge", "Step-up challenges waiting for an answer", NUM, "modules.elevation.pending_challenges", NULL, NULL, NULL, NULL },
	{ "vigil_relay_answers_accepted_total", "counter", "Remote step-up answers accepted", NUM, "modules.elevation_relay.answers_accepted", NULL, NULL, NULL, NULL },
	{ "vigil_relay_answers_refused_total", "counter", "Remote step-up answers refused", NUM, "modules.elevation_relay.answers_refused", NULL, NULL, NULL, NULL },
	/* posture */
	{ "vigil_posture_pass", "gauge", "1 when a posture check passes, 0 when it fails or is unknown", PASS_MAP, "modules.posture.checks", NULL, "check", NULL, NULL },
	{ "vigil_posture_verdict_pass", "gauge", "1 when the overall posture verdict passes (elevation needs it)", NUM, "@posture_verdict", NULL, NULL, NULL, NULL },
	{ "vigil_posture_stale", "gauge", "1 when the posture report is older than its freshness limit", NUM, "modules.posture.stale", NULL, NULL, NULL, NULL },
	{ "vigil_posture_collected_timestamp_seconds", "gauge", "When posture was last collected", TIME, "modules.posture.collected_at", NULL, NULL, NULL, NULL },
	/* identity */
	{ "vigil_identity_users", "gauge", "Users the NSS module serves", NUM, "modules.identity.users", NULL, NULL, NULL, NULL },
	{ "vigil_identity_groups", "gauge", "Groups the NSS module serves", NUM, "modules.identity.groups", NULL, NULL, NULL, NULL },
	{ "vigil_identity_elevated_users", "gauge", "Users currently in the elevation group", NUM, "modules.identity.elevated", NULL, NULL, NULL, NULL },
	{ "vigil_identity_conflicts", "gauge", "Bundle users or groups skipped because they collide with local ones", NUM, "modules.identity.conflicts", NULL, NULL, NULL, NULL },
	{ "vigil_nss_cache_written_timestamp_seconds", "gauge", "When the NSS cache files were last written", TIME, "modules.identity.written_at", NULL, NULL, NULL, NULL },
};

static const struct info_label info_labels[] = {
	{ "vigil_build_info", "version", "vigild.version" },
	{ "vigil_build_info", "hostname", "vigild.hostname" },
	{ "vigil_policy_info", "policy_digest", "policy.policy_digest" },
	{ "vigil_policy_info", "environment", "policy.environment" },
	{ "vigil_policy_info", "source", "policy.source" },
	{ "vigil_enforce_state", "state", "modules.enforce.state" },
};

static const json_t *at(const json_t *root, const char *path)
{
	char part[64];

	while (root && *path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = 0;
		root = json_is_object(root) ? json_object_get(root, part) : NULL;
		path += n + (path[n] == '.');
	}
	return root;
}

static void put_label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

/* prints the value of a number/boolean; false when j is neither */
static bool put_value(FILE *f, const json_t *j)
{
	if (json_is_integer(j))
		fprintf(f, " %lld\n", (long long)json_integer_value(j));
	else if (json_is_real(j))
		fprintf(f, " %.17g\n", json_real_value(j));
	else if (json_is_boolean(j))
		fprintf(f, " %d\n", json_is_true(j) ? 1 : 0);
	else
		return false;
	return true;
}

static void sample(FILE *f, const struct family *fam, const char *label, const char *lv, const char *l2,
		   const char *v2, const json_t *value)
{
	if (!json_is_number(value) && !json_is_boolean(value))
		return;
	fputs(fam->name, f);
	if (label) {
		fprintf(f, "{%s=\"", label);
		put_label_value(f, lv);
		if (l2 && v2) {
			fprintf(f, "\",%s=\"", l2);
			put_label_value(f, v2);
		}
		fputs("\"}", f);
	}
	put_value(f, value);
}

static const json_t *special(const json_t *st, const char *path, time_t now, json_t **tmp)
{
	if (!strcmp(path, "@now"))
		return *tmp = json_integer((json_int_t)now);
	if (!strcmp(path, "@trust_valid")) {
		const json_t *t = at(st, "trust");

		if (!t)
			return NULL;
		return *tmp = json_boolean(!json_is_false(json_object_get(t, "valid")) && json_object_get(t, "version"));
	}
	if (!strcmp(path, "@posture_verdict")) {
		const char *v = json_string_value(at(st, "modules.posture.verdict"));

		return v ? (*tmp = json_boolean(!strcmp(v, "pass"))) : NULL;
	}
	return NULL;
}

/* INFO families print "name{a=\"x\",b=\"y\"} 1" when at least one label has a value */
static void render_info_family(FILE *f, const struct family *fam, const json_t *st)
{
	bool open = false;

	for (size_t i = 0; i < VG_ARRAY_SIZE(info_labels); i++) {
		const char *v;

		if (strcmp(info_labels[i].family, fam->name))
			continue;
		v = json_string_value(at(st, info_labels[i].path));
		if (!v)
			continue;
		fprintf(f, "%s%s=\"", open ? "\"," : (fputs(fam->name, f), "{"), info_labels[i].label);
		put_label_value(f, v);
		open = true;
	}
	if (open)
		fputs("\"} 1\n", f);
}

static void render_family(FILE *f, const struct family *fam, const json_t *st, time_t now)
{
	json_t *tmp = NULL;
	const json_t *j = fam->path && fam->path[0] == '@' ? special(st, fam->path, now, &tmp)
			  : fam->path ? at(st, fam->path) : NULL;
	const char *k;
	json_t *v;
	size_t i;

	switch (fam->src) {
	case INFO:
		render_info_family(f, fam, st);
		break;
	case NUM:
		sample(f, fam, NULL, NULL, NULL, NULL, j);
		break;
	case TIME: {
		time_t t;

		if (json_is_string(j) && vg_time_parse(json_string_value(j), &t) == 0) {
			tmp = json_integer((json_int_t)t);
			sample(f, fam, NULL, NULL, NULL, NULL, tmp);
		}
		break;
	}
	case EACH:
		json_object_foreach((json_t *)j, k, v) {
			const json_t *val = !strcmp(fam->field, "@self") ? v : json_object_get(v, fam->field);
			const char *x = fam->extra ? json_string_value(json_object_get(v, fam->extra)) : NULL;

			sample(f, fam, fam->label, k, fam->extra, x, val);
		}
		break;
	case EACH_ARR:
		json_array_foreach(j, i, v) {
			const char *lv = json_string_value(json_object_get(v, fam->key));

			if (lv)
				sample(f, fam, fam->label, lv, NULL, NULL, json_object_get(v, fam->field));
		}
		break;
	case PASS_MAP:
		json_object_foreach((json_t *)j, k, v) {
			const char *s = json_string_value(v);

			if (s) {
				json_t *b = json_integer(!strcmp(s, "pass"));

				sample(f, fam, fam->label, k, NULL, NULL, b);
				json_decref(b);
			}
		}
		break;
	}
	json_decref(tmp);
}

int vg_metrics_render(const json_t *status, time_t now, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	int r = 0;

	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < VG_ARRAY_SIZE(families) && !r; i++) {
		const struct family *fam = &families[i];
		char *body = NULL;
		size_t blen = 0;
		FILE *b = open_memstream(&body, &blen);

		if (!b) {
			r = -ENOMEM;
			break;
		}
		render_family(b, fam, status, now);
		if (fclose(b) != 0)
			r = -ENOMEM;
		/* a family without samples is left out, HELP and TYPE included: absent data stays absent */
		else if (blen)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s", fam->name, fam->help, fam->name, fam->type, body);
		free(body);
	}
	if (fclose(f) != 0 && !r)
		r = -ENOMEM;
	if (r) {
		free(buf);
		return r;
	}
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

size_t vg_metrics_families(const char *const **names)
{
	static const char *list[VG_ARRAY_SIZE(families)];

	for (size_t i = 0; i < VG_ARRAY_SIZE(families); i++)
		list[i] = families[i].name;
	*names = list;
	return VG_ARRAY_SIZE(families);
}
