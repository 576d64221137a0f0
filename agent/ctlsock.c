/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control socket (docs/control-socket.md): connection slots per class and uid, framing,
 * dispatch through the one authorisation table, answers held until the audit records of their
 * request are durable, and pipelining: after `ctl.pipeline` a connection carries many requests,
 * answered in the order they came, with bounded requests in flight per connection and per uid.
 * Nothing here blocks: a caller that sends slowly or does not read its answers costs its own
 * connection only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>

#include "audit.h"
#include "core.h"
#include "vigil/ctl.h"
#include "vigil/util.h"

#define CTL_IN_BUF (64u << 10) /* requests are read in chunks of this; a larger one gets its own buffer */
#define CTL_OUT_MAX (1u << 20) /* unsent answers above this: no further request is read (slow reader) */
#define CTL_IDLE_MS 60000      /* a pipelined connection with nothing in flight and nothing to send */

/* what one uid holds: connections (slots) and requests in flight over all of them */
struct uid_share {
	uid_t uid;
	unsigned conns, inflight;
	unsigned turn, turn_taken; /* requests taken in loop turn `turn` */
	bool waiting; /* a connection of this uid stopped reading at the in-flight cap */
	struct uid_share *next;
};

struct ctl_conn;

/* One request: answered in the order its connection sent it. Modules that answer later hold it
 * as the opaque struct vg_client (vg_ctl_defer, vg_client_reply). */
struct vg_client {
	struct ctl_conn *conn;
	struct vg_client *next;
	json_t *answer; /* what to send, once ready */
	json_t *held;	/* the answer, until the audit records of the request are durable */
	bool ready;
	bool early; /* answered before its audit records are durable (vg_ctl_answer_before_durable) */
};

struct ctl_conn {
	int fd;
	struct vg_peer peer;
	enum vg_conn_class cls;
	struct ctl_conn *prev, *next; /* every connection */
	struct ctl_conn *next_dirty;
	bool dirty;	/* on the list of connections to settle at the end of the loop turn */
	struct uid_share *share;
	bool pipelined; /* after ctl.pipeline; otherwise one request, then close */
	bool taken;	/* a request was taken (one-request connections take only one) */
	bool eof;	/* the caller sent everything it will send */
	bool gone;	/* closed: only answers in flight keep this alive */
	bool drain;	/* refused oversized request: discard what still arrives */
	bool shut;	/* SHUT_WR after the refusal of an oversized request */
	bool watched;
	uint32_t events;
	uint32_t max;	 /* largest request this caller may send */
	unsigned window; /* requests in flight at most */
	unsigned inflight;
	unsigned turn, turn_taken; /* requests taken in loop turn `turn` */
	char *in; /* CTL_IN_BUF bytes: received, not yet taken */
	size_t in_len;
	char *big; /* a request larger than the input buffer, being received */
	size_t big_len, big_got;
	struct vg_client *head, *tail; /* requests in flight, oldest first */
	char *out;		       /* framed answers, out_sent of them sent */
	size_t out_len, out_cap, out_sent;
	int timer;
	uint64_t timer_due;
	uint64_t frame_start; /* the request being received: when it started (connect for the first) */
	uint64_t last_io;     /* last bytes received or sent */
	uint64_t last_sent;   /* answers waiting: when they last made progress */
};

static struct ctl_conn *conns;	 /* every open connection */
static struct ctl_conn *dirty;	 /* to settle at the end of the loop turn */
static struct uid_share *shares; /* one per uid holding a connection */
static struct ctl_conn *later;	 /* requests buffered beyond this turn's budget */
static struct vg_client *dispatching; /* the request being handled (vg_ctl_defer) */
static unsigned turn;		      /* loop turns, for the per-turn budgets */
static struct {
	unsigned inflight_peak[VG_CONN_NCLASSES]; /* the most one uid of the class had in flight */
	uint64_t uid_cap_reached, slow_readers_closed;
} stats;

