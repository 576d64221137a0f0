/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS pull channels: GET url (If-None-Match: the persisted ETag) and url + ".sig" every
 * interval plus jitter, with exponential backoff on failure; the first pull after start waits a
 * random part of the jitter too, so a fleet restarted at once does not pull at once. Two
 * channels share this code: bundles (pull_url, handed to the loader thread) and emergency
 * documents (emergency_url, small, applied on the loop). The transfer runs in a thread so the
 * loop never waits on the network; the result comes back through an eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <syslog.h>
#include <curl/curl.h>

#include "core.h"
#include "emergency.h"
#include "vigil/emergency.h"
#include "vigil/util.h"

/* the emergency channel retries a failure sooner than the bundle's: at most this far apart */
#define EMERGENCY_BACKOFF_MAX_S 60u

struct vg_pull_result {
	/* inputs */
	char url[512], ca[256], cert[256], key[256], etag[256];
	size_t max;
	/* outputs */
	long http;
	char new_etag[256];
	struct vg_body body, sig;
	char error[CURL_ERROR_SIZE + 64];
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct vg_pull_result *res = arg;
	size_t len = size * n;

	if (len > 5 && !strncasecmp(p, "ETag:", 5)) {
		const char *v = p + 5;
		size_t vl = len - 5;

		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(res->new_etag)) {
			memcpy(res->new_etag, v, vl);
			res->new_etag[vl] = '\0';
		}
	}
	return len;
}

