// SPDX-License-Identifier: Apache-2.0
/*
 * softfido's persistent state: one text file ("key value" lines, one "cred"
 * line per credential with its private key as hex DER) replaced atomically,
 * and a PATH.lock flock so concurrent processes see one counter.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "internal.h"
#include "softfido.h"

#define SF_LINE_MAX 16384
#define SF_MAGIC "softfido-state 1"

int sf_state_lock(const char *path, struct sf_lock *lk)
{
	char lpath[4096];

	if (snprintf(lpath, sizeof(lpath), "%s.lock", path) >= (int)sizeof(lpath))
		return -ENAMETOOLONG;
	lk->fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lk->fd < 0)
		return -errno;
	if (flock(lk->fd, LOCK_EX) < 0) {
		int r = -errno;

		close(lk->fd);
		lk->fd = -1;
		return r;
	}
	return 0;
}

void sf_state_unlock(struct sf_lock *lk)
{
	if (lk->fd >= 0)
		close(lk->fd);
	lk->fd = -1;
}

void sf_state_defaults(struct sf_state *st)
{
	memset(st, 0, sizeof(*st));
	st->touch = true;
	st->notouch_ms = 1500;
	st->pin_retries = SF_PIN_RETRIES;
}

void sf_state_free(struct sf_state *st)
{
	for (size_t i = 0; i < st->ncreds; i++)
		EVP_PKEY_free(st->creds[i].key);
	st->ncreds = 0;
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode exactly strlen(hex)/2 bytes into out (max cap); returns the length or -1 */
static long hex_decode(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (long)(n / 2);
}

static int parse_cred(char *rest, struct sf_cred *c)
{
	char *idhex = strtok(rest, " "), *alg = strtok(NULL, " "), *rp = strtok(NULL, " ");
	char *uid = strtok(NULL, " "), *der = strtok(NULL, " \n");
	uint8_t buf[SF_LINE_MAX / 2];
	const uint8_t *p = buf;
	long n;

	memset(c, 0, sizeof(*c));
	if (!idhex || !alg || !rp || !uid || !der || strlen(rp) >= sizeof(c->rp_id))
		return -EINVAL;
	if (hex_decode(idhex, c->id, sizeof(c->id)) != SF_CRED_ID_LEN)
		return -EINVAL;
	c->alg = atoi(alg);
	strcpy(c->rp_id, rp);
	if (strcmp(uid, "-") != 0) {
		n = hex_decode(uid, c->user_id, sizeof(c->user_id));
		if (n < 0)
			return -EINVAL;
		c->user_id_len = (size_t)n;
	}
	n = hex_decode(der, buf, sizeof(buf));
	if (n <= 0)
		return -EINVAL;
	c->key = d2i_AutoPrivateKey(NULL, &p, n);
	ERR_clear_error();
	return c->key ? 0 : -EINVAL;
}

int sf_state_load(const char *path, struct sf_state *st)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	int r = -EINVAL;

	sf_state_defaults(st);
	if (!f)
		return -errno;
	line = malloc(SF_LINE_MAX);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	if (!fgets(line, SF_LINE_MAX, f) || strncmp(line, SF_MAGIC, strlen(SF_MAGIC)) != 0)
		goto out;
	while (fgets(line, SF_LINE_MAX, f)) {
		char *val = strchr(line, ' ');

		if (!val)
			goto out;
		*val++ = '\0';
		val[strcspn(val, "\n")] = '\0';
		if (strcmp(line, "cred") == 0) {
			if (st->ncreds >= SF_MAX_CREDS || parse_cred(val, &st->creds[st->ncreds]) < 0)
				goto out;
			st->ncreds++;
		} else if (strcmp(line, "aaguid") == 0) {
			if (hex_decode(val, st->aaguid, sizeof(st->aaguid)) != sizeof(st->aaguid))
				goto out;
		} else if (strcmp(line, "pin_hash") == 0) {
			st->has_pin = strcmp(val, "-") != 0;
			if (st->has_pin && hex_decode(val, st->pin_hash, sizeof(st->pin_hash)) != sizeof(st->pin_hash))
				goto out;
		} else if (strcmp(line, "pin_retries") == 0) {
			st->pin_retries = (unsigned)strtoul(val, NULL, 10);
		} else if (softfido_set_in(st, line, val) < 0) {
			goto out;
		}
	}
	r = 0;
