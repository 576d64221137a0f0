/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigilctl identity from-scim: SCIM /Users and /Groups (files, or pages
 * fetched with a bearer token) -> the bundle's identity section (docs/scim.md).
 * The mapping is lib/scim.c; this file reads, fetches and writes.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "vigil/scim.h"
#include "vigil/util.h"
#include "vigilctl.h"

#define PAGE_MAX_BYTES (16u << 20)
#define TOKEN_MAX 8192

struct scim_opts {
	const char *users, *groups, *url, *token_file, *ca_file, *previous, *out;
	uint32_t uid_min, uid_max, gid_min, gid_max;
};

/* https anywhere; plain http only to the loopback (tests) */
static int url_allowed(const char *url, const char **protocols)
{
	static const char *const loop[] = { "http://127.0.0.1:",
					    "http://127.0.0.1/",
					    "http://localhost:",
					    "http://localhost/",
					    "http://[::1]:",
					    "http://[::1]/",
					    NULL };

	if (!strncmp(url, "https://", 8)) {
		*protocols = "https";
		return 0;
	}
	for (size_t i = 0; loop[i]; i++)
		if (!strncmp(url, loop[i], strlen(loop[i]))) {
			*protocols = "http";
			return 0;
		}
	return -EINVAL;
}

/* GET one page; returns 0 with the body, or prints why and returns -1 */
static int get_page(const struct scim_opts *o, const char *url, const char *auth, struct vg_body *b)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	const char *protocols = NULL;
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode cr;
	int r = -1;

	url_allowed(url, &protocols);
	if (!c) {
		vgctl_error("from-scim: curl_easy_init failed");
		return -1;
	}
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/scim+json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, vg_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vigilctl/" VIGIL_VERSION);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	cr = curl_easy_perform(c);
	if (cr != CURLE_OK) {
		vgctl_error("from-scim: GET %s: %s", url,
			    b->too_big ? "page larger than 16 MiB" : (errbuf[0] ? errbuf : curl_easy_strerror(cr)));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		vgctl_error("from-scim: GET %s: HTTP %ld%s", url, code,
			    code == 401 || code == 403 ? " (the server refused the bearer token of --token-file)" : "");
		goto out;
	}
	r = 0;
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return r;
}

/* every page of BASE/Resource, by startIndex, into one JSON array text */
static int fetch_all(const struct scim_opts *o, const char *auth, const char *resource, char **text, size_t *len)
{
	json_t *pages = json_array(), *page;
	json_int_t total = -1;
	size_t seen = 0, bytes = 0;
	char url[2048];
	int r = -1;

	for (int n = 0;; n++) {
		struct vg_body b = { .max = PAGE_MAX_BYTES };
		json_error_t je;
		size_t got;

		if (n == VG_SCIM_MAX_PAGES) {
			vgctl_error("from-scim: %s: more than %d pages; refusing", resource, VG_SCIM_MAX_PAGES);
			goto out;
		}
		snprintf(url, sizeof(url), "%s/%s?startIndex=%zu&count=100", o->url, resource, seen + 1);
		if (get_page(o, url, auth, &b) < 0) {
			free(b.data);
			goto out;
		}
		bytes += b.len;
		page = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &je);
		free(b.data);
		if (!page) {
			vgctl_error("from-scim: GET %s: line %d column %d: %s", url, je.line, je.column, je.text);
			goto out;
		}
		if (bytes > VG_SCIM_MAX_BYTES) {
			json_decref(page);
			vgctl_error("from-scim: %s: more than %u bytes in all; refusing", resource, VG_SCIM_MAX_BYTES);
			goto out;
		}
		got = json_array_size(json_object_get(page, "Resources"));
		if (total < 0)
			total = json_integer_value(json_object_get(page, "totalResults"));
		json_array_append_new(pages, page);
		seen += got;
		/* an empty page ends the walk; lib/scim.c refuses the list if it is short
     * of totalResults */
		if (!got || (json_int_t)seen >= total)
			break;
	}
	*text = json_dumps(pages, JSON_COMPACT);
	*len = *text ? strlen(*text) : 0;
	r = *text ? 0 : -1;
