/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl emergency sign|verify|push|show|release (docs/emergency.md, docs/vigilctl.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/emergency.h"
#include "vigil/util.h"
#include "vigilctl.h"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static int read_doc(const char *path, const char *sigpath, char **buf, size_t *len, char **sig, size_t *siglen)
{
	char defsig[4096];
	int r;

	if ((r = vg_read_file(path, VG_EMERGENCY_MAX_BYTES, buf, len)) < 0) {
		vgctl_error("%s: %s", path, r == -EFBIG ? "larger than 64 KiB, the limit of an emergency document" : strerror(-r));
		return VGCTL_EXIT_FAIL;
	}
	if (!sigpath) {
		snprintf(defsig, sizeof(defsig), "%s.sig", path);
		sigpath = defsig;
	}
	/* a missing signature is sent anyway: vigild refuses it ("unsigned") and audits the attempt */
	if (vg_read_file(sigpath, VG_SIG_MAX_BYTES, sig, siglen) < 0) {
		*sig = strdup("");
		*siglen = 0;
	}
	return 0;
}

static const char *sig_option(int argc, char **argv)
{
	static const struct option opts[] = { { "sig", required_argument, NULL, 's' },
					      { "trust", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	const char *sig = NULL;
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "s:t:", opts, NULL)) != -1)
		if (o == 's')
			sig = optarg;
	return sig;
}

static int cmd_sign(struct vgctl *c, int argc, char **argv)
{
	return vgctl_sign_file(c, argc, argv, VG_SIG_DOMAIN_EMERGENCY, "emergency");
}

static void print_actions(json_t *actions)
{
	size_t i;
	json_t *a;

	json_array_foreach(actions, i, a) {
		printf("  %-10s %-24s %s", str(a, "action"),
		       json_object_get(a, "tenant") ? str(a, "tenant") : json_object_get(a, "target") ? str(a, "target") : "",
		       str(a, "result"));
		if (json_object_get(a, "error"))
			printf(": %s [%s]", str(a, "error"), str(a, "code"));
		printf("\n");
	}
}

/* Offline: signatures against a trust file, schema and time (vigild checks scope and counter too). */
static int cmd_verify(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "trust", required_argument, NULL, 't' },
					      { "sig", required_argument, NULL, 's' },
					      { NULL, 0, NULL, 0 } };
	const char *trustpath = "/etc/vigil/trust.json", *sigpath = NULL;
	_cleanup_free_ char *buf = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	struct vg_trust *t = NULL;
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };
	char until[32];
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "t:s:", opts, NULL)) != -1) {
		if (o == 't')
			trustpath = optarg;
		else if (o == 's')
			sigpath = optarg;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		vgctl_error("usage: vigilctl emergency verify [--trust trust.json] [--sig FILE.sig] FILE");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = read_doc(argv[optind], sigpath, &buf, &len, &sig, &siglen)) != 0)
		return r;
	if (vg_trust_read(trustpath, &t, &err) == 0 && vg_emergency_verify(t, buf, len, sig, siglen, &e, &err) == 0)
		vg_emergency_check_time(e, vg_now(), 0, &err);
	vg_trust_free(t);
	if (err.code[0]) {
		if (c->json) {
			json_t *j = json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "code", err.code, "message", err.msg, "path",
					      err.path);
			vgctl_print_json(c, j);
			json_decref(j);
		} else {
			vgctl_error("%s: %s%s%s [%s]", argv[optind], err.path, err.path[0] ? ": " : "", err.msg, err.code);
		}
		vg_emergency_free(e);
		return VGCTL_EXIT_VERIFY;
	}
	vg_time_format(e->expires_at, until);
	if (c->json)
		printf("{\"ok\": true, \"counter\": %lld, \"doc_digest\": \"%s\", \"expires_at\": \"%s\", \"actions\": %zu}\n",
		       (long long)e->counter, e->digest, until, e->nactions);
	else
		printf("OK: %s counter %lld, digest %s, expires %s, %zu action(s): %s\n", argv[optind],
		       (long long)e->counter, e->digest, until, e->nactions, e->reason);
	vg_emergency_free(e);
	return 0;
}

static int cmd_push(struct vgctl *c, int argc, char **argv)
{
	const char *sigpath = sig_option(argc, argv);
	_cleanup_free_ char *buf = NULL, *sig = NULL, *b1 = NULL, *b2 = NULL;
	size_t len = 0, siglen = 0;
	json_t *reply;
	int r;

	if (optind != argc - 1) {
		vgctl_error("usage: vigilctl emergency push FILE [--sig FILE.sig]");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = read_doc(argv[optind], sigpath, &buf, &len, &sig, &siglen)) != 0)
		return r;
	b1 = vg_b64_encode((uint8_t *)buf, len, false);
	b2 = vg_b64_encode((uint8_t *)sig, siglen, false);
	if (!b1 || !b2)
		return VGCTL_EXIT_FAIL;
	if ((r = vgctl_call(c, json_pack("{s:s, s:s, s:s}", "cmd", "emergency.push", "doc", b1, "sig", b2), &reply)))
		return r;
	if (!vgctl_print_json(c, reply)) {
		printf("emergency document %lld: %s\n", (long long)json_integer_value(json_object_get(reply, "counter")),
		       str(reply, "result"));
		print_actions(json_object_get(reply, "actions"));
	}
	r = !strcmp(str(reply, "result"), "applied") || !strcmp(str(reply, "result"), "unchanged") ? 0 : VGCTL_EXIT_FAIL;
	json_decref(reply);
	return r;
}

