/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigil-stepup: the administrator's workstation side of remote step-up
 * (docs/remote-stepup.md).
 *
 *   vigil-stepup [--timeout S] CODE|URL       sign a challenge with the local security key,
 *                                             print the answer code to paste at the prompt
 *   vigil-stepup enroll-check --rp-id ID --origin ORIGIN... CODE
 *                                             verify an enrollment code of the enrollment page
 *                                             and print the identity snippet for the bundle
 * Exit codes: 0 ok, 1 refused or failed, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <fido.h>
#include <openssl/crypto.h>

#include "vigil/fido_dev.h"
#include "vigil/relay.h"
#include "vigil/util.h"
#include "vigil/webauthn.h"

#define PIN_MAX 64
#define MAX_ORIGINS 16

static void usage(FILE *f)
{
	fprintf(f, "usage: vigil-stepup [--timeout SECONDS] CODE|URL\n"
		   "       vigil-stepup enroll-check --rp-id ID --origin ORIGIN [--origin ORIGIN...] CODE\n");
}

/* libfido2 1.12 returns authenticatorData wrapped in a CBOR byte string. */
static int unwrap_bstr(const uint8_t *p, size_t len, const uint8_t **raw, size_t *raw_len)
{
	size_t hdr = 1, n;
	uint8_t ai;

	if (len < 1 || (p[0] & 0xe0) != 0x40)
		return -EINVAL;
	ai = p[0] & 0x1f;
	if (ai < 24) {
		n = ai;
	} else if (ai == 24 && len >= 2) {
		hdr = 2;
		n = p[1];
	} else if (ai == 25 && len >= 3) {
		hdr = 3;
		n = (size_t)p[1] << 8 | p[2];
	} else {
		return -EINVAL;
	}
	if (hdr + n != len)
		return -EINVAL;
	*raw = p + hdr;
	*raw_len = n;
	return 0;
}

/* The PIN comes from the terminal with echo off, never from arguments or the environment. */
static int read_pin(char *pin, size_t cap)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	ssize_t n;
	size_t len = 0;
	char c;

	if (fd < 0)
		return -errno;
	if (write(fd, "Security key PIN: ", 18) < 0 || tcgetattr(fd, &old) < 0) {
		close(fd);
		return -EIO;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	while ((n = read(fd, &c, 1)) == 1 && c != '\n')
		if (len + 1 < cap)
			pin[len++] = c;
	pin[len] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		len = 0;
	close(fd);
	return len > 0 ? 0 : -EINVAL;
}

/* Shown before the key is touched: exactly the fields the challenge hash covers (and the RP). */
static void show_challenge(const struct vg_relay_challenge *c)
{
	char when[32];

	vg_time_format(c->expires, when);
	fprintf(stderr,
		"vigil step-up request\n  user:    %s\n  host:    %s\n  service: %s\n  reason:  %s\n  expires: %s\n"
		"  relying party: %s\n"
		"The key signs exactly these lines. Check them, then touch your security key.\n",
		c->user, c->host, c->service, c->reason[0] ? c->reason : "(none)", when, c->rp_id);
}

/* authenticatorData -> the answer's flags, counter and extensions (vigild rebuilds the rest). */
static int compact_authdata(const uint8_t *ad, size_t len, struct vg_relay_answer *a)
{
	if (len < 37 || (ad[32] & 0x40) || (!(ad[32] & 0x80) && len != 37) || len - 37 > sizeof(a->ext))
		return -EINVAL;
	a->flags = ad[32];
	a->counter = (uint32_t)ad[33] << 24 | (uint32_t)ad[34] << 16 | (uint32_t)ad[35] << 8 | ad[36];
	a->ext_len = len - 37;
	memcpy(a->ext, ad + 37, a->ext_len);
	return 0;
}

