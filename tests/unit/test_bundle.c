/* SPDX-License-Identifier: Apache-2.0 */
/* Bundle parser: a valid bundle parses into the right structures, and every
 * schema rejection says what, where (JSON path) and carries its code. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <jansson.h>

#include "vigil/bundle.h"

static const char *base_bundle =
	"{\"version\": 3, \"issued_at\": \"2026-11-01T00:00:00Z\", \"expires_at\": \"2027-01-01T00:00:00Z\","
	" \"environment\": \"prod\","
	" \"change\": {\"id\": \"CHG-1\", \"approved_by\": [\"a\", \"b\"]},"
	" \"scope\": {\"hosts\": [\"web-*\"], \"labels\": {\"role\": \"web\"}},"
	" \"shared_services\": [{\"name\": \"dns\", \"rules\": [{\"id\": 900, \"cidr\": \"10.0.0.53/32\", \"proto\": \"udp\", \"ports\": [53]},"
	"   {\"id\": 901, \"fqdn\": \"ntp.example.com\", \"proto\": \"udp\", \"ports\": [123]}]}],"
	" \"tenants\": ["
	"  {\"name\": \"pay\", \"id\": 1, \"mode\": \"enforce\", \"cgroups\": [\"/t/pay\"], \"segments\": [\"10.1.0.0/16\"],"
	"   \"egress\": [{\"id\": 1, \"cidr\": \"0.0.0.0/0\", \"proto\": \"tcp\", \"ports\": [\"443\", \"8000-8100\"]},"
	"              {\"id\": 2, \"cidr\": \"2001:db8::/32\"},"
	"              {\"id\": 3, \"fqdn\": \"api.stripe.com\", \"proto\": \"tcp\", \"ports\": [443]},"
	"              {\"id\": 4, \"pattern\": \"*.s3.eu-west-1.amazonaws.com\", \"ports\": [443]}], \"shared\": [\"dns\"]},"
	"  {\"name\": \"ana\", \"id\": 2, \"mode\": \"audit\", \"cgroups\": [\"/t/ana\"], \"segments\": [\"10.2.0.0/16\"]}],"
	" \"host\": {\"mode\": \"enforce\", \"default\": \"allow\"},"
	" \"elevation\": {\"group\": \"elev\", \"gid\": 64000, \"rp_id\": \"example.com\", \"allowed\": [\"alice\", \"%sre\"],"
	"   \"services\": [\"sudo\"], \"max_duration\": 3600, \"reason_pattern\": \"^CHG-[0-9]+\","
	"   \"origins\": [\"https://example.com\"],"
	"   \"posture\": {\"prod\": {\"edr\": true, \"disk_encryption\": true, \"patch_max_age_days\": 30, \"max_age\": 300,"
	"                \"edr_agents\": [\"/opt/edr/bin/agent\"], \"exempt_mounts\": [\"/boot\"]}},"
	"   \"break_glass\": [{\"id\": \"bg1\", \"user\": \"root\", \"hash\": \"$pbkdf2-sha256$1000$c2FsdA$aGFzaA\","
	"                     \"not_after\": \"2027-01-01T00:00:00Z\"}]},"
	" \"identity\": {\"uid_range\": [60000, 60999], \"gid_range\": [60000, 64999],"
	"   \"users\": [{\"name\": \"alice\", \"uid\": 60001, \"gid\": 60001, \"home\": \"/home/alice\", \"shell\": \"/bin/sh\","
	"               \"credentials\": [{\"id\": \"AAEC\", \"alg\": \"es256\", \"public_key\": \"-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoboN/5hJxOt6hA1d9bA0ZynwFaOi\\n1iE3evnmPga7UbpikcuWAHwA9VP8oevjnniYDI34Y0IpwZRZm8nmkQIolA==\\n-----END PUBLIC KEY-----\\n\"}]},"
	"              {\"name\": \"bob\", \"uid\": 60002, \"gid\": 60002, \"state\": \"deprovisioned\"}],"
	"   \"groups\": [{\"name\": \"sre\", \"gid\": 60100, \"members\": [\"alice\"]}]},"
	" \"audit\": {\"sinks\": [{\"name\": \"siem\", \"type\": \"relp\", \"target\": \"127.0.0.1:2514\"}]},"
	" \"dns\": {\"resolvers\": [\"10.0.0.53\", \"[2001:db8::1]:5353\"], \"ttl_min\": 5, \"refuse\": \"refused\"}}";

static int parse_str(const char *s, struct vg_bundle **b, struct vg_err *err)
{
	return vg_bundle_parse(s, strlen(s), b, err);
}

static void test_valid_bundle(void **state)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	uint8_t a4[4];

	assert_int_equal(parse_str(base_bundle, &b, &err), 0);
	assert_int_equal(b->version, 3);
	assert_int_equal(b->environment, VG_ENV_PROD);
	assert_int_equal(b->ntenants, 2);
	assert_string_equal(b->tenants[0].name, "pay");
	assert_int_equal(b->tenants[1].mode, VG_MODE_AUDIT);
	assert_int_equal(b->tenants[0].negress, 2);
	assert_int_equal(b->tenants[0].egress[0].proto, VG_PROTO_TCP);
	assert_int_equal(b->tenants[0].egress[0].nports, 2);
	assert_int_equal(b->tenants[0].egress[0].ports[1].lo, 8000);
	assert_int_equal(b->tenants[0].egress[0].ports[1].hi, 8100);
	assert_int_equal(b->tenants[0].egress[1].cidr.family, AF_INET6);
	assert_int_equal(b->tenants[0].egress[1].cidr.prefixlen, 32);
	assert_int_equal(b->tenants[0].nshared, 1);
	assert_int_equal(b->nrules_total, 6);
	inet_pton(AF_INET, "10.1.200.3", a4);
	assert_true(vg_cidr_contains(&b->tenants[0].segments[0], AF_INET, a4));
	assert_false(vg_cidr_contains(&b->tenants[1].segments[0], AF_INET, a4));
	assert_true(b->elevation.present);
	assert_int_equal(b->elevation.default_duration_s, 3600);
	assert_true(b->elevation.posture[VG_ENV_PROD].present);
	assert_int_equal(b->elevation.posture[VG_ENV_PROD].patch_max_age_days, 30);
	assert_int_equal(b->elevation.posture[VG_ENV_PROD].nedr_agents, 1);
	assert_int_equal(b->elevation.nbreakglass, 1);
	assert_int_equal(b->identity.nusers, 2);
	assert_int_equal(b->identity.users[1].state, VG_USER_DEPROVISIONED);
	assert_int_equal(b->identity.users[0].valid_until, 0); /* optional: none */
	assert_int_equal(b->identity.users[0].creds[0].id_len, 3);
	assert_int_equal(b->identity.users[0].creds[0].alg, VG_COSE_ES256);
	assert_int_equal(b->audit.nsinks, 1);
	assert_int_equal(strlen(b->digest), 64);
	vg_bundle_free(b);
}

