/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the vigild side of remote step-up without vigild, so the browser
 * test can issue a challenge and verify the page's answer with lib/relay.c and
 * lib/webauthn.c exactly as vigild's elevation_relay module does.
 *
 *   relay_tool challenge --key HEX --user U --host H --service S --rp-id R --cred B64URL
 *                        [--ttl S] [--reason R] [--uv]
 *   relay_tool verify --key HEX --user U --host H --service S --rp-id R --origin O...
 *                     --credential SNIPPET.json [--prev N] [--now-offset S] ANSWER
 * verify prints "ok counter=N" (exit 0) or "refused CODE: MESSAGE" (exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "vigil/assertion.h"
#include "vigil/relay.h"
#include "vigil/util.h"
#include "vigil/webauthn.h"

struct opts {
	uint8_t key[VG_RELAY_KEY_LEN];
	const char *user, *host, *service, *rp_id, *reason, *cred, *cred_file;
	char *origins[8];
	size_t norigins;
	long ttl, now_offset;
	unsigned long prev;
	bool uv, have_key;
};

static int parse_key(const char *hex, uint8_t *out)
{
	if (strlen(hex) != 2 * VG_RELAY_KEY_LEN)
		return -EINVAL;
	for (size_t i = 0; i < VG_RELAY_KEY_LEN; i++)
		if (sscanf(hex + 2 * i, "%2hhx", &out[i]) != 1)
			return -EINVAL;
	return 0;
}

static int challenge(const struct opts *o)
{
	struct vg_relay_challenge c = { 0 };
	struct vg_err err;
	uint8_t *id = NULL;
	size_t len = 0;
	char *code;

	if (!o->cred || vg_b64_decode(o->cred, &id, &len) < 0 || len == 0 || len > VG_RELAY_CRED_ID_MAX) {
		fprintf(stderr, "relay_tool: --cred must be a base64url credential id\n");
		return 2;
	}
	c.flags = o->uv ? VG_RELAY_F_UV : 0;
	c.expires = vg_now() + o->ttl;
	RAND_bytes(c.nonce, sizeof(c.nonce));
	RAND_bytes(c.cdh, sizeof(c.cdh));
	snprintf(c.user, sizeof(c.user), "%s", o->user);
	snprintf(c.host, sizeof(c.host), "%s", o->host);
	snprintf(c.service, sizeof(c.service), "%s", o->service);
	snprintf(c.rp_id, sizeof(c.rp_id), "%s", o->rp_id);
	snprintf(c.reason, sizeof(c.reason), "%s", o->reason);
	c.ncreds = 1;
	c.creds[0].len = (uint8_t)len;
	memcpy(c.creds[0].id, id, len);
	free(id);
	if (vg_relay_challenge_seal(&c, o->key, &err) < 0) {
		fprintf(stderr, "relay_tool: %s\n", err.msg);
		return 1;
	}
	code = vg_relay_challenge_code(&c);
	printf("%s\n", code);
	free(code);
	return 0;
}

static int verify(const struct opts *o, const char *text)
{
	struct vg_relay_verify v = {
		.expect = { .key = o->key, .host = o->host, .user = o->user, .service = o->service,
			    .now = vg_now() + o->now_offset },
		.rp_id = o->rp_id,
		.origins = (char *const *)o->origins,
		.norigins = o->norigins,
	};
	struct vg_relay_answer *a = calloc(1, sizeof(*a));
	struct vg_credential cred = { 0 };
	struct vg_user user = { .name = (char *)o->user, .ncreds = 1, .creds = &cred };
	const struct vg_credential *match;
	struct vg_err err = { 0 };
	json_error_t jerr;
	json_t *snip = json_load_file(o->cred_file, 0, &jerr);
	uint32_t counter = 0;
	int rc = 1;

	if (!a || !snip || vg_cose_alg_parse(json_string_value(json_object_get(snip, "alg")) ?: "", &cred.alg) < 0 ||
	    !json_is_string(json_object_get(snip, "public_key")) ||
	    vg_b64_decode(json_string_value(json_object_get(snip, "id")) ?: "!", &cred.id, &cred.id_len) < 0) {
		fprintf(stderr, "relay_tool: %s is not a credential snippet\n", o->cred_file);
		rc = 2;
		goto out;
	}
	cred.id_b64 = (char *)json_string_value(json_object_get(snip, "id"));
	cred.public_key = (char *)json_string_value(json_object_get(snip, "public_key"));
	cred.uv = json_is_true(json_object_get(snip, "uv"));
	v.user = &user;
	if (vg_relay_answer_decode(text, a, &err) < 0 || vg_relay_answer_check(a, &v, &match, &err) < 0 ||
	    vg_relay_answer_verify_sig(a, &v, match, (uint32_t)o->prev, &counter, &err) < 0) {
		printf("refused %s: %s\n", err.code, err.msg);
		goto out;
	}
	printf("ok counter=%u\n", counter);
	rc = 0;
out:
	free(cred.id);
	json_decref(snip);
	free(a);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },	{ "user", required_argument, NULL, 'u' },
		{ "host", required_argument, NULL, 'H' },	{ "service", required_argument, NULL, 's' },
		{ "rp-id", required_argument, NULL, 'r' },	{ "reason", required_argument, NULL, 'R' },
		{ "cred", required_argument, NULL, 'c' },	{ "credential", required_argument, NULL, 'C' },
		{ "origin", required_argument, NULL, 'o' },	{ "ttl", required_argument, NULL, 't' },
		{ "prev", required_argument, NULL, 'p' },	{ "now-offset", required_argument, NULL, 'n' },
		{ "uv", no_argument, NULL, 'v' },		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .user = "", .host = "", .service = "", .rp_id = "", .reason = "", .ttl = 120 };
	const char *mode;
	int ch;

	if (argc < 2) {
		fprintf(stderr, "usage: relay_tool challenge|verify OPTIONS [ANSWER]\n");
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (parse_key(optarg, o.key) < 0) {
				fprintf(stderr, "relay_tool: --key must be %d hex bytes\n", VG_RELAY_KEY_LEN);
				return 2;
			}
			o.have_key = true;
			break;
		case 'u': o.user = optarg; break;
		case 'H': o.host = optarg; break;
		case 's': o.service = optarg; break;
		case 'r': o.rp_id = optarg; break;
		case 'R': o.reason = optarg; break;
		case 'c': o.cred = optarg; break;
		case 'C': o.cred_file = optarg; break;
		case 'o':
			if (o.norigins < VG_ARRAY_SIZE(o.origins))
				o.origins[o.norigins++] = optarg;
			break;
		case 't': o.ttl = strtol(optarg, NULL, 10); break;
		case 'p': o.prev = strtoul(optarg, NULL, 10); break;
		case 'n': o.now_offset = strtol(optarg, NULL, 10); break;
		case 'v': o.uv = true; break;
		default: return 2;
		}
	}
	if (!o.have_key) {
		fprintf(stderr, "relay_tool: --key is required\n");
		return 2;
	}
	if (!strcmp(mode, "challenge"))
		return challenge(&o);
	if (!strcmp(mode, "verify") && optind == argc - 1 && o.cred_file)
		return verify(&o, argv[optind]);
	fprintf(stderr, "relay_tool: bad usage\n");
	return 2;
}
