// SPDX-License-Identifier: Apache-2.0
/*
 * vigilctl enroll: make a FIDO2 credential on the plugged-in security key and
 * print the identity snippet (one identity.users[].credentials[] object) the
 * security team signs into the bundle. docs/fido2.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <fido.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "vigil/assertion.h"
#include "vigil/fido_dev.h"
#include "vigil/util.h"
#include "vigilctl.h"

#define PIN_MAX 64
#define DEFAULT_TOUCH_TIMEOUT_S 30

struct enroll_opts {
	const char *user, *rp_id, *test_key; /* test_key: softfido state (test builds) */
	int alg;
	bool uv, pin_stdin;
	int timeout_s;
};

/* One line from f into buf without the newline; false on EOF/too long. */
static bool read_line(FILE *f, char *buf, size_t len)
{
	size_t n;

	if (!fgets(buf, (int)len, f))
		return false;
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == len - 1)
		return false; /* longer than any valid PIN */
	buf[n] = '\0';
	return true;
}

/* The key's PIN: from stdin (--pin-stdin) or typed on the terminal without echo. */
static int read_pin(bool from_stdin, char *pin, size_t len)
{
	struct termios old, quiet;
	FILE *tty;
	bool ok;

	if (from_stdin)
		return read_line(stdin, pin, len) && *pin ? 0 : -EINVAL;
	tty = fopen("/dev/tty", "r+e");
	if (!tty)
		return -ENOTTY;
	fputs("Security key PIN: ", tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	ok = read_line(tty, pin, len) && *pin;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	return ok ? 0 : -EINVAL;
}

static int parse_args(struct vgctl *c, int argc, char **argv, struct enroll_opts *o)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "rp-id", required_argument, NULL, 'r' },
		{ "alg", required_argument, NULL, 'a' },
		{ "uv", no_argument, NULL, 'U' },
		{ "pin-stdin", no_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
#if VIGIL_TEST_HOOKS
		{ "softfido", required_argument, NULL, 'S' },
#endif
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	o->alg = VG_COSE_ES256;
	o->timeout_s = DEFAULT_TOUCH_TIMEOUT_S;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "u:r:a:t:j", opts, NULL)) != -1) {
		switch (opt) {
		case 'u':
			o->user = optarg;
			break;
		case 'r':
			o->rp_id = optarg;
			break;
		case 'a':
			if (vg_cose_alg_parse(optarg, &o->alg) < 0) {
				vgctl_error("enroll: unknown --alg %s (es256, eddsa or rs256)", optarg);
				return -EINVAL;
			}
			break;
		case 'U':
			o->uv = true;
			break;
		case 'P':
			o->pin_stdin = true;
			break;
		case 't':
			o->timeout_s = atoi(optarg);
			if (o->timeout_s <= 0 || o->timeout_s > 600) {
				vgctl_error("enroll: --timeout takes 1..600 seconds");
				return -EINVAL;
			}
			break;
		case 'j':
			c->json = true;
			break;
		case 'S':
			o->test_key = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!o->user || optind != argc) {
		vgctl_error("usage: vigilctl enroll --user NAME --rp-id ID [--alg es256|eddsa|rs256] [--uv] "
			    "[--pin-stdin] [--timeout S] [--json]");
		return -EINVAL;
	}
	if (!vg_str_valid_name(o->user, 32)) {
		vgctl_error("enroll: '%s' is not a valid user name", o->user);
		return -EINVAL;
	}
	if (!o->rp_id || !*o->rp_id || strlen(o->rp_id) > 253 || strpbrk(o->rp_id, " /:")) {
		vgctl_error("enroll: --rp-id must be the bundle's elevation.rp_id (a domain name, e.g. vigil.example.com)");
		return -EINVAL;
	}
	return 0;
}

/* Proof the key holds the private key: check the attestation signature when there is one. */
static int check_attestation(fido_cred_t *cred)
{
	const char *fmt = fido_cred_fmt(cred);

	if (!fmt || strcmp(fmt, "none") == 0)
		return FIDO_OK;
	return fido_cred_x5c_len(cred) > 0 ? fido_cred_verify(cred) : fido_cred_verify_self(cred);
}

static json_t *snippet(const struct enroll_opts *o, const struct vg_authdata *ad, const char *pem)
{
	char *id = vg_b64_encode(ad->cred_id, ad->cred_id_len, true), aaguid[33], when[32], comment[160];
	json_t *j;

	if (!id)
		return NULL;
	vg_hex(ad->aaguid, sizeof(ad->aaguid), aaguid);
	vg_time_format(vg_now(), when);
	snprintf(comment, sizeof(comment), "%s, enrolled %s, authenticator %s", o->user, when, aaguid);
	j = json_pack("{s:s, s:s, s:s, s:b, s:s}", "id", id, "alg", vg_cose_alg_name(o->alg), "public_key", pem, "uv",
		      o->uv, "comment", comment);
	free(id);
	return j;
}