/* Set or delete (value NULL) the member at a dotted path ("tenants.0.egress.1.cidr") of DOC. */
static char *mutate_doc(const char *doc, const char *path, const char *value)
{
	json_t *root = json_loads(doc, 0, NULL), *cur = root;
	char buf[256], *save = NULL, *tok, *next;
	char *out;

	assert_non_null(root);
	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, ".", &save);
	while ((next = strtok_r(NULL, ".", &save))) {
		cur = json_is_array(cur) ? json_array_get(cur, strtoul(tok, NULL, 10)) : json_object_get(cur, tok);
		assert_non_null(cur);
		tok = next;
	}
	if (json_is_array(cur)) {
		size_t i = strtoul(tok, NULL, 10);

		if (value)
			json_array_set_new(cur, i, json_loads(value, JSON_DECODE_ANY, NULL));
		else
			json_array_remove(cur, i);
	} else if (value) {
		json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);

		assert_non_null(v);
		json_object_set_new(cur, tok, v);
	} else {
		json_object_del(cur, tok);
	}
	out = json_dumps(root, 0);
	json_decref(root);
	return out;
}

static char *mutate(const char *path, const char *value)
{
	return mutate_doc(base_bundle, path, value);
}

/* DOC mutated, DOC freed */
static char *mutate_free(char *doc, const char *path, const char *value)
{
	char *out = mutate_doc(doc, path, value);

	free(doc);
	return out;
}

struct reject_case {
	const char *path, *value; /* mutation; value NULL = delete */
	const char *code, *err_path, *msg;
};