/* Connection slots and requests in flight: a class may hold at most `total` connections, one uid
 * `per_uid` of them and `inflight` requests over all of them, so that users cannot starve admins
 * and nobody can starve root (pam_vigil.so). */
static const struct {
	const char *name;
	size_t total, per_uid;
	unsigned inflight;
} conn_limits[] = {
	[VG_CONN_USER] = { "user", VG_CONN_MAX_USERS, VG_CONN_MAX_PER_USER, VG_INFLIGHT_PER_USER },
	[VG_CONN_ADMIN] = { "admin", VG_CONN_MAX_ADMINS, VG_CONN_MAX_PER_ADMIN, VG_INFLIGHT_PER_ADMIN },
	[VG_CONN_ROOT] = { "root", VG_CONN_MAX, VG_CONN_MAX, VG_INFLIGHT_PER_ROOT },
};

/* The caller's groups as the kernel recorded them at connect() (SO_PEERGROUPS): no /proc
 * lookup after accept, so no PID-reuse window and no later setgroups() by the caller counts. */
static bool peer_in_group(int fd, gid_t gid, gid_t want)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	bool found = gid == want;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || !(g = malloc(len)))
			return found;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0)
			len = 0;
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		found |= g[i] == want;
	if (g != small)
		free(g);
	return found;
}

static bool peer_is_admin(struct vg_daemon *d, int fd, uid_t uid, gid_t gid)
{
	struct group *gr;

	if (uid == 0)
		return true;
	gr = getgrnam(d->cfg.admin_group);
	return gr && peer_in_group(fd, gid, gr->gr_gid);
}

/* how long a caller may take to send a request or to read its answers: an admin's per progress,
 * anyone else's in all */
static unsigned client_limit_ms(const struct vg_daemon *d, bool admin)
{
	return admin ? VG_CTL_ADMIN_IDLE_MS : d->cfg.ctl_timeout_ms;
}

static void mark_dirty(struct ctl_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = dirty;
	dirty = c;
}

static size_t unsent(const struct ctl_conn *c)
{
	return c->out_len - c->out_sent;
}

/* may this connection have one more request in flight? */
static bool has_room(const struct ctl_conn *c)
{
	if (c->gone || c->drain || (!c->pipelined && c->taken))
		return false;
	return c->inflight < c->window && unsent(c) < CTL_OUT_MAX &&
	       c->share->inflight < conn_limits[c->cls].inflight;
}

/* The work one loop turn does for a connection, and for a uid over all its connections, is
 * bounded like what is in flight: requests answered at once (status) must not let one caller
 * hold the loop. */
static bool budget_left(const struct ctl_conn *c)
{
	return (c->turn != turn || c->turn_taken < c->window) &&
	       (c->share->turn != turn || c->share->turn_taken < conn_limits[c->cls].inflight);
}

static void budget_take(struct ctl_conn *c)
{
	if (c->turn != turn)
		c->turn = turn, c->turn_taken = 0;
	if (c->share->turn != turn)
		c->share->turn = turn, c->share->turn_taken = 0;
	c->turn_taken++;
	c->share->turn_taken++;
}

static bool can_take(const struct ctl_conn *c)
{
	return has_room(c) && budget_left(c);
}

static bool want_read(const struct ctl_conn *c)
{
	if (c->gone || c->eof)
		return false;
	if (c->drain)
		return true;
	return has_room(c) && (c->big ? c->big_got < c->big_len : c->in_len < CTL_IN_BUF);
}

static void conn_io(struct vg_daemon *d, int fd, uint32_t events, void *arg);
static void conn_gone(struct vg_daemon *d, struct ctl_conn *c);

