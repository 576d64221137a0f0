/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl posture, posture report, posture verify (docs/posture.md). verify is offline. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/crypto.h"
#include "vigil/hostkey.h"
#include "vigil/util.h"
#include "vigilctl.h"

#define REPORT_FILE_MAX (4u << 20)
#define REPORT_FORMAT "vigil-posture-report/2"

static const char *str(json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : dflt;
}

static void print_age(json_int_t s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
}

/* The human view of a report: headline, one line per check, then why it fails. */
static void print_report(json_t *rep, bool verbose)
{
	static const char *const order[] = { "edr", "disk_encryption", "patch_age", "secure_boot", "kernel_lockdown",
					     "kernel_taint", NULL };
	json_t *checks = json_object_get(rep, "checks"), *reasons = json_object_get(rep, "reasons"), *r;
	bool pass = !strcmp(str(rep, "verdict", ""), "pass");
	json_t *ver = json_object_get(rep, "policy_version");
	char policy[32] = "(none)";
	size_t i;

	if (json_is_integer(ver))
		snprintf(policy, sizeof(policy), "v%lld", (long long)json_integer_value(ver));
	printf("posture: %s  environment %s, policy %s, host %s%s\n", pass ? "PASS" : "FAIL",
	       str(rep, "environment", "(none)"), policy, str(rep, "host", "?"),
	       json_is_true(json_object_get(rep, "stale")) ? ", STALE" : "");
	printf("evaluated at %s\n\n", str(rep, "evaluated_at", "?"));
	printf("%-16s %-8s %-9s %-5s %s\n", "CHECK", "RESULT", "REQUIRED", "AGE", "SUMMARY");
	for (i = 0; order[i]; i++) {
		json_t *c = json_object_get(checks, order[i]);
		char age[16];

		if (!c)
			continue;
		print_age(json_integer_value(json_object_get(c, "age_s")), age, sizeof(age));
		printf("%-16s %-8s %-9s %-5s %s\n", order[i], str(c, "result", "?"),
		       json_is_true(json_object_get(c, "informational")) ? "info"
		       : json_is_true(json_object_get(c, "required"))	 ? "yes"
									 : "no",
		       age, str(c, "summary", ""));
		if (verbose) {
			char *ev = json_dumps(json_object_get(c, "evidence"), JSON_COMPACT | JSON_SORT_KEYS);

			printf("%-16s evidence %s\n", "", ev ? ev : "{}");
			free(ev);
		}
	}
	if (json_array_size(reasons)) {
		printf("\nwhy it fails:\n");
		json_array_foreach(reasons, i, r)
			printf("  - %s\n", str(r, "message", "?"));
	}
}

static int cmd_posture(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "refresh", no_argument, NULL, 'r' },
					      { "verbose", no_argument, NULL, 'v' },
					      { NULL, 0, NULL, 0 } };
	bool refresh = false, verbose = false;
	json_t *reply;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "rv", opts, NULL)) != -1) {
		if (o == 'r')
			refresh = true;
		else if (o == 'v')
			verbose = true;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (optind != argc) {
		vgctl_error("usage: vigilctl posture [--refresh] [--verbose] [--json]");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s, s:b}", "cmd", "posture", "refresh", refresh), &reply)))
		return r;
	json_object_del(reply, "ok");
	if (!vgctl_print_json(c, reply))
		print_report(reply, verbose);
	/* scripts can gate on the verdict: vigilctl posture >/dev/null && ... */
	r = strcmp(str(reply, "verdict", ""), "pass") ? VGCTL_EXIT_FAIL : VGCTL_EXIT_OK;
	json_decref(reply);
	return r;
}

