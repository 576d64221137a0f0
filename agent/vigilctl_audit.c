/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigilctl audit verify | tail | export | pubkey | status | note | seal (docs/audit.md).
 * verify, tail, export and pubkey read the files directly, so they work offline
 * on a copied log directory; status, note and seal ask vigild.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigilctl.h"
#include "vigil/auditlog.h"
#include "vigil/crypto.h"
#include "vigil/ctl.h"
#include "vigil/util.h"

#define DEFAULT_STATE_DIR "/var/lib/vigil"
#define DEFAULT_LOG_DIR DEFAULT_STATE_DIR "/audit"

static void reset_getopt(void)
{
	optind = 0; /* GNU: full re-initialisation for each subcommand */
}

static int load_pubkey(const char *path, EVP_PKEY **out)
{
	_cleanup_free_ char *pem = NULL;

	if (vg_read_file(path, 64 * 1024, &pem, NULL) < 0)
		return -errno ? -errno : -EIO;
	*out = vg_key_from_pem(pem, false);
	return *out ? 0 : -EINVAL;
}

static json_t *load_json(const char *path)
{
	_cleanup_free_ char *txt = NULL;
	size_t len = 0;

	if (vg_read_file(path, 1 << 20, &txt, &len) < 0)
		return NULL;
	return json_loadb(txt, len, 0, NULL);
}

/* verify's result of one log, as JSON and as text; true when intact */
static bool report_verify(struct vgctl *c, const char *what, const struct vg_audit_verify *v, bool sigs, bool head,
			  json_t *extra, json_t *all)
{
	json_t *out = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b}", "log", what, "ok", !v->reason[0],
				"records", (json_int_t)v->records, "first_seq", (json_int_t)v->first_seq, "last_seq",
				(json_int_t)v->last_seq, "checkpoints", (json_int_t)v->checkpoints,
				"last_checkpoint_seq", (json_int_t)v->last_checkpoint_seq, "gaps_explained",
				(json_int_t)v->gaps_explained, "signatures_checked", sigs, "head_checked", head);

	if (extra)
		json_object_update(out, extra);
	if (v->reason[0]) {
		json_object_set_new(out, "bad_seq", json_integer((json_int_t)v->bad_seq));
		json_object_set_new(out, "reason", json_string(v->reason));
		json_object_set_new(out, "detail", json_string(v->detail));
	}
	if (!c->json) {
		if (v->reason[0]) {
			printf("audit log %s: FAILED at seq %" PRIu64 ": %s: %s\n", what, v->bad_seq, v->reason, v->detail);
		} else {
			printf("audit log %s: intact: %" PRIu64 " records (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64
			       " checkpoints",
			       what, v->records, v->first_seq, v->last_seq, v->checkpoints);
			if (v->gaps_explained)
				printf(", %" PRIu64 " gaps explained by signed gap records", v->gaps_explained);
			printf("\n");
			if (v->last_seq > v->last_checkpoint_seq)
				printf("  %" PRIu64 " records after the last checkpoint are not sealed yet\n",
				       v->last_seq - v->last_checkpoint_seq);
		}
	}
	json_array_append_new(all, out);
	return !v->reason[0];
}