/* epoll interest follows what the connection can do: no read while it may take no request */
static void conn_watch(struct vg_daemon *d, struct ctl_conn *c)
{
	uint32_t ev = (want_read(c) ? EPOLLIN : 0) | (unsent(c) ? EPOLLOUT : 0);

	if (c->gone || (c->watched && ev == c->events))
		return;
	if (!ev) {
		if (c->watched)
			vg_loop_del_fd(d, c->fd);
		c->watched = false;
	} else if (!c->watched) {
		if (vg_loop_add_fd(d, c->fd, ev, conn_io, c) < 0) {
			conn_gone(d, c);
			return;
		}
		c->watched = true;
	} else {
		vg_loop_mod_fd(d, c->fd, ev);
	}
	c->events = ev;
}

static void conn_timeout(struct vg_daemon *d, void *arg);

/* 0: no deadline (the connection waits for vigild, or is done) */
static uint64_t conn_deadline(const struct vg_daemon *d, const struct ctl_conn *c)
{
	uint64_t limit = client_limit_ms(d, c->peer.admin);

	if (c->gone)
		return 0;
	if (unsent(c))
		return c->last_sent + limit; /* answers not read */
	if (c->drain || (want_read(c) && (c->in_len || c->big || !c->taken)))
		return (c->peer.admin ? c->last_io : c->frame_start) + limit; /* a request not complete */
	if (c->pipelined && !c->head && !c->eof)
		return c->last_io + CTL_IDLE_MS;
	return 0;
}

/* one timer per connection, moved only when the deadline comes earlier (it re-arms when it
 * fires early), so that busy connections do not churn the timer table */
static void conn_arm(struct vg_daemon *d, struct ctl_conn *c)
{
	uint64_t due = conn_deadline(d, c), now;

	if (!due || (c->timer > 0 && c->timer_due <= due))
		return;
	if (c->timer > 0)
		vg_loop_cancel_timer(d, c->timer);
	now = vg_now_ms_monotonic();
	c->timer = vg_loop_add_timer(d, due > now ? due - now : 0, conn_timeout, c);
	c->timer_due = due;
}

static void share_put(struct uid_share *s)
{
	if (--s->conns)
		return;
	for (struct uid_share **p = &shares; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	free(s);
}

static struct uid_share *share_get(uid_t uid)
{
	struct uid_share *s;

	for (s = shares; s; s = s->next)
		if (s->uid == uid) {
			s->conns++;
			return s;
		}
	if (!(s = calloc(1, sizeof(*s))))
		return NULL;
	s->uid = uid;
	s->conns = 1;
	s->next = shares;
	shares = s;
	return s;
}

/* close the socket; the connection lives on (holding its slot) until its last request is answered */
static void conn_gone(struct vg_daemon *d, struct ctl_conn *c)
{
	if (c->gone)
		return;
	if (c->watched)
		vg_loop_del_fd(d, c->fd);
	c->watched = false;
	close(c->fd);
	c->fd = -1;
	c->gone = true;
	free(c->in);
	free(c->big);
	free(c->out);
	c->in = c->big = c->out = NULL;
	c->in_len = c->big_len = c->big_got = c->out_len = c->out_cap = c->out_sent = 0;
	mark_dirty(c);
}

static void conn_free(struct vg_daemon *d, struct ctl_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->timer > 0)
		vg_loop_cancel_timer(d, c->timer);
	share_put(c->share);
	free(c);
	d->nclients--;
}

static void conn_timeout(struct vg_daemon *d, void *arg)
{
	struct ctl_conn *c = arg;
	uint64_t due = conn_deadline(d, c);

	c->timer = 0;
	if (!due)
		return;
	if (vg_now_ms_monotonic() < due) {
		conn_arm(d, c);
		return;
	}
	if (unsent(c)) {
		stats.slow_readers_closed++;
		vg_log(LOG_NOTICE, "ctl: closing connection from pid %d uid %u: its answers were not read for %u ms",
		       (int)c->peer.pid, c->peer.uid, client_limit_ms(d, c->peer.admin));
	}
	else if (c->pipelined && !c->in_len && !c->big && !c->drain)
		vg_log(LOG_DEBUG, "ctl: closing idle connection from pid %d uid %u", (int)c->peer.pid, c->peer.uid);
	else
		vg_log(LOG_NOTICE, "ctl: closing connection from pid %d uid %u: no complete request within %u ms",
		       (int)c->peer.pid, c->peer.uid, client_limit_ms(d, c->peer.admin));
	conn_gone(d, c);
}