static long fetch(struct vg_pull_result *res, const char *url, struct vg_body *out, const char *etag)
{
	char errbuf[CURL_ERROR_SIZE] = "", hdr[300];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode cr;

	if (!c) {
		snprintf(res->error, sizeof(res->error), "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, vg_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "vigild/" VIGIL_VERSION);
	if (res->ca[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, res->ca);
	if (res->cert[0]) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, res->cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, res->key[0] ? res->key : res->cert);
	}
	if (etag && etag[0]) {
		snprintf(hdr, sizeof(hdr), "If-None-Match: %s", etag);
		h = curl_slist_append(h, hdr);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
	} else if (out == &res->body) {
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
	}
	cr = curl_easy_perform(c);
	if (cr != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "%s: %s", url,
			 out->too_big ? "larger than the size limit" : (errbuf[0] ? errbuf : curl_easy_strerror(cr)));
		code = -1;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

static void *pull_thread(void *arg)
{
	struct vg_pull_state *p = arg;
	struct vg_pull_result *res = p->result;
	char sigurl[600];
	uint64_t one = 1;

	/* the TLS files libcurl opens are trusted like every file vigild reads: a replaced CA or
	 * client key would choose whom vigild talks to */
	{
		const char *files[] = { res->ca, res->cert, res->key };
		struct vg_err err;

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			if (files[i][0] && vg_path_trusted(files[i], &err) < 0) {
				snprintf(res->error, sizeof(res->error), "%s", err.msg);
				res->http = -1;
				goto out;
			}
		}
	}
	res->http = fetch(res, res->url, &res->body, res->etag);
	if (res->http == 200) {
		snprintf(sigurl, sizeof(sigurl), "%s.sig", res->url);
		long sc = fetch(res, sigurl, &res->sig, NULL);

		if (sc != 200) {
			if (sc > 0)
				snprintf(res->error, sizeof(res->error), "%s: HTTP %ld", sigurl, sc);
			res->http = -1;
		}
	} else if (res->http > 0 && res->http != 304) {
		snprintf(res->error, sizeof(res->error), "%s: HTTP %ld", res->url, res->http);
	}
out:
	if (write(p->notify_fd, &one, sizeof(one)) < 0)
		vg_log(LOG_ERR, "%s: cannot notify the main loop", p->name);
	return NULL;
}

static void etag_path(struct vg_pull_state *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.json", p->d->cfg.state_dir, p->name);
}

static void save_etag(struct vg_pull_state *p)
{
	char path[512], *s;
	json_t *o = json_pack("{s:s, s:s}", "url", p->url, "etag", p->etag);

	etag_path(p, path, sizeof(path));
	s = json_dumps(o, 0);
	json_decref(o);
	if (s)
		vg_write_file_atomic(path, s, strlen(s), 0644);
	free(s);
}

static void load_etag(struct vg_pull_state *p)
{
	char path[512], *buf = NULL;
	json_t *o;

	etag_path(p, path, sizeof(path));
	if (vg_read_file(path, 4096, &buf, NULL) < 0)
		return;
	o = json_loads(buf, 0, NULL);
	free(buf);
	/* an ETag only means something for the URL it came from */
	if (o && !strcmp(json_string_value(json_object_get(o, "url")) ?: "", p->url))
		snprintf(p->etag, sizeof(p->etag), "%s", json_string_value(json_object_get(o, "etag")) ?: "");
	json_decref(o);
}

static void pull_start(struct vg_daemon *d, void *arg);

/* the next pull in base_s plus a random 0..jitter_s seconds */
static void schedule(struct vg_pull_state *p, uint32_t base_s)
{
	uint32_t jitter = 0;

	if (p->jitter_s) {
		if (getrandom(&jitter, sizeof(jitter), 0) != sizeof(jitter))
			jitter = 0;
		jitter %= p->jitter_s + 1;
	}
	p->next_at = vg_now() + base_s + jitter;
	p->timer = vg_loop_add_timer(p->d, (uint64_t)(base_s + jitter) * 1000u, pull_start, p);
}

static void pull_finished(struct vg_pull_state *p, bool ok)
{
	p->running = false;
	if (ok) {
		p->backoff_s = 0;
		schedule(p, p->interval_s);
	} else {
		p->backoff_s = p->backoff_s ? p->backoff_s * 2 : 5;
		if (p->backoff_s > p->backoff_max_s)
			p->backoff_s = p->backoff_max_s;
		schedule(p, p->backoff_s);
	}
}

static void pull_loaded(struct vg_daemon *d, int r, const struct vg_err *err, void *arg)
{
	struct vg_pull_state *p = arg;

	if (r == 0 || r == -EALREADY)
		snprintf(p->last_result, sizeof(p->last_result), r == 0 ? "applied" : "unchanged");
	else
		snprintf(p->last_result, sizeof(p->last_result), "rejected: %.200s", err->msg);
	pull_finished(p, r == 0 || r == -EALREADY);
}

/* An emergency document is small: verified and applied here, on the loop. */
static void submit_emergency(struct vg_pull_state *p, struct vg_pull_result *res)
{
	struct vg_err err = { 0 };
	json_t *reply = NULL;
	int r = vg_emergency_submit(p->d, res->body.data ?: "", res->body.len, res->sig.data ?: "", res->sig.len,
				    "pull", &reply, &err);

	if (r == 0 || r == -EALREADY)
		snprintf(p->last_result, sizeof(p->last_result), "%s",
			 r == 0 ? json_string_value(json_object_get(reply, "result")) ?: "applied" : "unchanged");
	else
		snprintf(p->last_result, sizeof(p->last_result), "rejected: %.200s", err.msg);
	json_decref(reply);
}

/* A fetched bundle goes to the loader thread; the next pull is scheduled once it is loaded.
 * Returns true when that is under way. */
static bool submit_bundle(struct vg_pull_state *p, struct vg_pull_result *res)
{
	struct vg_err err = { 0 };
	char *body = res->body.data ? res->body.data : calloc(1, 1);
	char *sig = res->sig.data ? res->sig.data : calloc(1, 1);

	res->body.data = res->sig.data = NULL;
	if (!body || !sig) {
		free(body);
		free(sig);
		return false;
	}
	if (vg_policy_submit(p->d, body, res->body.len, sig, res->sig.len, "pull", 0,
			     json_pack("{s:s}", "url", res->url), pull_loaded, p, &err) == 0)
		return true;
	snprintf(p->last_result, sizeof(p->last_result), "not loaded: %.200s", err.msg);
	return false;
}

static void on_done(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct vg_pull_state *p = arg;
	struct vg_pull_result *res = p->result;
	uint64_t v;
	bool ok = false, loading = false;

	if (read(fd, &v, sizeof(v)) != sizeof(v) || !res)
		return;
	p->result = NULL;
	p->last_at = vg_now();
	p->last_http = res->http;
	/* a fetched ETag is kept even for a rejected document: refetching it cannot change the verdict */
	if (res->http == 200 && res->new_etag[0]) {
		snprintf(p->etag, sizeof(p->etag), "%s", res->new_etag);
		save_etag(p);
	}
	if (res->http == 304) {
		snprintf(p->last_result, sizeof(p->last_result), "not modified");
		ok = true;
	} else if (res->http == 200 && p->emergency) {
		submit_emergency(p, res);
		ok = true;
	} else if (res->http == 200) {
		loading = submit_bundle(p, res);
	} else {
		snprintf(p->last_result, sizeof(p->last_result), "failed: %.200s", res->error);
		vg_log(LOG_WARNING, "%s: %s", p->name, res->error);
	}
	free(res->body.data);
	free(res->sig.data);
	free(res);
	if (!loading) /* else pull_loaded takes over */
		pull_finished(p, ok);
}

static void pull_start(struct vg_daemon *d, void *arg)
{
	struct vg_pull_state *p = arg;
	struct vg_pull_result *res;
	pthread_t th;
	pthread_attr_t attr;

	p->timer = 0;
	if (p->running)
		return;
	res = calloc(1, sizeof(*res));
	if (!res) {
		schedule(p, 5);
		return;
	}
	snprintf(res->url, sizeof(res->url), "%s", p->url);
	snprintf(res->ca, sizeof(res->ca), "%s", d->cfg.pull_ca_file);
	snprintf(res->cert, sizeof(res->cert), "%s", d->cfg.pull_cert_file);
	snprintf(res->key, sizeof(res->key), "%s", d->cfg.pull_key_file);
	snprintf(res->etag, sizeof(res->etag), "%s", p->etag);
	res->body.max = p->max_bytes;
	res->sig.max = VG_SIG_MAX_BYTES;
	p->result = res;
	p->running = true;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, pull_thread, p) != 0) {
		p->running = false;
		p->result = NULL;
		free(res);
		schedule(p, 5);
	}
	pthread_attr_destroy(&attr);
}