static bool same_str(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The newest checkpoint of log_id in a collector's copy: the head the local log must reach. */
static json_t *newest_checkpoint(const char *path, const char *log_id)
{
	json_t *best = NULL;
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;

	if (!(fp = fopen(path, "r")))
		return NULL;
	while (getline(&line, &cap, fp) > 0) {
		char *js = strchr(line, '{');
		json_t *ev = js ? json_loads(js, 0, NULL) : NULL;
		json_t *data = json_object_get(ev, "data");

		if (ev && same_str(json_string_value(json_object_get(ev, "type")), "dev.vigil.audit.checkpoint") &&
		    same_str(json_string_value(json_object_get(data, "log_id")), log_id) &&
		    (!best || json_integer_value(json_object_get(data, "covers_seq")) >
				      json_integer_value(json_object_get(json_object_get(best, "data"), "covers_seq")))) {
			json_decref(best);
			best = json_incref(ev);
		}
		json_decref(ev);
	}
	free(line);
	fclose(fp);
	return best;
}

static int verify_events(struct vgctl *c, const char *path, const char *source, EVP_PKEY *key, uint64_t from,
			 json_t *all)
{
	struct vg_audit_events *e = NULL;
	struct vg_err err = { 0 };
	const uint64_t *bad;
	size_t nbad;
	uint64_t nunp;
	bool ok = true;

	if (vg_audit_events_load(path, source, &e, &err) < 0) {
		vgctl_error("audit verify: %s: %s", err.path, err.msg);
		return VGCTL_EXIT_FAIL;
	}
	for (size_t i = 0; i < vg_audit_events_logs(e); i++) {
		struct vg_audit_verify v;
		const char *src, *lid;
		uint64_t dups = 0;
		char what[400];

		vg_audit_events_describe(e, i, &src, &lid);
		snprintf(what, sizeof(what), "%s log %s in %s", src, lid, path);
		struct vgctl_progress prog;

		vg_audit_verify_init(&v, key, from);
		vgctl_progress_start(c, &prog, "verifying collector copy", &v.records, "records");
		vg_audit_events_verify(e, i, &v, &dups);
		vgctl_progress_stop(&prog);
		json_t *x = json_pack("{s:s, s:s, s:I}", "source", src, "log_id", lid, "duplicates", (json_int_t)dups);

		ok &= report_verify(c, what, &v, key != NULL, false, x, all);
		json_decref(x);
	}
	nunp = vg_audit_events_unparseable(e, &bad, &nbad);
	if (!vg_audit_events_logs(e)) {
		vgctl_error("audit verify: %s: no events%s%s", path, source ? " of " : "", source ? source : "");
		ok = false;
	}
	if (nunp) {
		/* a lost record shows as a gap in its chain; the lines are named so they can be looked at */
		fprintf(stderr, "warning: %s: %" PRIu64 " lines are not parseable events (lines", path, nunp);
		for (size_t i = 0; i < nbad; i++)
			fprintf(stderr, " %" PRIu64, bad[i]);
		fprintf(stderr, "%s)\n", nunp > nbad ? " ..." : "");
	}
	vg_audit_events_free(e);
	return ok ? VGCTL_EXIT_OK : VGCTL_EXIT_VERIFY;
}

static int run_verify(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },    { "pubkey", required_argument, NULL, 'k' },
		{ "from", required_argument, NULL, 'f' },   { "head", required_argument, NULL, 'H' },
		{ "no-head", no_argument, NULL, 'N' },	    { "events", required_argument, NULL, 'e' },
		{ "source", required_argument, NULL, 's' }, { "against", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = DEFAULT_LOG_DIR, *pub = NULL, *headp = NULL, *events = NULL, *source = NULL,
		   *against = NULL;
	char defpub[4200], defhead[4200], idpath[4200];
	_cleanup_free_ char *idtxt = NULL;
	bool no_head = false;
	uint64_t from = 0;
	EVP_PKEY *key = NULL;
	json_t *head = NULL, *all = json_array();
	struct vg_audit_verify v;
	struct vgctl_progress prog;
	struct vg_err err = { 0 };
	struct stat st;
	char *end;
	int o, rc, r;

	reset_getopt();
	while ((o = getopt_long(argc, argv, "d:k:f:H:Ne:s:a:", opts, NULL)) != -1) {
		switch (o) {
		case 'e': events = optarg; break;
		case 's': source = optarg; break;
		case 'd': dir = optarg; break;
		case 'k': pub = optarg; break;
		case 'f':
			from = strtoull(optarg, &end, 10);
			if (*end || !from) {
				vgctl_error("audit verify: --from %s: not a seq", optarg);
				return VGCTL_EXIT_USAGE;
			}
			break;
		case 'H': headp = optarg; break;
		case 'N': no_head = true; break;
		case 'a': against = optarg; break;
		default: return VGCTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		vgctl_error("audit verify: unexpected argument \"%s\"", argv[optind]);
		return VGCTL_EXIT_USAGE;
	}
	if (!events && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		vgctl_error("audit verify: %s: not a log directory (use --dir)", dir);
		return VGCTL_EXIT_FAIL;
	}
	/* defaults for a log in place: state_dir/host.pub and the head file beside the segments */
	snprintf(defpub, sizeof(defpub), "%s/../host.pub", dir);
	if (!pub && !events && access(defpub, R_OK) == 0)
		pub = defpub;
	if (pub && load_pubkey(pub, &key) < 0) {
		vgctl_error("audit verify: %s: not a PEM public key", pub);
		return VGCTL_EXIT_FAIL;
	}
	if (events) {
		/* a collector's copy: no local head, and the key must be given */
		rc = verify_events(c, events, source, key, from, all);
		goto out;
	}
	vg_audit_verify_init(&v, key, from);
	/* the log's identity: a replaced log.id is not the log the checkpoints sealed */
	snprintf(idpath, sizeof(idpath), "%s/log.id", dir);
	if (vg_read_file(idpath, 64, &idtxt, NULL) == 0)
		sscanf(idtxt, "%39s", v.expect_log_id);
	snprintf(defhead, sizeof(defhead), "%s/" VG_AUDIT_HEAD_FILE, dir);
	if (!headp && !no_head && !against && access(defhead, R_OK) == 0)
		headp = defhead;
	if (against) {
		/* rollback: the collector holds newer checkpoints than a rolled-back head.json */
		headp = against;
		head = newest_checkpoint(against, v.expect_log_id);
		if (!head) {
			vgctl_error("audit verify: %s: no checkpoint of log %s", against, v.expect_log_id);
			rc = VGCTL_EXIT_FAIL;
			goto out;
		}
	} else if (headp && !(head = load_json(headp))) {
		vgctl_error("audit verify: %s: not a JSON checkpoint", headp);
		rc = VGCTL_EXIT_FAIL;
		goto out;
	}
	vgctl_progress_start(c, &prog, "verifying audit log", &v.records, "records");
	r = vg_audit_verify_dir(dir, &v, head, &err);
	vgctl_progress_stop(&prog);
	if (r < 0) {
		vgctl_error("audit verify: %s: %s", err.path, err.msg);
		rc = VGCTL_EXIT_FAIL;
		goto out;
	}
	rc = report_verify(c, dir, &v, pub != NULL, headp != NULL, NULL, all) ? VGCTL_EXIT_OK : VGCTL_EXIT_VERIFY;
	if (!c->json && !headp)
		printf("  warning: no signed head: truncation at a record boundary cannot be seen\n");
out:
	if (!c->json && !pub && rc != VGCTL_EXIT_FAIL)
		printf("  warning: checkpoint signatures not checked (no host public key; use --pubkey)\n");
	if (c->json && rc != VGCTL_EXIT_FAIL) {
		json_t *res = json_array_size(all) == 1 ? json_incref(json_array_get(all, 0))
						       : json_pack("{s:b, s:O}", "ok", rc == VGCTL_EXIT_OK, "logs", all);

		vgctl_print_json(c, res);
		json_decref(res);
	}
	json_decref(all);
	json_decref(head);
	EVP_PKEY_free(key);
	return rc;
}

/* The next record; damage is reported on stderr and skipped (verify says what it means). */
static int next_record(struct vg_audit_reader *rd, struct vg_arec *rec, struct vg_err *err)
{
	int k;

	while ((k = vg_audit_reader_next(rd, rec, NULL, err)) == -EBADMSG)
		vgctl_error("warning: %s: %s (skipped; vigilctl audit verify explains it)", err->path, err->msg);
	return k;
}

struct tail_filter {
	const char *type, *since;
};

/* 1 when the event passes the filter; *ev is the parsed event */
static int tail_match(const struct tail_filter *f, const struct vg_arec *r, json_t **ev)
{
	const char *ty, *t;

	*ev = json_loadb(r->payload, r->len, 0, NULL);
	if (!*ev)
		return 0;
	ty = json_string_value(json_object_get(*ev, "type"));
	t = json_string_value(json_object_get(*ev, "time"));
	if (f->type && (!ty || (strcmp(ty, f->type) != 0 &&
				(strncmp(ty, "dev.vigil.", 10) != 0 || strcmp(ty + 10, f->type) != 0))))
		return 0;
	/* RFC 3339 UTC times of one format compare as strings */
	if (f->since && (!t || strcmp(t, f->since) < 0))
		return 0;
	return 1;
}

static void tail_print(struct vgctl *c, const struct vg_arec *r, json_t *ev)
{
	if (c->json) {
		printf("%.*s\n", (int)r->len, r->payload);
		return;
	}
	json_t *data = json_object_get(ev, "data");
	char *d = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);

	printf("%8" PRIu64 " %s %-28s %-16s %s\n", r->seq, json_string_value(json_object_get(ev, "time")),
	       json_string_value(json_object_get(ev, "type")) + 10,
	       json_string_value(json_object_get(ev, "subject")) ?: "-", d ? d : "");
	free(d);
}

static int run_tail(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },   { "type", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' }, { "lines", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },	   { NULL, 0, NULL, 0 },
	};
	const char *dir = DEFAULT_LOG_DIR;
	struct tail_filter flt = { 0 };
	long lines = 20;
	bool follow = false;
	struct vg_audit_reader *rd = NULL;
	struct vg_arec rec;
	struct vg_err err = { 0 };
	uint64_t *ring = NULL;
	long nring = 0;
	int o, k;

	reset_getopt();
	while ((o = getopt_long(argc, argv, "d:t:s:n:f", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 't': flt.type = optarg; break;
		case 's': flt.since = optarg; break;
		case 'n': lines = strtol(optarg, NULL, 10); break;
		case 'f': follow = true; break;
		default: return VGCTL_EXIT_USAGE;
		}
	}
	if (optind != argc || lines < 0 || lines > 1000000) {
		vgctl_error("audit tail: usage: audit tail [-f] [--type T] [--since TIME] [-n N] [--dir D]");
		return VGCTL_EXIT_USAGE;
	}
	/* pass 1: the seqs of the last `lines` matching records */
	if (vg_audit_reader_open(dir, 0, &rd, &err) < 0) {
		vgctl_error("audit tail: %s", err.msg);
		return VGCTL_EXIT_FAIL;
	}
	ring = calloc((size_t)lines + 1, sizeof(*ring));
	while ((k = next_record(rd, &rec, &err)) > 0) {
		json_t *ev;

		if (tail_match(&flt, &rec, &ev) && lines)
			ring[nring++ % lines] = rec.seq;
		json_decref(ev);
	}
	vg_audit_reader_free(rd);
	if (k < 0) {
		vgctl_error("audit tail: %s: %s", err.path, err.msg);
		free(ring);
		return VGCTL_EXIT_FAIL;
	}
	uint64_t from = nring == 0 ? UINT64_MAX : ring[nring > lines ? nring % lines : 0];

	free(ring);
	if (nring == 0 && !follow)
		return VGCTL_EXIT_OK;
	/* pass 2: print from there (and keep following) */
	vg_audit_reader_open(dir, nring ? from : 0, &rd, &err);
	for (;;) {
		while ((k = next_record(rd, &rec, &err)) > 0) {
			json_t *ev = NULL;

			if ((nring || follow) && (nring == 0 || rec.seq >= from) && tail_match(&flt, &rec, &ev))
				tail_print(c, &rec, ev);
			json_decref(ev);
		}
		fflush(stdout);
		if (k < 0 || !follow)
			break;
		if (nring == 0) {
			/* nothing matched so far: only new records from now on */
			nring = 1;
			from = 0;
		}
		usleep(200 * 1000);
	}
	vg_audit_reader_free(rd);
	if (k < 0) {
		vgctl_error("audit tail: %s: %s", err.path, err.msg);
		return VGCTL_EXIT_FAIL;
	}
	return VGCTL_EXIT_OK;
}

static int run_pubkey(struct vgctl *c, int argc, char **argv)
{
	const char *state = argc > 1 ? argv[1] : DEFAULT_STATE_DIR;
	char path[4200];
	_cleanup_free_ char *pem = NULL;
	EVP_PKEY *key;
	char id[17] = "";

	if (argc > 2) {
		vgctl_error("audit pubkey: usage: audit pubkey [STATE_DIR]");
		return VGCTL_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/host.pub", state);
	if (vg_read_file(path, 64 * 1024, &pem, NULL) < 0 || !(key = vg_key_from_pem(pem, false))) {
		vgctl_error("audit pubkey: %s: cannot read the host public key (vigild creates it at first start)",
			    path);
		return VGCTL_EXIT_FAIL;
	}
	vg_key_id(key, id);
	EVP_PKEY_free(key);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "path", path, "key_id", id, "pem", pem);

		vgctl_print_json(c, o);
		json_decref(o);
	} else {
		fputs(pem, stdout);
	}
	return VGCTL_EXIT_OK;
}

