/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcrypto for pam_vigil.so, loaded when first needed. Every PAM process of sudo, su, sshd and
 * login loads the module; mapping and relocating libcrypto.so.3 cost it ~5 ms of page faults in
 * a VM (docs/pam.md "What the module loads"), and only break-glass (PBKDF2) and the relay code
 * (SHA-256) use it: the security key is driven by vigild. The OpenSSL functions the module's
 * code calls are defined here, local to the module (pam/pam_vigil.map exports only pam_sm_*),
 * and forward to the real ones. If libcrypto cannot be loaded, each fails as OpenSSL's own
 * failure would, so every caller fails closed (no break-glass match, no relay hash).
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <pthread.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define STR_(x) #x
#define STR(x) STR_(x)
#define LIBCRYPTO "libcrypto.so." STR(OPENSSL_SHLIB_VERSION)

static struct {
	int (*memcmp_)(const void *, const void *, size_t);
	int (*digest)(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *, ENGINE *);
	EVP_MD *(*md_fetch)(OSSL_LIB_CTX *, const char *, const char *);
	const EVP_MD *(*sha256_md)(void);
	int (*pbkdf2)(const char *, int, const unsigned char *, int, int, const EVP_MD *, int, unsigned char *);
	int (*rand_bytes)(unsigned char *, int);
	unsigned char *(*sha256)(const unsigned char *, size_t, unsigned char *);
} C;

static void load(void)
{
	void *h = dlopen(LIBCRYPTO, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

	if (!h)
		return;
	/* all or nothing: a half-loaded set would mix failures */
	*(void **)&C.memcmp_ = dlsym(h, "CRYPTO_memcmp");
	*(void **)&C.digest = dlsym(h, "EVP_Digest");
	*(void **)&C.md_fetch = dlsym(h, "EVP_MD_fetch");
	*(void **)&C.sha256_md = dlsym(h, "EVP_sha256");
	*(void **)&C.pbkdf2 = dlsym(h, "PKCS5_PBKDF2_HMAC");
	*(void **)&C.rand_bytes = dlsym(h, "RAND_bytes");
	*(void **)&C.sha256 = dlsym(h, "SHA256");
	if (!C.memcmp_ || !C.digest || !C.md_fetch || !C.sha256_md || !C.pbkdf2 || !C.rand_bytes || !C.sha256)
		memset(&C, 0, sizeof(C));
}

static bool loaded(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, load);
	return C.memcmp_ != NULL;
}

void OPENSSL_cleanse(void *ptr, size_t len)
{
	explicit_bzero(ptr, len);
}

int CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	return loaded() ? C.memcmp_(a, b, len) : 1; /* "different" */
}

int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type,
	       ENGINE *impl)
{
	return loaded() ? C.digest(data, count, md, size, type, impl) : 0;
}

EVP_MD *EVP_MD_fetch(OSSL_LIB_CTX *ctx, const char *algorithm, const char *properties)
{
	return loaded() ? C.md_fetch(ctx, algorithm, properties) : NULL;
}

const EVP_MD *EVP_sha256(void)
{
	return loaded() ? C.sha256_md() : NULL;
}

int PKCS5_PBKDF2_HMAC(const char *pass, int passlen, const unsigned char *salt, int saltlen, int iter,
		      const EVP_MD *digest, int keylen, unsigned char *out)
{
	return loaded() && digest ? C.pbkdf2(pass, passlen, salt, saltlen, iter, digest, keylen, out) : 0;
}

int RAND_bytes(unsigned char *buf, int num)
{
	return loaded() ? C.rand_bytes(buf, num) : 0;
}

unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md)
{
	if (loaded())
		return C.sha256(d, n, md);
	/* vg_sha256 cannot fail: a zero hash matches nothing vigild issued */
	memset(md, 0, SHA256_DIGEST_LENGTH);
	return NULL;
}