static const struct reject_case cases[] = {
	/* rules by name (docs/dns.md): the normalised form, one label of '*', one destination a rule */
	{ "tenants.0.egress.2.fqdn", "\"API.Stripe.com.\"", "schema_value", "$.tenants[0].egress[2].fqdn",
	  "write the name as \"api.stripe.com\"" },
	{ "tenants.0.egress.2.fqdn", "\"*.stripe.com\"", "schema_value", "$.tenants[0].egress[2].fqdn",
	  "is a pattern: write \"pattern\": \"*.stripe.com\"" },
	{ "tenants.0.egress.2.fqdn", "\"b\u00fccher.example\"", "schema_value", "$.tenants[0].egress[2].fqdn", "xn--" },
	{ "tenants.0.egress.2.fqdn", "\"api..stripe.com\"", "schema_value", "$.tenants[0].egress[2].fqdn", "label 2 is empty" },
	{ "tenants.0.egress.2.fqdn", "443", "schema_type", "$.tenants[0].egress[2].fqdn", "must be a string" },
	{ "tenants.0.egress.2.fqdn", NULL, "schema_missing", "$.tenants[0].egress[2]", "names no destination" },
	{ "tenants.0.egress.2.cidr", "\"10.0.0.0/8\"", "schema_value", "$.tenants[0].egress[2]",
	  "exactly one of \"cidr\", \"fqdn\" or \"pattern\"" },
	{ "tenants.0.egress.2.id", "1", "schema_duplicate", "$.tenants[0].egress[2].id", "rule id 1 is used twice" },
	{ "tenants.0.egress.2.ports.0", "0", "schema_value", "$.tenants[0].egress[2].ports[0]", "outside 1-65535" },
	{ "tenants.0.egress.3.pattern", "\"s3.amazonaws.com\"", "schema_value", "$.tenants[0].egress[3].pattern",
	  "is one name: write \"fqdn\": \"s3.amazonaws.com\", or \"pattern\": \"*.s3.amazonaws.com\"" },
	{ "tenants.0.egress.3.pattern", "\"*.com\"", "schema_value", "$.tenants[0].egress[3].pattern", "top-level domain" },
	{ "tenants.0.egress.3.pattern", "\"**.example.com\"", "schema_value", "$.tenants[0].egress[3].pattern", "one whole first label" },
	{ "tenants.0.egress.3.pattern", "\"a.*.example.com\"", "schema_value", "$.tenants[0].egress[3].pattern", "one whole first label" },
	{ "tenants.0.egress.3.pattern", "\"*.*.example.com\"", "schema_value", "$.tenants[0].egress[3].pattern", "one whole first label" },
	{ "tenants.0.egress.3.pattern", "\"*.Example.com\"", "schema_value", "$.tenants[0].egress[3].pattern",
	  "write the name as \"*.example.com\"" },
	{ "shared_services.0.rules.1.fqdn", "\"ntp.example.com.\"", "schema_value", "$.shared_services[0].rules[1].fqdn",
	  "write the name as \"ntp.example.com\"" },
	{ "host.egress", "[{\"id\": 77, \"fqdn\": \"a.example.com\"}]", "schema_value", "$.host.egress[0].fqdn",
	  "$.host rules name addresses" },
	{ "host.egress", "[{\"id\": 77}]", "schema_missing", "$.host.egress[0].cidr", "required field is missing" },
	{ "dns.resolvers", NULL, "schema_missing", "$.dns.resolvers", "tenant \"pay\" has rules by name ($.tenants[0].egress)" },
	{ "dns", NULL, "schema_missing", "$.dns.resolvers", "\"dns\": {\"resolvers\": [\"10.0.0.53\"]}" },
	{ "dns.resolvers", "[]", "schema_value", "$.dns.resolvers", "empty list forwards nowhere" },
	{ "dns.resolvers", "[\"dns.example.com\"]", "schema_value", "$.dns.resolvers[0]", "write an IP address" },
	{ "dns.resolvers", "[\"10.0.0.53:0\"]", "schema_value", "$.dns.resolvers[0]", "is not a resolver" },
	{ "dns.resolvers", "[\"10.0.0.53:53x\"]", "schema_value", "$.dns.resolvers[0]", "is not a resolver" },
	{ "dns.resolvers", "[\"[10.0.0.53]:53\"]", "schema_value", "$.dns.resolvers[0]", "is not a resolver" },
	{ "dns.resolvers", "[\"[2001:db8::1]x\"]", "schema_value", "$.dns.resolvers[0]", "is not a resolver" },
	{ "dns.resolvers", "[\"10.0.0.53\", \"10.0.0.53:53\"]", "schema_duplicate", "$.dns.resolvers[1]",
	  "same resolver as $.dns.resolvers[0]" },
	{ "dns.resolvers", "[\"0.0.0.0\"]", "schema_value", "$.dns.resolvers[0]", "unspecified address" },
	{ "dns.resolvers", "[53]", "schema_type", "$.dns.resolvers[0]", "must be a string" },
	{ "dns.ttl_max", "2", "schema_value", "$.dns.ttl_max", "below ttl_min (5)" },
	{ "dns.ttl_min", "0", "schema_value", "$.dns.ttl_min", "out of range" },
	{ "dns.refuse", "\"drop\"", "schema_value", "$.dns.refuse", "not one of: nxdomain, refused" },
	{ "dns.ttl", "5", "schema_unknown_field", "$.dns.ttl", "unknown field" },
	{ "color", "\"blue\"", "schema_unknown_field", "$.color", "unknown field \"color\"" },
	{ "tenants.0.egres", "[]", "schema_unknown_field", "$.tenants[0].egres", "unknown field" },
	{ "version", NULL, "schema_missing", "$.version", "required field is missing" },
	{ "version", "\"3\"", "schema_type", "$.version", "must be an integer, found a string" },
	{ "version", "0", "schema_value", "$.version", "out of range" },
	{ "issued_at", "\"yesterday\"", "schema_value", "$.issued_at", "RFC 3339" },
	{ "expires_at", "\"2026-01-01T00:00:00Z\"", "schema_value", "$.expires_at", "later than issued_at" },
	{ "environment", "\"qa\"", "schema_value", "$.environment", "not one of: dev, stage, prod" },
	{ "scope.hosts", "[]", "schema_value", "$.scope.hosts", "matches no host" },
	{ "scope", NULL, "schema_missing", "$.scope", "required field is missing" },
	{ "tenants.0.egress.0.cidr", "\"10.0.0.0/33\"", "schema_bad_cidr", "$.tenants[0].egress[0].cidr", "is not a CIDR" },
	{ "tenants.0.egress.0.cidr", "\"10.0.0.1/8\"", "schema_bad_cidr", "$.tenants[0].egress[0].cidr", "host bits" },
	{ "tenants.0.egress.0.cidr", "\"banana\"", "schema_bad_cidr", "$.tenants[0].egress[0].cidr", "is not a CIDR" },
	{ "tenants.0.egress.0.cidr", "42", "schema_type", "$.tenants[0].egress[0].cidr", "found an integer" },
	{ "tenants.0.segments.0", "\"fd00::/129\"", "schema_bad_cidr", "$.tenants[0].segments[0]", "is not a CIDR" },
	{ "tenants.0.egress.0.ports.1", "\"9000-8000\"", "schema_value", "$.tenants[0].egress[0].ports[1]", "reversed" },
	{ "tenants.0.egress.0.ports.0", "0", "schema_value", "$.tenants[0].egress[0].ports[0]", "outside 1-65535" },
	{ "tenants.0.egress.0.ports.0", "\"http\"", "schema_value", "$.tenants[0].egress[0].ports[0]", "a port is a number" },
	{ "tenants.0.egress.0.ports", "[]", "schema_value", "$.tenants[0].egress[0].ports", "empty port list" },
	{ "tenants.0.egress.0.proto", "\"sctp\"", "schema_value", "$.tenants[0].egress[0].proto", "not one of" },
	{ "tenants.0.egress.0.proto", "\"icmp\"", "schema_value", "$.tenants[0].egress[0].ports", "ICMP has no ports" },
	{ "tenants.0.egress.1.id", "1", "schema_duplicate", "$.tenants[0].egress[1].id", "rule id 1 is used twice" },
	{ "shared_services.0.rules.0.id", "2", "schema_duplicate", "$.tenants[0].egress[1].id", "rule id 2 is used twice" },
	{ "tenants.1.id", "1", "schema_duplicate", "$.tenants[1].id", "tenant id 1 is used twice" },
	{ "tenants.1.name", "\"pay\"", "schema_duplicate", "$.tenants[1].name", "tenant name \"pay\" is used twice" },
	{ "tenants.1.name", "\"-x\"", "schema_value", "$.tenants[1].name", "not a valid name" },
	{ "tenants.1.id", "70000", "schema_value", "$.tenants[1].id", "out of range" },
	{ "tenants.1.mode", "\"block\"", "schema_value", "$.tenants[1].mode", "not one of: enforce, audit" },
	{ "tenants.1.cgroups", "[\"/t/pay\"]", "schema_duplicate", "$.tenants[1].cgroups[0]",
	  "cgroup \"/t/pay\" of tenant \"ana\" is also tenant \"pay\"'s ($.tenants[0].cgroups[0])" },
	{ "tenants.1.cgroups", "[\"t/rel\"]", "schema_value", "$.tenants[1].cgroups[0]", "starting with '/'" },
	/* one cgroup, one spelling: each alias of /t/pay is refused with the canonical one */
	{ "tenants.1.cgroups", "[\"/t/pay/\"]", "schema_value", "$.tenants[1].cgroups[0]", "canonical cgroup path (no empty, \".\" or \"..\" components, no trailing '/'): write \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"/t//pay\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"//t/pay\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"/t/pay/.\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"/t/./pay\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"/t/ana/../pay\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"/t/../x\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/x\"" },
	{ "tenants.1.cgroups", "[\"/t/pay/..\"]", "schema_value", "$.tenants[1].cgroups[0]", "write \"/t\"" },
	{ "tenants.1.cgroups", "[\"/\"]", "schema_value", "$.tenants[1].cgroups[0]", "the cgroup2 root, which is no tenant's" },
	{ "tenants.1.cgroups", "[\"/.\"]", "schema_value", "$.tenants[1].cgroups[0]", "the cgroup2 root" },
	{ "tenants.1.cgroups", "[\"/t/../..\"]", "schema_value", "$.tenants[1].cgroups[0]", "the cgroup2 root" },
	{ "tenants.1.cgroups", "[\"/t/a\\nb\"]", "schema_value", "$.tenants[1].cgroups[0]", "control character" },
	{ "tenants.1.cgroups", "[\"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/24/25/26/27/28/29/30/31/32\"]",
	  "schema_value", "$.tenants[1].cgroups[0]", "32 levels deep: vigil follows at most 31" },
	/* nested across tenants: the deeper one would govern the other's processes */
	{ "tenants.1.cgroups", "[\"/t/pay/sub\"]", "schema_overlap", "$.tenants[1].cgroups[0]",
	  "cgroup \"/t/pay/sub\" of tenant \"ana\" is inside cgroup \"/t/pay\" of tenant \"pay\" ($.tenants[0].cgroups[0])" },
	{ "tenants.1.cgroups", "[\"/t\"]", "schema_overlap", "$.tenants[0].cgroups[0]",
	  "cgroup \"/t/pay\" of tenant \"pay\" is inside cgroup \"/t\" of tenant \"ana\" ($.tenants[1].cgroups[0])" },
	{ "tenants.1.cgroups", "[\"/t/pay-x\", \"/t/pay/y\"]", "schema_overlap", "$.tenants[1].cgroups[1]", "inside cgroup \"/t/pay\"" },
	{ "tenants.1.cgroups", "[\"/t/ana\", \"/t/x\", \"/t/ana\"]", "schema_duplicate", "$.tenants[1].cgroups[2]",
	  "cgroup \"/t/ana\" is listed twice (also at $.tenants[1].cgroups[0])" },
	{ "tenants.1.cgroups", "[]", "schema_value", "$.tenants[1].cgroups", "at least one cgroup" },
	{ "tenants.1.segments", "[\"10.1.2.0/24\"]", "schema_overlap", "$.tenants[1].segments[0]", "overlaps segment 10.1.0.0/16" },
	{ "tenants.0.shared", "[\"ntp\"]", "schema_reference", "$.tenants[0].shared[0]", "\"ntp\" is not defined" },
	{ "tenants.0.sockets", "[\"raw\", \"bluetooth\"]", "schema_value", "$.tenants[0].sockets[1]", "use raw, packet or mptcp" },
	{ "tenants.0.connect_rate", "100", "schema_type", "$.tenants[0].connect_rate", "must be an object" },
	{ "tenants.0.connect_rate", "{\"burst\": 10}", "schema_missing", "$.tenants[0].connect_rate.per_second", "required" },
	{ "tenants.0.connect_rate", "{\"per_second\": 0}", "schema_value", "$.tenants[0].connect_rate.per_second", "out of range [1, 1000000]" },
	{ "tenants.0.connect_rate", "{\"per_second\": 1000001}", "schema_value", "$.tenants[0].connect_rate.per_second", "out of range" },
	{ "tenants.0.connect_rate", "{\"per_second\": -5}", "schema_value", "$.tenants[0].connect_rate.per_second", "out of range" },
	{ "tenants.0.connect_rate", "{\"per_second\": 1.5}", "schema_type", "$.tenants[0].connect_rate.per_second", "must be an integer" },
	{ "tenants.0.connect_rate", "{\"per_second\": 10, \"burst\": 0}", "schema_value", "$.tenants[0].connect_rate.burst", "out of range [1, 1000000]" },
	{ "tenants.0.connect_rate", "{\"per_second\": 10, \"burst\": \"20\"}", "schema_type", "$.tenants[0].connect_rate.burst", "must be an integer" },
	{ "tenants.1.connect_rate", "{\"per_second\": 10, \"brust\": 20}", "schema_unknown_field", "$.tenants[1].connect_rate.brust", "unknown field" },
	{ "tenants", "{}", "schema_type", "$.tenants", "must be an array" },
	{ "host.default", "\"maybe\"", "schema_value", "$.host.default", "not one of: allow, deny" },
	{ "elevation.rp_id", NULL, "schema_missing", "$.elevation.rp_id", "required field is missing" },
	{ "elevation.default_duration", "7200", "schema_value", "$.elevation.default_duration", "longer than max_duration" },
	{ "elevation.reason_pattern", "\"([\"", "schema_value", "$.elevation.reason_pattern", "regular expression" },
	{ "elevation.origins.0", "\"http://evil.example\"", "schema_value", "$.elevation.origins[0]", "https://" },
	{ "elevation.origins.0", "\"http://localhost.attacker.example\"", "schema_value", "$.elevation.origins[0]", "https://" },
	{ "elevation.origins.0", "\"https://example.com/path\"", "schema_value", "$.elevation.origins[0]", "https://" },
	{ "elevation.posture.qa", "{}", "schema_unknown_field", "$.elevation.posture.qa", "unknown environment" },
	{ "elevation.posture.prod.edr", "\"yes\"", "schema_type", "$.elevation.posture.prod.edr", "true or false" },
	{ "elevation.posture.prod.edr_agents", "[\"agent\"]", "schema_value", "$.elevation.posture.prod.edr_agents[0]", "absolute path" },
	{ "elevation.break_glass.0.hash", "\"plaintext\"", "schema_value", "$.elevation.break_glass[0].hash", "pbkdf2" },
	{ "identity.users.0.uid", "500", "schema_value", "$.identity.users[0].uid", "out of range [60000, 60999]" },
	{ "identity.users.1.uid", "60001", "schema_duplicate", "$.identity.users[1].uid", "uid 60001 is used by two users" },
	{ "identity.users.1.name", "\"alice\"", "schema_duplicate", "$.identity.users[1].name", "defined twice" },
	{ "identity.users.0.home", "\"home\"", "schema_value", "$.identity.users[0].home", "absolute path" },
	{ "identity.users.0.gecos", "\"a:b\"", "schema_value", "$.identity.users[0].gecos", "':'" },
	{ "identity.users.0.state", "\"gone\"", "schema_value", "$.identity.users[0].state", "active, deprovisioned" },
	{ "identity.users.0.credentials.0.alg", "\"md5\"", "schema_value", "$.identity.users[0].credentials[0].alg", "not one of" },
	{ "identity.users.0.credentials.0.id", "\"!!\"", "schema_value", "$.identity.users[0].credentials[0].id", "base64url" },
	{ "identity.users.0.credentials.0.public_key", "\"abc\"", "schema_value", "$.identity.users[0].credentials[0].public_key", "PEM" },
	{ "identity.users.0.credentials.0.alg", "\"eddsa\"", "schema_value", "$.identity.users[0].credentials[0].public_key", "" },
	{ "identity.uid_range", "[0, 10]", "schema_value", "$.identity.uid_range", "1000 <= MIN" },
	{ "identity.groups.0.members", "[\"carol\"]", "schema_reference", "$.identity.groups[0].members[0]", "not a user" },
	{ "identity.groups.0.name", "\"elev\"", "schema_duplicate", "$.identity.groups[0].name", "elevation group" },
	{ "identity.groups.0.gid", "64000", "schema_duplicate", "$.identity.groups[0].gid", "elevation group" },
	/* the elevation group: never a user's primary group, never a system gid, always one vigil owns */
	{ "identity.users.0.gid", "64000", "schema_value", "$.identity.users[0].gid", "always be elevated" },
	{ "elevation.gid", "27", "schema_value", "$.elevation.gid", "system gid" },
	{ "elevation.gid", "65534", "schema_value", "$.elevation.gid", "system gid" },
	{ "elevation.gid", "70000", "schema_value", "$.elevation.gid", "outside $.identity.gid_range" },
	{ "identity.users.0.valid_until", "\"tomorrow\"", "schema_value", "$.identity.users[0].valid_until", "RFC 3339" },
	{ "audit.sinks.0.type", "\"syslog\"", "schema_value", "$.audit.sinks[0].type", "relp, https" },
	{ "change.id", NULL, "schema_missing", "$.change.id", "required field is missing" },
};

static void test_rejections(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct reject_case *c = &cases[i];
		char *doc = mutate(c->path, c->value);
		struct vg_bundle *b = NULL;
		struct vg_err err = { 0 };
		int r = parse_str(doc, &b, &err);

		if (r != -EINVAL || strcmp(err.code, c->code) || strcmp(err.path, c->err_path) || !strstr(err.msg, c->msg))
			fail_msg("case %zu (%s = %s): got r=%d code=%s path=%s msg=%s", i, c->path,
				 c->value ? c->value : "<deleted>", r, err.code, err.path, err.msg);
		assert_null(b);
		free(doc);
	}
}

