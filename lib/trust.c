/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "vigil/crypto.h"
#include "vigil/trust.h"
#include "vigil/util.h"

struct vg_trust *vg_trust_ref(struct vg_trust *t)
{
	if (t)
		__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void vg_trust_free(struct vg_trust *t)
{
	if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < t->nkeys; i++)
		EVP_PKEY_free(t->keys[i].key);
	free(t->keys);
	free(t);
}

static int only_fields(json_t *o, const char *const *allowed, const char *path, struct vg_err *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		bool ok = false;

		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, k);
		if (!ok)
			return vg_err_set(err, EINVAL, "trust_schema", path, "unknown field \"%.64s\"", k);
	}
	return 0;
}

int vg_trust_parse(const char *buf, size_t len, struct vg_trust **out, struct vg_err *err)
{
	static const char *const allowed[] = { "version", "threshold", "keys", "comment", NULL };
	static const char *const kallowed[] = { "id", "alg", "public_key", "comment", NULL };
	struct vg_trust *t = NULL;
	json_error_t jerr;
	json_t *root, *keys, *k;
	size_t i;
	int r = -EINVAL;

	*out = NULL;
	if (len > VG_TRUST_MAX_BYTES)
		return vg_err_set(err, EFBIG, "trust_too_large", NULL, "trust file larger than %u bytes",
				  VG_TRUST_MAX_BYTES);
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return vg_err_set(err, EINVAL, "trust_syntax", NULL, "trust file is not valid JSON (line %d): %s",
				  jerr.line, jerr.text);
	if (!json_is_object(root)) {
		r = vg_err_set(err, EINVAL, "trust_schema", "$", "must be an object");
		goto out;
	}
	if ((r = only_fields(root, allowed, "$", err)) < 0)
		goto out;
	t = calloc(1, sizeof(*t));
	if (!t) {
		r = -ENOMEM;
		goto out;
	}
	t->refs = 1;
	vg_sha256_hex(buf, len, t->digest);
	keys = json_object_get(root, "keys");
	if (!json_is_integer(json_object_get(root, "version")) || json_integer_value(json_object_get(root, "version")) < 1) {
		r = vg_err_set(err, EINVAL, "trust_schema", "$.version", "must be an integer >= 1");
		goto out;
	}
	t->version = json_integer_value(json_object_get(root, "version"));
	if (!json_is_array(keys) || json_array_size(keys) == 0 || json_array_size(keys) > 64) {
		r = vg_err_set(err, EINVAL, "trust_schema", "$.keys", "must be an array of 1 to 64 keys");
		goto out;
	}
	if (!json_is_integer(json_object_get(root, "threshold")) ||
	    json_integer_value(json_object_get(root, "threshold")) < 1 ||
	    json_integer_value(json_object_get(root, "threshold")) > (json_int_t)json_array_size(keys)) {
		r = vg_err_set(err, EINVAL, "trust_schema", "$.threshold", "must be an integer between 1 and the number of keys (%zu)",
			       json_array_size(keys));
		goto out;
	}
	t->threshold = (unsigned)json_integer_value(json_object_get(root, "threshold"));
	t->keys = calloc(json_array_size(keys), sizeof(*t->keys));
	if (!t->keys) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(keys, i, k) {
		struct vg_trust_key *tk = &t->keys[i];
		const char *pem = json_string_value(json_object_get(k, "public_key"));
		const char *id = json_string_value(json_object_get(k, "id"));
		const char *alg = json_string_value(json_object_get(k, "alg"));
		char path[64];

		snprintf(path, sizeof(path), "$.keys[%zu]", i);
		if (!json_is_object(k) || !pem || !id || !alg) {
			r = vg_err_set(err, EINVAL, "trust_schema", path, "a key needs string fields id, alg and public_key");
			goto out;
		}
		if ((r = only_fields(k, kallowed, path, err)) < 0)
			goto out;
		tk->key = vg_key_from_pem(pem, false);
		t->nkeys++;
		if (!tk->key) {
			r = vg_err_set(err, EINVAL, "trust_key_invalid", path,
				       "public_key is not a PEM Ed25519 or ECDSA P-256 public key");
			goto out;
		}
		if (strcmp(alg, vg_key_alg(tk->key))) {
			r = vg_err_set(err, EINVAL, "trust_key_invalid", path, "alg \"%.32s\" does not match the key (%s)",
				       alg, vg_key_alg(tk->key));
			goto out;
		}
		snprintf(tk->alg, sizeof(tk->alg), "%s", alg);
		vg_key_id(tk->key, tk->id);
		if (strcmp(id, tk->id)) {
			r = vg_err_set(err, EINVAL, "trust_key_invalid", path,
				       "id \"%.32s\" is not this key's id (%s = first 16 hex of sha256 of the key)", id, tk->id);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->keys[j].id, tk->id)) {
				r = vg_err_set(err, EINVAL, "trust_schema", path, "key %s is listed twice", tk->id);
				goto out;
			}
	}
	*out = t;
	t = NULL;
	r = 0;
out:
	vg_trust_free(t);
	json_decref(root);
	return r;
}

