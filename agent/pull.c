/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTPS pull: GET pull_url (If-None-Match: the persisted ETag) and
 * pull_url + ".sig" every pull_interval_s plus jitter, with exponential
 * backoff on failure. The transfer runs in a thread so the loop never waits
 * on the network; the result comes back through an eventfd.
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
#include "vigil/util.h"

struct buf {
	char *data;
	size_t len, max;
	bool too_big;
};

struct vg_pull_result {
	/* inputs */
	char url[512], ca[256], cert[256], key[256], etag[256];
	size_t max;
	/* outputs */
	long http;
	char new_etag[256];
	struct buf body, sig;
	char error[CURL_ERROR_SIZE + 64];
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = size * n;
	char *nd;

	if (b->len + len > b->max) {
		b->too_big = true;
		return 0;
	}
	nd = realloc(b->data, b->len + len + 1);
	if (!nd)
		return 0;
	b->data = nd;
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

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

static long fetch(struct vg_pull_result *res, const char *url, struct buf *out, const char *etag)
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
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
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
	struct vg_daemon *d = arg;
	struct vg_pull_result *res = d->pull.result;
	char sigurl[600];
	uint64_t one = 1;

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
	if (write(d->pull.notify_fd, &one, sizeof(one)) < 0)
		vg_log(LOG_ERR, "pull: cannot notify the main loop");
	return NULL;
}

static void save_etag(struct vg_daemon *d)
{
	char path[512], *s;
	json_t *o = json_pack("{s:s, s:s}", "url", d->cfg.pull_url, "etag", d->pull.etag);

	snprintf(path, sizeof(path), "%s/pull.json", d->cfg.state_dir);
	s = json_dumps(o, 0);
	json_decref(o);
	if (s)
		vg_write_file_atomic(path, s, strlen(s), 0644);
	free(s);
}

static void load_etag(struct vg_daemon *d)
{
	char path[512], *buf = NULL;
	json_t *o;

	snprintf(path, sizeof(path), "%s/pull.json", d->cfg.state_dir);
	if (vg_read_file(path, 4096, &buf, NULL) < 0)
		return;
	o = json_loads(buf, 0, NULL);
	free(buf);
	/* an ETag only means something for the URL it came from */
	if (o && !strcmp(json_string_value(json_object_get(o, "url")) ?: "", d->cfg.pull_url))
		snprintf(d->pull.etag, sizeof(d->pull.etag), "%s", json_string_value(json_object_get(o, "etag")) ?: "");
	json_decref(o);
}

static void pull_start(struct vg_daemon *d, void *arg);

static void schedule(struct vg_daemon *d, uint32_t base_s)
{
	uint32_t jitter = 0;

	if (d->cfg.pull_jitter_s) {
		if (getrandom(&jitter, sizeof(jitter), 0) != sizeof(jitter))
			jitter = 0;
		jitter %= d->cfg.pull_jitter_s + 1;
	}
	d->pull.next_at = vg_now() + base_s + jitter;
	d->pull.timer = vg_loop_add_timer(d, (uint64_t)(base_s + jitter) * 1000u, pull_start, NULL);
}

static void pull_finished(struct vg_daemon *d, bool ok)
{
	struct vg_pull_state *p = &d->pull;

	if (ok) {
		p->backoff_s = 0;
		schedule(d, d->cfg.pull_interval_s);
	} else {
		p->backoff_s = p->backoff_s ? p->backoff_s * 2 : 5;
		if (p->backoff_s > d->cfg.pull_backoff_max_s)
			p->backoff_s = d->cfg.pull_backoff_max_s;
		schedule(d, p->backoff_s);
	}
}

static void pull_loaded(struct vg_daemon *d, int r, const struct vg_err *err, void *arg)
{
	struct vg_pull_state *p = &d->pull;

	if (r == 0 || r == -EALREADY)
		snprintf(p->last_result, sizeof(p->last_result), r == 0 ? "applied" : "unchanged");
	else
		snprintf(p->last_result, sizeof(p->last_result), "rejected: %.200s", err->msg);
	p->running = false;
	pull_finished(d, r == 0 || r == -EALREADY);
}