static int ask_key(const struct vg_relay_challenge *c, int timeout_s, fido_dev_t **dev, fido_assert_t **as)
{
	struct vg_err err = { 0 };
	char pin[PIN_MAX + 1] = "";
	int fr;

	fido_init(0);
	if (vg_fido_dev_open(NULL, dev, &err) < 0) {
		fprintf(stderr, "vigil-stepup: %s\n", err.msg);
		return -ENODEV;
	}
	*as = fido_assert_new();
	if (!*as || fido_assert_set_rp(*as, c->rp_id) != FIDO_OK ||
	    fido_assert_set_clientdata_hash(*as, c->hash, sizeof(c->hash)) != FIDO_OK ||
	    fido_assert_set_up(*as, FIDO_OPT_TRUE) != FIDO_OK ||
	    fido_assert_set_uv(*as, c->flags & VG_RELAY_F_UV ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) != FIDO_OK) {
		fprintf(stderr, "vigil-stepup: cannot build the assertion request\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->ncreds; i++)
		fido_assert_allow_cred(*as, c->creds[i].id, c->creds[i].len);
	fido_dev_set_timeout(*dev, timeout_s * 1000);
	fr = fido_dev_get_assert(*dev, *as, NULL);
	if (fr == FIDO_ERR_PIN_REQUIRED ||
	    (fr == FIDO_ERR_UNSUPPORTED_OPTION && (c->flags & VG_RELAY_F_UV) && fido_dev_has_pin(*dev))) {
		if (read_pin(pin, sizeof(pin)) == 0) {
			/* the PIN makes the user verified; the uv option itself is then omitted */
			fido_assert_set_uv(*as, FIDO_OPT_OMIT);
			fr = fido_dev_get_assert(*dev, *as, pin);
		}
		OPENSSL_cleanse(pin, sizeof(pin));
	}
	if (fr != FIDO_OK) {
		fprintf(stderr, "vigil-stepup: the security key refused: %s%s\n", fido_strerr(fr),
			fr == FIDO_ERR_NO_CREDENTIALS ? " (this key is not enrolled for that user)" : "");
		return -EPERM;
	}
	return 0;
}

static int sign(const char *text, int timeout_s)
{
	struct vg_relay_challenge *c = calloc(1, sizeof(*c));
	struct vg_relay_answer *a = calloc(1, sizeof(*a));
	fido_dev_t *dev = NULL;
	fido_assert_t *as = NULL;
	struct vg_err err = { 0 };
	const uint8_t *raw;
	size_t raw_len;
	char *code = NULL;
	int rc = 1;

	if (!c || !a)
		goto out;
	if (vg_relay_challenge_decode(text, c, &err) < 0) {
		fprintf(stderr, "vigil-stepup: %s\n", err.msg);
		goto out;
	}
	show_challenge(c);
	if (c->expires <= vg_now()) {
		fprintf(stderr, "vigil-stepup: this challenge has expired: ask the host for a new one\n");
		goto out;
	}
	if (ask_key(c, timeout_s, &dev, &as) < 0)
		goto out;
	if (fido_assert_count(as) != 1 ||
	    unwrap_bstr(fido_assert_authdata_ptr(as, 0), fido_assert_authdata_len(as, 0), &raw, &raw_len) < 0 ||
	    compact_authdata(raw, raw_len, a) < 0 || fido_assert_id_len(as, 0) == 0 ||
	    fido_assert_sig_len(as, 0) > sizeof(a->sig)) {
		fprintf(stderr, "vigil-stepup: unexpected assertion shape from the key\n");
		goto out;
	}
	a->kind = VG_RELAY_CTAP;
	memcpy(a->challenge_tag, c->nonce, sizeof(a->challenge_tag));
	vg_relay_tag(fido_assert_id_ptr(as, 0), fido_assert_id_len(as, 0), a->cred_tag);
	a->sig_len = fido_assert_sig_len(as, 0);
	memcpy(a->sig, fido_assert_sig_ptr(as, 0), a->sig_len);
	if (vg_relay_answer_encode(a, &code, &err) < 0) {
		fprintf(stderr, "vigil-stepup: no answer: %s\n", err.msg);
		goto out;
	}
	fprintf(stderr, "Paste this answer (%zu characters) at the prompt on %s:\n", strlen(code), c->host);
	printf("%s\n", code);
	rc = 0;
out:
	free(code);
	fido_assert_free(&as);
	vg_fido_dev_close(&dev);
	free(c);
	free(a);
	return rc;
}

static int enroll_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "rp-id", required_argument, NULL, 'r' },
		{ "origin", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *origins[MAX_ORIGINS];
	size_t norigins = 0;
	const char *rp_id = NULL;
	struct vg_relay_enrollment *en;
	struct vg_webauthn_enrollment e;
	struct vg_err err = { 0 };
	char *snip;
	int ch, rc = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'r') {
			rp_id = optarg;
		} else if (ch == 'o' && norigins < MAX_ORIGINS) {
			origins[norigins++] = optarg;
		} else {
			usage(ch == 'h' ? stdout : stderr);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (!rp_id || norigins == 0 || optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	en = calloc(1, sizeof(*en));
	if (!en)
		return 1;
	if (vg_relay_enrollment_decode(argv[optind], en, &err) < 0 ||
	    vg_webauthn_enroll(en->att, en->att_len, en->client_data, en->client_data_len, rp_id, origins, norigins, &e,
			       &err) < 0) {
		fprintf(stderr, "vigil-stepup: enrollment refused (%s): %s\n", err.code, err.msg);
		goto out;
	}
	snip = vg_webauthn_enrollment_snippet(&e);
	if (snip) {
		printf("%s\n", snip);
		rc = 0;
	}
	free(snip);
	vg_webauthn_enrollment_free(&e);
out:
	free(en);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int timeout_s = 60, ch;

	if (argc >= 2 && !strcmp(argv[1], "enroll-check"))
		return enroll_check(argc - 1, argv + 1);
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 't') {
			timeout_s = atoi(optarg);
			if (timeout_s < 1 || timeout_s > 600) {
				fprintf(stderr, "vigil-stepup: --timeout must be 1..600 seconds\n");
				return 2;
			}
		} else {
			usage(ch == 'h' ? stdout : stderr);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	return sign(argv[optind], timeout_s);
}
