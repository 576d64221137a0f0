/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl status, keygen, trust *, policy *: signing is offline; the rest talks to vigild. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/bundle.h"
#include "vigil/config.h"
#include "vigil/ctl.h"
#include "vigil/loader.h"
#include "vigil/crypto.h"
#include "vigil/trust.h"
#include "vigil/util.h"
#include "vigilctl.h"

#define MAX_FILE VG_MAX_BUNDLE_BYTES_CEILING
#define PUSH_TIMEOUT_MS 120000

static int read_or_die(const char *path, size_t max, char **buf, size_t *len)
{
	int r = vg_read_file(path, max, buf, len);

	if (r < 0)
		vgctl_error("%s: %s", path, r == -EFBIG ? "file too large" : strerror(-r));
	return r;
}

/* A file to send as it is: mapped, not read into a buffer (a 1M-rule bundle is 117 MB, and reading
 * it into a fresh buffer cost more than the push's send); *mapped says how to release it. */
static int map_or_die(const char *path, size_t max, char **buf, size_t *len, bool *mapped)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p;

	*mapped = false;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 || (uint64_t)st.st_size > max) {
		if (fd >= 0)
			close(fd);
		return read_or_die(path, max, buf, len);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return read_or_die(path, max, buf, len);
	*buf = p;
	*len = (size_t)st.st_size;
	*mapped = true;
	return 0;
}

static void unmap_or_free(char *buf, size_t len, bool mapped)
{
	if (mapped)
		munmap(buf, len);
	else
		free(buf);
}

/* FILE.sig: missing is "unsigned" (vigild says so too), too large is an error of its own */
static int read_sig(const char *path, char **sig, size_t *siglen, struct vg_err *err)
{
	int r = vg_read_file(path, VG_SIG_MAX_BYTES, sig, siglen);

	if (r == -EFBIG)
		return vg_err_set(err, EFBIG, "signature_malformed", path, "signature file larger than %u bytes",
				  VG_SIG_MAX_BYTES);
	if (r < 0) {
		*sig = NULL;
		*siglen = 0;
	}
	return 0;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

/* ---- status ---- */

static void print_module(const char *name, json_t *m)
{
	const char *k;
	json_t *v;

	if (json_object_size(m) == 0)
		return;
	printf("%s:\n", name);
	json_object_foreach(m, k, v) {
		char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		printf("  %-22s %s\n", k, s ? s : json_string_value(v));
		free(s);
	}
}

static int cmd_status(struct vgctl *c, int argc, char **argv)
{
	json_t *reply, *pol, *tr, *pull, *err, *lkg, *mods, *v;
	const char *k;
	int r;

	if (argc > 1) {
		vgctl_error("status takes no arguments");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "status"), &reply)))
		return r;
	if (vgctl_print_json(c, reply))
		goto out;
	pol = json_object_get(reply, "policy");
	tr = json_object_get(reply, "trust");
	printf("vigild %s on %s (pid %lld)\n", str(json_object_get(reply, "vigild"), "version"),
	       str(json_object_get(reply, "vigild"), "hostname"),
	       (long long)json_integer_value(json_object_get(json_object_get(reply, "vigild"), "pid")));
	if (json_is_true(json_object_get(pol, "active"))) {
		printf("policy:   version %lld%s, digest %s\n", (long long)json_integer_value(json_object_get(pol, "version")),
		       json_is_true(json_object_get(pol, "expired")) ? " (EXPIRED)" : "", str(pol, "policy_digest"));
		printf("          environment %s, source %s, applied %s, expires %s\n", str(pol, "environment"),
		       str(pol, "source"), str(pol, "applied_at"), str(pol, "expires_at"));
		printf("          %lld tenant(s), %lld rule(s), %lld user(s)", (long long)json_integer_value(json_object_get(pol, "tenants")),
		       (long long)json_integer_value(json_object_get(pol, "rules")),
		       (long long)json_integer_value(json_object_get(pol, "users")));
		if (json_object_get(pol, "change_id"))
			printf(", change %s", str(pol, "change_id"));
		printf("\n");
	} else {
		printf("policy:   none applied yet\n");
	}
	lkg = json_object_get(pol, "last_known_good");
	printf("last-known-good: %s", lkg ? "" : "none\n");
	if (lkg)
		printf("version %lld, digest %s\n", (long long)json_integer_value(json_object_get(lkg, "version")),
		       str(lkg, "policy_digest"));
	err = json_object_get(pol, "last_error");
	if (err)
		printf("last error: %s [%s] at %s%s%s\n", str(err, "message"), str(err, "code"), str(err, "at"),
		       json_string_length(json_object_get(err, "path")) ? ", at " : "",
		       json_string_length(json_object_get(err, "path")) ? str(err, "path") : "");
	if (json_object_get(tr, "version"))
		printf("trust:    version %lld, %lld key(s), threshold %lld\n",
		       (long long)json_integer_value(json_object_get(tr, "version")),
		       (long long)json_integer_value(json_object_get(tr, "keys")),
		       (long long)json_integer_value(json_object_get(tr, "threshold")));
	else
		printf("trust:    MISSING OR INVALID (%s): every bundle is refused\n", str(tr, "file"));
	pull = json_object_get(reply, "pull");
	if (pull)
		printf("pull:     %s, last %s (%s), next %s\n", str(pull, "url"), str(pull, "last_at"),
		       str(pull, "last_result"), str(pull, "next_at"));
	mods = json_object_get(reply, "modules");
	json_object_foreach(mods, k, v)
		print_module(k, v);