static int run_export(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = DEFAULT_LOG_DIR, *since = "", *until = "~", *outdir;
	struct vg_audit_reader *rd = NULL;
	struct vg_arec rec;
	struct vg_err err = { 0 };
	char path[4200];
	FILE *seg = NULL, *jl = NULL;
	uint64_t first = 0, last = 0, n = 0, ckpt = 0;
	bool in_range_done = false;
	json_t *ckpts = json_array(), *manifest;
	int o, k, rc = VGCTL_EXIT_FAIL;

	reset_getopt();
	while ((o = getopt_long(argc, argv, "d:s:u:", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 's': since = optarg; break;
		case 'u': until = optarg; break;
		default: return VGCTL_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		vgctl_error("audit export: usage: audit export [--since T] [--until T] [--dir D] OUTDIR");
		return VGCTL_EXIT_USAGE;
	}
	outdir = argv[optind];
	if (vg_mkdir_p(outdir, 0700) < 0 || vg_audit_reader_open(dir, 0, &rd, &err) < 0) {
		vgctl_error("audit export: cannot create %s or read %s", outdir, dir);
		return VGCTL_EXIT_FAIL;
	}
	/* the records of [since, until] and on to the first checkpoint after them, so the
	 * export is sealed and verifies on its own (verify --dir OUTDIR --from FIRST) */
	while ((k = next_record(rd, &rec, &err)) > 0) {
		json_t *ev = json_loadb(rec.payload, rec.len, 0, NULL);
		const char *t = json_string_value(json_object_get(ev, "time"));
		bool in = t && strcmp(t, since) >= 0 && strcmp(t, until) <= 0;

		if (!seg && in) {
			first = rec.seq;
			snprintf(path, sizeof(path), "%s/%020" PRIu64 VG_AUDIT_SEG_SUFFIX, outdir, first);
			seg = fopen(path, "we");
			snprintf(path, sizeof(path), "%s/events.jsonl", outdir);
			jl = fopen(path, "we");
			if (!seg || !jl) {
				json_decref(ev);
				vgctl_error("audit export: cannot write into %s", outdir);
				goto out;
			}
		}
		if (seg && !in)
			in_range_done = true;
		if (seg) {
			/* re-encoding is exact: same prev_hash, seq, kind and payload give the same bytes */
			uint8_t *buf = malloc(VG_AREC_HDR + rec.len);

			if (!buf) {
				json_decref(ev);
				goto out;
			}
			vg_arec_encode(buf, rec.prev_hash, rec.seq, rec.kind, rec.payload, rec.len);
			fwrite(buf, 1, VG_AREC_HDR + rec.len, seg);
			free(buf);
			if (!in_range_done)
				fprintf(jl, "%.*s\n", (int)rec.len, rec.payload);
			last = rec.seq;
			n++;
			if (rec.kind == VG_AREC_CHECKPOINT) {
				json_array_append(ckpts, ev);
				ckpt = rec.seq;
			}
		}
		json_decref(ev);
		if (in_range_done && ckpt == last)
			break;
	}
	vg_audit_reader_free(rd);
	rd = NULL;
	if (!seg) {
		vgctl_error("audit export: no record between %s and %s", since, until);
		goto out;
	}
	fclose(seg);
	fclose(jl);
	seg = jl = NULL;
	snprintf(path, sizeof(path), "%s/events.jsonl", outdir);
	_cleanup_free_ char *evs = NULL;
	size_t evlen = 0;
	char evhash[65];

	vg_read_file(path, (size_t)1 << 34, &evs, &evlen);
	vg_sha256_hex(evs ? evs : "", evlen, evhash);
	manifest = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:b, s:o}", "since", since, "until", until,
			     "source_dir", dir, "first_seq", (json_int_t)first, "last_seq", (json_int_t)last,
			     "records", (json_int_t)n, "events_sha256", evhash, "sealed", ckpt == last && ckpt,
			     "checkpoints", ckpts);
	ckpts = NULL;
	snprintf(path, sizeof(path), "%s/manifest.json", outdir);
	char *mtxt = json_dumps(manifest, JSON_INDENT(1));

	vg_write_file_atomic(path, mtxt, strlen(mtxt), 0644);
	free(mtxt);
	if (!vgctl_print_json(c, manifest))
		printf("exported seq %" PRIu64 "..%" PRIu64 " (%" PRIu64 " records%s) to %s\n"
		       "verify with: vigilctl audit verify --dir %s --from %" PRIu64 " --pubkey HOST.pub\n",
		       first, last, n, ckpt == last ? ", sealed by a checkpoint" : ", NOT sealed: no checkpoint yet",
		       outdir, outdir, first);
	json_decref(manifest);
	rc = VGCTL_EXIT_OK;
out:
	if (seg)
		fclose(seg);
	if (jl)
		fclose(jl);
	vg_audit_reader_free(rd);
	json_decref(ckpts);
	return rc;
}