/* connect_rate: absent is no limit; the burst defaults to one second's worth; the limits themselves are accepted. */
static void test_connect_rate(void **state)
{
	static const struct {
		const char *value;
		uint32_t per_second, burst;
	} ok[] = {
		{ NULL, 0, 0 },
		{ "{\"per_second\": 50}", 50, 50 },
		{ "{\"per_second\": 1, \"burst\": 1}", 1, 1 },
		{ "{\"per_second\": 1000000, \"burst\": 1000000, \"comment\": \"x\"}", 1000000, 1000000 },
		{ "{\"per_second\": 5, \"burst\": 300}", 5, 300 },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *doc = ok[i].value ? mutate("tenants.1.connect_rate", ok[i].value) : strdup(base_bundle);
		struct vg_bundle *b = NULL;
		struct vg_err err = { 0 };

		if (parse_str(doc, &b, &err) != 0)
			fail_msg("%s refused: %s: %s", ok[i].value, err.path, err.msg);
		assert_int_equal(b->tenants[1].connect_rate.per_second, ok[i].per_second);
		assert_int_equal(b->tenants[1].connect_rate.burst, ok[i].burst);
		assert_int_equal(b->tenants[0].connect_rate.per_second, 0);
		vg_bundle_free(b);
		free(doc);
	}
}