out:
	json_decref(reply);
	return 0;
}

/* ---- keys and trust ---- */

static int cmd_keygen(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "out", required_argument, NULL, 'o' },
					      { "alg", required_argument, NULL, 'a' },
					      { NULL, 0, NULL, 0 } };
	const char *out = NULL, *alg = "ed25519";
	struct vg_err err = { 0 };
	EVP_PKEY *key = NULL;
	char *priv = NULL, *pub = NULL, pubpath[4096], kid[17];
	int o, r = VGCTL_EXIT_FAIL;

	optind = 1;
	while ((o = getopt_long(argc, argv, "o:a:", opts, NULL)) != -1) {
		if (o == 'o')
			out = optarg;
		else if (o == 'a')
			alg = optarg;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (!out || optind != argc) {
		vgctl_error("usage: vigilctl keygen --out FILE [--alg ed25519|ecdsa-p256]");
		return VGCTL_EXIT_USAGE;
	}
	if (access(out, F_OK) == 0) {
		vgctl_error("%s exists; refusing to overwrite a key", out);
		return VGCTL_EXIT_FAIL;
	}
	if (vg_key_generate(alg, &key, &err) < 0) {
		vgctl_error("%s", err.msg);
		return VGCTL_EXIT_USAGE;
	}
	priv = vg_key_private_pem(key);
	pub = vg_key_public_pem(key);
	vg_key_id(key, kid);
	snprintf(pubpath, sizeof(pubpath), "%s.pub", out);
	if (!priv || !pub || vg_write_file_atomic(out, priv, strlen(priv), 0600) < 0 ||
	    vg_write_file_atomic(pubpath, pub, strlen(pub), 0644) < 0) {
		vgctl_error("cannot write %s: %s", out, strerror(errno));
		goto out;
	}
	if (c->json)
		printf("{\"key_id\": \"%s\", \"alg\": \"%s\", \"private\": \"%s\", \"public\": \"%s\"}\n", kid, alg, out,
		       pubpath);
	else
		printf("key %s (%s)\n  private: %s (keep it offline)\n  public:  %s (goes into trust.json: vigilctl trust new)\n",
		       kid, alg, out, pubpath);
	r = 0;
out:
	if (priv)
		OPENSSL_cleanse(priv, strlen(priv));
	free(priv);
	free(pub);
	EVP_PKEY_free(key);
	return r;
}