static int run_status(struct vgctl *c, int argc, char **argv)
{
	json_t *reply = NULL, *s;
	size_t i;
	int r;

	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "audit.status"), &reply)) != 0)
		return r;
	if (!vgctl_print_json(c, reply)) {
		printf("log %s (id %s): seq %" JSON_INTEGER_FORMAT " durable, last checkpoint %" JSON_INTEGER_FORMAT
		       "\n",
		       json_string_value(json_object_get(reply, "dir")),
		       json_string_value(json_object_get(reply, "log_id")),
		       json_integer_value(json_object_get(reply, "durable_seq")),
		       json_integer_value(json_object_get(reply, "last_checkpoint_seq")));
		printf("spool %" JSON_INTEGER_FORMAT " / %" JSON_INTEGER_FORMAT " bytes in %" JSON_INTEGER_FORMAT
		       " segments%s\n",
		       json_integer_value(json_object_get(reply, "spool_bytes")),
		       json_integer_value(json_object_get(reply, "spool_max_bytes")),
		       json_integer_value(json_object_get(reply, "segments")),
		       json_is_true(json_object_get(reply, "degraded")) ? "  DEGRADED: elevation refused" : "");
		if (json_is_true(json_object_get(reply, "degraded")))
			printf("degraded since %" JSON_INTEGER_FORMAT ": %s; %" JSON_INTEGER_FORMAT
			       " events refused (spool full: %" JSON_INTEGER_FORMAT ", unwritable: %" JSON_INTEGER_FORMAT
			       "), %" JSON_INTEGER_FORMAT " not durable yet\n",
			       json_integer_value(json_object_get(reply, "degraded_since")),
			       json_string_value(json_object_get(reply, "degraded_reason")),
			       json_integer_value(json_object_get(reply, "dropped_while_degraded")) +
				       json_integer_value(json_object_get(reply, "dropped_unwritable")),
			       json_integer_value(json_object_get(reply, "dropped_while_degraded")),
			       json_integer_value(json_object_get(reply, "dropped_unwritable")),
			       json_integer_value(json_object_get(reply, "pending_events")));
		json_array_foreach(json_object_get(reply, "sinks"), i, s)
			printf("sink %s (%s %s): cursor %" JSON_INTEGER_FORMAT ", lag %" JSON_INTEGER_FORMAT
			       " events / %" JSON_INTEGER_FORMAT " s%s%s\n",
			       json_string_value(json_object_get(s, "name")),
			       json_string_value(json_object_get(s, "type")),
			       json_string_value(json_object_get(s, "target")),
			       json_integer_value(json_object_get(s, "cursor")),
			       json_integer_value(json_object_get(s, "lag_events")),
			       json_integer_value(json_object_get(s, "lag_seconds")),
			       json_string_value(json_object_get(s, "last_error"))[0] ? ", last error: " : "",
			       json_string_value(json_object_get(s, "last_error")));
	}
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