/* ---- answers, in order ---- */

static int out_append(struct ctl_conn *c, json_t *answer)
{
	char *body = json_dumps(answer, JSON_COMPACT);
	size_t n, need;
	uint32_t be;

	if (!body)
		return -ENOMEM;
	n = strlen(body);
	if (c->out_sent == c->out_len) {
		c->out_sent = c->out_len = 0;
		c->last_sent = vg_now_ms_monotonic();
	}
	need = c->out_len + 4 + n;
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *o;

		while (cap < need)
			cap *= 2;
		if (!(o = realloc(c->out, cap))) {
			free(body);
			return -ENOMEM;
		}
		c->out = o;
		c->out_cap = cap;
	}
	be = htonl((uint32_t)n);
	memcpy(c->out + c->out_len, &be, 4);
	memcpy(c->out + c->out_len + 4, body, n);
	c->out_len = need;
	free(body);
	return 0;
}

/* the answers at the head of the queue that are ready go out, in order */
static void conn_emit(struct vg_daemon *d, struct ctl_conn *c)
{
	while (c->head && c->head->ready) {
		struct vg_client *q = c->head;
		bool was_waiting = c->share->waiting;

		c->head = q->next;
		if (!c->head)
			c->tail = NULL;
		if (!c->gone && out_append(c, q->answer) < 0)
			conn_gone(d, c);
		json_decref(q->answer);
		free(q);
		c->inflight--;
		c->share->inflight--;
		/* the uid's other connections may read again */
		if (was_waiting) {
			c->share->waiting = false;
			for (struct ctl_conn *o = conns; o; o = o->next)
				if (o->share == c->share)
					mark_dirty(o);
		}
	}
	mark_dirty(c);
}

static void req_answer(struct vg_daemon *d, struct vg_client *q, json_t *answer)
{
	q->answer = answer;
	q->ready = true;
	conn_emit(d, q->conn);
}

static json_t *finish_reply(int r, json_t *reply, struct vg_err *err)
{
	if (r < 0) {
		json_decref(reply);
		if (!err->msg[0])
			vg_err_set(err, -r, "internal", NULL, "%s", strerror(-r));
		return vg_ctl_error_reply(err);
	}
	if (!reply)
		reply = json_object();
	json_object_set_new(reply, "ok", json_true());
	return reply;
}

struct vg_client *vg_ctl_defer(struct vg_daemon *d)
{
	return dispatching;
}

void vg_ctl_answer_before_durable(struct vg_daemon *d)
{
	if (dispatching)
		dispatching->early = true;
}

void vg_client_reply(struct vg_daemon *d, struct vg_client *q, int r, json_t *reply, const struct vg_err *err)
{
	struct vg_err e = *err;

	req_answer(d, q, finish_reply(r, reply, &e));
}

bool vg_client_gone(const struct vg_client *q)
{
	struct pollfd p = { .fd = q->conn->fd };

	/* a closed peer of a unix stream socket shows as POLLHUP even when nothing is read */
	return q->conn->gone || (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)));
}

/* ctl.pipeline {window}: from now on this connection carries many requests */
static json_t *start_pipeline(struct ctl_conn *c, json_t *req, struct vg_err *err)
{
	json_t *w = json_object_get(req, "window");
	json_int_t want = w ? json_integer_value(w) : VG_CTL_PIPELINE_MAX;

	if ((w && !json_is_integer(w)) || want < 1) {
		vg_err_set(err, EINVAL, "bad_request", "$.window", "window must be an integer of at least 1");
		return NULL;
	}
	c->pipelined = true;
	c->window = want > VG_CTL_PIPELINE_MAX ? VG_CTL_PIPELINE_MAX : (unsigned)want;
	if (c->window > conn_limits[c->cls].inflight)
		c->window = conn_limits[c->cls].inflight;
	return json_pack("{s:i, s:i}", "window", (int)c->window, "idle_ms", CTL_IDLE_MS);
}

