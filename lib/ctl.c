/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "vigil/ctl.h"
#include "vigil/trust.h"
#include "vigil/util.h"

int vg_ctl_frame(json_t *msg, char **out, size_t *len)
{
	char *body = json_dumps(msg, JSON_COMPACT);
	size_t n;
	char *f;
	uint32_t be;

	if (!body)
		return -ENOMEM;
	n = strlen(body);
	f = malloc(n + 4);
	if (!f) {
		free(body);
		return -ENOMEM;
	}
	be = htonl((uint32_t)n);
	memcpy(f, &be, 4);
	memcpy(f + 4, body, n);
	free(body);
	*out = f;
	*len = n + 4;
	return 0;
}

uint32_t vg_ctl_max_request(uint64_t max_bundle_bytes)
{
	uint64_t n = (max_bundle_bytes + 2) / 3 * 4 + (VG_SIG_MAX_BYTES + 2) / 3 * 4 + 4096;

	return n > VG_CTL_MAX_FRAME ? VG_CTL_MAX_FRAME : (uint32_t)n;
}

int vg_ctl_parse_request(const char *buf, size_t len, json_t **out, struct vg_err *err)
{
	json_error_t jerr;
	json_t *req;

	*out = NULL;
	if (len > VG_CTL_MAX_FRAME)
		return vg_err_set(err, EMSGSIZE, "request_too_large", NULL, "request larger than %u bytes",
				  VG_CTL_MAX_FRAME);
	req = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return vg_err_set(err, EINVAL, "request_malformed", NULL, "request is not valid JSON: %s", jerr.text);
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "cmd"))) {
		json_decref(req);
		return vg_err_set(err, EINVAL, "request_malformed", NULL, "request must be an object with a string \"cmd\"");
	}
	*out = req;
	return 0;
}

json_t *vg_ctl_error_reply(const struct vg_err *err)
{
	json_t *e = json_pack("{s:s, s:s}", "code", err->code[0] ? err->code : "error", "message", err->msg);

	if (err->path[0])
		json_object_set_new(e, "path", json_string(err->path));
	return json_pack("{s:b, s:o}", "ok", 0, "error", e);
}

const struct vg_ctl_command vg_ctl_commands[] = {
	{ "ping", VG_CTL_ANYONE, "liveness check" },
	{ "ctl.pipeline", VG_CTL_ANYONE, "carry many requests on this connection, answered in order" },
	{ "status", VG_CTL_ANYONE, "daemon, policy, trust and module status" },
	{ "identity.whoami", VG_CTL_ANYONE, "what the policy says about the caller's own uid" },
	{ "posture", VG_CTL_ANYONE, "device posture verdict (a refresh is rate-limited for non-admins)" },
	{ "posture.report", VG_CTL_ANYONE, "posture verdict signed with the host key" },
	{ "audit.status", VG_CTL_ANYONE, "audit log and forwarder status" },
	{ "policy.push", VG_CTL_ADMIN, "load a signed bundle" },
	{ "policy.show", VG_CTL_ADMIN, "the running bundle (it holds break-glass hashes)" },
	{ "policy.rollback", VG_CTL_ADMIN, "go back to the last-known-good bundle" },
	{ "trust.update", VG_CTL_ADMIN, "rotate the trust file N to N+1" },
	{ "enforce.explain", VG_CTL_ADMIN, "the verdict for a destination (it reveals the policy)" },
	{ "dns.explain", VG_CTL_ADMIN, "the name rules matching a name and the addresses it taught a tenant" },
	{ "enforce.unload", VG_CTL_ADMIN, "remove the pinned eBPF programs" },
	{ "grants.list", VG_CTL_ADMIN, "every live elevation grant" },
	{ "grants.revoke", VG_CTL_ADMIN, "revoke a user's grant" },
	{ "breakglass.ingest", VG_CTL_ADMIN, "audit the break-glass spool now" },
	{ "emergency.push", VG_CTL_ADMIN, "apply a signed emergency document" },
	{ "emergency.show", VG_CTL_ADMIN, "the emergency measures in force (quarantines, freeze)" },
	{ "audit.note", VG_CTL_ADMIN, "add an admin note to the audit log" },
	{ "audit.seal", VG_CTL_ADMIN, "write a signed checkpoint now" },
	{ "elevation.check", VG_CTL_ROOT, "PAM: may this user elevate" },
	{ "elevation.challenge", VG_CTL_ROOT, "PAM: issue a step-up challenge" },
	{ "elevation.key_probe", VG_CTL_ROOT, "PAM: is a security key plugged into this host" },
	{ "elevation.key_assert", VG_CTL_ROOT, "PAM: the local security key signs a live challenge" },
	{ "elevation.assert", VG_CTL_ROOT, "PAM: verify an assertion, record an approval" },
	{ "elevation.commit", VG_CTL_ROOT, "PAM setcred: record the approval as a grant to confirm" },
	{ "elevation.confirm", VG_CTL_ROOT, "PAM setcred: the commit's answer arrived, make the grant" },
	{ "elevation.account", VG_CTL_ROOT, "PAM: account check" },
	{ "elevation.relay_challenge", VG_CTL_ROOT, "PAM: remote step-up challenge" },
	{ "elevation.relay_answer", VG_CTL_ROOT, "PAM: remote step-up answer" },
	{ NULL, VG_CTL_ROOT, NULL },
};