/* Cgroups that look alike but are distinct, or nest within one tenant, are accepted. */
static void test_cgroups_accepted(void **state)
{
	static const char *const lists[] = {
		"[\"/t/payx\", \"/t/pa\", \"/t/pay-x/y\", \"/u/t/pay\"]", /* prefixes of a name are other cgroups */
		"[\"/t/ana\", \"/t/ana/x\", \"/t/ana/x/y\"]",		     /* below one's own: redundant, allowed */
		"[\"/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/24/25/26/27/28/29/30/31\"]",
		"[\"/t/..x\", \"/t/.x\", \"/t/x.\"]", /* dots inside names are names */
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		char *doc = mutate("tenants.1.cgroups", lists[i]);
		struct vg_bundle *b = NULL;
		struct vg_err err = { 0 };

		if (parse_str(doc, &b, &err) != 0)
			fail_msg("%s refused: %s: %s", lists[i], err.path, err.msg);
		vg_bundle_free(b);
		free(doc);
	}
}

/* Rules by name go beside the rules by address, in their own array; the dns policy with its defaults. */
static void test_names(void **state)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	const struct vg_tenant *t;
	char *doc;

	assert_int_equal(parse_str(base_bundle, &b, &err), 0);
	t = &b->tenants[0];
	assert_int_equal(t->negress, 2);
	assert_int_equal(t->nnames, 2);
	assert_int_equal(t->names[0].id, 3);
	assert_string_equal(t->names[0].pattern, "api.stripe.com");
	assert_int_equal(t->names[0].proto, VG_PROTO_TCP);
	assert_int_equal(t->names[0].nports, 1);
	assert_int_equal(t->names[0].ports[0].lo, 443);
	assert_string_equal(t->names[1].pattern, "*.s3.eu-west-1.amazonaws.com");
	assert_int_equal(t->names[1].proto, VG_PROTO_ANY);
	assert_int_equal(b->tenants[1].nnames, 0);
	assert_int_equal(b->shared_services[0].nrules, 1);
	assert_int_equal(b->shared_services[0].nnames, 1);
	assert_string_equal(b->shared_services[0].names[0].pattern, "ntp.example.com");
	assert_int_equal(b->dns.nresolvers, 2);
	assert_int_equal(b->dns.resolvers[0].family, AF_INET);
	assert_int_equal(b->dns.resolvers[0].port, 53);
	assert_int_equal(b->dns.resolvers[1].family, AF_INET6);
	assert_int_equal(b->dns.resolvers[1].port, 5353);
	assert_int_equal(b->dns.resolvers[1].addr[0], 0x20);
	assert_int_equal(b->dns.ttl_min, 5);
	assert_int_equal(b->dns.ttl_max, 86400); /* defaults, docs/dns.md */
	assert_int_equal(b->dns.grace, 60);
	assert_int_equal(b->dns.refuse, VG_DNS_REFUSE_REFUSED);
	vg_bundle_free(b);

	/* the other spellings of a resolver */
	doc = mutate("dns.resolvers", "[\"2001:db8::35\", \"192.0.2.1:5353\", \"[::1]\"]");
	assert_int_equal(parse_str(doc, &b, &err), 0);
	assert_int_equal(b->dns.resolvers[0].family, AF_INET6);
	assert_int_equal(b->dns.resolvers[0].port, 53);
	assert_int_equal(b->dns.resolvers[1].family, AF_INET);
	assert_int_equal(b->dns.resolvers[1].port, 5353);
	assert_int_equal(b->dns.resolvers[2].addr[15], 1);
	assert_int_equal(b->dns.resolvers[2].port, 53);
	vg_bundle_free(b);
	free(doc);

	/* a shared service's names need resolvers too */
	doc = mutate_free(mutate("dns", NULL), "tenants.0.egress", "[]");
	assert_int_equal(parse_str(doc, &b, &err), -EINVAL);
	assert_string_equal(err.path, "$.dns.resolvers");
	assert_non_null(strstr(err.msg, "shared service \"dns\" has rules by name ($.shared_services[0].rules)"));

	/* no name rule, no dns object: the defaults */
	doc = mutate_free(doc, "shared_services.0.rules.1", NULL);
	assert_int_equal(parse_str(doc, &b, &err), 0);
	assert_int_equal(b->dns.nresolvers, 0);
	assert_int_equal(b->dns.ttl_min, 30);
	assert_int_equal(b->dns.ttl_max, 86400);
	assert_int_equal(b->dns.grace, 60);
	assert_int_equal(b->dns.refuse, VG_DNS_REFUSE_NXDOMAIN);
	assert_int_equal(b->shared_services[0].nnames, 0);
	vg_bundle_free(b);
	free(doc);
}