static int cmd_trust_new(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "out", required_argument, NULL, 'o' },
					      { "version", required_argument, NULL, 'v' },
					      { "threshold", required_argument, NULL, 't' },
					      { NULL, 0, NULL, 0 } };
	const char *out = NULL;
	long version = 1, threshold = 1;
	json_t *doc, *keys;
	char *s;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "o:v:t:", opts, NULL)) != -1) {
		if (o == 'o')
			out = optarg;
		else if (o == 'v')
			version = strtol(optarg, NULL, 10);
		else if (o == 't')
			threshold = strtol(optarg, NULL, 10);
		else
			return VGCTL_EXIT_USAGE;
	}
	if (!out || optind == argc || version < 1 || threshold < 1 || threshold > argc - optind) {
		vgctl_error("usage: vigilctl trust new --out FILE [--version N] [--threshold K] PUBKEY.pem... "
			    "(1 <= K <= number of keys)");
		return VGCTL_EXIT_USAGE;
	}
	keys = json_array();
	for (int i = optind; i < argc; i++) {
		char *pem = NULL, kid[17];
		EVP_PKEY *k;

		if (read_or_die(argv[i], 64 << 10, &pem, NULL) < 0) {
			json_decref(keys);
			return VGCTL_EXIT_FAIL;
		}
		k = vg_key_from_pem(pem, false);
		if (!k) {
			vgctl_error("%s: not a PEM Ed25519 or ECDSA P-256 public key", argv[i]);
			free(pem);
			json_decref(keys);
			return VGCTL_EXIT_FAIL;
		}
		vg_key_id(k, kid);
		json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "id", kid, "alg", vg_key_alg(k), "public_key", pem));
		EVP_PKEY_free(k);
		free(pem);
	}
	doc = json_pack("{s:I, s:I, s:o}", "version", (json_int_t)version, "threshold", (json_int_t)threshold, "keys", keys);
	s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	r = vg_write_file_atomic(out, s, strlen(s), 0644);
	free(s);
	if (r < 0) {
		vgctl_error("cannot write %s: %s", out, strerror(-r));
		return VGCTL_EXIT_FAIL;
	}
	if (!c->json)
		printf("wrote %s: trust version %ld, %d key(s), threshold %ld\n", out, version, argc - optind, threshold);
	return 0;
}

/* sign FILE into FILE.sig (adding to signatures already there) */
int vgctl_sign_file(struct vgctl *c, int argc, char **argv, const char *domain, const char *what)
{
	static const struct option opts[] = { { "key", required_argument, NULL, 'k' }, { NULL, 0, NULL, 0 } };
	const char *keypath = NULL;
	struct vg_err err = { 0 };
	char *buf = NULL, *old = NULL, sigpath[4096], kid[17], *out;
	size_t len, oldlen;
	json_t *doc = NULL;
	EVP_PKEY *key = NULL;
	int o, r = VGCTL_EXIT_FAIL;

	optind = 1;
	while ((o = getopt_long(argc, argv, "k:", opts, NULL)) != -1) {
		if (o == 'k')
			keypath = optarg;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (!keypath || optind != argc - 1) {
		vgctl_error("usage: vigilctl %s sign --key PRIVATE.key FILE", what);
		return VGCTL_EXIT_USAGE;
	}
	if (vg_key_load_private(keypath, &key, &err) < 0) {
		vgctl_error("%s: %s", err.path, err.msg);
		return VGCTL_EXIT_FAIL;
	}
	if (read_or_die(argv[optind], MAX_FILE, &buf, &len) < 0)
		goto out;
	snprintf(sigpath, sizeof(sigpath), "%s.sig", argv[optind]);
	if (vg_read_file(sigpath, VG_SIG_MAX_BYTES, &old, &oldlen) == 0) {
		doc = json_loadb(old, oldlen, 0, NULL);
		if (!doc) {
			vgctl_error("%s exists but is not a signature file; remove it first", sigpath);
			goto out;
		}
	}
	if (vg_sig_add(&doc, key, domain, buf, len) < 0) {
		vgctl_error("signing failed");
		goto out;
	}
	out = json_dumps(doc, JSON_INDENT(2));
	if (!out || vg_write_file_atomic(sigpath, out, strlen(out), 0644) < 0) {
		vgctl_error("cannot write %s", sigpath);
		free(out);
		goto out;
	}
	free(out);
	vg_key_id(key, kid);
	if (!c->json)
		printf("signed %s with key %s -> %s (%zu signature(s))\n", argv[optind], kid, sigpath,
		       json_array_size(json_object_get(doc, "signatures")));
	r = 0;
out:
	json_decref(doc);
	EVP_PKEY_free(key);
	free(buf);
	free(old);
	return r;
}

static int cmd_trust_sign(struct vgctl *c, int argc, char **argv)
{
	return vgctl_sign_file(c, argc, argv, VG_SIG_DOMAIN_TRUST, "trust");
}

static int cmd_policy_sign(struct vgctl *c, int argc, char **argv)
{
	return vgctl_sign_file(c, argc, argv, VG_SIG_DOMAIN_BUNDLE, "policy");
}

/*
 * A file and its signature to vigild: base64 fields of a JSON request, or, for a bundle larger
 * than a non-admin's request may be, a raw push (docs/control-socket.md): no base64 to make or
 * to decode, a quarter fewer bytes to send.
 */
static int send_pair(struct vgctl *c, const char *cmd, const char *field, const char *buf, size_t len,
		     const char *sig, size_t siglen, json_t **reply)
{
	struct vg_err err = { 0 };
	char *b1, *b2;
	int r;

	if (!strcmp(cmd, "policy.push") && len + siglen > VG_CTL_USER_MAX_REQUEST) {
		r = vg_ctl_call_push(c->socket, buf, len, sig, siglen, reply, c->timeout_ms, &err);
		return vgctl_reply(c, r, &err, reply);
	}
	b1 = vg_b64_encode((const uint8_t *)buf, len, false);
	b2 = vg_b64_encode((const uint8_t *)sig, siglen, false);
	r = vgctl_call(c, json_pack("{s:s, s:s, s:s}", "cmd", cmd, field, b1, "sig", b2), reply);
	free(b1);
	free(b2);
	return r;
}

/* FILE and FILE.sig (or --sig) to vigild */
static int push_pair(struct vgctl *c, int argc, char **argv, const char *cmd, const char *field, const char *what)
{
	static const struct option opts[] = { { "sig", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 } };
	const char *sigpath = NULL;
	char *buf = NULL, *sig = NULL, defsig[4096];
	size_t len, siglen;
	bool mapped;
	struct vg_err err = { 0 };
	json_t *reply;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		if (o == 's')
			sigpath = optarg;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		vgctl_error("usage: vigilctl %s push FILE [--sig FILE.sig]", what);
		return VGCTL_EXIT_USAGE;
	}
	if (!sigpath) {
		snprintf(defsig, sizeof(defsig), "%s.sig", argv[optind]);
		sigpath = defsig;
	}
	if (map_or_die(argv[optind], MAX_FILE, &buf, &len, &mapped) < 0)
		return VGCTL_EXIT_FAIL;
	if (read_sig(sigpath, &sig, &siglen, &err) < 0) {
		vgctl_error("%s: %s", err.path, err.msg);
		unmap_or_free(buf, len, mapped);
		return VGCTL_EXIT_FAIL;
	}
	/* a missing signature is sent anyway: vigild refuses it and records the attempt */
	if (!sig)
		sig = strdup("");
	/* vigild answers once the bundle is verified and applied: large ones take seconds */
	if (!c->timeout_set)
		c->timeout_ms = PUSH_TIMEOUT_MS;
	{
		struct vgctl_progress prog;
		uint64_t sent = len;

		vgctl_progress_start(c, &prog, "sending to vigild, which verifies, compiles and applies it", &sent,
				     "bytes");
		r = send_pair(c, cmd, field, buf, len, sig, siglen, &reply);
		vgctl_progress_stop(&prog);
	}
	unmap_or_free(buf, len, mapped);
	free(sig);
	if (r)
		return r;
	if (!vgctl_print_json(c, reply)) {
		if (!strcmp(cmd, "trust.update"))
			printf("trust rotated to version %lld\n", (long long)json_integer_value(json_object_get(reply, "version")));
		else if (!strcmp(str(reply, "result"), "unchanged"))
			printf("version %lld is already running; nothing changed\n",
			       (long long)json_integer_value(json_object_get(reply, "version")));
		else
			printf("applied version %lld (digest %s)\n", (long long)json_integer_value(json_object_get(reply, "version")),
			       str(reply, "policy_digest"));
	}
	json_decref(reply);
	return 0;
}