out:
	json_decref(pages);
	return r;
}

static int read_token(const char *path, char **auth)
{
	_cleanup_free_ char *tok = NULL;
	size_t len;

	if (vg_read_file(path, TOKEN_MAX, &tok, &len) < 0) {
		vgctl_error("from-scim: cannot read the token file %s", path);
		return -1;
	}
	while (len && isspace((unsigned char)tok[len - 1]))
		tok[--len] = '\0';
	if (!len || strpbrk(tok, "\r\n")) {
		vgctl_error("from-scim: %s: the token must be one non-empty line", path);
		return -1;
	}
	if (asprintf(auth, "Authorization: Bearer %s", tok) < 0)
		return -1;
	return 0;
}

static int read_input(const char *path, char **text, size_t *len)
{
	int r = vg_read_file(path, VG_SCIM_MAX_BYTES, text, len);

	if (r < 0)
		vgctl_error("from-scim: %s: %s", path, r == -EFBIG ? "larger than 64 MiB" : strerror(-r));
	return r;
}

static int parse_range(const char *s, uint32_t *lo, uint32_t *hi)
{
	unsigned long a, b;
	char *e;

	errno = 0;
	a = strtoul(s, &e, 10);
	if (*e != '-' || errno)
		return -EINVAL;
	b = strtoul(e + 1, &e, 10);
	if (*e || errno || a > UINT32_MAX || b > UINT32_MAX)
		return -EINVAL;
	*lo = (uint32_t)a;
	*hi = (uint32_t)b;
	return 0;
}

static const char *doc_name(const struct scim_opts *o, const char *doc)
{
	if (!strcmp(doc, "previous"))
		return o->previous;
	if (o->url)
		return !strcmp(doc, "users") ? "/Users" : "/Groups";
	return !strcmp(doc, "users") ? o->users : o->groups;
}

static void report(struct vgctl *c, const struct scim_opts *o, json_t *ident, json_t *warnings)
{
	size_t i, active = 0, deprov = 0;
	json_t *u, *w, *sum;

	json_array_foreach(json_object_get(ident, "users"), i, u)
	{
		if (!strcmp(json_string_value(json_object_get(u, "state")), "active"))
			active++;
		else
			deprov++;
	}
	json_array_foreach(warnings, i, w) fprintf(
		stderr, "vigilctl: warning: %s: %s: %s\n", doc_name(o, json_string_value(json_object_get(w, "doc"))),
		json_string_value(json_object_get(w, "path")), json_string_value(json_object_get(w, "msg")));
	if (c->json) {
		sum = json_pack("{s:b,s:s,s:I,s:I,s:I,s:O}", "ok", 1, "out", o->out, "active", (json_int_t)active,
				"deprovisioned", (json_int_t)deprov, "groups",
				(json_int_t)json_array_size(json_object_get(ident, "groups")), "warnings", warnings);
		vgctl_print_json(c, sum);
		json_decref(sum);
	} else {
		fprintf(stderr,
			"identity: %zu active user(s), %zu deprovisioned, %zu group(s), "
			"%zu warning(s)\n",
			active, deprov, json_array_size(json_object_get(ident, "groups")), json_array_size(warnings));
	}
}