static void test_json_syntax(void **state)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };

	assert_int_equal(parse_str("{\"version\": 1,", &b, &err), -EINVAL);
	assert_string_equal(err.code, "json_syntax");
	assert_non_null(strstr(err.path, "line 1"));
	assert_int_equal(parse_str("{\"version\": 1, \"version\": 2}", &b, &err), -EINVAL);
	assert_string_equal(err.code, "json_syntax");
	assert_non_null(strstr(err.msg, "duplicate"));
	assert_int_equal(parse_str("[]", &b, &err), -EINVAL);
	assert_string_equal(err.code, "schema_type");
	assert_int_equal(vg_bundle_parse("", 0, &b, &err), -EINVAL);
}

static char *replace_once(const char *doc, const char *from, const char *to)
{
	const char *at = strstr(doc, from);
	char *out;

	assert_non_null(at);
	out = malloc(strlen(doc) - strlen(from) + strlen(to) + 1);
	assert_non_null(out);
	sprintf(out, "%.*s%s%s", (int)(at - doc), doc, to, at + strlen(from));
	return out;
}

static void expect(const char *doc, const char *code, const char *path, const char *msg)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };

	assert_int_equal(parse_str(doc, &b, &err), -EINVAL);
	assert_string_equal(err.code, code);
	if (path)
		assert_string_equal(err.path, path);
	if (msg && !strstr(err.msg, msg))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, msg);
}

/* The identity arrays are read element by element from the bytes (not as a jansson tree):
 * the same structures, and every error still said with its JSON path or line and column. */