static int cmd_report(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "sign", no_argument, NULL, 's' },
					      { "out", required_argument, NULL, 'o' },
					      { "nonce", required_argument, NULL, 'n' },
					      { "refresh", no_argument, NULL, 'r' },
					      { NULL, 0, NULL, 0 } };
	const char *out = NULL, *nonce = NULL;
	bool sign = false, refresh = false;
	_cleanup_free_ char *text = NULL;
	json_t *reply, *req;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "so:n:r", opts, NULL)) != -1) {
		if (o == 's')
			sign = true;
		else if (o == 'o')
			out = optarg;
		else if (o == 'n')
			nonce = optarg;
		else if (o == 'r')
			refresh = true;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (optind != argc || (nonce && !sign)) {
		vgctl_error("usage: vigilctl posture report [--sign [--nonce N]] [--refresh] [-o FILE]");
		return VGCTL_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:b}", "cmd", sign ? "posture.report" : "posture", "refresh", refresh);
	if (nonce)
		json_object_set_new(req, "nonce", json_string(nonce));
	if ((r = vgctl_call(c, req, &reply)))
		return r;
	json_object_del(reply, "ok");
	text = json_dumps(reply, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		json_decref(reply);
		vgctl_error("cannot encode the report");
		return VGCTL_EXIT_FAIL;
	}
	if (!out) {
		printf("%s\n", text);
	} else {
		_cleanup_free_ char *line = NULL;

		r = asprintf(&line, "%s\n", text) < 0 ? -ENOMEM : vg_write_file_atomic(out, line, strlen(line), 0644);
		if (r < 0) {
			vgctl_error("cannot write %s: %s", out, strerror(-r));
			json_decref(reply);
			return VGCTL_EXIT_FAIL;
		}
		if (sign)
			fprintf(stderr, "signed posture report written to %s (key id %s); check it with: "
					"vigilctl posture verify %s --pubkey HOST.pub\n",
				out, str(reply, "key_id", "?"), out);
	}
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

static int verify_failed(const char *file, const char *why)
{
	vgctl_error("%s: %s", file, why);
	return VGCTL_EXIT_VERIFY;
}

static int cmd_verify(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "pubkey", required_argument, NULL, 'p' },
					      { "nonce", required_argument, NULL, 'n' },
					      { "max-age", required_argument, NULL, 'm' },
					      { NULL, 0, NULL, 0 } };
	const char *pubfile = NULL, *nonce = NULL, *file, *report, *sig_b64, *gen;
	_cleanup_free_ char *buf = NULL, *pem = NULL;
	_cleanup_free_ uint8_t *sig = NULL;
	json_t *env = NULL, *rep = NULL;
	EVP_PKEY *key = NULL;
	long max_age = -1;
	size_t siglen;
	time_t generated;
	char kid[17];
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "p:n:m:", opts, NULL)) != -1) {
		if (o == 'p')
			pubfile = optarg;
		else if (o == 'n')
			nonce = optarg;
		else if (o == 'm')
			max_age = strtol(optarg, NULL, 10);
		else
			return VGCTL_EXIT_USAGE;
	}
	if (optind != argc - 1 || !pubfile || max_age == 0 || max_age < -1) {
		vgctl_error("usage: vigilctl posture verify FILE --pubkey HOST.pub [--nonce N] [--max-age SECONDS]");
		return VGCTL_EXIT_USAGE;
	}
	file = argv[optind];
	if ((r = vg_read_file(pubfile, 64 << 10, &pem, NULL)) < 0 || !(key = vg_key_from_pem(pem, false))) {
		vgctl_error("%s: %s", pubfile, r < 0 ? strerror(-r) : "not an Ed25519 or ECDSA P-256 public key (PEM)");
		return VGCTL_EXIT_USAGE;
	}
	r = VGCTL_EXIT_VERIFY;
	if ((o = vg_read_file(file, REPORT_FILE_MAX, &buf, NULL)) < 0) {
		vgctl_error("%s: %s", file, o == -EFBIG ? "file too large for a posture report" : strerror(-o));
		r = VGCTL_EXIT_FAIL;
		goto out;
	}
	env = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	report = json_string_value(json_object_get(env, "report"));
	sig_b64 = json_string_value(json_object_get(env, "signature"));
	if (!report || !sig_b64 || strcmp(str(env, "format", ""), REPORT_FORMAT)) {
		r = verify_failed(file, "not a signed posture report (" REPORT_FORMAT ")");
		goto out;
	}
	if (vg_b64_decode(sig_b64, &sig, &siglen) < 0 || vg_hostkey_verify(key, VG_HOSTKEY_POSTURE_REPORT, report, strlen(report), sig, siglen) < 0) {
		vg_key_id(key, kid);
		vgctl_error("%s: the signature does not verify with %s (key id %s; the report names key id %s)", file,
			    pubfile, kid, str(env, "key_id", "?"));
		goto out;
	}
	rep = json_loads(report, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(rep)) {
		r = verify_failed(file, "the signed content is not a posture report");
		goto out;
	}
	if (nonce && strcmp(str(rep, "nonce", ""), nonce)) {
		r = verify_failed(file, "the report answers another nonce: it is not the one you asked for");
		goto out;
	}
	gen = str(rep, "generated_at", "");
	if (max_age > 0 && (vg_time_parse(gen, &generated) < 0 || vg_now() - generated > max_age)) {
		r = verify_failed(file, "the report is older than --max-age");
		goto out;
	}
	if (!vgctl_print_json(c, rep)) {
		printf("signature ok: posture report of %s generated at %s\n", str(rep, "host", "?"), gen);
		print_report(rep, false);
	}
	r = VGCTL_EXIT_OK;
out:
	json_decref(env);
	json_decref(rep);
	EVP_PKEY_free(key);
	return r;
}

const struct vgctl_cmd vgctl_posture_cmds[] = {
	{ "posture", "[--refresh] [--verbose]", "device posture: each check, its evidence, the verdict and why (exit 1 "
						"when it fails)", cmd_posture },
	{ "posture report", "[--sign [--nonce N]] [--refresh] [-o FILE]",
	  "the posture report as JSON; --sign: signed with the host key", cmd_report },
	{ "posture verify", "FILE --pubkey HOST.pub [--nonce N] [--max-age S]",
	  "check a signed posture report offline (exit 4 when it does not verify)", cmd_verify },
	{ NULL, NULL, NULL, NULL },
};