static int parse_opts(struct vgctl *c, int argc, char **argv, struct scim_opts *o)
{
	static const struct option opts[] = {
		{ "users", required_argument, NULL, 'u' },     { "groups", required_argument, NULL, 'g' },
		{ "url", required_argument, NULL, 'U' },       { "token-file", required_argument, NULL, 't' },
		{ "ca-file", required_argument, NULL, 'c' },   { "previous", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },       { "uid-range", required_argument, NULL, 'R' },
		{ "gid-range", required_argument, NULL, 'G' }, { NULL, 0, NULL, 0 },
	};
	int k;

	optind = 1;
	while ((k = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (k) {
		case 'u':
			o->users = optarg;
			break;
		case 'g':
			o->groups = optarg;
			break;
		case 'U':
			o->url = optarg;
			break;
		case 't':
			o->token_file = optarg;
			break;
		case 'c':
			o->ca_file = optarg;
			break;
		case 'p':
			o->previous = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'R':
			if (parse_range(optarg, &o->uid_min, &o->uid_max) < 0)
				goto usage;
			break;
		case 'G':
			if (parse_range(optarg, &o->gid_min, &o->gid_max) < 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc || !o->url == !o->users || (o->url && (o->groups || !o->token_file)) ||
	    (!o->url && (o->token_file || o->ca_file)) || (c->json && !o->out) || !o->uid_max != !o->gid_max)
		goto usage;
	if (o->url) {
		const char *proto;

		if (url_allowed(o->url, &proto) < 0) {
			vgctl_error("from-scim: --url must be https:// (plain http only to "
				    "127.0.0.1, localhost or [::1])");
			return -1;
		}
	}
	return 0;
usage:
	vgctl_error("usage: vigilctl identity from-scim (--users FILE [--groups "
		    "FILE] | --url URL --token-file FILE "
		    "[--ca-file FILE]) [--previous BUNDLE] [--uid-range MIN-MAX "
		    "--gid-range MIN-MAX] [--out FILE] "
		    "(--json needs --out)");
	return -1;
}

int vgctl_identity_from_scim(struct vgctl *c, int argc, char **argv)
{
	_cleanup_free_ char *users = NULL, *groups = NULL, *prev = NULL, *auth = NULL, *text = NULL;
	struct scim_opts o = { 0 };
	struct vg_scim_in in = { 0 };
	json_t *ident = NULL, *warnings = NULL;
	struct vg_err err = { 0 };
	int r = VGCTL_EXIT_FAIL;

	if (parse_opts(c, argc, argv, &o) < 0)
		return VGCTL_EXIT_USAGE;
	if (o.previous && read_input(o.previous, &prev, &in.previous_len) < 0)
		return VGCTL_EXIT_FAIL;
	if (o.url) {
		if (read_token(o.token_file, &auth) < 0 || fetch_all(&o, auth, "Users", &users, &in.users_len) < 0 ||
		    fetch_all(&o, auth, "Groups", &groups, &in.groups_len) < 0)
			return VGCTL_EXIT_FAIL;
	} else if (read_input(o.users, &users, &in.users_len) < 0 ||
		   (o.groups && read_input(o.groups, &groups, &in.groups_len) < 0)) {
		return VGCTL_EXIT_FAIL;
	}
	in.users = users;
	in.groups = groups;
	in.previous = prev;
	in.uid_min = o.uid_min;
	in.uid_max = o.uid_max;
	in.gid_min = o.gid_min;
	in.gid_max = o.gid_max;
	if (vg_scim_to_identity(&in, &ident, &warnings, &err) < 0) {
		vgctl_error("from-scim: %s: %s [%s]", doc_name(&o, err.path[0] ? err.path : "users"), err.msg,
			    err.code);
		return VGCTL_EXIT_FAIL;
	}
	text = json_dumps(ident, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text)
		goto out;
	if (o.out) {
		size_t n = strlen(text);

		text[n] = '\n';
		if ((r = vg_write_file_atomic(o.out, text, n + 1, 0644)) < 0) {
			vgctl_error("from-scim: cannot write %s: %s", o.out, strerror(-r));
			r = VGCTL_EXIT_FAIL;
			goto out;
		}
	} else {
		printf("%s\n", text);
	}
	report(c, &o, ident, warnings);
	r = VGCTL_EXIT_OK;
out:
	json_decref(ident);
	json_decref(warnings);
	return r;
}