static void test_identity_streamed(void **state)
{
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	json_t *j = json_loads(base_bundle, 0, NULL);
	char *pretty, *doc;

	/* pretty-printed, keys sorted (groups before users), a key spelt with an escape */
	assert_non_null(j);
	pretty = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	doc = replace_once(pretty, "\"users\"", "\"us\\u0065rs\"");
	assert_int_equal(parse_str(doc, &b, &err), 0);
	assert_int_equal(b->identity.nusers, 2);
	assert_string_equal(b->identity.users[0].name, "alice");
	assert_string_equal(b->identity.users[0].home, "/home/alice");
	assert_int_equal(b->identity.users[0].creds[0].id_len, 3);
	assert_int_equal(b->identity.users[1].state, VG_USER_DEPROVISIONED);
	assert_int_equal(b->identity.ngroups, 1);
	assert_string_equal(b->identity.groups[0].members[0], "alice");
	vg_bundle_free(b);
	free(doc);

	/* a key twice in one user: jansson's error, at the second key */
	doc = replace_once(pretty, "\"name\": \"bob\"", "\"name\": \"bob\", \"name\": \"eve\"");
	expect(doc, "json_syntax", NULL, "duplicate object key");
	free(doc);
	doc = replace_once(base_bundle, "{\"name\": \"bob\",", "{\"name\": \"bob\", \"uid\": 1,");
	expect(doc, "json_syntax", NULL, "duplicate");
	free(doc);
	/* ... and inside a value that is itself an object */
	doc = replace_once(base_bundle, "{\"name\": \"bob\",", "{\"comment\": {\"a\": 1, \"a\": 2}, \"name\": \"bob\",");
	expect(doc, "json_syntax", NULL, "duplicate");
	free(doc);
	/* broken JSON inside the array: the error jansson gives for the whole bundle */
	doc = replace_once(base_bundle, "\"uid\": 60002", "\"uid\" 60002");
	expect(doc, "json_syntax", NULL, NULL);
	free(doc);
	doc = replace_once(base_bundle, "\"state\": \"deprovisioned\"", "\"state\": \"deprov\xc0\xba\"");
	expect(doc, "json_syntax", NULL, NULL);
	free(doc);
	doc = replace_once(base_bundle, "\"uid\": 60002", "\"uid\": 99999999999999999999");
	expect(doc, "json_syntax", NULL, NULL);
	free(doc);
	/* schema errors keep their JSON paths */
	doc = replace_once(base_bundle, "\"state\": \"deprovisioned\"}", "\"state\": \"deprovisioned\"}, \"carol\"");
	expect(doc, "schema_type", "$.identity.users[2]", "must be an object, found a string");
	free(doc);
	doc = replace_once(base_bundle, "\"state\": \"deprovisioned\"}", "\"state\": \"gone\"}");
	expect(doc, "schema_value", "$.identity.users[1].state", "not one of");
	free(doc);
	doc = replace_once(base_bundle, "{\"name\": \"bob\",", "{\"name\": \"bob\", \"shel\": \"/bin/sh\",");
	expect(doc, "schema_unknown_field", "$.identity.users[1].shel", NULL);
	free(doc);
	doc = replace_once(base_bundle, "\"uid\": 60002", "\"uid\": 60001");
	expect(doc, "schema_duplicate", "$.identity.users[1].uid", NULL);
	free(doc);
	doc = replace_once(base_bundle, "\"uid\": 60002", "\"uid\": 6.5e4");
	expect(doc, "schema_type", "$.identity.users[1].uid", "found a number");
	free(doc);
	doc = replace_once(base_bundle, "\"members\": [\"alice\"]", "\"members\": [\"alice\", \"zed\"]");
	expect(doc, "schema_reference", "$.identity.groups[0].members[1]", NULL);
	free(doc);
	free(pretty);
}

/* a bundle whose tenant "pay" has egress [RULES] (and nothing else by name) */
static char *with_egress(const char *rules)
{
	const char *from = "[{\"id\": 1, \"cidr\": \"0.0.0.0/0\"";
	const char *at = strstr(base_bundle, from), *end = strstr(at, "], \"shared\"");
	char *out = malloc(strlen(base_bundle) + strlen(rules) + 8);

	assert_non_null(out);
	sprintf(out, "%.*s[%s%s", (int)(at - base_bundle), base_bundle, rules, end);
	return out;
}

/* rules with the first key's first letter written as an escape: never the fast path */
static char *escaped_first_key(const char *rules)
{
	char *out = malloc(strlen(rules) + 8), *o = out;
	bool done = false;

	assert_non_null(out);
	for (const char *p = rules; *p; p++) {
		*o++ = *p;
		if (!done && p[0] == '{' && p[1] == '"') {
			o += sprintf(o, "\"\\u%04x", (unsigned char)p[2]);
			p += 2;
			done = true;
		}
	}
	*o = '\0';
	return out;
}

/*
 * Egress rules are read from the bytes; a rule written the common way is parsed without a
 * jansson object (lib/bundle.c fast_rule). Each case below parses the same as the same rule
 * with a key spelt with an escape (which goes the way jansson would): the same rules, or the
 * same error with the same code, path and message.
 */
