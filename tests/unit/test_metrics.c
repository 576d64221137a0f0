/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus rendering of the status document: names, types, values, label escaping, absent data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vigil/metrics.h"
#include "vigil/util.h"

static const char *status_doc =
	"{\"vigild\": {\"version\": \"1.2.3\", \"hostname\": \"web-1\", \"started_at\": 1795943002},"
	" \"policy\": {\"active\": true, \"version\": 7, \"highest_version\": 7, \"expired\": false,"
	"   \"policy_digest\": \"abc\", \"environment\": \"prod\", \"source\": \"push\","
	"   \"expires_at\": \"2026-11-30T09:03:27Z\", \"issued_at\": \"2026-11-29T09:02:27Z\", \"tenants\": 2, \"rules\": 4},"
	" \"trust\": {\"version\": 1, \"threshold\": 2, \"keys\": 3},"
	" \"modules\": {"
	"   \"enforce\": {\"state\": \"enforcing\", \"maps\": {\"trie_entries\": 10},"
	"     \"events\": {\"received\": 5},"
	"     \"host\": {\"allowed\": 1, \"denied\": 2, \"would_deny\": 0},"
	"     \"tenants\": {\"pay\\\"ments\": {\"allowed\": 11, \"denied\": 3, \"would_deny\": 0, \"events_dropped\": 0,"
	"                    \"mode\": \"enforce\", \"id\": 1}}},"
	"   \"audit\": {\"degraded\": true, \"durable_seq\": 99, \"spool_bytes\": 1000, \"spool_max_bytes\": 2000,"
	"     \"sinks\": [{\"name\": \"relp-main\", \"lag_events\": 12, \"lag_seconds\": 3, \"connected\": false,"
	"                 \"sent_events\": 87, \"failures\": 1}]},"
	"   \"elevation\": {\"grants\": 2, \"pending_challenges\": 0},"
	"   \"posture\": {\"verdict\": \"fail\", \"stale\": false, \"checks\": {\"edr\": \"pass\", \"disk_encryption\": \"fail\","
	"     \"secure_boot\": \"unknown\"}}}}";

static char *render(const char *doc)
{
	json_t *st = json_loads(doc, 0, NULL);
	char *out = NULL;
	size_t len = 0;

	assert_non_null(st);
	assert_int_equal(vg_metrics_render(st, 1795943100, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	json_decref(st);
	return out;
}

static void has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing \"%s\" in:\n%s", line, text);
}

static void test_values_and_types(void **state)
{
	char *t = render(status_doc);

	has(t, "# TYPE vigil_egress_denied_total counter\n");
	has(t, "vigil_egress_denied_total{tenant=\"pay\\\"ments\",mode=\"enforce\"} 3\n");
	has(t, "vigil_egress_events_dropped_total{tenant=\"pay\\\"ments\"} 0\n");
	has(t, "vigil_host_egress_denied_total 2\n");
	has(t, "vigil_build_info{version=\"1.2.3\",hostname=\"web-1\"} 1\n");
	has(t, "vigil_policy_info{policy_digest=\"abc\",environment=\"prod\",source=\"push\"} 1\n");
	has(t, "vigil_policy_expiry_timestamp_seconds 1796029407\n");
	has(t, "vigil_trust_valid 1\n");
	has(t, "vigil_audit_degraded 1\n");
	has(t, "vigil_audit_sink_lag_events{sink=\"relp-main\"} 12\n");
	has(t, "vigil_audit_sink_connected{sink=\"relp-main\"} 0\n");
	has(t, "vigil_elevation_grants 2\n");
	has(t, "vigil_posture_pass{check=\"edr\"} 1\n");
	has(t, "vigil_posture_pass{check=\"secure_boot\"} 0\n");
	has(t, "vigil_posture_verdict_pass 0\n");
	has(t, "vigil_enforce_state{state=\"enforcing\"} 1\n");
	has(t, "vigil_enforce_map_entries{map=\"trie_entries\"} 10\n");
	has(t, "vigil_metrics_timestamp_seconds 1795943100\n");
	free(t);
}

/* a family with no data has no HELP/TYPE either; every HELP has its TYPE and at least one sample */
static void test_absent_families(void **state)
{
	char *t = render("{\"vigild\": {\"version\": \"1\", \"hostname\": \"h\"}, \"trust\": {\"valid\": false}}");
	char *line, *save = NULL;
	int helps = 0;

	has(t, "vigil_trust_valid 0\n");
	assert_null(strstr(t, "vigil_egress"));
	assert_null(strstr(t, "vigil_policy_version"));
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			char *type = strtok_r(NULL, "\n", &save), *sample = strtok_r(NULL, "\n", &save);

			helps++;
			assert_non_null(type);
			assert_int_equal(strncmp(type, "# TYPE ", 7), 0);
			assert_non_null(sample);
			assert_int_not_equal(sample[0], '#');
		}
	}
	assert_true(helps >= 3);
	free(t);
}

/* every family is documented in docs/monitoring.md (one table, one doc) */
static void test_documented(void **state)
{
	const char *const *names;
	size_t n = vg_metrics_families(&names);
	char *doc = NULL;
	size_t len;

	assert_int_equal(vg_read_file("docs/monitoring.md", 1 << 20, &doc, &len), 0);
	for (size_t i = 0; i < n; i++) {
		char want[128];

		snprintf(want, sizeof(want), "`%s", names[i]);
		if (!strstr(doc, want))
			fail_msg("docs/monitoring.md does not document %s", names[i]);
	}
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_types),
		cmocka_unit_test(test_absent_families),
		cmocka_unit_test(test_documented),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