int vg_trust_read(const char *path, struct vg_trust **out, struct vg_err *err)
{
	char *buf = NULL;
	size_t len;
	int r = vg_read_file(path, VG_TRUST_MAX_BYTES, &buf, &len);

	if (r < 0)
		return vg_err_set(err, -r, "trust_missing", path, "cannot read the trust file: %s", strerror(-r));
	r = vg_trust_parse(buf, len, out, err);
	free(buf);
	if (r < 0 && err && !err->path[0])
		snprintf(err->path, sizeof(err->path), "%s", path);
	return r;
}

int vg_trust_load(const char *path, struct vg_trust **out, struct vg_err *err)
{
	char *buf = NULL;
	size_t len;
	struct vg_err e = { 0 };
	int r = vg_read_trusted(path, VG_TRUST_MAX_BYTES, &buf, &len, &e);

	if (r < 0)
		return vg_err_set(err, -r, !strcmp(e.code, "untrusted_file") ? "trust_untrusted" : "trust_missing", path,
				  "%s: without trust material every bundle is refused", e.msg);
	r = vg_trust_parse(buf, len, out, err);
	free(buf);
	if (r < 0 && err && !err->path[0])
		snprintf(err->path, sizeof(err->path), "%s", path);
	return r;
}

static uint8_t *with_domain(const char *domain, const void *msg, size_t len, size_t *outlen)
{
	size_t dl = strlen(domain);
	uint8_t *m = malloc(dl + len + 1);

	if (!m)
		return NULL;
	memcpy(m, domain, dl);
	memcpy(m + dl, msg, len);
	*outlen = dl + len;
	return m;
}