/* the answers of `audit note --stdin` so far */
struct note_stream {
	unsigned long answered, acked, refused;
	json_int_t first_seq, durable_seq;
};

static int note_stream_answer(struct vgctl *c, struct vg_ctl_pipe *p, struct note_stream *s)
{
	struct vg_err err = { 0 };
	json_t *reply = NULL, *e;

	if (vg_ctl_pipe_recv(p, &reply, &err) < 0) {
		vgctl_error("audit note: line %lu: %s (the notes after line %lu are not acknowledged)", s->answered + 1,
			    err.msg, s->answered);
		return VGCTL_EXIT_UNREACHABLE;
	}
	s->answered++;
	if (c->json) {
		char *j = json_dumps(reply, JSON_COMPACT);

		if (j)
			printf("%s\n", j);
		free(j);
	}
	if (json_is_true(json_object_get(reply, "ok"))) {
		s->acked++;
		if (!s->first_seq)
			s->first_seq = json_integer_value(json_object_get(reply, "first_seq"));
		s->durable_seq = json_integer_value(json_object_get(reply, "durable_seq"));
	} else {
		s->refused++;
		e = json_object_get(reply, "error");
		if (!c->json)
			vgctl_error("audit note: line %lu: %s [%s]", s->answered,
				    json_string_value(json_object_get(e, "message")) ?: "refused",
				    json_string_value(json_object_get(e, "code")) ?: "error");
	}
	json_decref(reply);
	return 0;
}