/* NULL when the command answers later (vg_client_reply) */
static json_t *dispatch(struct vg_daemon *d, struct vg_client *q, json_t *req)
{
	const struct vg_peer *peer = &q->conn->peer;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	json_t *reply = NULL;
	struct vg_err err = { 0 };
	int r = -ENOENT;

	if ((r = vg_ctl_authorize(cmd, peer->uid, peer->admin, d->cfg.admin_group, &err)) < 0)
		return vg_ctl_error_reply(&err);
	r = -ENOENT;
	if (!strcmp(cmd, "status")) {
		reply = json_object();
		vg_daemon_status(d, reply);
		r = 0;
	} else if (!strcmp(cmd, "ping")) {
		reply = json_object();
		r = 0;
	} else if (!strcmp(cmd, "ctl.pipeline")) {
		reply = start_pipeline(q->conn, req, &err);
		r = reply ? 0 : -EINVAL;
	} else {
		r = vg_policy_ctl(d, peer, cmd, req, &reply, &err, q);
		dispatching = q;
		for (size_t i = 0; r == -ENOENT && vg_modules[i]; i++)
			if (vg_modules[i]->ctl)
				r = vg_modules[i]->ctl(d, peer, cmd, req, &reply, &err);
		dispatching = NULL;
		if (r == -EINPROGRESS)
			return NULL;
	}
	if (r == -ENOENT && !err.msg[0])
		vg_err_set(&err, ENOENT, "unknown_command", NULL, "unknown command \"%.64s\" (see docs/control-socket.md)",
			   cmd);
	return finish_reply(r, reply, &err);
}

static void held_reply_durable(struct vg_daemon *d, int r, void *arg)
{
	struct vg_client *q = arg;
	json_t *reply = q->held;

	q->held = NULL;
	if (r < 0 && json_is_true(json_object_get(reply, "ok"))) {
		struct vg_err err = { 0 };

		json_decref(reply);
		vg_err_set(&err, -r, "audit_refused", NULL,
			   "the audit record of this request could not be made durable (%s), so nothing was done "
			   "on its behalf; vigilctl audit status shows why",
			   strerror(-r));
		reply = vg_ctl_error_reply(&err);
	}
	req_answer(d, q, reply);
}

/* A request that produced audit records is answered once they are durable: the answer of
 * every request handled in one loop turn waits for the same fdatasync (group commit). */
static bool hold_until_durable(struct vg_daemon *d, struct vg_client *q, uint64_t from, json_t *reply)
{
	uint64_t end = vg_audit_next_seq(d);
	int r;

	if (end == from)
		return false;
	r = vg_audit_when_durable(d, end, held_reply_durable, q);
	if (r == 1)
		return false;
	q->held = reply;
	if (r < 0)
		held_reply_durable(d, r, q);
	return true;
}

static void req_error(struct vg_daemon *d, struct vg_client *q, struct vg_err *err)
{
	req_answer(d, q, vg_ctl_error_reply(err));
}

/* a new request of c, queued after the others (answers leave in this order); NULL: out of memory */
static struct vg_client *conn_enqueue(struct ctl_conn *c)
{
	struct vg_client *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->conn = c;
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	c->inflight++;
	c->share->inflight++;
	return q;
}