/* the fetched bundle goes to the loader thread; the next pull is scheduled once it is loaded */
static int submit(struct vg_daemon *d, struct vg_pull_result *res)
{
	struct vg_err err = { 0 };
	char *body = res->body.data ? res->body.data : calloc(1, 1);
	char *sig = res->sig.data ? res->sig.data : calloc(1, 1);
	int r;

	res->body.data = res->sig.data = NULL;
	/* a fetched ETag is kept even for a rejected bundle: refetching it cannot change the verdict */
	if (res->new_etag[0]) {
		snprintf(d->pull.etag, sizeof(d->pull.etag), "%s", res->new_etag);
		save_etag(d);
	}
	if (!body || !sig) {
		free(body);
		free(sig);
		return -ENOMEM;
	}
	r = vg_policy_submit(d, body, res->body.len, sig, res->sig.len, "pull", 0, json_pack("{s:s}", "url", res->url),
			     pull_loaded, NULL, &err);
	if (r < 0)
		snprintf(d->pull.last_result, sizeof(d->pull.last_result), "not loaded: %.200s", err.msg);
	return r;
}

static void on_done(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct vg_pull_result *res = d->pull.result;
	struct vg_pull_state *p = &d->pull;
	uint64_t v;
	bool ok = false, loading = false;

	if (read(fd, &v, sizeof(v)) != sizeof(v) || !res)
		return;
	p->last_at = vg_now();
	p->last_http = res->http;
	if (res->http == 304) {
		snprintf(p->last_result, sizeof(p->last_result), "not modified");
		ok = true;
	} else if (res->http == 200) {
		loading = submit(d, res) == 0;
	} else {
		snprintf(p->last_result, sizeof(p->last_result), "failed: %.200s", res->error);
		vg_log(LOG_WARNING, "pull: %s", res->error);
	}
	free(res->body.data);
	free(res->sig.data);
	free(res);
	p->result = NULL;
	if (loading)
		return; /* pull_loaded takes over */
	p->running = false;
	pull_finished(d, ok);
}

static void pull_start(struct vg_daemon *d, void *arg)
{
	struct vg_pull_result *res;
	pthread_t th;
	pthread_attr_t attr;

	d->pull.timer = 0;
	if (d->pull.running)
		return;
	res = calloc(1, sizeof(*res));
	if (!res) {
		schedule(d, 5);
		return;
	}
	snprintf(res->url, sizeof(res->url), "%s", d->cfg.pull_url);
	snprintf(res->ca, sizeof(res->ca), "%s", d->cfg.pull_ca_file);
	snprintf(res->cert, sizeof(res->cert), "%s", d->cfg.pull_cert_file);
	snprintf(res->key, sizeof(res->key), "%s", d->cfg.pull_key_file);
	snprintf(res->etag, sizeof(res->etag), "%s", d->pull.etag);
	res->body.max = d->cfg.max_bundle_bytes;
	res->sig.max = VG_SIG_MAX_BYTES;
	d->pull.result = res;
	d->pull.running = true;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, pull_thread, d) != 0) {
		d->pull.running = false;
		d->pull.result = NULL;
		free(res);
		schedule(d, 5);
	}
	pthread_attr_destroy(&attr);
}

int vg_pull_init(struct vg_daemon *d)
{
	if (!d->cfg.pull_url[0])
		return 0;
	if (strncmp(d->cfg.pull_url, "https://", 8)) {
		vg_log(LOG_ERR, "pull: pull_url must be https:// (got %s); pull disabled", d->cfg.pull_url);
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	d->pull.notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->pull.notify_fd < 0)
		return -errno;
	vg_loop_add_fd(d, d->pull.notify_fd, EPOLLIN, on_done, NULL);
	load_etag(d);
	pull_start(d, NULL); /* first pull right away */
	return 0;
}

void vg_pull_status(struct vg_daemon *d, json_t *status)
{
	struct vg_pull_state *p = &d->pull;
	char next[32], last[32];

	if (!d->cfg.pull_url[0])
		return;
	vg_time_format(p->next_at, next);
	vg_time_format(p->last_at, last);
	json_object_set_new(status, "pull",
			    json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I, s:i}", "url", d->cfg.pull_url, "etag", p->etag,
				      "last_at", p->last_at ? last : NULL, "last_result", p->last_result, "next_at",
				      p->running ? "now" : next, "last_http", (json_int_t)p->last_http, "backoff_s",
				      (int)p->backoff_s));
}

void vg_pull_shutdown(struct vg_daemon *d)
{
	/* a transfer still running is abandoned with the process; nothing it holds is persistent */
	if (d->pull.timer > 0)
		vg_loop_cancel_timer(d, d->pull.timer);
}