/* audit note --stdin: every line is a note of its own, one request each, over one pipelined
 * connection with up to `window` of them in flight; each is answered once durable */
static int note_stream(struct vgctl *c, unsigned window)
{
	struct note_stream s = { 0 };
	struct vg_ctl_pipe *p = NULL;
	struct vg_err err = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r = 0, sr = 0;

	if (vg_ctl_pipe_open(c->socket, window, c->timeout_ms, &p, &err) < 0) {
		vgctl_error("%s%s%s", err.path[0] ? err.path : "", err.path[0] ? ": " : "", err.msg);
		return VGCTL_EXIT_UNREACHABLE;
	}
	while (!r && (n = getline(&line, &cap, stdin)) >= 0) {
		json_t *req;

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!(req = json_pack("{s:s, s:s%}", "cmd", "audit.note", "text", line, (size_t)n))) {
			vgctl_error("audit note: line %lu is not UTF-8", s.answered + vg_ctl_pipe_inflight(p) + 1);
			r = VGCTL_EXIT_FAIL;
			break;
		}
		while (!r && (sr = vg_ctl_pipe_send(p, req, &err)) == -ENOBUFS)
			r = note_stream_answer(c, p, &s);
		if (!r && sr < 0) {
			vgctl_error("audit note: %s", err.msg);
			r = VGCTL_EXIT_UNREACHABLE;
		}
		json_decref(req);
	}
	while (!r && vg_ctl_pipe_inflight(p))
		r = note_stream_answer(c, p, &s);
	free(line);
	vg_ctl_pipe_close(p);
	if (!c->json)
		printf("%lu notes recorded (from seq %" JSON_INTEGER_FORMAT ", durable up to seq %" JSON_INTEGER_FORMAT
		       "), %lu refused\n",
		       s.acked, s.first_seq, s.durable_seq, s.refused);
	return r ? r : s.refused ? VGCTL_EXIT_FAIL : VGCTL_EXIT_OK;
}