out:
	free(line);
	fclose(f);
	if (r < 0)
		sf_state_free(st);
	return r;
}

static int write_cred(FILE *f, const struct sf_cred *c)
{
	unsigned char *der = NULL;
	char idhex[2 * SF_CRED_ID_LEN + 1], uid[2 * sizeof(c->user_id) + 1];
	char *hex;
	int n = i2d_PrivateKey(c->key, &der);

	if (n <= 0)
		return -EINVAL;
	hex = malloc(2 * (size_t)n + 1);
	if (!hex) {
		OPENSSL_free(der);
		return -ENOMEM;
	}
	hex_encode(der, (size_t)n, hex);
	hex_encode(c->id, SF_CRED_ID_LEN, idhex);
	if (c->user_id_len)
		hex_encode(c->user_id, c->user_id_len, uid);
	else
		strcpy(uid, "-");
	fprintf(f, "cred %s %d %s %s %s\n", idhex, c->alg, c->rp_id, uid, hex);
	free(hex);
	OPENSSL_free(der);
	return 0;
}

int sf_state_save(const char *path, const struct sf_state *st)
{
	char tmp[4096], hex[65];
	FILE *f;
	int r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", SF_MAGIC);
	hex_encode(st->aaguid, sizeof(st->aaguid), hex);
	fprintf(f, "aaguid %s\n", hex);
	fprintf(f, "counter %u\n", st->counter);
	fprintf(f, "touch %s\n", st->touch ? "yes" : "no");
	fprintf(f, "notouch_ms %u\n", st->notouch_ms);
	fprintf(f, "uv %s\n", st->uv == SF_UV_ON ? "on" : st->uv == SF_UV_FAIL ? "fail" : "off");
	fprintf(f, "counter_mode %s\n", st->counter_mode == SF_COUNTER_FROZEN ? "frozen" :
					 st->counter_mode == SF_COUNTER_ZERO ? "zero" : "increment");
	fprintf(f, "wrong_key %s\n", st->wrong_key ? "yes" : "no");
	fprintf(f, "attestation %s\n", st->attest_none ? "none" : "packed");
	if (st->has_pin)
		hex_encode(st->pin_hash, sizeof(st->pin_hash), hex);
	fprintf(f, "pin_hash %s\n", st->has_pin ? hex : "-");
	fprintf(f, "pin_retries %u\n", st->pin_retries);
	for (size_t i = 0; i < st->ncreds && r == 0; i++)
		r = write_cred(f, &st->creds[i]);
	/* no fsync: a test key hands the next process its state (rename under the lock), it need not
	 * survive a power cut; an fsync per touch was disk time in every step-up measured through it */
	if (fflush(f) != 0)
		r = r ? r : -errno;
	if (fclose(f) != 0)
		r = r ? r : -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static int parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_u32(const char *v, uint32_t *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || errno || n > UINT32_MAX || *v == '-')
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

int softfido_set_in(struct sf_state *st, const char *key, const char *value)
{
	if (strcmp(key, "touch") == 0)
		return parse_bool(value, &st->touch);
	if (strcmp(key, "wrong_key") == 0)
		return parse_bool(value, &st->wrong_key);
	if (strcmp(key, "notouch_ms") == 0)
		return parse_u32(value, &st->notouch_ms);
	if (strcmp(key, "counter") == 0)
		return parse_u32(value, &st->counter);
	if (strcmp(key, "uv") == 0) {
		if (strcmp(value, "off") == 0)
			st->uv = SF_UV_OFF;
		else if (strcmp(value, "on") == 0)
			st->uv = SF_UV_ON;
		else if (strcmp(value, "fail") == 0)
			st->uv = SF_UV_FAIL;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(key, "counter_mode") == 0) {
		if (strcmp(value, "increment") == 0)
			st->counter_mode = SF_COUNTER_INCREMENT;
		else if (strcmp(value, "frozen") == 0)
			st->counter_mode = SF_COUNTER_FROZEN;
		else if (strcmp(value, "zero") == 0)
			st->counter_mode = SF_COUNTER_ZERO;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(key, "attestation") == 0) {
		if (strcmp(value, "none") != 0 && strcmp(value, "packed") != 0)
			return -EINVAL;
		st->attest_none = strcmp(value, "none") == 0;
		return 0;
	}
	if (strcmp(key, "pin") == 0) {
		uint8_t h[SHA256_DIGEST_LENGTH];

		if (strcmp(value, "-") == 0) {
			st->has_pin = false;
			return 0;
		}
		/* CTAP2 PINs are 4..63 bytes of UTF-8 */
		if (strlen(value) < 4 || strlen(value) > 63)
			return -EINVAL;
		SHA256((const uint8_t *)value, strlen(value), h);
		memcpy(st->pin_hash, h, sizeof(st->pin_hash));
		st->has_pin = true;
		st->pin_retries = SF_PIN_RETRIES;
		return 0;
	}
	return -EINVAL;
}

int softfido_create(const char *path)
{
	struct sf_state st;
	struct sf_lock lk;
	int r = sf_state_lock(path, &lk);

	if (r < 0)
		return r;
	sf_state_defaults(&st);
	if (RAND_bytes(st.aaguid, sizeof(st.aaguid)) != 1)
		r = -EIO;
	else
		r = sf_state_save(path, &st);
	sf_state_unlock(&lk);
	return r;
}

int softfido_set(const char *path, const char *key, const char *value)
{
	struct sf_state st;
	struct sf_lock lk;
	int r = sf_state_lock(path, &lk);

	if (r < 0)
		return r;
	r = sf_state_load(path, &st);
	if (r == 0) {
		r = softfido_set_in(&st, key, value);
		if (r == 0)
			r = sf_state_save(path, &st);
		sf_state_free(&st);
	}
	sf_state_unlock(&lk);
	return r;
}

int softfido_get(const char *path, const char *key, char *buf, size_t len)
{
	struct sf_state st;
	struct sf_lock lk;
	int r = sf_state_lock(path, &lk), n = -1;

	if (r < 0)
		return r;
	r = sf_state_load(path, &st);
	sf_state_unlock(&lk);
	if (r < 0)
		return r;
	if (strcmp(key, "counter") == 0)
		n = snprintf(buf, len, "%u", st.counter);
	else if (strcmp(key, "ncreds") == 0)
		n = snprintf(buf, len, "%zu", st.ncreds);
	else if (strcmp(key, "touch") == 0)
		n = snprintf(buf, len, "%s", st.touch ? "yes" : "no");
	else if (strcmp(key, "wrong_key") == 0)
		n = snprintf(buf, len, "%s", st.wrong_key ? "yes" : "no");
	else if (strcmp(key, "notouch_ms") == 0)
		n = snprintf(buf, len, "%u", st.notouch_ms);
	else if (strcmp(key, "uv") == 0)
		n = snprintf(buf, len, "%s", st.uv == SF_UV_ON ? "on" : st.uv == SF_UV_FAIL ? "fail" : "off");
	else if (strcmp(key, "counter_mode") == 0)
		n = snprintf(buf, len, "%s", st.counter_mode == SF_COUNTER_FROZEN ? "frozen" :
					     st.counter_mode == SF_COUNTER_ZERO ? "zero" : "increment");
	else if (strcmp(key, "attestation") == 0)
		n = snprintf(buf, len, "%s", st.attest_none ? "none" : "packed");
	else if (strcmp(key, "pin") == 0)
		n = snprintf(buf, len, "%s", st.has_pin ? "set" : "-");
	sf_state_free(&st);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < len ? 0 : -ENOSPC;
}