static void test_egress_streamed(void **state)
{
	static const char *const rule_cases[] = {
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\"}",
		"{\"cidr\": \"10.0.0.0/8\", \"id\": 7, \"proto\": \"udp\", \"ports\": [53, \"1000-2000\"], \"comment\": \"x\"}",
		"{\"id\": 7, \"cidr\": \"2001:db8::/32\", \"proto\": \"icmp\"}",
		"{\"id\": 7, \"cidr\": \"192.0.2.7\", \"proto\": \"any\", \"ports\": [\"0443\"]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\"}, {\"id\": 8, \"cidr\": \"10.0.0.0/8\", \"proto\": \"tcp\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.1/8\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/33\"}",
		"{\"id\": 0, \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 2147483648, \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": -7, \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 7.0, \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": \"7\", \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 7}",
		"{\"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 7, \"cidr\": 10}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"proto\": \"TCP\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"proto\": \"icmp\", \"ports\": [1]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": []}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [0]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [65536]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [\"5-3\"]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [\"8x\"]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [\"-8\"]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [443.0]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": 443}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"comment\": 5}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"color\": \"red\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"fqdn\": \"a.example.com\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\"}, {\"id\": 7, \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\"}, {\"id\": 900, \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"cidr\": \"10.0.0.0/8\"}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,"
		"24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,"
		"61,62,63,64]}",
		"{\"id\": 7, \"cidr\": \"10.0.0.0/8\", \"ports\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,"
		"24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,"
		"61,62,63,64,65]}",
		"\"10.0.0.0/8\"",
	};

	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		char *esc = escaped_first_key(rule_cases[i]), *fast = with_egress(rule_cases[i]), *slow = with_egress(esc);
		struct vg_bundle *bf = NULL, *bs = NULL;
		struct vg_err ef = { 0 }, es = { 0 };
		int rf = parse_str(fast, &bf, &ef), rs = parse_str(slow, &bs, &es);

		if (rf != rs)
			fail_msg("case %zu: %d vs %d (%s / %s)", i, rf, rs, ef.msg, es.msg);
		assert_string_equal(ef.code, es.code);
		/* a syntax error's line and column: the escape moved it */
		if (strcmp(ef.code, "json_syntax"))
			assert_string_equal(ef.path, es.path);
		assert_string_equal(ef.msg, es.msg);
		if (rf == 0) {
			const struct vg_tenant *tf = &bf->tenants[0], *ts = &bs->tenants[0];

			assert_int_equal(tf->negress, ts->negress);
			assert_int_equal(bf->nrules_total, bs->nrules_total);
			for (size_t k = 0; k < tf->negress; k++) {
				const struct vg_rule *a = &tf->egress[k], *b = &ts->egress[k];

				assert_int_equal(a->id, b->id);
				assert_int_equal(a->proto, b->proto);
				assert_memory_equal(&a->cidr, &b->cidr, sizeof(a->cidr));
				assert_int_equal(a->nports, b->nports);
				if (a->nports)
					assert_memory_equal(a->ports, b->ports, sizeof(*a->ports) * a->nports);
			}
		}
		vg_bundle_free(bf);
		vg_bundle_free(bs);
		free(esc);
		free(fast);
		free(slow);
	}
	/* what the fast path produced, checked directly */
	{
		char *doc = with_egress(rule_cases[1]);
		struct vg_bundle *b = NULL;
		struct vg_err err = { 0 };
		uint8_t a4[4];

		assert_int_equal(parse_str(doc, &b, &err), 0);
		assert_int_equal(b->tenants[0].negress, 1);
		assert_int_equal(b->tenants[0].egress[0].id, 7);
		assert_int_equal(b->tenants[0].egress[0].proto, VG_PROTO_UDP);
		assert_int_equal(b->tenants[0].egress[0].cidr.prefixlen, 8);
		inet_pton(AF_INET, "10.0.0.0", a4);
		assert_memory_equal(b->tenants[0].egress[0].cidr.addr, a4, 4);
		assert_int_equal(b->tenants[0].egress[0].nports, 2);
		assert_int_equal(b->tenants[0].egress[0].ports[0].lo, 53);
		assert_int_equal(b->tenants[0].egress[0].ports[1].hi, 2000);
		vg_bundle_free(b);
		free(doc);
	}
	/* consecutive rules with the same port list share one copy; a different list (even one that
	 * starts the same) gets its own, on the fast path and the jansson path alike (an escaped
	 * first key sends the first rule the jansson way) */
	for (int slow = 0; slow < 2; slow++) {
		const char *rules = "{\"id\": 7, \"cidr\": \"10.0.0.1/32\", \"ports\": [443, \"80-81\"]}, "
				    "{\"id\": 8, \"cidr\": \"10.0.0.2/32\", \"ports\": [443, \"80-81\"]}, "
				    "{\"id\": 9, \"cidr\": \"10.0.0.3/32\", \"ports\": [443]}, "
				    "{\"id\": 10, \"cidr\": \"10.0.0.4/32\"}, "
				    "{\"id\": 11, \"cidr\": \"10.0.0.5/32\", \"ports\": [443, \"80-81\", 9]}";
		char *esc = slow ? escaped_first_key(rules) : NULL, *doc = with_egress(slow ? esc : rules);
		struct vg_bundle *b = NULL;
		struct vg_err err = { 0 };
		const struct vg_rule *r;

		assert_int_equal(parse_str(doc, &b, &err), 0);
		r = b->tenants[0].egress;
		assert_int_equal(b->tenants[0].negress, 5);
		assert_int_equal(r[0].nports, 2);
		assert_int_equal(r[1].nports, 2);
		assert_int_equal(r[2].nports, 1);
		assert_int_equal(r[3].nports, 0);
		assert_int_equal(r[4].nports, 3);
		assert_ptr_equal(r[0].ports, r[1].ports); /* slow: the first by jansson, the second fast */
		assert_ptr_not_equal(r[1].ports, r[2].ports);
		assert_ptr_not_equal(r[2].ports, r[4].ports);
		assert_int_equal(r[1].ports[1].lo, 80);
		assert_int_equal(r[1].ports[1].hi, 81);
		assert_int_equal(r[2].ports[0].lo, 443);
		assert_int_equal(r[4].ports[2].lo, 9);
		assert_int_equal(r[4].ports[1].hi, 81);
		vg_bundle_free(b);
		free(doc);
		free(esc);
	}
	/* a tenant's egress twice, or not an array: the tree's errors */
	{
		char *doc = replace_once(base_bundle, "\"shared\": [\"dns\"]", "\"shared\": [\"dns\"], \"egress\": []");

		expect(doc, "json_syntax", NULL, "duplicate");
		free(doc);
		doc = with_egress("");
		free(doc);
		doc = replace_once(base_bundle, "\"segments\": [\"10.2.0.0/16\"]", "\"segments\": [\"10.2.0.0/16\"], \"egress\": {}");
		expect(doc, "schema_type", "$.tenants[1].egress", NULL);
		free(doc);
	}
}

static void test_cidr(void **state)
{
	struct vg_cidr c;
	char buf[64];
	uint8_t a[16];

	assert_int_equal(vg_cidr_parse("192.0.2.0/24", &c), 0);
	vg_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.0/24");
	assert_int_equal(vg_cidr_parse("192.0.2.7", &c), 0);
	assert_int_equal(c.prefixlen, 32);
	assert_int_equal(vg_cidr_parse("::/0", &c), 0);
	inet_pton(AF_INET6, "2001:db8::1", a);
	assert_true(vg_cidr_contains(&c, AF_INET6, a));
	assert_false(vg_cidr_contains(&c, AF_INET, a));
	assert_int_equal(vg_cidr_parse("10.0.0.0/", &c), -EINVAL);
	assert_int_equal(vg_cidr_parse("10.0.0.0/-1", &c), -EINVAL);
	assert_int_equal(vg_cidr_parse("10.0.0.0/8x", &c), -EINVAL);
	assert_int_equal(vg_cidr_parse("10.128.0.0/9", &c), 0);
	assert_int_equal(vg_cidr_parse("10.192.0.0/9", &c), -EDOM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_bundle),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_cgroups_accepted),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_connect_rate),
		cmocka_unit_test(test_json_syntax),
		cmocka_unit_test(test_identity_streamed),
		cmocka_unit_test(test_egress_streamed),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests_name("bundle", tests, NULL, NULL);
}
