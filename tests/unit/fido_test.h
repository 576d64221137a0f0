/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for unit tests that drive real libfido2 against softfido. */
#ifndef VIGIL_FIDO_TEST_H
#define VIGIL_FIDO_TEST_H

#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <fido/rs256.h>
#include <openssl/sha.h>

#include "../softfido/softfido.h"

#define FT_RP "vigil.example.com"

/* every key of a test binary lives under one directory, removed by the group teardown
 * even when a test fails */
static char ft_root[64];
static int ft_seq;

struct ft_key {
	char path[128];
};

static int ft_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static inline int ft_group_setup(void **state)
{
	strcpy(ft_root, "/tmp/vigil-fido-unit.XXXXXX");
	return mkdtemp(ft_root) ? 0 : -1;
}

static inline int ft_group_teardown(void **state)
{
	return nftw(ft_root, ft_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void ft_key_create(struct ft_key *k)
{
	snprintf(k->path, sizeof(k->path), "%s/key%d.state", ft_root, ++ft_seq);
	assert_int_equal(softfido_create(k->path), 0);
}

static inline void ft_key_remove(struct ft_key *k)
{
	char p[160];

	unlink(k->path);
	snprintf(p, sizeof(p), "%s.lock", k->path);
	unlink(p);
}

static inline fido_dev_t *ft_open(const struct ft_key *k)
{
	fido_dev_t *dev = fido_dev_new();

	assert_non_null(dev);
	assert_int_equal(softfido_open(dev, k->path), FIDO_OK);
	return dev;
}

static inline void ft_close(fido_dev_t **dev)
{
	fido_dev_close(*dev);
	fido_dev_free(dev);
}

static inline void ft_cdh(const char *text, unsigned char out[32])
{
	SHA256((const unsigned char *)text, strlen(text), out);
}

/* makeCredential; returns the FIDO_ERR_* code and the credential in *out (caller frees) */
static inline int ft_make_cred(fido_dev_t *dev, int alg, fido_opt_t uv, const char *pin, fido_cred_t **out)
{
	fido_cred_t *c = fido_cred_new();
	unsigned char cdh[32];
	const unsigned char uid[] = { 1, 2, 3, 4 };
	int r;

	assert_non_null(c);
	ft_cdh("enroll challenge", cdh);
	assert_int_equal(fido_cred_set_type(c, alg), FIDO_OK);
	assert_int_equal(fido_cred_set_clientdata_hash(c, cdh, sizeof(cdh)), FIDO_OK);
	assert_int_equal(fido_cred_set_rp(c, FT_RP, "vigil"), FIDO_OK);
	assert_int_equal(fido_cred_set_user(c, uid, sizeof(uid), "alice", "Alice", NULL), FIDO_OK);
	assert_int_equal(fido_cred_set_uv(c, uv), FIDO_OK);
	r = fido_dev_make_cred(dev, c, pin);
	*out = c;
	return r;
}

/* getAssertion over the given credentials; FIDO_ERR_* code, assertion in *out (caller frees) */
static inline int ft_get_assert(fido_dev_t *dev, const char *rp, const unsigned char cdh[32], fido_cred_t **creds,
				size_t ncreds, fido_opt_t up, fido_opt_t uv, const char *pin, fido_assert_t **out)
{
	fido_assert_t *a = fido_assert_new();
	int r;

	assert_non_null(a);
	assert_int_equal(fido_assert_set_rp(a, rp), FIDO_OK);
	assert_int_equal(fido_assert_set_clientdata_hash(a, cdh, 32), FIDO_OK);
	for (size_t i = 0; i < ncreds; i++)
		assert_int_equal(fido_assert_allow_cred(a, fido_cred_id_ptr(creds[i]), fido_cred_id_len(creds[i])),
				 FIDO_OK);
	assert_int_equal(fido_assert_set_up(a, up), FIDO_OK);
	assert_int_equal(fido_assert_set_uv(a, uv), FIDO_OK);
	r = fido_dev_get_assert(dev, a, pin);
	*out = a;
	return r;
}

static inline uint32_t ft_counter(const struct ft_key *k)
{
	char buf[32];

	assert_int_equal(softfido_get(k->path, "counter", buf, sizeof(buf)), 0);
	return (uint32_t)strtoul(buf, NULL, 10);
}

#endif
