/* SPDX-License-Identifier: Apache-2.0 */
/* The host's Ed25519 key (state_dir/host.key, 0600) and its public half (host.pub). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vigil/crypto.h"
#include "vigil/hostkey.h"
#include "vigil/util.h"

#define HOSTKEY_PREFIX "vigil-hostkey/1\n"

/* prefix ‖ domain ‖ "\n" ‖ msg, in one buffer the caller frees */
static uint8_t *domain_message(const char *domain, const void *msg, size_t len, size_t *out_len)
{
	size_t pl = strlen(HOSTKEY_PREFIX), dl = strlen(domain);
	uint8_t *m = malloc(pl + dl + 1 + len + 1);

	if (!m)
		return NULL;
	memcpy(m, HOSTKEY_PREFIX, pl);
	memcpy(m + pl, domain, dl);
	m[pl + dl] = '\n';
	memcpy(m + pl + dl + 1, msg, len);
	*out_len = pl + dl + 1 + len;
	return m;
}

int vg_hostkey_sign_with(struct vg_signer *s, const char *domain, const void *msg, size_t len, uint8_t **sig,
			 size_t *siglen)
{
	size_t ml;
	_cleanup_free_ uint8_t *m = domain_message(domain, msg, len, &ml);

	return m ? vg_signer_sign(s, m, ml, sig, siglen) : -ENOMEM;
}

int vg_hostkey_sign(EVP_PKEY *key, const char *domain, const void *msg, size_t len, uint8_t **sig, size_t *siglen)
{
	struct vg_signer s = { .key = key };
	int r = vg_hostkey_sign_with(&s, domain, msg, len, sig, siglen);

	vg_signer_clear(&s);
	return r;
}

int vg_hostkey_verify(EVP_PKEY *pub, const char *domain, const void *msg, size_t len, const uint8_t *sig,
		      size_t siglen)
{
	size_t ml;
	_cleanup_free_ uint8_t *m = domain_message(domain, msg, len, &ml);

	return m ? vg_verify(pub, m, ml, sig, siglen) : -ENOMEM;
}

int vg_hostkey_public_pem(EVP_PKEY *key, char **pem)
{
	*pem = vg_key_public_pem(key);
	return *pem ? 0 : -ENOMEM;
}

static int write_pub(const char *state_dir, EVP_PKEY *key, struct vg_err *err)
{
	char path[512];
	_cleanup_free_ char *pem = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/host.pub", state_dir);
	if (vg_hostkey_public_pem(key, &pem) < 0)
		return vg_err_set(err, ENOMEM, "no_memory", path, "cannot encode the host public key");
	r = vg_write_file_atomic(path, pem, strlen(pem), 0644);
	if (r < 0)
		return vg_err_set(err, -r, "host_key_unwritable", path, "cannot write: %s", strerror(-r));
	return 0;
}

int vg_hostkey_load_or_create(const char *state_dir, EVP_PKEY **out, struct vg_err *err)
{
	char path[512];
	struct stat st;
	EVP_PKEY *key = NULL;
	_cleanup_free_ char *pem = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/host.key", state_dir);
	if (stat(path, &st) == 0) {
		/* a key someone else could have replaced signs nothing */
		if ((r = vg_file_trusted(path, &st, err)) < 0)
			return r;
		/* a key others can read signs nothing: it may be known to an attacker */
		if (st.st_mode & 077)
			return vg_err_set(err, EPERM, "host_key_insecure", path,
					  "host key is readable by group or others (mode %o); chmod 0600 it or "
					  "remove it to create a new one",
					  (unsigned)(st.st_mode & 0777));
		r = vg_key_load_private(path, &key, err);
		if (r < 0)
			return r;
		if (!vg_key_alg(key) || strcmp(vg_key_alg(key), "ed25519") != 0) {
			EVP_PKEY_free(key);
			return vg_err_set(err, EINVAL, "host_key_invalid", path, "host key is not an Ed25519 key");
		}
	} else if (errno == ENOENT) {
		r = vg_mkdir_p(state_dir, 0700);
		if (r < 0)
			return vg_err_set(err, -r, "host_key_unwritable", state_dir, "cannot create: %s",
					  strerror(-r));
		r = vg_key_generate("ed25519", &key, err);
		if (r < 0)
			return r;
		pem = vg_key_private_pem(key);
		if (!pem) {
			EVP_PKEY_free(key);
			return vg_err_set(err, ENOMEM, "no_memory", path, "cannot encode the host key");
		}
		r = vg_write_file_atomic(path, pem, strlen(pem), 0600);
		if (r < 0) {
			EVP_PKEY_free(key);
			return vg_err_set(err, -r, "host_key_unwritable", path, "cannot write: %s", strerror(-r));
		}
	} else {
		return vg_err_set(err, errno, "host_key_unreadable", path, "stat: %s", strerror(errno));
	}
	/* host.pub is derived: rewrite it every start so it always matches the key */
	r = write_pub(state_dir, key, err);
	if (r < 0) {
		EVP_PKEY_free(key);
		return r;
	}
	*out = key;
	return 0;
}
