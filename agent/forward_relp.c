/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RELP sink (librelp, TLS). librelp acknowledges frames inside the session but
 * tells its caller nothing per frame, so frames count as acknowledged when the
 * session is closed politely afterwards: the peer answers "close" only after it
 * answered every frame before it, and librelp reports any failure on the way
 * through the error callback. The session is kept across batches and closed
 * (confirm) when the forwarder caught up or every FWD_CONFIRM_MS: the cursor
 * advances only then, so a failure resends what the closed sessions did not
 * confirm (at least once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <librelp.h>

#include "forward.h"
#include "vigil/util.h"

#define RELP_TIMEOUT_S 5
#define RELP_WINDOW 1024
#define RELP_BURST (RELP_WINDOW / 2)

struct relp {
	relpEngine_t *eng;
	relpClt_t *clt;
	char host[256], port[16];
	bool failed;
	char err[256];
};

static void on_err(void *usr, char *objinfo, char *msg, relpRetVal code)
{
	struct relp *r = usr;

	r->failed = true;
	snprintf(r->err, sizeof(r->err), "%s: %s (librelp %d)", objinfo, msg, (int)code);
}

static void on_auth_err(void *usr, char *authinfo, char *msg, relpRetVal code)
{
	struct relp *r = usr;

	r->failed = true;
	snprintf(r->err, sizeof(r->err), "TLS peer %s: %s (librelp %d)", authinfo, msg, (int)code);
}

/* librelp calls its debug hook unconditionally; it has no default */
static void __attribute__((format(printf, 1, 2))) relp_dbg(char *fmt, ...)
{
}

static int relp_create(struct vg_fwd *f, char *errbuf, size_t len)
{
	struct relp *r = calloc(1, sizeof(*r));
	const char *colon = strrchr(f->target, ':');

	if (!r) {
		snprintf(errbuf, len, "out of memory");
		return -ENOMEM;
	}
	if (!colon || colon == f->target || (size_t)(colon - f->target) >= sizeof(r->host) ||
	    strlen(colon + 1) >= sizeof(r->port) || !colon[1]) {
		free(r);
		snprintf(errbuf, len, "relp target '%s' is not host:port", f->target);
		return -EINVAL;
	}
	memcpy(r->host, f->target, (size_t)(colon - f->target));
	/* [::1]:514 */
	if (r->host[0] == '[' && r->host[strlen(r->host) - 1] == ']') {
		memmove(r->host, r->host + 1, strlen(r->host));
		r->host[strlen(r->host) - 1] = '\0';
	}
	snprintf(r->port, sizeof(r->port), "%s", colon + 1);
	if (relpEngineConstruct(&r->eng) != RELP_RET_OK) {
		free(r);
		snprintf(errbuf, len, "librelp: cannot create the engine");
		return -ENOMEM;
	}
	relpEngineSetDbgprint(r->eng, relp_dbg);
	relpEngineSetDnsLookupMode(r->eng, 0);
	relpEngineSetOnErr(r->eng, on_err);
	relpEngineSetOnAuthErr(r->eng, on_auth_err);
	relpEngineSetEnableCmd(r->eng, (unsigned char *)"syslog", eRelpCmdState_Required);
	f->impl = r;
	return 0;
}

static void relp_reset(struct vg_fwd *f)
{
	struct relp *r = f->impl;

	if (r->clt)
		relpEngineCltDestruct(r->eng, &r->clt);
	r->clt = NULL;
}

static int relp_connect(struct vg_fwd *f, struct relp *r, char *errbuf, size_t len)
{
	relpRetVal rc;

	r->failed = false;
	r->err[0] = '\0';
	if (relpEngineCltConstruct(r->eng, &r->clt) != RELP_RET_OK) {
		snprintf(errbuf, len, "librelp: cannot create a client");
		return -ENOMEM;
	}
	relpCltSetUsrPtr(r->clt, r);
	relpCltSetTimeout(r->clt, RELP_TIMEOUT_S);
	relpCltSetConnTimeout(r->clt, RELP_TIMEOUT_S);
	relpCltSetWindowSize(r->clt, RELP_WINDOW);
	if (f->tls) {
		relpCltEnableTLS(r->clt);
		if (f->ca_file)
			relpCltSetCACert(r->clt, f->ca_file);
		if (f->cert_file)
			relpCltSetOwnCert(r->clt, f->cert_file);
		if (f->key_file)
			relpCltSetPrivKey(r->clt, f->key_file);
		/* the server certificate must be valid for the target host name */
		relpCltSetAuthMode(r->clt, "name");
		relpCltAddPermittedPeer(r->clt, r->host);
	}
	rc = relpCltConnect(r->clt, AF_UNSPEC, (unsigned char *)r->port, (unsigned char *)r->host);
	if (rc != RELP_RET_OK) {
		snprintf(errbuf, len, "connect %s: %s", f->target, r->err[0] ? r->err : "failed");
		relp_reset(f);
		return -ECONNREFUSED;
	}
	return 0;
}

static int relp_send(struct vg_fwd *f, const struct vg_fwd_batch *b, char *errbuf, size_t len)
{
	struct relp *r = f->impl;
	char hdr[512];
	char *msg = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!r->clt && (rc = relp_connect(f, r, errbuf, len)) < 0)
		return rc;
	for (size_t i = 0; i < b->n && !rc; i++) {
		char when[32];
		const char *t;
		/* RFC 5424: facility log audit (13), severity info (6); MSG = the CloudEvent */
		int hl;

		t = strstr(b->events[i], "\"time\":\"");
		if (t && strlen(t + 8) > 20 && t[8 + 20] == '"')
			snprintf(when, sizeof(when), "%.20s", t + 8);
		else
			snprintf(when, sizeof(when), "-");
		hl = snprintf(hdr, sizeof(hdr), "<110>1 %s %s vigild - audit - ", when, b->hostname);
		if (cap < (size_t)hl + b->lens[i]) {
			char *nm = realloc(msg, cap = (size_t)hl + b->lens[i]);

			if (!nm) {
				rc = -ENOMEM;
				break;
			}
			msg = nm;
		}
		/* corks the socket so frames share TCP segments, in runs of half a window: a
		 * send that waits for a full window to be answered must not wait behind frames
		 * still held in the cork (the kernel holds them up to 200 ms) */
		if (i % RELP_BURST == 0) {
			if (i)
				relpCltHintBurstEnd(r->clt);
			relpCltHintBurstBegin(r->clt);
		}
		memcpy(msg, hdr, (size_t)hl);
		memcpy(msg + hl, b->events[i], b->lens[i]);
		if (relpCltSendSyslog(r->clt, (unsigned char *)msg, (size_t)hl + b->lens[i]) != RELP_RET_OK ||
		    r->failed)
			rc = -EIO;
	}
	free(msg);
	if (r->clt)
		relpCltHintBurstEnd(r->clt);
	if (rc < 0) {
		snprintf(errbuf, len, "relp %s: %s", f->target, r->err[0] ? r->err : "send failed");
		relp_reset(f);
	}
	return rc;
}

static int relp_confirm(struct vg_fwd *f, char *errbuf, size_t len)
{
	struct relp *r = f->impl;

	if (!r->clt)
		return 0;
	/* the polite close waits for the peer's answer to every frame sent */
	relpEngineCltDestruct(r->eng, &r->clt);
	r->clt = NULL;
	if (!r->failed)
		return 0;
	snprintf(errbuf, len, "relp %s: %s", f->target, r->err[0] ? r->err : "close failed");
	return -EIO;
}

static void relp_destroy(struct vg_fwd *f)
{
	struct relp *r = f->impl;

	relp_reset(f);
	relpEngineDestruct(&r->eng);
	free(r);
	f->impl = NULL;
}

const struct vg_fwd_ops vg_fwd_relp_ops = {
	.create = relp_create,
	.send = relp_send,
	.confirm = relp_confirm,
	.reset = relp_reset,
	.destroy = relp_destroy,
};
