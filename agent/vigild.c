/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild: the event loop, the control socket and the start/stop sequence.
 * Single-threaded: every subsystem runs from this loop (the HTTPS pull runs
 * its transfer in a thread and hands the result back through an eventfd).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>

#include "audit.h"
#include "core.h"
#include "vigil/ctl.h"
#include "vigil/util.h"


static int log_max_prio = LOG_INFO;

void vg_log(int prio, const char *fmt, ...)
{
	va_list ap;
	char buf[2048];

	if (prio > log_max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>%s\n", prio, buf);
}

/* ---- event loop ---- */

struct io_watch {
	int fd;
	vg_io_cb cb;
	void *arg;
	struct io_watch *next_dead;
};

static struct io_watch *watches[1024];
/* deleted watches may still sit in the current epoll batch: freed after it */
static struct io_watch *graveyard;

int vg_loop_add_fd(struct vg_daemon *d, int fd, uint32_t events, vg_io_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct io_watch *w;

	if (fd < 0 || fd >= (int)VG_ARRAY_SIZE(watches))
		return -EMFILE;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return -errno;
	}
	watches[fd] = w;
	return 0;
}

static void loop_mod_fd(struct vg_daemon *d, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = watches[fd] };

	epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void vg_loop_del_fd(struct vg_daemon *d, int fd)
{
	if (fd < 0 || fd >= (int)VG_ARRAY_SIZE(watches))
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (watches[fd]) {
		watches[fd]->cb = NULL;
		watches[fd]->next_dead = graveyard;
		graveyard = watches[fd];
		watches[fd] = NULL;
	}
}