static int run_note(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "repeat", required_argument, NULL, 'r' },
					      { "stdin", no_argument, NULL, 's' },
					      { "window", required_argument, NULL, 'w' },
					      { NULL, 0, NULL, 0 } };
	long repeat = 1, window = 0;
	bool from_stdin = false;
	json_t *reply = NULL;
	int o, r;

	reset_getopt();
	while ((o = getopt_long(argc, argv, "r:sw:", opts, NULL)) != -1) {
		if (o == 'r')
			repeat = strtol(optarg, NULL, 10);
		else if (o == 's')
			from_stdin = true;
		else if (o == 'w')
			window = strtol(optarg, NULL, 10);
		else
			return VGCTL_EXIT_USAGE;
	}
	if (from_stdin ? optind != argc || window < 0 || window > VG_CTL_PIPELINE_MAX : optind + 1 != argc) {
		vgctl_error("audit note: usage: audit note [--repeat N] TEXT | audit note --stdin [--window 1..%d]",
			    VG_CTL_PIPELINE_MAX);
		return VGCTL_EXIT_USAGE;
	}
	if (from_stdin)
		return note_stream(c, (unsigned)window);
	if ((r = vgctl_call(c, json_pack("{s:s, s:s, s:I}", "cmd", "audit.note", "text", argv[optind], "repeat",
					 (json_int_t)repeat),
			    &reply)) != 0)
		return r;
	if (!vgctl_print_json(c, reply))
		printf("recorded from seq %" JSON_INTEGER_FORMAT ", durable up to seq %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(reply, "first_seq")),
		       json_integer_value(json_object_get(reply, "durable_seq")));
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

