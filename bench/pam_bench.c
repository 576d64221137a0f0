/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Machine-side step-up latency (bench/pam.sh): what vigild adds to a sudo step-up, the touch
 * excluded. A software ES256 credential stands in for the key; per round it times
 * elevation.check + elevation.challenge + elevation.assert (verify, posture) + elevation.commit and
 * elevation.confirm (grant) through the control socket, signs between the calls (not timed), then
 * revokes the grant (not timed).
 * Baseline in the same run: round trips of "status".
 *   pam_bench enroll KEYFILE            -> prints the credential JSON for the bundle
 *   pam_bench run SOCKET KEYFILE ROUNDS -> p50/p99 of step-up and baseline, in ms
 * It also prints p50/p99 of each request (check, challenge, assert, commit, confirm).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "vigil/crypto.h"
#include "vigil/ctl.h"
#include "vigil/util.h"

#define RP_ID "vigil.example.com"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[(size_t)((double)(n - 1) * p)] / 1000.0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int enroll(const char *keyfile)
{
	EVP_PKEY *k = NULL;
	struct vg_err err;
	uint8_t id[32];
	char *pem, *pub, *idb;
	json_t *o;
	FILE *f;

	if (vg_key_generate("ecdsa-p256", &k, &err) < 0 || RAND_bytes(id, sizeof(id)) != 1)
		return 1;
	pem = vg_key_private_pem(k);
	pub = vg_key_public_pem(k);
	idb = vg_b64_encode(id, sizeof(id), true);
	f = fopen(keyfile, "we");
	if (!f || !pem || !pub || !idb)
		return 1;
	fprintf(f, "%s\n%s", idb, pem);
	fclose(f);
	o = json_pack("{s:s, s:s, s:s, s:b}", "id", idb, "alg", "es256", "public_key", pub, "uv", 0);
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
	EVP_PKEY_free(k);
	free(pem);
	free(pub);
	free(idb);
	return 0;
}

static json_t *call(const char *sock, json_t *req)
{
	json_t *reply = NULL;
	struct vg_err err;
	char cmd[64];
	int r;

	snprintf(cmd, sizeof(cmd), "%s", json_string_value(json_object_get(req, "cmd")) ?: "request");
	r = vg_ctl_call(sock, req, &reply, 5000, &err);
	json_decref(req);
	if (r < 0 || !json_is_true(json_object_get(reply, "ok"))) {
		fprintf(stderr, "pam_bench: %s: %s\n", cmd, r < 0 ? err.msg : json_dumps(reply, JSON_COMPACT));
		exit(1);
	}
	return reply;
}

enum { S_CHECK, S_CHALLENGE, S_ASSERT, S_COMMIT, S_CONFIRM, NSTEPS };
static const char *const step_name[NSTEPS] = { "check", "challenge", "assert", "commit", "confirm" };