static void note(char *notes, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void note(char *notes, size_t cap, const char *fmt, ...)
{
	size_t used = strlen(notes);
	va_list ap;

	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(notes + used, cap - used, fmt, ap);
	va_end(ap);
}

/* The trusted key an entry names, or -1 (with a note) when the entry cannot count. */
static ssize_t entry_key(const struct vg_trust *t, json_t *s, size_t i, char *notes, size_t cap)
{
	const char *kid = json_string_value(json_object_get(s, "key_id"));
	const char *alg = json_string_value(json_object_get(s, "alg"));
	const char *b64 = json_string_value(json_object_get(s, "sig"));

	if (!kid || !alg || !b64) {
		note(notes, cap, "; signature %zu lacks key_id, alg or sig", i);
		return -1;
	}
	if (strcmp(alg, "ed25519") && strcmp(alg, "ecdsa-p256")) {
		note(notes, cap, "; signature %zu uses unknown algorithm \"%.16s\" (accepted: ed25519, ecdsa-p256)", i, alg);
		return -1;
	}
	for (size_t k = 0; k < t->nkeys; k++) {
		if (strcmp(t->keys[k].id, kid))
			continue;
		if (strcmp(alg, t->keys[k].alg)) {
			note(notes, cap, "; key %s: alg \"%.16s\" is not the key's (%s)", kid, alg, t->keys[k].alg);
			return -1;
		}
		return (ssize_t)k;
	}
	note(notes, cap, "; key %.16s is not trusted", kid);
	return -1;
}

/* Each trusted key gets at most one candidate: the first entry naming it. Unknown keys, repeated
 * signers and malformed entries are dropped here, before any signature is checked, so the work
 * is at most one verification per trusted key whatever the signature file holds. */
static size_t pick_candidates(const struct vg_trust *t, json_t *sigs, json_t **cand, char *notes, size_t cap)
{
	size_t i, n = 0, dropped = 0;
	json_t *s;

	json_array_foreach(sigs, i, s) {
		ssize_t k = entry_key(t, s, i, notes, cap);

		if (k < 0) {
			dropped++;
			continue;
		}
		if (cand[k]) {
			note(notes, cap, "; key %s signed more than once (only the first counts)", t->keys[k].id);
			continue;
		}
		cand[k] = s;
		n++;
	}
	if (dropped > 8)
		note(notes, cap, "; %zu entries did not count", dropped);
	return n;
}

/* domain‖msg for the signature check: written into the room before msg when there is enough of
 * it (nothing copied), else a copy that *copy owns */
static const uint8_t *signed_bytes(const char *domain, const void *msg, size_t room, size_t len, size_t *mlen,
				   uint8_t **copy)
{
	size_t dl = strlen(domain);

	*copy = NULL;
	if (room >= dl) {
		memcpy((char *)msg - dl, domain, dl);
		*mlen = dl + len;
		return (const uint8_t *)msg - dl;
	}
	return *copy = with_domain(domain, msg, len, mlen);
}

int vg_sig_verify(const struct vg_trust *t, const char *domain, const void *msg, size_t len, const char *sig,
		  size_t siglen, struct vg_err *err)
{
	return vg_sig_verify_room(t, domain, (void *)msg, 0, len, sig, siglen, err);
}

int vg_sig_verify_room(const struct vg_trust *t, const char *domain, void *msg, size_t room, size_t len,
		       const char *sig, size_t siglen, struct vg_err *err)
{
	json_error_t jerr;
	json_t *doc = NULL, *sigs, **cand = NULL;
	const uint8_t *m = NULL;
	uint8_t *copy = NULL;
	size_t mlen;
	unsigned good = 0;
	char notes[512] = "";
	int r;

	if (!sig || siglen == 0)
		return vg_err_set(err, EPERM, "unsigned", NULL, "no signature: sign it with vigilctl policy sign --key KEY FILE");
	if (siglen > VG_SIG_MAX_BYTES)
		return vg_err_set(err, EPERM, "signature_malformed", NULL, "signature file larger than %u bytes",
				  VG_SIG_MAX_BYTES);
	doc = json_loadb(sig, siglen, JSON_REJECT_DUPLICATES, &jerr);
	sigs = json_object_get(doc, "signatures");
	if (!doc || !json_is_array(sigs)) {
		r = vg_err_set(err, EPERM, "signature_malformed", NULL,
			       "the signature file is not {\"signatures\": [...]} JSON");
		goto out;
	}
	if (json_array_size(sigs) == 0) {
		r = vg_err_set(err, EPERM, "unsigned", NULL, "the signature file holds no signatures");
		goto out;
	}
	cand = calloc(t->nkeys, sizeof(*cand));
	if (!cand) {
		r = -ENOMEM;
		goto out;
	}
	if (pick_candidates(t, sigs, cand, notes, sizeof(notes)) > 0 &&
	    !(m = signed_bytes(domain, msg, room, len, &mlen, &copy))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; m && k < t->nkeys && good < t->threshold; k++) {
		uint8_t *raw = NULL;
		size_t rawlen;

		if (!cand[k])
			continue;
		if (vg_b64_decode(json_string_value(json_object_get(cand[k], "sig")), &raw, &rawlen) < 0)
			note(notes, sizeof(notes), "; key %s: sig is not base64", t->keys[k].id);
		else if (vg_verify(t->keys[k].key, m, mlen, raw, rawlen) == 0)
			good++;
		else
			note(notes, sizeof(notes), "; key %s: signature does not match", t->keys[k].id);
		free(raw);
	}
	if (good < t->threshold) {
		r = vg_err_set(err, EPERM, good == 0 ? "signature_invalid" : "signature_threshold", NULL,
			       "%u valid signature(s) from trusted keys, %u required (trust version %lld)%s", good,
			       t->threshold, (long long)t->version, notes);
		goto out;
	}
	r = 0;
out:
	free(cand);
	free(copy);
	json_decref(doc);
	return r;
}

int vg_sig_add(json_t **doc, EVP_PKEY *key, const char *domain, const void *msg, size_t len)
{
	uint8_t *m, *sig = NULL;
	size_t mlen, siglen, i;
	char kid[17], *b64;
	json_t *sigs, *s;
	int r;

	m = with_domain(domain, msg, len, &mlen);
	if (!m)
		return -ENOMEM;
	r = vg_sign(key, m, mlen, &sig, &siglen);
	free(m);
	if (r < 0)
		return r;
	vg_key_id(key, kid);
	b64 = vg_b64_encode(sig, siglen, false);
	free(sig);
	if (!b64)
		return -ENOMEM;
	if (!*doc)
		*doc = json_pack("{s:[]}", "signatures");
	sigs = json_object_get(*doc, "signatures");
	if (!json_is_array(sigs)) {
		free(b64);
		return -EINVAL;
	}
	for (i = json_array_size(sigs); i-- > 0;) {
		s = json_array_get(sigs, i);
		if (!strcmp(json_string_value(json_object_get(s, "key_id")) ?: "", kid))
			json_array_remove(sigs, i);
	}
	json_array_append_new(sigs, json_pack("{s:s, s:s, s:s}", "key_id", kid, "alg", vg_key_alg(key), "sig", b64));
	free(b64);
	return 0;
}

int vg_trust_check_rotation(const struct vg_trust *old, const char *newbuf, size_t newlen, const char *sig,
			    size_t siglen, struct vg_trust **out, struct vg_err *err)
{
	struct vg_trust *nt = NULL;
	struct vg_err e2;
	int r;

	*out = NULL;
	if ((r = vg_trust_parse(newbuf, newlen, &nt, err)) < 0)
		return r;
	if (nt->version != old->version + 1) {
		r = vg_err_set(err, EPERM, "trust_version", "$.version",
			       "trust version %lld cannot replace version %lld: rotation goes N to N+1 only",
			       (long long)nt->version, (long long)old->version);
		goto fail;
	}
	if ((r = vg_sig_verify(old, VG_SIG_DOMAIN_TRUST, newbuf, newlen, sig, siglen, &e2)) < 0) {
		r = vg_err_set(err, EPERM, "trust_rotation_unsigned", NULL, "not signed by the current keys: %s", e2.msg);
		goto fail;
	}
	if ((r = vg_sig_verify(nt, VG_SIG_DOMAIN_TRUST, newbuf, newlen, sig, siglen, &e2)) < 0) {
		r = vg_err_set(err, EPERM, "trust_rotation_unsigned", NULL, "not signed by the new keys: %s", e2.msg);
		goto fail;
	}
	*out = nt;
	return 0;
fail:
	vg_trust_free(nt);
	return r;
}