/* one complete request; body is freed here unless a large push takes it */
static void conn_request(struct vg_daemon *d, struct ctl_conn *c, char *body, size_t len, bool owned)
{
	struct vg_client *q = conn_enqueue(c);
	struct vg_err err = { 0 };
	json_t *req = NULL, *reply;
	uint64_t from = vg_audit_next_seq(d);

	if (!q) {
		if (owned)
			free(body);
		conn_gone(d, c);
		return;
	}
	c->taken = true;
	budget_take(c);
	if (c->share->inflight > stats.inflight_peak[c->cls])
		stats.inflight_peak[c->cls] = c->share->inflight;
	/* only an admin's bundle push is this large: parsing it is the loader thread's job */
	if (len > VG_CTL_USER_MAX_REQUEST) {
		if (vg_policy_submit_push(d, body, len, &c->peer, q, &err) < 0)
			req_error(d, q, &err);
		return;
	}
	if (vg_ctl_parse_request(body, len, &req, &err) < 0)
		reply = vg_ctl_error_reply(&err);
	else
		reply = dispatch(d, q, req);
	json_decref(req);
	if (owned)
		free(body);
	if (!reply || (!q->early && hold_until_durable(d, q, from, reply)))
		return;
	req_answer(d, q, reply);
}

static void conn_too_large(struct vg_daemon *d, struct ctl_conn *c, size_t len)
{
	struct vg_client *q = conn_enqueue(c);
	struct vg_err err;

	c->drain = true;
	c->in_len = 0;
	if (!q) {
		conn_gone(d, c);
		return;
	}
	vg_err_set(&err, EMSGSIZE, "request_too_large", NULL,
		   "request of %zu bytes exceeds the limit of %u bytes for this caller%s", len, c->max,
		   c->peer.admin ? " (it follows max_bundle_bytes in vigild.conf)" : "");
	req_error(d, q, &err);
}

/* take the complete requests received, as many as the connection may have in flight */
static void conn_take(struct vg_daemon *d, struct ctl_conn *c)
{
	size_t off = 0;

	if (c->big && c->big_got == c->big_len && can_take(c)) {
		char *body = c->big;

		c->big = NULL;
		conn_request(d, c, body, c->big_len, true);
	}
	while (!c->big && can_take(c) && c->in_len - off >= 4) {
		uint32_t be, n;

		memcpy(&be, c->in + off, 4);
		n = ntohl(be);
		if (n > c->max) {
			conn_too_large(d, c, n);
			return;
		}
		if (c->in_len - off - 4 < n) {
			if (4 + (size_t)n <= CTL_IN_BUF)
				break;
			/* larger than the buffer: its own, filled by the next reads */
			if (!(c->big = malloc((size_t)n + 1))) {
				conn_gone(d, c);
				return;
			}
			c->big_len = n;
			c->big_got = c->in_len - off - 4;
			memcpy(c->big, c->in + off + 4, c->big_got);
			off = c->in_len;
			break;
		}
		conn_request(d, c, c->in + off + 4, n, false);
		off += 4 + (size_t)n;
		if (c->gone)
			return;
	}
	/* at the uid's cap: its connections read again when one of its answers goes out */
	if (c->share->inflight >= conn_limits[c->cls].inflight && !c->share->waiting) {
		c->share->waiting = true;
		stats.uid_cap_reached++;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		if (c->pipelined)
			c->frame_start = vg_now_ms_monotonic();
	}
}

/* ---- socket I/O ---- */

static void conn_read(struct vg_daemon *d, struct ctl_conn *c)
{
	char scratch[65536], *dst;
	size_t room;
	ssize_t n;

	if (c->drain) {
		dst = scratch;
		room = sizeof(scratch);
	} else if (c->big) {
		dst = c->big + c->big_got;
		room = c->big_len - c->big_got;
	} else {
		if (!c->in && !(c->in = malloc(CTL_IN_BUF))) {
			conn_gone(d, c);
			return;
		}
		dst = c->in + c->in_len;
		room = CTL_IN_BUF - c->in_len;
	}
	if (!room)
		return;
	n = recv(c->fd, dst, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || (n == 0 && c->drain)) {
		conn_gone(d, c);
		return;
	}
	if (n == 0) {
		c->eof = true;
		return;
	}
	if (c->drain)
		return;
	c->last_io = vg_now_ms_monotonic();
	if (c->big) {
		c->big_got += (size_t)n;
		return;
	}
	if (!c->in_len && c->pipelined)
		c->frame_start = c->last_io;
	c->in_len += (size_t)n;
}