static int cmd_show(struct vgctl *c, int argc, char **argv)
{
	json_t *reply, *q;
	size_t i;
	int r;

	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "emergency.show"), &reply)))
		return r;
	if (!vgctl_print_json(c, reply)) {
		printf("highest counter applied: %lld\n", (long long)json_integer_value(json_object_get(reply, "highest_counter")));
		json_array_foreach(json_object_get(reply, "quarantined"), i, q)
			printf("quarantined: tenant %s (id %s, %lld allowed destination(s)) by document %lld until %s: %s\n",
			       str(q, "tenant"), str(q, "id"), (long long)json_integer_value(json_object_get(q, "allow")),
			       (long long)json_integer_value(json_object_get(q, "counter")), str(q, "expires_at"),
			       str(q, "reason"));
		if ((q = json_object_get(reply, "freeze")))
			printf("elevation frozen by document %lld until %s: %s\n",
			       (long long)json_integer_value(json_object_get(q, "counter")), str(q, "expires_at"),
			       str(q, "reason"));
		else
			printf("elevation: not frozen\n");
		if ((q = json_object_get(reply, "enforce_error")))
			printf("ENFORCEMENT ERROR: %s [%s]\n", str(q, "message"), str(q, "code"));
	}
	json_decref(reply);
	return 0;
}

/* A release document, to be signed (emergency sign) and pushed or published like any other. */
static int cmd_release(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tenant", required_argument, NULL, 't' }, { "quarantine", required_argument, NULL, 'q' },
		{ "freeze", no_argument, NULL, 'f' },	     { "counter", required_argument, NULL, 'n' },
		{ "hosts", required_argument, NULL, 'H' },   { "expires-in", required_argument, NULL, 'e' },
		{ "reason", required_argument, NULL, 'r' },  { "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *val = NULL, *hosts = "*", *reason = NULL, *out = NULL;
	long long counter = (long long)vg_now(), expires_in = 3600;
	_cleanup_free_ char *text = NULL;
	struct vg_emergency *e = NULL;
	struct vg_err err = { 0 };
	char t1[32], t2[32];
	json_t *doc, *action;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "t:q:fn:H:e:r:o:", opts, NULL)) != -1) {
		switch (o) {
		case 't': key = "tenant"; val = optarg; break;
		case 'q': key = "quarantine"; val = optarg; break;
		case 'f': key = "freeze"; break;
		case 'n': counter = atoll(optarg); break;
		case 'H': hosts = optarg; break;
		case 'e': expires_in = atoll(optarg); break;
		case 'r': reason = optarg; break;
		case 'o': out = optarg; break;
		default: return VGCTL_EXIT_USAGE;
		}
	}
	if (!key || !reason || !out || optind != argc || expires_in < 1) {
		vgctl_error("usage: vigilctl emergency release (--tenant T | --quarantine ID | --freeze) --reason TEXT "
			    "--out FILE [--counter N] [--hosts GLOB] [--expires-in SECONDS]");
		return VGCTL_EXIT_USAGE;
	}
	vg_time_format(vg_now(), t1);
	vg_time_format(vg_now() + expires_in, t2);
	action = val ? json_pack("{s:s, s:s}", "action", "release", key, val) : json_pack("{s:s, s:b}", "action", "release", key, 1);
	doc = json_pack("{s:I, s:s, s:s, s:s, s:{s:[s]}, s:[o]}", "counter", (json_int_t)counter, "issued_at", t1,
			"expires_at", t2, "reason", reason, "scope", "hosts", hosts, "actions", action);
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	/* what vigild would refuse is refused here, before anyone signs it */
	if (!text || (r = vg_emergency_parse(text, strlen(text), &e, &err)) < 0) {
		vgctl_error("%s%s%s [%s]", err.path, err.path[0] ? ": " : "", err.msg, err.code);
		return VGCTL_EXIT_FAIL;
	}
	vg_emergency_free(e);
	if (vg_write_file_atomic(out, text, strlen(text), 0644) < 0) {
		vgctl_error("cannot write %s", out);
		return VGCTL_EXIT_FAIL;
	}
	if (!c->json)
		printf("wrote release document %s (counter %lld): sign it with vigilctl emergency sign --key KEY %s\n", out,
		       counter, out);
	return 0;
}

const struct vgctl_cmd vgctl_emergency_cmds[] = {
	{ "emergency sign", "--key KEY FILE", "add KEY's emergency signature to FILE.sig", cmd_sign },
	{ "emergency verify", "[--trust T] [--sig S] FILE", "check an emergency document's signatures, schema, expiry",
	  cmd_verify },
	{ "emergency push", "FILE [--sig SIG]", "send a signed emergency document to vigild (admins)", cmd_push },
	{ "emergency show", "", "the emergency measures in force: quarantines, freeze (admins)", cmd_show },
	{ "emergency release", "(--tenant T|--quarantine ID|--freeze) --reason TEXT --out FILE",
	  "write a release document to sign and push", cmd_release },
	{ NULL, NULL, NULL, NULL },
};