static int run_enroll(struct vgctl *c, int argc, char **argv)
{
	struct enroll_opts o;
	struct vg_err err = { 0 };
	struct vg_authdata ad;
	fido_dev_t *dev = NULL;
	fido_cred_t *cred = NULL;
	unsigned char challenge[32], cdh[32], user_id[16];
	uint8_t want_rp[32];
	char pin[PIN_MAX + 1] = "", *pem = NULL;
	json_t *out = NULL;
	int r, fr, alg = 0, ret = VGCTL_EXIT_FAIL;

	if (parse_args(c, argc, argv, &o) < 0)
		return VGCTL_EXIT_USAGE;
	if (vg_fido_dev_open(o.test_key, &dev, &err) < 0) {
		vgctl_error("enroll: %s", err.msg);
		return VGCTL_EXIT_FAIL;
	}
	/* CTAP 2.0 keys with a PIN refuse makeCredential without it */
	if (fido_dev_has_pin(dev)) {
		if (read_pin(o.pin_stdin, pin, sizeof(pin)) < 0) {
			vgctl_error("enroll: the key has a PIN: type it, or pass it on stdin with --pin-stdin");
			goto out;
		}
	} else if (o.uv && !fido_dev_has_uv(dev)) {
		vgctl_error("enroll: --uv needs a key with a PIN or built-in verification; set a PIN first "
			    "(fido2-token -S DEVICE)");
		goto out;
	}
	/* the challenge only proves freshness here: nobody keeps it */
	if (RAND_bytes(challenge, sizeof(challenge)) != 1 || RAND_bytes(user_id, sizeof(user_id)) != 1) {
		vgctl_error("enroll: no randomness available");
		goto out;
	}
	vg_sha256(challenge, sizeof(challenge), cdh);
	cred = fido_cred_new();
	if (!cred || fido_cred_set_type(cred, o.alg) != FIDO_OK ||
	    fido_cred_set_clientdata_hash(cred, cdh, sizeof(cdh)) != FIDO_OK ||
	    fido_cred_set_rp(cred, o.rp_id, "vigil") != FIDO_OK ||
	    fido_cred_set_user(cred, user_id, sizeof(user_id), o.user, o.user, NULL) != FIDO_OK ||
	    fido_cred_set_uv(cred, o.uv && !*pin ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) != FIDO_OK) {
		vgctl_error("enroll: cannot build the credential request");
		goto out;
	}
	fido_dev_set_timeout(dev, o.timeout_s * 1000);
	fprintf(stderr, "Touch your security key to enroll it for %s (%s)...\n", o.user, o.rp_id);
	fr = fido_dev_make_cred(dev, cred, *pin ? pin : NULL);
	if (fr != FIDO_OK) {
		vgctl_error("enroll: the key refused to make a credential: %s%s", fido_strerr(fr),
			    fr == FIDO_ERR_USER_ACTION_TIMEOUT || fr == FIDO_ERR_RX ? " (nobody touched the key?)" :
			    fr == FIDO_ERR_UNSUPPORTED_ALGORITHM ? " (try another --alg)" : "");
		goto out;
	}
	if ((fr = check_attestation(cred)) != FIDO_OK) {
		vgctl_error("enroll: the key's attestation does not verify (%s); do not use this key", fido_strerr(fr));
		goto out;
	}
	r = vg_authdata_parse(fido_cred_authdata_raw_ptr(cred), fido_cred_authdata_raw_len(cred), &ad, &err);
	vg_sha256(o.rp_id, strlen(o.rp_id), want_rp);
	if (r == 0 && (!(ad.flags & VG_AD_AT) || !(ad.flags & VG_AD_UP) || memcmp(ad.rp_id_hash, want_rp, 32) != 0))
		r = vg_err_set(&err, EBADMSG, "authdata_malformed", "authenticatorData",
			       "the key returned a credential without presence, key or for another rp id");
	if (r == 0 && o.uv && !(ad.flags & VG_AD_UV))
		r = vg_err_set(&err, EPERM, "user_not_verified", "authenticatorData.flags",
			       "--uv was asked but the key did not verify the user");
	if (r == 0)
		r = vg_cose_key_to_pem(ad.cose_key, ad.cose_key_len, &alg, &pem, &err);
	if (r == 0 && alg != o.alg)
		r = vg_err_set(&err, EINVAL, "cose_key_invalid", "credentialPublicKey",
			       "the key made a %s credential, %s was asked", vg_cose_alg_name(alg) ?: "unknown",
			       vg_cose_alg_name(o.alg));
	if (r < 0) {
		vgctl_error("enroll: %s", err.msg);
		goto out;
	}
	out = snippet(&o, &ad, pem);
	if (!out) {
		vgctl_error("enroll: out of memory");
		goto out;
	}
	if (c->json) {
		char *s = json_dumps(out, JSON_COMPACT);

		if (!s)
			goto out;
		printf("%s\n", s);
		free(s);
	} else {
		char *s = json_dumps(out, JSON_INDENT(2));

		if (!s)
			goto out;
		printf("Enrolled a new %s credential for %s (rp id %s%s).\n"
		       "Add this object to the credentials of user \"%s\" in the bundle's identity.users,\n"
		       "then sign and push the bundle (vigilctl policy sign / push):\n\n%s\n",
		       vg_cose_alg_name(o.alg), o.user, o.rp_id, o.uv ? ", user verification required" : "", o.user,
		       s);
		free(s);
	}
	ret = VGCTL_EXIT_OK;
out:
	OPENSSL_cleanse(pin, sizeof(pin));
	json_decref(out);
	free(pem);
	fido_cred_free(&cred);
	vg_fido_dev_close(&dev);
	return ret;
}

const struct vgctl_cmd vgctl_fido_cmds[] = {
	{ "enroll", "--user NAME --rp-id ID [--alg es256|eddsa|rs256] [--uv] [--pin-stdin] [--timeout S]",
	  "make a credential on the security key; print its bundle snippet", run_enroll },
	{ NULL, NULL, NULL, NULL },
};