static void conn_flush(struct vg_daemon *d, struct ctl_conn *c)
{
	while (unsent(c)) {
		ssize_t n = send(c->fd, c->out + c->out_sent, unsent(c), MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_gone(d, c);
			return;
		}
		c->out_sent += (size_t)n;
		c->last_io = c->last_sent = vg_now_ms_monotonic();
	}
	c->out_sent = c->out_len = 0;
	if (c->out_cap > CTL_OUT_MAX) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

/* after I/O or an answer: close what is done, watch what may come */
static void conn_settle(struct vg_daemon *d, struct ctl_conn *c)
{
	if (c->gone) {
		if (!c->head)
			conn_free(d, c);
		return;
	}
	if (c->drain && !c->head && !unsent(c) && !c->shut) {
		/* read and drop the rest of a refused request, so the client, still sending, gets to read
		 * our answer instead of EPIPE; the request deadline ends this */
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	if (!c->head && !unsent(c) && !c->drain && (c->eof || (!c->pipelined && c->taken))) {
		conn_gone(d, c); /* one request per connection, or the caller is done: freed once settled */
		return;
	}
	conn_watch(d, c);
	conn_arm(d, c);
}

static void conn_io(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct ctl_conn *c = arg;

	if (events & EPOLLOUT)
		conn_flush(d, c);
	if (!c->gone && (events & EPOLLIN)) {
		conn_read(d, c);
		if (!c->gone)
			conn_take(d, c);
	}
	/* the caller closed: what it sent is taken, its answers can no longer arrive */
	if (!c->gone && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
		conn_gone(d, c);
	mark_dirty(c);
}

/* End of a loop turn: answers go out (one send for all of a connection's), connections with
 * room take the requests they have buffered, finished ones close. */
void vg_ctl_turn_end(struct vg_daemon *d)
{
	struct ctl_conn *c;

	turn++;
	while ((c = later)) {
		later = c->next_dirty;
		c->dirty = false;
		mark_dirty(c);
	}
	while (dirty) {
		c = dirty;
		dirty = c->next_dirty;
		c->dirty = false;
		if (!c->gone) {
			conn_take(d, c);
			conn_flush(d, c);
		}
		if (c->dirty)
			continue; /* re-listed by what it just did: settled then */
		conn_settle(d, c);
	}
	/* what the budget left in the buffers is taken next turn, which comes at once */
	for (c = conns; c; c = c->next)
		if (!c->gone && c->in_len >= 4 && has_room(c) && !budget_left(c) && !c->dirty) {
			c->dirty = true;
			c->next_dirty = later;
			later = c;
		}
}

bool vg_ctl_pending(void)
{
	return later != NULL;
}

/* ---- accepting ---- */

static int conn_admit(struct vg_daemon *d, const struct vg_peer *peer, enum vg_conn_class cls, struct vg_err *err)
{
	size_t same_class = 0, same_uid = 0;

	for (struct ctl_conn *c = conns; c; c = c->next) {
		same_class += c->cls == cls || (cls == VG_CONN_ADMIN && c->cls == VG_CONN_USER);
		same_uid += c->peer.uid == peer->uid;
	}
	if (d->nclients >= VG_CONN_MAX || same_class >= conn_limits[cls].total)
		return vg_err_set(err, EBUSY, "busy", NULL, "vigild serves %zu connections already: try again", d->nclients);
	if (same_uid >= conn_limits[cls].per_uid)
		return vg_err_set(err, EBUSY, "busy", NULL, "uid %u holds %zu connections to vigild (limit %zu): try again",
				  (unsigned)peer->uid, same_uid, conn_limits[cls].per_uid);
	return 0;
}

/* a refused connection gets its answer (it fits the socket buffer) before it is closed */
static void conn_refuse(int fd, const struct vg_err *err)
{
	json_t *reply = vg_ctl_error_reply(err);
	char *frame = NULL;
	size_t len;

	if (vg_ctl_frame(reply, &frame, &len) == 0 && send(fd, frame, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		vg_log(LOG_DEBUG, "ctl: cannot tell a refused client why: %m");
	free(frame);
	json_decref(reply);
	close(fd);
}

static void accept_client(struct vg_daemon *d, int lfd, uint32_t events, void *arg)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct vg_err err = { 0 };
	struct ctl_conn *c;
	struct vg_peer peer;
	enum vg_conn_class cls;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		close(fd);
		return;
	}
	peer = (struct vg_peer){ cred.pid, cred.uid, cred.gid, peer_is_admin(d, fd, cred.uid, cred.gid) };
	cls = peer.uid == 0 ? VG_CONN_ROOT : peer.admin ? VG_CONN_ADMIN : VG_CONN_USER;
	if (conn_admit(d, &peer, cls, &err) < 0) {
		d->conn_refused[cls]++;
		conn_refuse(fd, &err);
		return;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->share = share_get(peer.uid))) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->peer = peer;
	c->cls = cls;
	c->window = 1;
	c->max = peer.admin ? vg_ctl_max_request(d->cfg.max_bundle_bytes) : VG_CTL_USER_MAX_REQUEST;
	c->frame_start = c->last_io = vg_now_ms_monotonic();
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	d->nclients++;
	conn_watch(d, c);
	if (c->gone) {
		conn_gone(d, c);
		return;
	}
	conn_arm(d, c);
}

int vg_ctl_open(struct vg_daemon *d, struct vg_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(d->cfg.socket) >= sizeof(sa.sun_path))
		return vg_err_set(err, ENAMETOOLONG, "config", "socket", "socket path too long");
	strcpy(sa.sun_path, d->cfg.socket);
	if ((r = vg_mkdir_p(d->cfg.run_dir, vg_file_mode(VG_DIR_PUBLIC))) < 0)
		return vg_err_set(err, -r, "run_dir", d->cfg.run_dir, "cannot create run_dir: %s", strerror(-r));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vg_err_set(err, errno, "socket", NULL, "socket: %s", strerror(errno));
	unlink(d->cfg.socket);
	/* every local user may read status and ask about themselves; policy changes check SO_PEERCRED */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(d->cfg.socket, 0666) < 0 || listen(fd, 512) < 0) {
		r = vg_err_set(err, errno, "socket", d->cfg.socket, "cannot listen on the control socket: %s",
			       strerror(errno));
		close(fd);
		return r;
	}
	d->listen_fd = fd;
	return vg_loop_add_fd(d, fd, EPOLLIN, accept_client, NULL);
}

void vg_ctl_status(struct vg_daemon *d, json_t *out)
{
	size_t pipelined = 0, inflight = 0;

	for (struct ctl_conn *c = conns; c; c = c->next) {
		pipelined += c->pipelined;
		inflight += c->inflight;
	}
	json_object_set_new(out, "ctl",
			    json_pack("{s:I, s:I, s:I, s:{s:i, s:i, s:i}, s:I, s:I}", "connections",
				      (json_int_t)d->nclients, "pipelined", (json_int_t)pipelined, "in_flight",
				      (json_int_t)inflight, "in_flight_peak_per_uid", "user",
				      (int)stats.inflight_peak[VG_CONN_USER], "admin", (int)stats.inflight_peak[VG_CONN_ADMIN],
				      "root", (int)stats.inflight_peak[VG_CONN_ROOT], "uid_cap_reached",
				      (json_int_t)stats.uid_cap_reached, "slow_readers_closed",
				      (json_int_t)stats.slow_readers_closed));
}