int vg_loop_add_timer(struct vg_daemon *d, uint64_t delay_ms, vg_timer_cb cb, void *arg)
{
	if (d->ntimers == d->cap_timers) {
		size_t cap = d->cap_timers ? d->cap_timers * 2 : 16;
		struct vg_timer *t = realloc(d->timers, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		d->timers = t;
		d->cap_timers = cap;
	}
	if (++d->next_timer_id <= 0)
		d->next_timer_id = 1;
	d->timers[d->ntimers++] = (struct vg_timer){ d->next_timer_id, vg_now_ms_monotonic() + delay_ms, cb, arg };
	return d->next_timer_id;
}

void vg_loop_cancel_timer(struct vg_daemon *d, int id)
{
	for (size_t i = 0; i < d->ntimers; i++)
		if (d->timers[i].id == id) {
			d->timers[i] = d->timers[--d->ntimers];
			return;
		}
}

static int next_timeout(struct vg_daemon *d)
{
	uint64_t now = vg_now_ms_monotonic(), best = UINT64_MAX;

	for (size_t i = 0; i < d->ntimers; i++)
		if (d->timers[i].due_ms < best)
			best = d->timers[i].due_ms;
	if (best == UINT64_MAX)
		return 1000;
	return best <= now ? 0 : (int)(best - now > 1000 ? 1000 : best - now);
}

static void run_timers(struct vg_daemon *d)
{
	uint64_t now = vg_now_ms_monotonic();

	for (size_t i = 0; i < d->ntimers;) {
		if (d->timers[i].due_ms <= now) {
			struct vg_timer t = d->timers[i];

			d->timers[i] = d->timers[--d->ntimers];
			t.cb(d, t.arg);
			i = 0; /* the callback may have changed the table */
			continue;
		}
		i++;
	}
}

/* ---- accessors for modules ---- */

const struct vg_config *vg_daemon_config(struct vg_daemon *d)
{
	return &d->cfg;
}

const struct vg_bundle *vg_daemon_bundle(struct vg_daemon *d)
{
	return d->pol.bundle;
}

const char *vg_daemon_hostname(struct vg_daemon *d)
{
	return d->hostname;
}

/* ---- control socket ---- */

struct vg_client {
	int fd;
	struct vg_peer peer;
	enum vg_conn_class cls;
	struct vg_client *prev, *next;
	bool drain; /* refused oversized request: discard what still arrives */
	uint64_t deadline;
	uint32_t max;
	char hdr[4];
	size_t hdr_got;
	char *body;
	size_t body_len, body_got;
	char *out;
	size_t out_len, out_sent;
	int timer;
	json_t *held; /* the answer, until the audit records of the request are durable */
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

static struct vg_client *clients; /* every open connection */

static void client_close(struct vg_daemon *d, struct vg_client *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	vg_loop_del_fd(d, c->fd);
	if (c->timer > 0)
		vg_loop_cancel_timer(d, c->timer);
	close(c->fd);
	free(c->body);
	free(c->out);
	json_decref(c->held);
	free(c);
	d->nclients--;
}

/* how long a caller may take to send its request: an admin's per progress, anyone else's in all */
static unsigned client_limit_ms(const struct vg_daemon *d, bool admin)
{
	return admin ? VG_CTL_ADMIN_IDLE_MS : d->cfg.ctl_timeout_ms;
}

static void client_timeout(struct vg_daemon *d, void *arg)
{
	struct vg_client *c = arg;

	c->timer = 0;
	vg_log(LOG_NOTICE, "ctl: closing connection from pid %d uid %u: no complete request within %u ms",
	       (int)c->peer.pid, c->peer.uid, client_limit_ms(d, c->peer.admin));
	client_close(d, c);
}

void vg_daemon_status(struct vg_daemon *d, json_t *r)
{
	json_t *mods = json_object();

	json_object_set_new(r, "vigild", json_pack("{s:s, s:s, s:I, s:I}", "version", VIGIL_VERSION, "hostname",
						   d->hostname, "pid", (json_int_t)getpid(), "started_at",
						   (json_int_t)d->started_at));
	vg_policy_status(d, r);
	vg_pull_status(d, r);
	for (size_t i = 0; vg_modules[i]; i++)
		if (vg_modules[i]->status) {
			json_t *m = json_object();

			vg_modules[i]->status(d, m);
			json_object_set_new(mods, vg_modules[i]->name, m);
		}
	json_object_set_new(r, "modules", mods);
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

static struct vg_client *dispatching; /* the request being handled (vg_ctl_defer) */

struct vg_client *vg_ctl_defer(struct vg_daemon *d)
{
	return dispatching;
}

/* NULL when the command answers later (vg_client_reply) */
static json_t *dispatch(struct vg_daemon *d, struct vg_client *c, json_t *req)
{
	const struct vg_peer *peer = &c->peer;
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
	} else {
		r = vg_policy_ctl(d, peer, cmd, req, &reply, &err, c);
		dispatching = c;
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

static void client_io(struct vg_daemon *d, int fd, uint32_t events, void *arg);

static void client_send(struct vg_daemon *d, struct vg_client *c, json_t *reply)
{
	if (vg_ctl_frame(reply, &c->out, &c->out_len) < 0) {
		client_close(d, c);
		return;
	}
	c->out_sent = 0;
	loop_mod_fd(d, c->fd, EPOLLOUT);
}

/* an answer to a connection the loop stopped watching while it was prepared */
static void client_resume(struct vg_daemon *d, struct vg_client *c, json_t *reply)
{
	if (vg_loop_add_fd(d, c->fd, EPOLLOUT, client_io, c) < 0) {
		json_decref(reply);
		client_close(d, c);
		return;
	}
	client_send(d, c, reply);
	json_decref(reply);
}

static void held_reply_durable(struct vg_daemon *d, int r, void *arg)
{
	struct vg_client *c = arg;
	json_t *reply = c->held;

	c->held = NULL;
	if (r < 0 && json_is_true(json_object_get(reply, "ok"))) {
		struct vg_err err = { 0 };

		json_decref(reply);
		vg_err_set(&err, -r, "audit_refused", NULL,
			   "the audit record of this request could not be made durable (%s), so nothing was done "
			   "on its behalf; vigilctl audit status shows why",
			   strerror(-r));
		reply = vg_ctl_error_reply(&err);
	}
	client_resume(d, c, reply);
}

/* A request that produced audit records is answered once they are durable: the answer of
 * every request handled in one loop turn waits for the same fdatasync (group commit). */
static bool hold_until_durable(struct vg_daemon *d, struct vg_client *c, uint64_t from, json_t *reply)
{
	uint64_t end = vg_audit_next_seq(d);

	if (end == from)
		return false;
	int r = vg_audit_when_durable(d, end, held_reply_durable, c);

	if (r == 1)
		return false;
	c->held = reply;
	vg_loop_del_fd(d, c->fd);
	if (r < 0)
		held_reply_durable(d, r, c);
	return true;
}

static void client_request(struct vg_daemon *d, struct vg_client *c)
{
	struct vg_err err = { 0 };
	json_t *req = NULL, *reply;
	uint64_t from = vg_audit_next_seq(d);

	/* only an admin's bundle push is this large: parsing it is the loader thread's job */
	if (c->body_len > VG_CTL_USER_MAX_REQUEST) {
		char *body = c->body;

		c->body = NULL;
		if (vg_policy_submit_push(d, body, c->body_len, &c->peer, c, &err) == 0) {
			vg_loop_del_fd(d, c->fd);
			return;
		}
		reply = vg_ctl_error_reply(&err);
		client_send(d, c, reply);
		json_decref(reply);
		return;
	}
	if (vg_ctl_parse_request(c->body, c->body_len, &req, &err) < 0)
		reply = vg_ctl_error_reply(&err);
	else
		reply = dispatch(d, c, req);
	json_decref(req);
	free(c->body);
	c->body = NULL;
	if (!reply) {
		/* answered when the load or the commit finishes; the fd is not watched meanwhile */
		vg_loop_del_fd(d, c->fd);
		return;
	}
	if (hold_until_durable(d, c, from, reply))
		return;
	client_send(d, c, reply);
	json_decref(reply);
}

void vg_client_reply(struct vg_daemon *d, struct vg_client *c, int r, json_t *reply, const struct vg_err *err)
{
	struct vg_err e = *err;

	client_resume(d, c, finish_reply(r, reply, &e));
}

/* returns true when the connection is done (closed) */
static bool client_write(struct vg_daemon *d, struct vg_client *c)
{
	ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) {
		client_close(d, c);
		return true;
	}
	c->out_sent += (size_t)n;
	if (c->out_sent < c->out_len)
		return false;
	if (!c->drain) {
		client_close(d, c); /* one request per connection */
		return true;
	}
	/* a refused oversized request: read and drop the rest so the client, still sending, gets to
	 * read our answer instead of EPIPE; the request timer ends this */
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	loop_mod_fd(d, c->fd, EPOLLIN);
	return false;
}

static void client_discard(struct vg_daemon *d, struct vg_client *c)
{
	char buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		client_close(d, c);
}

static void client_too_large(struct vg_daemon *d, struct vg_client *c)
{
	struct vg_err err;
	json_t *reply;

	vg_err_set(&err, EMSGSIZE, "request_too_large", NULL,
		   "request of %zu bytes exceeds the limit of %u bytes for this caller%s", c->body_len, c->max,
		   c->peer.admin ? " (it follows max_bundle_bytes in vigild.conf)" : "");
	reply = vg_ctl_error_reply(&err);
	c->drain = true;
	client_send(d, c, reply);
	json_decref(reply);
}

/* returns true once the whole request is in c->body */
static bool client_read(struct vg_daemon *d, struct vg_client *c)
{
	ssize_t n;

	if (c->hdr_got < 4) {
		uint32_t be;

		n = recv(c->fd, c->hdr + c->hdr_got, 4 - c->hdr_got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (n <= 0) {
			client_close(d, c);
			return false;
		}
		c->hdr_got += (size_t)n;
		if (c->hdr_got < 4)
			return false;
		memcpy(&be, c->hdr, 4);
		c->body_len = ntohl(be);
		if (c->body_len > c->max) {
			client_too_large(d, c);
			return false;
		}
		c->body = malloc(c->body_len + 1);
		if (!c->body) {
			client_close(d, c);
			return false;
		}
		c->body_got = 0;
	}
	if (c->body_got < c->body_len) {
		n = recv(c->fd, c->body + c->body_got, c->body_len - c->body_got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		if (n <= 0) {
			client_close(d, c);
			return false;
		}
		c->body_got += (size_t)n;
		/* an admin's large request (a bundle) is bounded per progress, not in all */
		if (c->peer.admin && c->timer > 0) {
			vg_loop_cancel_timer(d, c->timer);
			c->timer = vg_loop_add_timer(d, VG_CTL_ADMIN_IDLE_MS, client_timeout, c);
		}
	}
	return c->body_got == c->body_len;
}

static void client_io(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct vg_client *c = arg;

	if (c->out) {
		client_write(d, c);
		return;
	}
	if (c->drain) {
		client_discard(d, c);
		return;
	}
	if (!client_read(d, c))
		return;
	if (c->timer > 0)
		vg_loop_cancel_timer(d, c->timer);
	c->timer = 0;
	client_request(d, c);
}

/* Connection slots: a class may hold at most `total` connections and one uid `per_uid` of them,
 * so that users cannot starve admins and nobody can starve root (pam_vigil.so). */
static const struct {
	const char *name;
	size_t total, per_uid;
} conn_limits[] = {
	[VG_CONN_USER] = { "user", VG_CONN_MAX_USERS, VG_CONN_MAX_PER_USER },
	[VG_CONN_ADMIN] = { "admin", VG_CONN_MAX_ADMINS, VG_CONN_MAX_PER_ADMIN },
	[VG_CONN_ROOT] = { "root", VG_CONN_MAX, VG_CONN_MAX },
};

static int conn_admit(struct vg_daemon *d, const struct vg_peer *peer, enum vg_conn_class cls, struct vg_err *err)
{
	size_t same_class = 0, same_uid = 0;

	for (struct vg_client *c = clients; c; c = c->next) {
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
	struct vg_client *c;
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
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->peer = peer;
	c->cls = cls;
	c->max = peer.admin ? vg_ctl_max_request(d->cfg.max_bundle_bytes) : VG_CTL_USER_MAX_REQUEST;
	if (vg_loop_add_fd(d, fd, EPOLLIN, client_io, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = clients;
	if (clients)
		clients->prev = c;
	clients = c;
	d->nclients++;
	c->timer = vg_loop_add_timer(d, client_limit_ms(d, peer.admin), client_timeout, c);
}

static int open_socket(struct vg_daemon *d, struct vg_err *err)
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

/* ---- signals, config ---- */

/* Fails closed: without a valid trust file no trust is in force, every bundle is refused (the
 * running policy keeps enforcing) and status says why. */
void vg_trust_reload(struct vg_daemon *d)
{
	struct vg_err err = { 0 };
	struct vg_trust *t = NULL;
	char msg[1100];

	if (vg_trust_load(d->cfg.trust_file, &t, &err) < 0) {
		vg_err_str(&err, msg, sizeof(msg));
		vg_log(LOG_ERR, "trust: %s (every bundle will be refused until this is fixed)", msg);
		snprintf(d->pol.trust_error, sizeof(d->pol.trust_error), "%s", msg);
		vg_trust_free(d->trust);
		d->trust = NULL;
		return;
	}
	d->pol.trust_error[0] = '\0';
	vg_trust_free(d->trust);
	d->trust = t;
	vg_log(LOG_INFO, "trust: version %lld, %zu key(s), threshold %u", (long long)t->version, t->nkeys,
	       t->threshold);
}

static void on_signal(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			vg_log(LOG_INFO, "received %s, shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			d->running = false;
		} else if (si.ssi_signo == SIGHUP) {
			struct vg_config nc;
			struct vg_err err = { 0 };
			char msg[1100];

			if (vg_config_load(&nc, d->cfg_path, &err) < 0) {
				vg_log(LOG_ERR, "SIGHUP: keeping the running configuration: %s",
				       vg_err_str(&err, msg, sizeof(msg)));
				continue;
			}
			/* paths stay as they were: moving sockets and state under a running daemon is a restart */
			memcpy(nc.state_dir, d->cfg.state_dir, sizeof(nc.state_dir));
			memcpy(nc.run_dir, d->cfg.run_dir, sizeof(nc.run_dir));
			memcpy(nc.socket, d->cfg.socket, sizeof(nc.socket));
			memcpy(nc.bpffs_dir, d->cfg.bpffs_dir, sizeof(nc.bpffs_dir));
			memcpy(nc.inbox_dir, d->cfg.inbox_dir, sizeof(nc.inbox_dir));
			d->cfg = nc;
			vg_trust_reload(d);
			vg_log(LOG_INFO, "SIGHUP: configuration and trust file reloaded");
		}
	}
}

static int setup_signals(struct vg_daemon *d)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	return vg_loop_add_fd(d, fd, EPOLLIN, on_signal, NULL);
}

/* the authorisation table as docs/control-socket.md prints it (a test diffs the two) */
static void list_commands(void)
{
	printf("| cmd | who | what |\n|---|---|---|\n");
	for (const struct vg_ctl_command *c = vg_ctl_commands; c->name; c++)
		printf("| `%s` | %s | %s |\n", c->name, vg_ctl_who_name(c->who), c->what);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vigild [-c FILE] [--foreground] [--check-config] [--verbose]\n"
		   "\n"
		   "The vigil host enforcement agent (see vigild(8), vigild.conf(5)).\n"
		   "\n"
		   "  -c, --config FILE   configuration file (default %s)\n"
		   "  -f, --foreground    stay in the foreground (systemd runs it so); logs go to stderr\n"
		   "      --check-config  parse the configuration, print the effective values and exit\n"
		   "      --list-commands print the control commands and who may call them (markdown)\n"
		   "  -v, --verbose       log debug messages\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n",
		VG_DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	     { "version", no_argument, NULL, 'V' },
		{ "list-commands", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	static struct vg_daemon daemon_state;
	struct vg_daemon *d = &daemon_state;
	const char *cfg = VG_DEFAULT_CONFIG;
	bool foreground = false, check = false;
	struct vg_err err = { 0 };
	char msg[1100];
	int o, r;

	while ((o = getopt_long(argc, argv, "c:fvhV", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cfg = optarg; break;
		case 'f': foreground = true; break;
		case 'C': check = true; break;
		case 'v': log_max_prio = LOG_DEBUG; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vigild %s\n", VIGIL_VERSION); return 0;
		case 'L': list_commands(); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (vg_config_load(&d->cfg, cfg, &err) < 0) {
		fprintf(stderr, "vigild: %s\n", vg_err_str(&err, msg, sizeof(msg)));
		return 1;
	}
	snprintf(d->cfg_path, sizeof(d->cfg_path), "%s", cfg);
	if (check) {
		printf("configuration %s is valid\n", cfg);
		return 0;
	}
	if (d->cfg.hostname[0])
		snprintf(d->hostname, sizeof(d->hostname), "%s", d->cfg.hostname);
	else
		gethostname(d->hostname, sizeof(d->hostname) - 1);
	if (!foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "vigild: daemon: %s\n", strerror(errno));
		return 1;
	}
	umask(022);
	d->started_at = vg_now();
	d->running = true;
	d->listen_fd = -1;
	d->inbox_fd = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0 || setup_signals(d) < 0) {
		vg_log(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return 1;
	}
	if ((r = vg_mkdir_p(d->cfg.state_dir, vg_file_mode(VG_DIR_PUBLIC))) < 0) {
		vg_log(LOG_ERR, "cannot create state_dir %s: %s", d->cfg.state_dir, strerror(-r));
		return 1;
	}
	vg_log(LOG_INFO, "vigild %s starting on %s (config %s, state %s)", VIGIL_VERSION, d->hostname, cfg,
	       d->cfg.state_dir);
	vg_trust_reload(d);
	for (size_t i = 0; vg_modules[i]; i++) {
		if (!vg_modules[i]->init)
			continue;
		vg_err_clear(&err);
		/* one module that cannot start never takes the others (PAM, NSS, audit, policy) down */
		if ((r = vg_modules[i]->init(d, &err)) < 0) {
			vg_log(LOG_ERR, "%s: failed, vigild runs on without it: %s", vg_modules[i]->name,
			       vg_err_str(&err, msg, sizeof(msg)));
			vg_daemon_audit(d, "agent.module_failed", d->hostname,
					json_pack("{s:s, s:s, s:s}", "module", vg_modules[i]->name, "reason", err.code,
						  "error", msg));
			vg_module_failed(i, &err);
		}
	}
	vg_daemon_audit(d, "agent.started", d->hostname,
			json_pack("{s:s, s:s}", "version", VIGIL_VERSION, "config", cfg));
	vg_policy_init(d);
	if ((r = vg_loader_start(d)) < 0) {
		vg_log(LOG_ERR, "cannot start the loader thread: %s", strerror(-r));
		return 1;
	}
	if (open_socket(d, &err) < 0) {
		vg_log(LOG_ERR, "%s", vg_err_str(&err, msg, sizeof(msg)));
		return 1;
	}
	vg_inbox_init(d);
	vg_pull_init(d);
	vg_log(LOG_INFO, "ready: control socket %s", d->cfg.socket);

	while (d->running) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, 32, next_timeout(d));

		for (int i = 0; i < n; i++) {
			struct io_watch *w = evs[i].data.ptr;

			if (w->cb) {
				uint64_t t0 = vg_now_ms_monotonic();

				w->cb(d, w->fd, evs[i].events, w->arg);
				if (vg_now_ms_monotonic() - t0 > 200)
					vg_log(LOG_WARNING, "event loop: a handler on fd %d took %llu ms", w->fd,
					       (unsigned long long)(vg_now_ms_monotonic() - t0));
			}
		}
		run_timers(d);
		while (graveyard) {
			struct io_watch *w = graveyard;

			graveyard = w->next_dead;
			free(w);
		}
	}

	vg_pull_shutdown(d);
	vg_loader_stop();
	for (size_t i = 0; vg_modules[i]; i++)
		if (vg_modules[i]->shutdown)
			vg_modules[i]->shutdown(d);
	vg_daemon_audit(d, "agent.stopped", d->hostname, json_pack("{s:s}", "version", VIGIL_VERSION));
	vg_policy_shutdown(d);
	unlink(d->cfg.socket);
	vg_trust_free(d->trust);
	vg_log(LOG_INFO, "stopped");
	return 0;
}
