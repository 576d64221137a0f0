/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the vigild side of remote step-up without vigild, so the browser
 * test can issue a challenge and verify the page's answer with lib/relay.c and
 * lib/webauthn.c, and relabel a code as an attacker on the way would.
 *
 *   relay_tool challenge --user U --host H --service S --rp-id R --cred B64URL
 *                        [--ttl S] [--reason R] [--uv]
 *   relay_tool relabel [--user U] [--host H] [--service S] [--reason R] CODE
 *   relay_tool verify --code CODE --rp-id R --origin O... --credential SNIPPET.json
 *                     [--prev N] ANSWER
 * verify prints "ok counter=N chars=N" (exit 0) or "refused CODE: MESSAGE" (exit 1).
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
	const char *user, *host, *service, *rp_id, *reason, *cred, *cred_file, *code;
	char *origins[8];
	size_t norigins;
	long ttl;
	unsigned long prev;
	bool uv;
};

static int print_code(struct vg_relay_challenge *c)
{
	struct vg_err err;
	char *code = NULL;

	if (vg_relay_challenge_encode(c, &code, &err) < 0) {
		fprintf(stderr, "relay_tool: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", code);
	free(code);
	return 0;
}

static int challenge(const struct opts *o)
{
	struct vg_relay_challenge c = { 0 };
	uint8_t *id = NULL;
	size_t len = 0;

	if (!o->cred || vg_b64_decode(o->cred, &id, &len) < 0 || len == 0 || len > VG_RELAY_CRED_ID_MAX) {
		fprintf(stderr, "relay_tool: --cred must be a base64url credential id\n");
		return 2;
	}
	c.flags = o->uv ? VG_RELAY_F_UV : 0;
	c.expires = vg_now() + o->ttl;
	RAND_bytes(c.nonce, sizeof(c.nonce));
	snprintf(c.user, sizeof(c.user), "%s", o->user);
	snprintf(c.host, sizeof(c.host), "%s", o->host);
	snprintf(c.service, sizeof(c.service), "%s", o->service);
	snprintf(c.rp_id, sizeof(c.rp_id), "%s", o->rp_id);
	snprintf(c.reason, sizeof(c.reason), "%s", o->reason);
	c.ncreds = 1;
	c.creds[0].len = (uint8_t)len;
	memcpy(c.creds[0].id, id, len);
	free(id);
	return print_code(&c);
}

/* The same code with other labels: what an attacker between host and workstation can do. */
static int relabel(const struct opts *o, const char *text)
{
	struct vg_relay_challenge c;
	struct vg_err err;

	if (vg_relay_challenge_decode(text, &c, &err) < 0) {
		fprintf(stderr, "relay_tool: %s\n", err.msg);
		return 1;
	}
	if (*o->user)
		snprintf(c.user, sizeof(c.user), "%s", o->user);
	if (*o->host)
		snprintf(c.host, sizeof(c.host), "%s", o->host);
	if (*o->service)
		snprintf(c.service, sizeof(c.service), "%s", o->service);
	if (*o->reason)
		snprintf(c.reason, sizeof(c.reason), "%s", o->reason);
	return print_code(&c);
}

static int verify(const struct opts *o, const char *text)
{
	struct vg_relay_challenge c;
	struct vg_relay_verify v = { .challenge = &c, .rp_id = o->rp_id, .origins = (char *const *)o->origins,
				     .norigins = o->norigins };
	struct vg_relay_answer *a = calloc(1, sizeof(*a));
	struct vg_relay_assertion *as = calloc(1, sizeof(*as));
	struct vg_credential cred = { 0 };
	struct vg_user user = { .name = (char *)o->user, .ncreds = 1, .creds = &cred };
	struct vg_err err = { 0 };
	json_error_t jerr;
	json_t *snip = json_load_file(o->cred_file, 0, &jerr);
	uint32_t counter = 0;
	int rc = 1;

	if (!a || !as || !snip ||
	    vg_cose_alg_parse(json_string_value(json_object_get(snip, "alg")) ?: "", &cred.alg) < 0 ||
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
	if (vg_relay_challenge_decode(o->code, &c, &err) < 0 || vg_relay_answer_decode(text, a, &err) < 0 ||
	    vg_relay_answer_expand(a, &v, as, &err) < 0 ||
	    vg_relay_answer_verify_sig(a, &v, as, (uint32_t)o->prev, &counter, &err) < 0) {
		printf("refused %s: %s\n", err.code, err.msg);
		goto out;
	}
	printf("ok counter=%u chars=%zu\n", counter, strlen(text));
	rc = 0;
out:
	free(cred.id);
	json_decref(snip);
	free(a);
	free(as);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "user", required_argument, NULL, 'u' },	{ "host", required_argument, NULL, 'H' },
		{ "service", required_argument, NULL, 's' },	{ "rp-id", required_argument, NULL, 'r' },
		{ "reason", required_argument, NULL, 'R' },	{ "cred", required_argument, NULL, 'c' },
		{ "credential", required_argument, NULL, 'C' }, { "origin", required_argument, NULL, 'o' },
		{ "ttl", required_argument, NULL, 't' },	{ "prev", required_argument, NULL, 'p' },
		{ "code", required_argument, NULL, 'k' },	{ "uv", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .user = "", .host = "", .service = "", .rp_id = "", .reason = "", .ttl = 120 };
	const char *mode;
	int ch;

	if (argc < 2) {
		fprintf(stderr, "usage: relay_tool challenge|relabel|verify OPTIONS [CODE|ANSWER]\n");
		return 2;
	}
	mode = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'u': o.user = optarg; break;
		case 'H': o.host = optarg; break;
		case 's': o.service = optarg; break;
		case 'r': o.rp_id = optarg; break;
		case 'R': o.reason = optarg; break;
		case 'c': o.cred = optarg; break;
		case 'C': o.cred_file = optarg; break;
		case 'k': o.code = optarg; break;
		case 'o':
			if (o.norigins < VG_ARRAY_SIZE(o.origins))
				o.origins[o.norigins++] = optarg;
			break;
		case 't': o.ttl = strtol(optarg, NULL, 10); break;
		case 'p': o.prev = strtoul(optarg, NULL, 10); break;
		case 'v': o.uv = true; break;
		default: return 2;
		}
	}
	if (!strcmp(mode, "challenge"))
		return challenge(&o);
	if (!strcmp(mode, "relabel") && optind == argc - 1)
		return relabel(&o, argv[optind]);
	if (!strcmp(mode, "verify") && optind == argc - 1 && o.cred_file && o.code)
		return verify(&o, argv[optind]);
	fprintf(stderr, "relay_tool: bad usage\n");
	return 2;
}