/* one timed request: its time goes to split[step][round] */
static json_t *timed(uint64_t **split, int step, size_t round, const char *sock, json_t *req)
{
	uint64_t t0 = now_us();
	json_t *reply = call(sock, req);

	split[step][round] = now_us() - t0;
	return reply;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ uint64_t *step = NULL, *base = NULL;
	uint64_t *split[NSTEPS];
	char *nl, *cred;
	uint8_t ad[37], msg[37 + 32];
	EVP_PKEY *k;
	size_t rounds;

	if (argc == 3 && strcmp(argv[1], "enroll") == 0)
		return enroll(argv[2]);
	if (argc != 5 || strcmp(argv[1], "run") != 0) {
		fprintf(stderr, "usage: pam_bench enroll KEYFILE | pam_bench run SOCKET KEYFILE ROUNDS\n");
		return 2;
	}
	rounds = strtoul(argv[4], NULL, 10);
	if (rounds < 2 || vg_read_file(argv[3], 65536, &buf, NULL) < 0 || !(nl = strchr(buf, '\n')))
		return 2;
	*nl = '\0';
	cred = buf;
	k = vg_key_from_pem(nl + 1, true);
	step = calloc(rounds, sizeof(*step));
	base = calloc(rounds, sizeof(*base));
	for (int j = 0; j < NSTEPS; j++)
		if (!(split[j] = calloc(rounds, sizeof(uint64_t))))
			return 1;
	if (!k || !step || !base)
		return 1;
	vg_sha256(RP_ID, strlen(RP_ID), ad);
	ad[32] = 0x01; /* user present */
	for (size_t i = 0; i < rounds; i++) {
		uint32_t ctr = (uint32_t)i + 1;
		_cleanup_free_ uint8_t *cdh = NULL, *sig = NULL;
		_cleanup_free_ char *adb = NULL, *sigb = NULL;
		size_t cdh_len = 0, sig_len = 0;
		json_t *ch, *g, *cm;
		uint64_t t0;

		t0 = now_us();
		json_decref(call(argv[2], json_pack("{s:s}", "cmd", "status")));
		base[i] = now_us() - t0;

		json_decref(timed(split, S_CHECK, i, argv[2],
				  json_pack("{s:s, s:s, s:s, s:b}", "cmd", "elevation.check", "user", "alice", "service",
					    "sudo", "use_grant", 1)));
		ch = timed(split, S_CHALLENGE, i, argv[2],
			   json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.challenge", "user", "alice", "service",
				     "sudo", "tty", "pts/0", "reason", "CHG-1 bench"));
		ad[33] = (uint8_t)(ctr >> 24);
		ad[34] = (uint8_t)(ctr >> 16);
		ad[35] = (uint8_t)(ctr >> 8);
		ad[36] = (uint8_t)ctr;
		if (vg_b64_decode(json_string_value(json_object_get(ch, "client_data_hash")), &cdh, &cdh_len) < 0 ||
		    cdh_len != 32)
			return 1;
		memcpy(msg, ad, sizeof(ad));
		memcpy(msg + sizeof(ad), cdh, 32);
		if (vg_sign(k, msg, sizeof(msg), &sig, &sig_len) < 0)
			return 1;
		adb = vg_b64_encode(ad, sizeof(ad), false);
		sigb = vg_b64_encode(sig, sig_len, false);
		g = timed(split, S_ASSERT, i, argv[2],
			  json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.assert", "challenge_id",
				    json_string_value(json_object_get(ch, "challenge_id")), "user", "alice", "service",
				    "sudo", "tty", "pts/0", "credential_id", cred, "auth_data", adb, "signature", sigb));
		/* pam_sm_setcred: the approval is recorded (audit), then confirmed into the grant (persisted, NSS) */
		cm = timed(split, S_COMMIT, i, argv[2],
			   json_pack("{s:s, s:s, s:s, s:s}", "cmd", "elevation.commit", "user", "alice", "service", "sudo",
				     "tty", "pts/0"));
		json_decref(timed(split, S_CONFIRM, i, argv[2],
				  json_pack("{s:s, s:s, s:s, s:s, s:s}", "cmd", "elevation.confirm", "user", "alice",
					    "service", "sudo", "tty", "pts/0", "confirm",
					    json_string_value(json_object_get(cm, "confirm")) ?: "")));
		json_decref(cm);
		for (int j = 0; j < NSTEPS; j++)
			step[i] += split[j][i];
		json_decref(ch);
		json_decref(g);
		json_decref(call(argv[2], json_pack("{s:s, s:s}", "cmd", "grants.revoke", "user", "alice")));
	}
	{
		double b50 = pct(base, rounds, 0.5), b99 = pct(base, rounds, 0.99);
		double s50 = pct(step, rounds, 0.5), s99 = pct(step, rounds, 0.99);

		printf("step-up (check+challenge+verify+posture+commit+confirm, touch excluded): p50 %.2f ms  p99 %.2f ms"
		       "  (target p99 < 20 ms: %s)\n",
		       s50, s99, s99 < 20.0 ? "met" : "NOT met");
		printf("  per request:");
		for (int j = 0; j < NSTEPS; j++)
			printf(" %s %.2f/%.2f", step_name[j], pct(split[j], rounds, 0.5), pct(split[j], rounds, 0.99));
		printf(" (p50/p99 ms)\n");
		printf("baseline (status round trip):                                  p50 %.2f ms  p99 %.2f ms\n",
		       b50, b99);
		printf("ratio step-up/baseline: p50 %.1fx  p99 %.1fx  (%zu rounds)\n", s50 / b50, s99 / b99, rounds);
		printf("bench-result: {\"measure\": \"pam.stepup_vs_status_roundtrip.p50\", \"value\": %.4f, "
		       "\"better\": \"lower\", \"baseline\": \"status round trip\", "
		       "\"reproduce\": \"make bench BENCH=pam\"}\n", s50 / b50);
	}
	for (int j = 0; j < NSTEPS; j++)
		free(split[j]);
	EVP_PKEY_free(k);
	return 0;
}