#if VIGIL_TEST_HOOKS
/* Test builds only: stand-ins for what other parts of vigild do, kept out of the documented table. */
static const struct vg_ctl_command test_commands[] = {
	{ "enforce.test_learn", VG_CTL_ROOT, "learn addresses for a tenant's name rule as the DNS forwarder does" },
	{ "enforce.test_forwarders", VG_CTL_ROOT, "set the DNS forwarder table" },
	{ NULL, VG_CTL_ROOT, NULL },
};
#endif

const struct vg_ctl_command *vg_ctl_command_find(const char *name)
{
	for (const struct vg_ctl_command *c = vg_ctl_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
#if VIGIL_TEST_HOOKS
	for (const struct vg_ctl_command *c = test_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
#endif
	return NULL;
}

const char *vg_ctl_who_name(enum vg_ctl_who who)
{
	switch (who) {
	case VG_CTL_ANYONE: return "anyone";
	case VG_CTL_ADMIN: return "admin";
	case VG_CTL_ROOT: return "root";
	}
	return "root";
}

int vg_ctl_authorize(const char *name, uid_t uid, bool admin, const char *admin_group, struct vg_err *err)
{
	const struct vg_ctl_command *c = vg_ctl_command_find(name);

	if (!c)
		return vg_err_set(err, ENOENT, "unknown_command", NULL,
				  "unknown command \"%.64s\" (see docs/control-socket.md)", name);
	if (c->who == VG_CTL_ANYONE || (c->who == VG_CTL_ADMIN && admin) || uid == 0)
		return 0;
	if (c->who == VG_CTL_ADMIN)
		return vg_err_set(err, EPERM, "permission_denied", NULL,
				  "%s needs root or membership in group %s (you are uid %u)", name, admin_group,
				  (unsigned)uid);
	return vg_err_set(err, EPERM, "permission_denied", NULL,
			  "%s is for pam_vigil.so running as root (you are uid %u)", name, (unsigned)uid);
}

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	uint64_t now = vg_now_ms_monotonic();
	int r;

	if (now >= deadline)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(deadline - now));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

static int io_all(int fd, char *buf, size_t len, bool writing, uint64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n;
		int r = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline);

		if (r < 0)
			return r;
		n = writing ? send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
			    : recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

/* io_all's sending half for several buffers at once (a raw push: head, bundle, signature) */
static int send_iov(int fd, struct iovec *iov, int n, uint64_t deadline)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t k;
		int r = wait_fd(fd, POLLOUT, deadline);

		if (r < 0)
			return r;
		k = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		for (; n > 0 && (size_t)k >= iov->iov_len; iov++, n--)
			k -= (ssize_t)iov->iov_len;
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* Connect bounded by the deadline: a full listen backlog makes a blocking AF_UNIX connect wait for
 * room, and SO_SNDTIMEO is what bounds that wait (a non-blocking one fails at once with EAGAIN). */
static int connect_bounded(int fd, const struct sockaddr_un *sa, uint64_t deadline)
{
	uint64_t now = vg_now_ms_monotonic();
	struct timeval tv;

	if (now >= deadline)
		return -ETIMEDOUT;
	tv.tv_sec = (time_t)((deadline - now) / 1000u);
	tv.tv_usec = (suseconds_t)((deadline - now) % 1000u * 1000u);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return errno == EINPROGRESS ? -ETIMEDOUT : -errno;
	return 0;
}

/* Absent: nothing listens on the path. Everything else that fails after that point (reset,
 * timeout, backlog full) is a vigild that exists but does not answer: busy. */
static int ctl_fail(struct vg_err *err, int r, const char *path, const char *what)
{
	if (r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR)
		return vg_err_set(err, -r, VG_CTL_ABSENT, path,
				  "cannot reach vigild (%s: %s): is it running? (systemctl status vigild)", what,
				  strerror(-r));
	return vg_err_set(err, -r, VG_CTL_BUSY, path, "vigild does not answer (%s: %s)", what, strerror(-r));
}

bool vg_ctl_vigild_absent(const struct vg_err *err)
{
	return strcmp(err->code, VG_CTL_ABSENT) == 0 || strcmp(err->code, "no_policy") == 0;
}

static int call_iov(const char *socket_path, struct iovec *iov, int niov, json_t **reply, int timeout_ms,
		    struct vg_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = vg_now_ms_monotonic() + (uint64_t)(timeout_ms > 0 ? timeout_ms : VG_CTL_TIMEOUT_MS);
	_cleanup_close_ int fd = -1;
	char *body = NULL;
	uint32_t be, n;
	json_error_t jerr;
	int r;

	*reply = NULL;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return vg_err_set(err, ENAMETOOLONG, "socket_path", socket_path, "socket path too long");
	strcpy(sa.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vg_err_set(err, errno, "socket", NULL, "socket: %s", strerror(errno));
	if ((r = connect_bounded(fd, &sa, deadline)) < 0)
		return ctl_fail(err, r == -EAGAIN ? -ETIMEDOUT : r, socket_path, "connect");
	r = send_iov(fd, iov, niov, deadline);
	if (r < 0)
		return ctl_fail(err, r, socket_path, "sending the request");
	if ((r = io_all(fd, (char *)&be, 4, false, deadline)) < 0)
		return ctl_fail(err, r, socket_path, "waiting for the reply");
	n = ntohl(be);
	if (n > VG_CTL_MAX_REPLY)
		return vg_err_set(err, EMSGSIZE, "reply_too_large", NULL, "reply larger than %u bytes", VG_CTL_MAX_REPLY);
	body = malloc(n + 1);
	if (!body)
		return -ENOMEM;
	if ((r = io_all(fd, body, n, false, deadline)) < 0) {
		free(body);
		return ctl_fail(err, r, socket_path, "reading the reply");
	}
	*reply = json_loadb(body, n, 0, &jerr);
	free(body);
	if (!json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		return vg_err_set(err, EPROTO, "reply_malformed", NULL, "vigild sent a malformed reply");
	}
	return 0;
}

int vg_ctl_call(const char *socket_path, json_t *req, json_t **reply, int timeout_ms, struct vg_err *err)
{
	struct iovec iov = { 0 };
	char *frame = NULL;
	int r;

	*reply = NULL;
	if ((r = vg_ctl_frame(req, &frame, &iov.iov_len)) < 0)
		return vg_err_set(err, -r, "encode", NULL, "cannot encode the request");
	iov.iov_base = frame;
	r = call_iov(socket_path, &iov, 1, reply, timeout_ms, err);
	free(frame);
	return r;
}

int vg_ctl_call_push(const char *socket_path, const char *bundle, size_t len, const char *sig, size_t siglen,
		     json_t **reply, int timeout_ms, struct vg_err *err)
{
	char head[VG_CTL_PUSH_HEAD_MAX];
	int h = vg_ctl_push_head(len, siglen, head);
	struct iovec iov[3] = { { head, 0 }, { (char *)bundle, len }, { (char *)sig, siglen } };

	*reply = NULL;
	if (h < 0)
		return vg_err_set(err, EMSGSIZE, "request_too_large", NULL, "a push is at most 1 GiB");
	iov[0].iov_len = (size_t)h;
	return call_iov(socket_path, iov, 3, reply, timeout_ms, err);
}

/* ---- pipelined client (docs/control-socket.md "Pipelining") ---- */

struct vg_ctl_pipe {
	int fd;
	unsigned window, inflight;
	int timeout_ms;
	char *out; /* frames not sent yet */
	size_t out_len, out_sent, out_cap;
	char *in; /* answer bytes received, not returned yet */
	size_t in_len, in_cap;
	char path[108];
};

static int buf_reserve(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 16384;
	char *b;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if (!(b = realloc(*buf, c)))
		return -ENOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

/* 1 when a whole answer is buffered, -EMSGSIZE for one larger than any answer may be */
static int pipe_have_answer(const struct vg_ctl_pipe *p)
{
	uint32_t be;

	if (p->in_len < 4)
		return 0;
	memcpy(&be, p->in, 4);
	if (ntohl(be) > VG_CTL_MAX_REPLY)
		return -EMSGSIZE;
	return p->in_len - 4 >= ntohl(be);
}

/* Send what is queued and receive what arrived, waiting (up to deadline) only when neither
 * can move: answers are read while requests are still being sent, so neither side blocks. */
static int pipe_pump(struct vg_ctl_pipe *p, uint64_t deadline)
{
	bool moved = false;
	ssize_t n;
	int r;

	if (p->out_sent < p->out_len) {
		n = send(p->fd, p->out + p->out_sent, p->out_len - p->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0) {
			p->out_sent += (size_t)n;
			moved = true;
			if (p->out_sent == p->out_len)
				p->out_sent = p->out_len = 0;
		}
	}
	if ((r = buf_reserve(&p->in, &p->in_cap, p->in_len + 65536)) < 0)
		return r;
	n = recv(p->fd, p->in + p->in_len, p->in_cap - p->in_len, MSG_DONTWAIT);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	if (n > 0) {
		p->in_len += (size_t)n;
		moved = true;
	}
	if (moved)
		return 0;
	if ((r = wait_fd(p->fd, p->out_len ? POLLIN | POLLOUT : POLLIN, deadline)) < 0)
		return r;
	return 0;
}

static int pipe_queue(struct vg_ctl_pipe *p, json_t *req)
{
	char *body = json_dumps(req, JSON_COMPACT);
	size_t n;
	uint32_t be;
	int r;

	if (!body)
		return -ENOMEM;
	n = strlen(body);
	if ((r = buf_reserve(&p->out, &p->out_cap, p->out_len + 4 + n)) < 0) {
		free(body);
		return r;
	}
	be = htonl((uint32_t)n);
	memcpy(p->out + p->out_len, &be, 4);
	memcpy(p->out + p->out_len + 4, body, n);
	p->out_len += 4 + n;
	p->inflight++;
	free(body);
	return 0;
}

int vg_ctl_pipe_send(struct vg_ctl_pipe *p, json_t *req, struct vg_err *err)
{
	int r;

	if (p->inflight >= p->window)
		return vg_err_set(err, ENOBUFS, "window_full", NULL,
				  "%u requests are waiting for their answers: read one first", p->inflight);
	if ((r = pipe_queue(p, req)) < 0)
		return vg_err_set(err, -r, "encode", NULL, "cannot encode the request");
	/* a full window, or a large queue, goes out now; otherwise with the next recv */
	if (p->inflight == p->window || p->out_len > 65536) {
		if ((r = pipe_pump(p, vg_now_ms_monotonic() + (uint64_t)p->timeout_ms)) < 0)
			return ctl_fail(err, r, p->path, "sending the request");
	}
	return 0;
}

int vg_ctl_pipe_recv(struct vg_ctl_pipe *p, json_t **reply, struct vg_err *err)
{
	uint64_t deadline = vg_now_ms_monotonic() + (uint64_t)p->timeout_ms;
	json_error_t jerr;
	uint32_t be, n;
	int r;

	*reply = NULL;
	if (!p->inflight)
		return vg_err_set(err, EINVAL, "no_request", NULL, "no request is waiting for an answer");
	while ((r = pipe_have_answer(p)) == 0)
		if ((r = pipe_pump(p, deadline)) < 0)
			return ctl_fail(err, r, p->path, "waiting for the reply");
	if (r < 0)
		return vg_err_set(err, EMSGSIZE, "reply_too_large", NULL, "reply larger than %u bytes", VG_CTL_MAX_REPLY);
	memcpy(&be, p->in, 4);
	n = ntohl(be);
	*reply = json_loadb(p->in + 4, n, 0, &jerr);
	memmove(p->in, p->in + 4 + n, p->in_len - 4 - n);
	p->in_len -= 4 + n;
	p->inflight--;
	if (!json_is_object(*reply)) {
		json_decref(*reply);
		*reply = NULL;
		return vg_err_set(err, EPROTO, "reply_malformed", NULL, "vigild sent a malformed reply");
	}
	return 0;
}

unsigned vg_ctl_pipe_inflight(const struct vg_ctl_pipe *p)
{
	return p->inflight;
}

void vg_ctl_pipe_close(struct vg_ctl_pipe *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	free(p->out);
	free(p->in);
	free(p);
}

/* the answer to ctl.pipeline: the window vigild grants, or vigild's refusal (busy) as err */
static int pipe_hello(struct vg_ctl_pipe *p, unsigned window, struct vg_err *err)
{
	json_t *req = json_pack("{s:s, s:i}", "cmd", "ctl.pipeline", "window", (int)window), *reply = NULL, *e;
	int r;

	p->window = 1;
	r = req ? vg_ctl_pipe_send(p, req, err) : vg_err_set(err, ENOMEM, "encode", NULL, "out of memory");
	json_decref(req);
	if (r < 0 || (r = vg_ctl_pipe_recv(p, &reply, err)) < 0)
		return r;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		e = json_object_get(reply, "error");
		r = vg_err_set(err, EBUSY, json_string_value(json_object_get(e, "code")) ?: "error", NULL, "%s",
			       json_string_value(json_object_get(e, "message")) ?: "ctl.pipeline refused");
		json_decref(reply);
		return r;
	}
	r = (int)json_integer_value(json_object_get(reply, "window"));
	json_decref(reply);
	if (r < 1)
		return vg_err_set(err, EPROTO, "reply_malformed", NULL, "vigild granted no pipeline window");
	p->window = (unsigned)r < window ? (unsigned)r : window;
	return 0;
}

int vg_ctl_pipe_open(const char *socket_path, unsigned window, int timeout_ms, struct vg_ctl_pipe **out,
		     struct vg_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vg_ctl_pipe *p;
	int r;

	*out = NULL;
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return vg_err_set(err, ENAMETOOLONG, "socket_path", socket_path, "socket path too long");
	if (!(p = calloc(1, sizeof(*p))))
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	strcpy(sa.sun_path, socket_path);
	snprintf(p->path, sizeof(p->path), "%s", socket_path);
	p->timeout_ms = timeout_ms > 0 ? timeout_ms : VG_CTL_TIMEOUT_MS;
	p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		r = vg_err_set(err, errno, "socket", NULL, "socket: %s", strerror(errno));
		goto fail;
	}
	if ((r = connect_bounded(p->fd, &sa, vg_now_ms_monotonic() + (uint64_t)p->timeout_ms)) < 0) {
		r = ctl_fail(err, r == -EAGAIN ? -ETIMEDOUT : r, socket_path, "connect");
		goto fail;
	}
	if ((r = pipe_hello(p, window ? window : VG_CTL_PIPELINE_MAX, err)) < 0)
		goto fail;
	*out = p;
	return 0;
fail:
	vg_ctl_pipe_close(p);
	return r;
}

int vg_ctl_push_head(size_t len, size_t siglen, char head[VG_CTL_PUSH_HEAD_MAX])
{
	int h = snprintf(head + 4, VG_CTL_PUSH_HEAD_MAX - 4, "{\"cmd\":\"policy.push\",\"bundle_bytes\":%zu,\"sig_bytes\":%zu}\n",
			 len, siglen);
	size_t body = (size_t)h + len + siglen;
	uint32_t be;

	if (len > VG_CTL_MAX_FRAME || siglen > VG_CTL_MAX_FRAME || body > VG_CTL_MAX_FRAME)
		return -EMSGSIZE;
	be = htonl((uint32_t)body);
	memcpy(head, &be, 4);
	return 4 + h;
}

/* a raw push header's size field */
static int push_size(json_t *head, const char *key, size_t *out, struct vg_err *err)
{
	json_t *v = json_object_get(head, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > VG_CTL_MAX_FRAME)
		return vg_err_set(err, EINVAL, "request_malformed", key,
				  "a raw policy.push header needs \"%s\": the number of bytes that follow (0 to 1 GiB)",
				  key);
	*out = (size_t)json_integer_value(v);
	return 0;
}

int vg_ctl_push_split(const char *body, size_t len, struct vg_ctl_push *out, struct vg_err *err)
{
	const char *nl = len && body[0] == '{' ? memchr(body, '\n', len < 1024 ? len : 1024) : NULL;
	struct vg_err ignored;
	const char *key;
	json_t *head = NULL, *v;
	size_t hl;
	int r;

	/* no header line that is a policy.push object with bundle_bytes: a JSON request */
	if (!nl || vg_ctl_parse_request(body, (size_t)(nl - body), &head, &ignored) < 0)
		return 0;
	if (strcmp(json_string_value(json_object_get(head, "cmd")), "policy.push") ||
	    !json_object_get(head, "bundle_bytes")) {
		json_decref(head);
		return 0;
	}
	json_object_foreach(head, key, v)
		if (strcmp(key, "cmd") && strcmp(key, "bundle_bytes") && strcmp(key, "sig_bytes")) {
			r = vg_err_set(err, EINVAL, "request_malformed", key, "unknown field in a raw policy.push header");
			goto out;
		}
	if ((r = push_size(head, "bundle_bytes", &out->bundle_len, err)) < 0 ||
	    (r = push_size(head, "sig_bytes", &out->sig_len, err)) < 0)
		goto out;
	hl = (size_t)(nl - body) + 1;
	if (len - hl != out->bundle_len + out->sig_len) {
		r = vg_err_set(err, EINVAL, "request_malformed", NULL,
			       "a raw policy.push announces %zu + %zu bytes and carries %zu: the request was cut or "
			       "padded on its way; send the bundle again with vigilctl policy push",
			       out->bundle_len, out->sig_len, len - hl);
		goto out;
	}
	out->bundle_off = hl;
	out->sig_off = hl + out->bundle_len;
	r = 1;
out:
	json_decref(head);
	return r;
}
