/* SPDX-License-Identifier: Apache-2.0 */
/* HTTPS sink: a CloudEvents batch (application/cloudevents-batch+json) per POST; 2xx acknowledges it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "forward.h"

#define HTTPS_TIMEOUT_S 10L

struct https {
	CURL *curl;
	struct curl_slist *hdrs;
	char *body;
	size_t cap;
};

static int https_create(struct vg_fwd *f, char *errbuf, size_t len)
{
	struct https *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(errbuf, len, "out of memory");
		return -ENOMEM;
	}
	h->hdrs = curl_slist_append(NULL, "Content-Type: application/cloudevents-batch+json");
	f->impl = h;
	return 0;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
	return sz * n;
}

static int https_open(struct vg_fwd *f, struct https *h)
{
	h->curl = curl_easy_init();
	if (!h->curl)
		return -ENOMEM;
	curl_easy_setopt(h->curl, CURLOPT_URL, f->target);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, HTTPS_TIMEOUT_S);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (f->ca_file)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, f->ca_file);
	if (f->cert_file)
		curl_easy_setopt(h->curl, CURLOPT_SSLCERT, f->cert_file);
	if (f->key_file)
		curl_easy_setopt(h->curl, CURLOPT_SSLKEY, f->key_file);
	return 0;
}

static int https_send(struct vg_fwd *f, const struct vg_fwd_batch *b, char *errbuf, size_t len)
{
	struct https *h = f->impl;
	size_t need = 2, off = 0;
	long code = 0;
	CURLcode rc;

	if (!h->curl && https_open(f, h) < 0) {
		snprintf(errbuf, len, "cannot initialise libcurl");
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->n; i++)
		need += b->lens[i] + 1;
	if (need > h->cap) {
		char *nb = realloc(h->body, need);

		if (!nb) {
			snprintf(errbuf, len, "out of memory");
			return -ENOMEM;
		}
		h->body = nb;
		h->cap = need;
	}
	/* the records already are compact CloudEvents: the batch is their JSON array */
	h->body[off++] = '[';
	for (size_t i = 0; i < b->n; i++) {
		if (i)
			h->body[off++] = ',';
		memcpy(h->body + off, b->events[i], b->lens[i]);
		off += b->lens[i];
	}
	h->body[off++] = ']';
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, h->body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)off);
	rc = curl_easy_perform(h->curl);
	if (rc != CURLE_OK) {
		snprintf(errbuf, len, "POST %s: %s", f->target, curl_easy_strerror(rc));
		return -EIO;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		snprintf(errbuf, len, "POST %s: HTTP %ld (not acknowledged)", f->target, code);
		return -EIO;
	}
	return 0;
}

static void https_reset(struct vg_fwd *f)
{
	struct https *h = f->impl;

	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

static void https_destroy(struct vg_fwd *f)
{
	struct https *h = f->impl;

	https_reset(f);
	curl_slist_free_all(h->hdrs);
	free(h->body);
	free(h);
	f->impl = NULL;
}

const struct vg_fwd_ops vg_fwd_https_ops = {
	.create = https_create,
	.send = https_send,
	.reset = https_reset,
	.destroy = https_destroy,
};