static int run_seal(struct vgctl *c, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "audit.seal"), &reply)) != 0)
		return r;
	if (!vgctl_print_json(c, reply))
		printf("sealed: checkpoint at seq %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(reply, "last_checkpoint_seq")));
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

const struct vgctl_cmd vgctl_audit_cmds[] = {
	{ "audit verify", "[--dir D | --events JSONL [--source S]] [--pubkey F] [--from SEQ] [--head F | --no-head]",
	  "check the hash chain, checkpoints and signed head of a log or a collector's copy (offline)", run_verify },
	{ "audit tail", "[-f] [--type T] [--since TIME] [-n N] [--dir D]", "print the last events", run_tail },
	{ "audit export", "[--since T] [--until T] [--dir D] OUTDIR",
	  "copy a time range as a sealed, verifiable sub-log with a manifest", run_export },
	{ "audit pubkey", "[STATE_DIR]", "print the host public key that signs checkpoints", run_pubkey },
	{ "audit status", "", "log, spool, degraded state and sink cursors (from vigild)", run_status },
	{ "audit note", "[--repeat N] TEXT | --stdin [--window N]",
	  "record an admin.note event (--stdin: one per line, pipelined, each acknowledged once durable)", run_note },
	{ "audit seal", "", "write a checkpoint now", run_seal },
	{ NULL, NULL, NULL, NULL },
};