static int cmd_trust_push(struct vgctl *c, int argc, char **argv)
{
	return push_pair(c, argc, argv, "trust.update", "trust", "trust");
}

static int cmd_policy_push(struct vgctl *c, int argc, char **argv)
{
	return push_pair(c, argc, argv, "policy.push", "bundle", "policy");
}

/* The size limit vigild applies: max_bundle_bytes of its configuration when there is one here. */
static int bundle_limit(const char *cfgpath, uint64_t *max, struct vg_err *err)
{
	struct vg_config cfg;
	char *text = NULL;
	int r;

	vg_config_defaults(&cfg);
	*max = cfg.max_bundle_bytes;
	if (vg_read_file(cfgpath, 1 << 20, &text, NULL) < 0)
		return 0;
	r = vg_config_parse(&cfg, text, cfgpath, err);
	free(text);
	if (r == 0)
		*max = cfg.max_bundle_bytes;
	return r;
}

/* Offline: the checks vigild makes that do not depend on the host (size, signature, schema, expiry). */
static int cmd_policy_verify(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "trust", required_argument, NULL, 't' },
					      { "sig", required_argument, NULL, 's' },
					      { "config", required_argument, NULL, 'c' },
					      { NULL, 0, NULL, 0 } };
	const char *trustpath = "/etc/vigil/trust.json", *sigpath = NULL, *cfgpath = VG_DEFAULT_CONFIG;
	char *buf = NULL, *sig = NULL, defsig[4096], t1[32];
	size_t len, siglen = 0;
	struct vg_trust *t = NULL;
	struct vg_bundle *b = NULL;
	struct vg_err err = { 0 };
	const char *stage = "size";
	uint64_t max;
	int o, r = VGCTL_EXIT_VERIFY;

	optind = 1;
	while ((o = getopt_long(argc, argv, "t:s:c:", opts, NULL)) != -1) {
		if (o == 't')
			trustpath = optarg;
		else if (o == 's')
			sigpath = optarg;
		else if (o == 'c')
			cfgpath = optarg;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (optind != argc - 1) {
		vgctl_error("usage: vigilctl policy verify [--trust trust.json] [--sig FILE.sig] [--config vigild.conf] FILE");
		return VGCTL_EXIT_USAGE;
	}
	if (bundle_limit(cfgpath, &max, &err) < 0) {
		vgctl_error("%s", err.msg);
		return VGCTL_EXIT_FAIL;
	}
	if (!sigpath) {
		snprintf(defsig, sizeof(defsig), "%s.sig", argv[optind]);
		sigpath = defsig;
	}
	if (read_or_die(argv[optind], MAX_FILE, &buf, &len) < 0)
		return VGCTL_EXIT_FAIL;
	if (vg_check_size(len, max, &err) < 0)
		goto bad;
	stage = "signature";
	if (read_sig(sigpath, &sig, &siglen, &err) < 0 || vg_trust_read(trustpath, &t, &err) < 0)
		goto bad;
	if (vg_sig_verify(t, VG_SIG_DOMAIN_BUNDLE, buf, len, sig, siglen, &err) < 0)
		goto bad;
	stage = "schema";
	if (vg_bundle_parse(buf, len, &b, &err) < 0)
		goto bad;
	stage = "time";
	if (b->expires_at <= vg_now()) {
		vg_time_format(b->expires_at, t1);
		vg_err_set(&err, EPERM, "expired", "$.expires_at", "the bundle expired at %s", t1);
		goto bad;
	}
	vg_time_format(b->expires_at, t1);
	if (c->json)
		printf("{\"ok\": true, \"version\": %lld, \"policy_digest\": \"%s\", \"expires_at\": \"%s\"}\n",
		       (long long)b->version, b->digest, t1);
	else
		printf("OK: %s version %lld, digest %s, %s, expires %s\n  signatures: trust version %lld threshold %u met\n"
		       "  %zu tenant(s), %zu rule(s), %zu user(s)\n",
		       argv[optind], (long long)b->version, b->digest, vg_env_name(b->environment), t1,
		       (long long)t->version, t->threshold, b->ntenants, b->nrules_total, b->identity.nusers);
	r = 0;
	goto out;
bad:
	if (c->json) {
		json_t *o2 = json_pack("{s:b, s:s, s:s, s:s, s:s}", "ok", 0, "stage", stage, "code", err.code, "message",
				       err.msg, "path", err.path);
		vgctl_print_json(c, o2);
		json_decref(o2);
	} else {
		vgctl_error("%s: %s check failed: %s%s%s [%s]", argv[optind], stage, err.path, err.path[0] ? ": " : "",
			    err.msg, err.code);
	}
out:
	vg_bundle_free(b);
	vg_trust_free(t);
	free(buf);
	free(sig);
	return r;
}