static int channel_init(struct vg_daemon *d, struct vg_pull_state *p)
{
	if (!p->url[0])
		return 0;
	if (strncmp(p->url, "https://", 8)) {
		vg_log(LOG_ERR, "%s: the URL must be https:// (got %s); this pull is disabled", p->name, p->url);
		p->url = "";
		return -EINVAL;
	}
	p->d = d;
	p->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->notify_fd < 0)
		return -errno;
	vg_loop_add_fd(d, p->notify_fd, EPOLLIN, on_done, p);
	load_etag(p);
	/* the first pull too waits a random 0..jitter_s: a fleet started at once spreads out */
	schedule(p, 0);
	return 0;
}

int vg_pull_init(struct vg_daemon *d)
{
	const struct vg_config *c = &d->cfg;
	int r1, r2;

	d->pull = (struct vg_pull_state){ .name = "pull", .url = c->pull_url, .interval_s = c->pull_interval_s,
					  .jitter_s = c->pull_jitter_s, .backoff_max_s = c->pull_backoff_max_s,
					  .max_bytes = c->max_bundle_bytes, .d = d };
	d->empull = (struct vg_pull_state){ .name = "emergency_pull", .emergency = true, .url = c->emergency_url,
					    .interval_s = c->emergency_interval_s, .jitter_s = c->emergency_jitter_s,
					    .backoff_max_s = EMERGENCY_BACKOFF_MAX_S, .max_bytes = VG_EMERGENCY_MAX_BYTES,
					    .d = d };
	if (c->pull_url[0] || c->emergency_url[0])
		curl_global_init(CURL_GLOBAL_DEFAULT);
	r1 = channel_init(d, &d->pull);
	r2 = channel_init(d, &d->empull);
	return r1 < 0 ? r1 : r2;
}

static void channel_status(struct vg_pull_state *p, json_t *status)
{
	char next[32], last[32];

	if (!p->url || !p->url[0])
		return;
	vg_time_format(p->next_at, next);
	vg_time_format(p->last_at, last);
	json_object_set_new(status, p->name,
			    json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I, s:i}", "url", p->url, "etag", p->etag, "last_at",
				      p->last_at ? last : NULL, "last_result", p->last_result, "next_at",
				      p->running ? "now" : next, "last_http", (json_int_t)p->last_http, "backoff_s",
				      (int)p->backoff_s));
}

void vg_pull_status(struct vg_daemon *d, json_t *status)
{
	channel_status(&d->pull, status);
	channel_status(&d->empull, status);
}

void vg_pull_shutdown(struct vg_daemon *d)
{
	/* a transfer still running is abandoned with the process; nothing it holds is persistent */
	if (d->pull.timer > 0)
		vg_loop_cancel_timer(d, d->pull.timer);
	if (d->empull.timer > 0)
		vg_loop_cancel_timer(d, d->empull.timer);
}