/* The running bundle, piece by piece (policy.show), checked whole against the applied digest. */
static int fetch_running(struct vgctl *c, json_t **summary, char **bytes, size_t *len)
{
	uint64_t off = 0, total = 1;
	char digest[65], *buf = NULL, file[512] = "";
	size_t cap = 0;
	int r = 0;

	*summary = NULL;
	while (off < total) {
		json_t *reply, *s;
		uint8_t *piece = NULL;
		size_t n = 0;

		if ((r = vgctl_call(c, json_pack("{s:s, s:I}", "cmd", "policy.show", "offset", (json_int_t)off), &reply)))
			goto fail;
		s = json_object_get(reply, "summary");
		total = (uint64_t)json_integer_value(json_object_get(reply, "total"));
		snprintf(file, sizeof(file), "%s", str(reply, "file"));
		if (vg_b64_decode(str(reply, "bytes"), &piece, &n) < 0 || (!n && off < total) || total > MAX_FILE ||
		    (*summary && !json_equal(s, *summary))) {
			/* the file shrank, or another bundle was applied while it was read */
			free(piece);
			json_decref(reply);
			vgctl_error("the running bundle changed while it was read; run policy show again");
			r = VGCTL_EXIT_FAIL;
			goto fail;
		}
		if (!*summary)
			*summary = json_incref(s);
		if (off + n > cap) {
			char *nb = realloc(buf, total + 1);

			if (!nb) {
				free(piece);
				json_decref(reply);
				vgctl_error("out of memory for a bundle of %llu bytes", (unsigned long long)total);
				r = VGCTL_EXIT_FAIL;
				goto fail;
			}
			buf = nb;
			cap = total;
		}
		memcpy(buf + off, piece, n);
		off += n;
		free(piece);
		json_decref(reply);
	}
	vg_sha256_hex(buf ? buf : "", (size_t)off, digest);
	if (strcmp(digest, str(*summary, "policy_digest"))) {
		vgctl_error("%s no longer holds the running bundle (digest %.16s…, running %.16s…): something other "
			    "than vigild wrote it; push the bundle again", file[0] ? file : "vigild's copy", digest,
			    str(*summary, "policy_digest"));
		r = VGCTL_EXIT_FAIL;
		goto fail;
	}
	*bytes = buf;
	*len = (size_t)off;
	return 0;
fail:
	free(buf);
	json_decref(*summary);
	*summary = NULL;
	return r;
}

static int cmd_policy_show(struct vgctl *c, int argc, char **argv)
{
	json_t *s, *doc, *out;
	json_error_t je;
	char *bytes, *text;
	size_t len;
	int r;

	if ((r = fetch_running(c, &s, &bytes, &len)))
		return r;
	doc = json_loadb(bytes, len, 0, &je);
	free(bytes);
	if (!doc) {
		json_decref(s);
		vgctl_error("the running bundle does not parse as JSON here (%s, byte %d)", je.text, je.position);
		return VGCTL_EXIT_FAIL;
	}
	out = json_pack("{s:o, s:o}", "summary", s, "bundle", doc);
	if (!vgctl_print_json(c, out)) {
		printf("# version %lld, digest %s, expires %s\n", (long long)json_integer_value(json_object_get(s, "version")),
		       str(s, "policy_digest"), str(s, "expires_at"));
		text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text)
			printf("%s\n", text);
		free(text);
	}
	json_decref(out);
	return 0;
}

static int cmd_policy_rollback(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "reason", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 } };
	const char *reason = NULL;
	json_t *reply;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		if (o == 'r')
			reason = optarg;
		else
			return VGCTL_EXIT_USAGE;
	}
	if (!reason || optind != argc) {
		vgctl_error("usage: vigilctl policy rollback --reason TEXT (the reason goes into the audit trail)");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s, s:s}", "cmd", "policy.rollback", "reason", reason), &reply)))
		return r;
	if (!vgctl_print_json(c, reply))
		printf("rolled back to version %lld (digest %s)\n", (long long)json_integer_value(json_object_get(reply, "version")),
		       str(reply, "policy_digest"));
	json_decref(reply);
	return 0;
}

const struct vgctl_cmd vgctl_policy_cmds[] = {
	{ "status", "", "what vigild runs: policy version, digest, source, expiry, last-known-good, errors", cmd_status },
	{ "keygen", "--out FILE [--alg ed25519|ecdsa-p256]", "make a signing key pair (FILE and FILE.pub)", cmd_keygen },
	{ "trust new", "--out FILE [--version N] [--threshold K] PUB...", "write a trust file naming the signing keys",
	  cmd_trust_new },
	{ "trust sign", "--key KEY FILE", "add a signature to FILE.sig for a trust rotation", cmd_trust_sign },
	{ "trust push", "FILE [--sig SIG]", "rotate vigild's trust file to FILE (version N+1, signed by old and new keys)",
	  cmd_trust_push },
	{ "policy sign", "--key KEY FILE", "add KEY's signature to FILE.sig", cmd_policy_sign },
	{ "policy verify", "[--trust T] [--sig S] FILE", "check signatures, schema and expiry offline", cmd_policy_verify },
	{ "policy push", "FILE [--sig SIG]", "send a signed bundle to vigild", cmd_policy_push },
	{ "policy show", "", "print the running bundle (admins)", cmd_policy_show },
	{ "policy rollback", "--reason TEXT", "go back to the last-known-good bundle (audited)", cmd_policy_rollback },
	{ NULL, NULL, NULL, NULL },
};
