/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild's DNS forwarder (docs/dns.md, issue 19): per tenant with rules by name, UDP and TCP
 * sockets on the loopback that the kernel side (agent/dns.h) redirects the tenant's port-53
 * traffic to. A question for a name no rule of the tenant allows is answered here (NXDOMAIN
 * or REFUSED); an allowed one goes to the bundle's resolvers (UDP, TCP when truncated) with a
 * random id, over UDP from a pooled socket that carries one question at a time (up_sock), and
 * every address of the answer is learned for the tenant before the answer goes back. A learn
 * that fails answers SERVFAIL: nothing opens without it.
 * Everything runs on vigild's loop, non-blocking, with bounded queries and connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "dns.h"
#include "vigil/dns.h"
#include "vigil/dns_cache.h"
#include "vigil/util.h"

#define MAX_QUERIES_TENANT 64 /* outstanding forwarded questions of one tenant */
#define MAX_QUERIES 256	      /* and of all tenants */
#define MAX_TCP_TENANT 16     /* client TCP connections of one tenant */
#define TRY_MS 2000	      /* one resolver's time to answer, then the next one */
#define TCP_IDLE_MS 10000     /* a client connection without a complete question */
#define TICK_MS 250
#define UDP_BATCH 64 /* datagrams read per wakeup, so a flood cannot starve the loop */
#define UDP_VLEN 16  /* of those, read by one recvmmsg */
#define UDP_QUESTION_MAX 4096 /* a client's question over UDP (longer: malformed, dropped) */
#define OUT_BATCH 32	      /* UDP answers sent together at the end of a loop turn (sendmmsg) */
#define OUT_MAX 4096	      /* of at most this size; a larger one goes at once */
#define MAX_MATCH 16
#define SAMPLE_EVERY 64 /* beyond event_rate_limit per second and tenant, one event in this many */
#define MEMO_MAX 256	/* names remembered per tenant, with the addresses they gave, for explain */
#define MEMO_ADDRS 8
/* Upstream UDP sockets (docs/threat-model.md): each carries one question at a time and is
 * reused for at most POOL_USES questions or POOL_LIFE_MS, then replaced (a new random source
 * port); one that receives anything but the answer it waits for is never reused. */
#define POOL_USES 64
#define POOL_LIFE_MS 10000
#define POOL_IDLE_MAX 64 /* idle sockets kept, all resolvers together */
#define EVQ_MAX 32 /* dns.query events held until this turn's answers have left */
#define SPARE_MS 50 /* the host's idle CPU time sampled at most this often (busy-poll) */

struct fwd_tenant;
struct query;

/* a question's dns.query event */
struct evq {
	struct fwd_tenant *t;
	char name[VG_DNS_NAME_MAX + 1];
	uint16_t qtype;
	uint8_t rcode;
	bool tcp;
	const char *verdict;
	const char *cache; /* "hit", "miss", "off"; NULL: not looked up (a blocked or malformed question) */
	uint32_t rule_id;
	size_t answers, unlearnable;
};

/* a UDP socket connected to one resolver (its kernel-chosen random source port) */
struct up_sock {
	int fd;
	size_t resolver;
	uint64_t gen; /* F.gen when opened: resolvers of another policy are not reused */
	uint64_t expires; /* now_ms() past which it carries no new question */
	unsigned uses;
	bool stray; /* got something but its answer, or its question was given up: never reused */
	struct query *q; /* the question it carries, NULL when idle */
	struct up_sock *next; /* idle list */
};

struct tcp_client {
	struct fwd_tenant *t;
	int fd;
	uint8_t *in; /* 2-byte length + message */
	size_t inlen;
	uint8_t *out;
	size_t outlen, outoff;
	struct query *busy; /* the question being answered: reading waits */
	bool taking, dead;  /* in tcp_take; a write failed */
	uint64_t idle_deadline;
	struct tcp_client *next;
};

struct query {
	struct fwd_tenant *t;
	uint8_t *msg; /* the client's question, sent with up_id */
	size_t len;
	uint16_t client_id, up_id;
	char qname[VG_DNS_NAME_MAX + 1];
	uint16_t qtype, qclass;
	/* where the answer goes: a UDP client, or a TCP connection */
	int reply_fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	size_t udp_size;
	struct tcp_client *tc;
	/* upstream: UDP from a pooled socket, TCP from a fresh connection */
	size_t resolver, tries;
	struct up_sock *us;
	int up_fd;
	bool up_answered; /* its valid answer came on q->us */
	bool up_tcp, up_sent;
	uint8_t *up_buf;
	size_t up_len;
	uint64_t deadline;
	uint64_t sent_ns; /* the UDP question left (for the resolver's round trip) */
	int qflags;	  /* vg_dns_query_flags: its key in the cache (< 0: its answer is not cached) */
	uint64_t gen;	  /* F.gen when asked: an answer to another policy's question is not cached */
	const char *cache; /* "miss", or "off": no cache */
	struct query *next, *prev; /* F.queries */
};

struct memo {
	char name[VG_DNS_NAME_MAX + 1];
	size_t naddr;
	struct {
		int family;
		uint8_t addr[16];
	} addr[MEMO_ADDRS];
};

/* what memo_put scans for a name, apart from the memos themselves (fewer cache lines) */
struct memo_key {
	uint64_t used;
	uint32_t hash; /* of the memo's name */
};

struct fwd_tenant {
	uint32_t id;
	char name[64];
	int udp4, tcp4, udp6, tcp6;
	struct vg_dns_forwarder_addr addr;
	size_t nqueries, ntcp;
	struct tcp_client *clients;
	struct memo *memo; /* MEMO_MAX */
	struct memo_key *memo_key; /* MEMO_MAX */
	uint64_t memo_clock;
	/* counters */
	uint64_t queries, allowed, blocked, answered, servfail, timeouts, overload, malformed, learned, learn_failed;
	uint64_t unlearnable; /* answer addresses no name may open (vg_dns_addr_unlearnable) */
	uint64_t cache_hits;  /* questions answered from the cache */
	uint64_t events, events_dropped;
	uint64_t ev_second, ev_count;
};

struct fwd_table {
	size_t n;
	struct fwd_tenant **t;
	bool off; /* enforcement is not running: nothing is redirected nor learned, no forwarder */
};

static struct {
	struct vg_daemon *d;
	struct fwd_table tab;
	const struct vg_bundle *b;
	struct vg_dns_policy pol; /* resolvers point into b */
	struct query *queries;
	size_t nqueries;
	struct up_sock *idle; /* upstream sockets waiting for a question */
	size_t nidle;
	uint64_t gen; /* bumped by every commit: the resolvers may have changed */
	int tick;
	bool registered;
	char error[512];
	struct {
		uint64_t sent, answers, timeouts, bad;
		uint64_t rtt_ns; /* round trip of its UDP answers, moving average (0: none yet), rtt_note */
	} res[8];
	int ncpu;	     /* CPUs vigild may run on */
	int stat_fd;	     /* /proc/stat, for the host's idle time (-1: unknown) */
	uint64_t cpu_total, cpu_idle; /* its "cpu" line at the last sample: all time, idle + iowait */
	uint64_t own_ns, wall_ns;     /* the loop thread's CPU time and the clock at the last sample */
	uint32_t spare16;    /* CPUs idle, or used by vigild's loop, between the last two samples, x16 */
	uint64_t spare_at;   /* now_ms() of the last sample */
	uint64_t spin_until; /* the loop busy-polls for a resolver's answer until then (0: no) */
	uint64_t spin_arms; /* questions that busy-polled, for status */
	uint64_t spin_busy; /* and those that would have but no CPU was to spare */
	uint64_t answered_ns; /* this turn's UDP answers left (0: a question came since) */
	uint64_t gap_ns;      /* clients' answer-to-next-question time, moving average (0: none yet) */
	uint64_t listen_until; /* the loop busy-polls for the next question until then (0: no) */
	uint64_t listen_arms, listen_busy; /* answers followed by such a window; those without a CPU to spare */
	uint8_t buf[VG_DNS_MSG_MAX + 2];
	uint8_t qbuf[UDP_VLEN][UDP_QUESTION_MAX]; /* clients' datagrams, one recvmmsg */
	struct {
		int fd;
		struct sockaddr_storage peer;
		socklen_t peerlen;
		size_t len;
		uint8_t msg[OUT_MAX];
	} outq[OUT_BATCH]; /* answers of this loop turn to UDP clients, not yet sent */
	size_t nout;
	int flush_timer; /* > 0: the 0 ms timer that sends outq after this turn's events */
	struct evq evq[EVQ_MAX]; /* events of this turn's questions, recorded once the answers left */
	size_t nev;
	uint8_t out[VG_DNS_MSG_MAX + 2];
	uint8_t hit[VG_DNS_CACHE_MSG_MAX]; /* an answer from the cache */
	struct vg_dns_cache *cache; /* NULL: off */
	uint32_t cache_entries;	    /* the bounds it was made with (vigild.conf, SIGHUP) */
	uint64_t cache_bytes;
	struct vg_dns_msg m; /* large: one per process, the loop is single-threaded */
} F;

static uint64_t now_ms(void)
{
	return vg_now_ms_monotonic();
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* unpredictable ids for the questions sent upstream, from a pool refilled by getrandom */
static uint16_t random_id(void)
{
	static uint16_t pool[256];
	static size_t left;

	if (!left) {
		if (getrandom(pool, sizeof(pool), 0) != sizeof(pool))
			for (size_t i = 0; i < VG_ARRAY_SIZE(pool); i++)
				pool[i] = (uint16_t)(now_ns() >> (i % 16));
		left = VG_ARRAY_SIZE(pool);
	}
	return pool[--left];
}

static const struct vg_tenant *bundle_tenant(uint32_t id)
{
	for (size_t i = 0; F.b && i < F.b->ntenants; i++)
		if (F.b->tenants[i].id == id)
			return &F.b->tenants[i];
	return NULL;
}

static const char *qtype_name(uint16_t t, char *buf, size_t len)
{
	switch (t) {
	case VG_DNS_A: return "A";
	case VG_DNS_AAAA: return "AAAA";
	case VG_DNS_CNAME: return "CNAME";
	case 12: return "PTR";
	case 15: return "MX";
	case 16: return "TXT";
	case 33: return "SRV";
	case 65: return "HTTPS";
	default: snprintf(buf, len, "TYPE%u", t); return buf;
	}
}

/* a normalised name (at most VG_DNS_NAME_MAX) into a VG_DNS_NAME_MAX + 1 array */
static void name_copy(char *dst, const char *src)
{
	size_t n = strnlen(src, VG_DNS_NAME_MAX);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- audit: every question is an event, sampled under a flood like the kernel's denies ---- */

static void event_emit(const struct evq *e)
{
	struct fwd_tenant *t = e->t;
	uint64_t sec = now_ms() / 1000;
	uint32_t limit = vg_daemon_config(F.d)->event_rate_limit;
	bool sampled = false;
	char tb[16];
	json_t *j;

	if (sec != t->ev_second) {
		t->ev_second = sec;
		t->ev_count = 0;
	}
	if (++t->ev_count > limit) {
		if ((t->ev_count - limit) % SAMPLE_EVERY) {
			t->events_dropped++;
			return;
		}
		sampled = true;
	}
	j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:b}", "tenant", t->name, "tenant_id",
		      (json_int_t)t->id, "name", e->name, "type", qtype_name(e->qtype, tb, sizeof(tb)), "verdict",
		      e->verdict, "answers", (json_int_t)e->answers, "rcode", (json_int_t)e->rcode, "transport",
		      e->tcp ? "tcp" : "udp", "sampled", sampled);
	if (!j)
		return;
	if (e->rule_id)
		json_object_set_new(j, "rule_id", json_integer(e->rule_id));
	if (e->unlearnable)
		json_object_set_new(j, "unlearnable", json_integer((json_int_t)e->unlearnable));
	if (e->cache)
		json_object_set_new(j, "cache", json_string(e->cache));
	if (sampled)
		json_object_set_new(j, "events_dropped", json_integer((json_int_t)t->events_dropped));
	if (vg_daemon_audit(F.d, "dns.query", t->name, j) == 0)
		t->events++;
}

/* the events held this turn, in order (after the answers they describe) */
static void event_flush(void)
{
	for (size_t i = 0; i < F.nev; i++)
		event_emit(&F.evq[i]);
	F.nev = 0;
}

static void udp_flush(void);

/* The event E of a question (its name NAME): held while this turn's answers wait to leave
 * (its writing is not the clients' wait), else recorded now. */
static void event(struct evq *e, const char *name)
{
	name_copy(e->name, name);
	if (!F.flush_timer) {
		event_emit(e);
		return;
	}
	if (F.nev == EVQ_MAX) {
		udp_flush();
		event_flush();
	}
	F.evq[F.nev++] = *e;
}

/* ---- answering clients ---- */

/* the answers queued this turn, to each socket with as few sendmmsg calls as the order allows */
static void udp_flush(void)
{
	struct mmsghdr mm[OUT_BATCH];
	struct iovec iov[OUT_BATCH];
	size_t i = 0;

	for (size_t k = 0; k < F.nout; k++) {
		iov[k] = (struct iovec){ F.outq[k].msg, F.outq[k].len };
		mm[k].msg_hdr = (struct msghdr){ .msg_name = &F.outq[k].peer, .msg_namelen = F.outq[k].peerlen,
						 .msg_iov = &iov[k], .msg_iovlen = 1 };
	}
	while (i < F.nout) {
		size_t run = 1;
		int r;

		while (i + run < F.nout && F.outq[i + run].fd == F.outq[i].fd)
			run++;
		r = sendmmsg(F.outq[i].fd, &mm[i], (unsigned)run, MSG_DONTWAIT | MSG_NOSIGNAL);
		/* a datagram the socket refuses is lost, as with sendto: the client asks again */
		i += r > 0 ? (size_t)r : 1;
	}
	F.nout = 0;
}

static void listen_arm(void);

static void on_flush(struct vg_daemon *d, void *arg)
{
	F.flush_timer = 0;
	udp_flush();
	listen_arm();
	event_flush();
}

/* MSG to a UDP client: queued until this loop turn's other events are handled (full: sent now) */
static void udp_send(int fd, const uint8_t *msg, size_t len, const struct sockaddr_storage *peer, socklen_t peerlen)
{
	if (len > OUT_MAX || peerlen > sizeof(F.outq[0].peer)) {
		sendto(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)peer, peerlen);
		return;
	}
	if (F.nout == OUT_BATCH)
		udp_flush();
	F.outq[F.nout].fd = fd;
	memcpy(&F.outq[F.nout].peer, peer, peerlen);
	F.outq[F.nout].peerlen = peerlen;
	memcpy(F.outq[F.nout].msg, msg, len);
	F.outq[F.nout].len = len;
	F.nout++;
	if (!F.flush_timer && (F.flush_timer = vg_loop_add_timer(F.d, 0, on_flush, NULL)) < 0) {
		F.flush_timer = 0;
		udp_flush();
	}
}

static void tcp_take(struct tcp_client *c);
static void handle_question(struct fwd_tenant *t, const uint8_t *msg, size_t len, int fd,
			    const struct sockaddr_storage *peer, socklen_t peerlen, struct tcp_client *tc);

/* The answer to the connection; a failed write marks it dead (closed by tcp_take). */
static void tcp_reply(struct tcp_client *c, const uint8_t *msg, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct iovec iov[2] = { { hdr, 2 }, { (void *)msg, len } };
	ssize_t w;

	if (c->dead)
		return;
	w = writev(c->fd, iov, 2);
	if (w < 0 && errno != EAGAIN) {
		c->dead = true;
		return;
	}
	if (w < 0)
		w = 0;
	if ((size_t)w < len + 2) {
		c->out = malloc(len + 2 - (size_t)w);
		if (!c->out) {
			c->dead = true;
			return;
		}
		for (size_t i = (size_t)w; i < len + 2; i++)
			c->out[i - (size_t)w] = i < 2 ? hdr[i] : msg[i - 2];
		c->outlen = len + 2 - (size_t)w;
		c->outoff = 0;
	}
	c->idle_deadline = now_ms() + TCP_IDLE_MS;
}

/* The answer MSG (its id already the client's) to a UDP client's question QMSG, which takes
 * UDP_SIZE bytes: larger, header and question with TC, the client asks again over TCP. */
static void udp_answer(int fd, const struct sockaddr_storage *peer, socklen_t peerlen, const uint8_t *qmsg,
		       size_t qlen, size_t udp_size, const uint8_t *msg, size_t len)
{
	if (len > udp_size) {
		int n = vg_dns_synth(qmsg, qlen, msg[3] & 0x0f, F.out, sizeof(F.out));

		if (n < 0)
			return;
		F.out[0] = msg[0];
		F.out[1] = msg[1];
		F.out[2] |= 0x02;
		msg = F.out;
		len = (size_t)n;
	}
	udp_send(fd, msg, len, peer, peerlen);
}

/* The answer MSG (its id already the client's) to the query's client. */
static void reply(struct query *q, uint8_t *msg, size_t len)
{
	struct tcp_client *c = q->tc;

	if (c) {
		q->tc = NULL;
		c->busy = NULL;
		tcp_reply(c, msg, len);
		if (!c->taking)
			tcp_take(c);
		return;
	}
	if (q->reply_fd >= 0)
		udp_answer(q->reply_fd, &q->peer, q->peerlen, q->msg, q->len, q->udp_size, msg, len);
}

/* A local answer (RCODE, no records) to the question QMSG from a UDP peer or a TCP client. */
static void reply_local(int fd, const struct sockaddr_storage *peer, socklen_t peerlen, struct tcp_client *tc,
			const uint8_t *qmsg, size_t qlen, uint8_t rcode)
{
	int n = vg_dns_synth(qmsg, qlen, rcode, F.out, sizeof(F.out));

	if (n < 0)
		return;
	if (tc)
		tcp_reply(tc, F.out, (size_t)n);
	else
		udp_send(fd, F.out, (size_t)n, peer, peerlen);
}

/* ---- upstream sockets ---- */

static void pool_close(struct up_sock *s)
{
	vg_loop_del_fd(F.d, s->fd);
	close(s->fd);
	free(s);
}

/* S carried its question to the end: back to the idle list while it may carry more */
static void pool_put(struct up_sock *s)
{
	s->q = NULL;
	if (s->stray || s->gen != F.gen || s->uses >= POOL_USES || now_ms() >= s->expires ||
	    F.nidle >= POOL_IDLE_MAX) {
		pool_close(s);
		return;
	}
	s->next = F.idle;
	F.idle = s;
	F.nidle++;
}

static void idle_remove(struct up_sock *s)
{
	for (struct up_sock **pp = &F.idle; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			F.nidle--;
			return;
		}
}

/* the idle sockets of another policy or past their time go (every commit and tick); ALL: every one */
static void pool_trim(bool all)
{
	uint64_t now = now_ms();

	for (struct up_sock *s = F.idle, *next; s; s = next) {
		next = s->next;
		if (all || s->gen != F.gen || now >= s->expires) {
			idle_remove(s);
			pool_close(s);
		}
	}
}

static void on_up_udp(struct vg_daemon *d, int fd, uint32_t events, void *arg);
static socklen_t resolver_sockaddr(const struct vg_dns_resolver *r, struct sockaddr_storage *ss);

/* a fresh non-blocking socket of TYPE connected to resolver R (a new random source port) */
static int up_socket(size_t r, int type)
{
	struct sockaddr_storage ss;
	socklen_t sl = resolver_sockaddr(&F.pol.resolvers[r], &ss);
	int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* a UDP socket to resolver R for question Q: an idle one, else a new one */
static int pool_get(struct query *q, size_t r, struct up_sock **out)
{
	struct up_sock *s;
	int e;

	for (s = F.idle; s && s->resolver != r; s = s->next)
		;
	if (s) {
		idle_remove(s);
	} else {
		if (!(s = calloc(1, sizeof(*s))))
			return -ENOMEM;
		s->fd = up_socket(r, SOCK_DGRAM);
		e = s->fd < 0 ? s->fd : vg_loop_add_fd(F.d, s->fd, EPOLLIN, on_up_udp, s);
		if (e < 0) {
			if (s->fd >= 0)
				close(s->fd);
			free(s);
			return e;
		}
		s->resolver = r;
		s->gen = F.gen;
		s->expires = now_ms() + POOL_LIFE_MS;
	}
	s->uses++;
	s->q = q;
	*out = s;
	return 0;
}

/* ---- busy-poll: for a fast resolver's answer, for a client's next question ---- */

static uint64_t loop_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* At most every SPARE_MS: how many CPUs the rest of the host left to spare since the last sample:
 * idle (/proc/stat's "cpu" line: user nice system idle iowait irq softirq steal; stolen time
 * counts as busy) plus what vigild's loop thread itself used (its polling must not count
 * against itself) */
static void spare_sample(void)
{
	char buf[256], *p;
	uint64_t v[8] = { 0 }, total = 0, idle, now = now_ms(), own, wall;
	ssize_t n;

	if (F.stat_fd < 0 || now - F.spare_at < SPARE_MS || (n = pread(F.stat_fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return;
	F.spare_at = now;
	own = loop_cpu_ns(); /* a system call: only with a sample */
	wall = now_ns();
	buf[n] = '\0';
	if (strncmp(buf, "cpu ", 4))
		return;
	p = buf + 4;
	for (size_t i = 0; i < VG_ARRAY_SIZE(v); i++) {
		v[i] = strtoull(p, &p, 10);
		total += v[i];
	}
	idle = v[3] + v[4];
	if (total > F.cpu_total && idle >= F.cpu_idle && wall > F.wall_ns && own >= F.own_ns)
		F.spare16 = (uint32_t)(16 * (uint64_t)F.ncpu * (idle - F.cpu_idle) / (total - F.cpu_total) +
				       16 * (own - F.own_ns) / (wall - F.wall_ns));
	F.cpu_total = total;
	F.cpu_idle = idle;
	F.own_ns = own;
	F.wall_ns = wall;
}

/* May the loop poll now? More than one CPU, and the rest of the host left at least one of
 * them to spare between the last two samples (the one polling takes): a busy host loses no
 * CPU to polling. */
static bool spare_cpu(void)
{
	spare_sample();
	return F.spare16 >= 16;
}

/* the loop polls until the later of the two windows, or sleeps */
static void poll_update(void)
{
	vg_loop_busy_poll(F.d, F.spin_until > F.listen_until ? F.spin_until : F.listen_until);
}

/* Q just left for its resolver. While its resolver's round trips average under
 * dns_busy_poll_us, and a CPU is to spare (spare_cpu), the loop polls instead of sleeping for
 * at most twice that average and never past dns_busy_poll_us: a sleep and a wakeup cost tens
 * of us, which only a fast resolver's answer notices; a slow resolver costs no polling at all,
 * nor does a busy host lose a CPU to it. */
static void spin_arm(struct query *q)
{
	uint64_t rtt = F.res[q->resolver].rtt_ns, cap = vg_daemon_config(F.d)->dns_busy_poll_us * 1000ull, until;

	if (F.ncpu < 2 || F.stat_fd < 0 || !rtt || rtt > cap)
		return;
	if (!spare_cpu()) {
		F.spin_busy++;
		return;
	}
	until = q->sent_ns + (2 * rtt < cap ? 2 * rtt : cap);
	F.spin_arms++;
	if (until > F.spin_until) {
		F.spin_until = until;
		poll_update();
	}
}

/* nothing is out any more: no polling for an answer */
static void spin_end(void)
{
	if (F.nqueries || !F.spin_until)
		return;
	F.spin_until = 0;
	poll_update();
}

/* A moving average of AVG with sample X clipped at twice CAP_NS (0: no clip). */
static void avg_note(uint64_t *avg, uint64_t x, uint64_t cap_ns)
{
	if (cap_ns && x > 2 * cap_ns)
		x = 2 * cap_ns;
	*avg = *avg ? *avg - *avg / 8 + x / 8 : x;
}

/* This turn's UDP answers just left. While the clients' next questions have come on average
 * within dns_listen_poll_us of the answers before them, and a CPU is to spare, the loop polls
 * for the next question instead of sleeping, for at most twice that average and never past
 * dns_listen_poll_us: a client asking questions one after another gets no wakeup of vigild's
 * for each; a quiet tenant, or one asking seldom, costs no polling at all. */
static void listen_arm(void)
{
	uint64_t cap = vg_daemon_config(F.d)->dns_listen_poll_us * 1000ull;

	F.answered_ns = now_ns();
	if (F.ncpu < 2 || F.stat_fd < 0 || !F.gap_ns || F.gap_ns > cap)
		return;
	if (!spare_cpu()) {
		F.listen_busy++;
		return;
	}
	F.listen_arms++;
	F.listen_until = F.answered_ns + (2 * F.gap_ns < cap ? 2 * F.gap_ns : cap);
	poll_update();
}

/* A client's question came: the time since the last answers left counts for listen_arm, and
 * the window it opened (if any) has done its work. */
static void listen_note(void)
{
	if (F.answered_ns)
		avg_note(&F.gap_ns, now_ns() - F.answered_ns, vg_daemon_config(F.d)->dns_listen_poll_us * 1000ull);
	F.answered_ns = 0;
	if (F.listen_until) {
		F.listen_until = 0;
		poll_update();
	}
}

/* A moving average of resolver R's round trips (a given-up question counts its whole wait),
 * each counted at most twice dns_busy_poll_us: an occasional slow answer (a miss in the
 * resolver's cache) moves it less than a resolver that is slow every time. */
static void rtt_note(size_t r, uint64_t rtt)
{
	avg_note(&F.res[r].rtt_ns, rtt, 1000ull * vg_daemon_config(F.d)->dns_busy_poll_us);
}

/* ---- queries ---- */

static void up_close(struct query *q)
{
	if (q->us) {
		/* a socket whose question is given up (timeout, error) may still get its answer: not reused */
		if (!q->up_answered)
			q->us->stray = true;
		pool_put(q->us);
		q->us = NULL;
	}
	if (q->up_fd >= 0) {
		vg_loop_del_fd(F.d, q->up_fd);
		close(q->up_fd);
	}
	q->up_fd = -1;
	free(q->up_buf);
	q->up_buf = NULL;
	q->up_len = 0;
	q->up_sent = false;
}

static void query_free(struct query *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		F.queries = q->next;
	if (q->next)
		q->next->prev = q->prev;
	up_close(q);
	if (q->tc && q->tc->busy == q)
		q->tc->busy = NULL;
	q->t->nqueries--;
	F.nqueries--;
	free(q->msg);
	free(q);
	spin_end();
}

static void query_fail(struct query *q, uint8_t rcode, const char *verdict)
{
	int n = vg_dns_synth(q->msg, q->len, rcode, F.out, sizeof(F.out));
	struct evq e = { .t = q->t, .qtype = q->qtype, .rcode = rcode, .tcp = q->tc != NULL, .verdict = verdict,
			 .cache = q->cache };

	if (rcode == VG_DNS_RCODE_SERVFAIL)
		q->t->servfail++;
	else
		q->t->blocked++;
	if (n >= 0) {
		F.out[0] = (uint8_t)(q->client_id >> 8);
		F.out[1] = (uint8_t)q->client_id;
		reply(q, F.out, (size_t)n);
	}
	/* the event after the answer: its cost is not the client's wait */
	event(&e, q->qname);
	query_free(q);
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* NAME (hashed HASH) gave T the address: remembered for explain, the least recently used name goes */
static void memo_put(struct fwd_tenant *t, const char *name, uint32_t hash, int family, const uint8_t *addr)
{
	struct memo_key *k = t->memo_key;
	struct memo *m;
	size_t at, oldest = 0;

	for (at = 0; at < MEMO_MAX; at++) {
		if (k[at].hash == hash && !strcmp(t->memo[at].name, name))
			break;
		if (k[at].used < k[oldest].used)
			oldest = at;
	}
	if (at == MEMO_MAX) {
		at = oldest;
		k[at].hash = hash;
		name_copy(t->memo[at].name, name);
		t->memo[at].naddr = 0;
	}
	k[at].used = ++t->memo_clock;
	m = &t->memo[at];
	for (size_t i = 0; i < m->naddr; i++)
		if (m->addr[i].family == family && !memcmp(m->addr[i].addr, addr, family == AF_INET ? 4 : 16))
			return;
	if (m->naddr == MEMO_ADDRS)
		memmove(&m->addr[0], &m->addr[1], sizeof(m->addr[0]) * --m->naddr);
	m->addr[m->naddr].family = family;
	memcpy(m->addr[m->naddr].addr, addr, family == AF_INET ? 4 : 16);
	m->naddr++;
}

struct learn_ctx {
	struct fwd_tenant *t;
	const struct vg_name_rule **rules;
	size_t nrules, addrs, unlearnable;
	uint32_t hash; /* of the name, for memo_put */
	uint64_t now;
	uint64_t age_ns; /* of the answer: 0 fetched now, else cached since */
	int r;
	struct vg_err err;
	struct vg_dns_cache_addr caddrs[VG_DNS_MAX_RR]; /* what was learned, for the cache */
};

/* ADDR (a learnable address) for the tenant under every matching rule, before the answer is
 * returned: until the answer's TTL left (vg_dns_learn_ns); a map write only where the entry is
 * missing or would expire sooner (vg_learned_learn) */
static void learn_one(struct learn_ctx *lc, int family, const uint8_t *addr, uint32_t ttl)
{
	uint64_t exp = lc->now + vg_dns_learn_ns(&F.pol, ttl, lc->age_ns);

	for (size_t i = 0; i < lc->nrules && lc->r == 0; i++)
		lc->r = vg_enforce_dns_learn(lc->t->id, lc->rules[i]->id, family, addr, exp, &lc->err);
	if (lc->r == 0) {
		struct vg_dns_cache_addr *ca = &lc->caddrs[lc->addrs++];

		ca->family = (uint8_t)family;
		memcpy(ca->addr, addr, family == AF_INET ? 4 : 16);
		ca->ttl = ttl;
		memo_put(lc->t, F.m.qname, lc->hash, family, addr);
	}
}

/* a learn for NAME failed (LC says why): the question is answered SERVFAIL, nothing opens */
static void learn_failed(const struct learn_ctx *lc, const char *name)
{
	char m[1024];

	lc->t->learn_failed++;
	vg_log(LOG_ERR, "dns: tenant %s: %s: cannot learn an address, answering SERVFAIL: %s", lc->t->name, name,
	       vg_err_str(&lc->err, m, sizeof(m)));
}

/* every address of a resolver's answer (vg_dns_answer_addrs, at most VG_DNS_MAX_RR) */
static void learn_addr(void *arg, int family, const uint8_t *addr, uint32_t ttl)
{
	struct learn_ctx *lc = arg;

	/* DNS rebinding: whoever controls a name's records cannot open loopback, metadata, ... */
	if (vg_dns_addr_unlearnable(family, addr)) {
		lc->unlearnable++;
		return;
	}
	learn_one(lc, family, addr, ttl);
}

/* Keep the resolver's answer ANS to Q (learned as LC says) for the next askers: a positive
 * answer (records, not truncated) to a question of the policy in force. */
static void cache_put(struct query *q, const uint8_t *ans, size_t len, const struct learn_ctx *lc)
{
	if (!F.cache || q->qflags < 0 || q->gen != F.gen || F.m.rcode != VG_DNS_RCODE_OK || F.m.truncated ||
	    !(ans[6] | ans[7]))
		return;
	vg_dns_cache_put(F.cache, q->qname, q->qtype, (uint8_t)q->qflags, ans, len, lc->caddrs, lc->addrs,
			 lc->unlearnable, F.pol.ttl_max, lc->now);
}

/* A valid answer from a resolver (parsed into F.m): learn, then answer. */
static void query_answer(struct query *q, uint8_t *ans, size_t len)
{
	const struct vg_name_rule *rules[MAX_MATCH];
	const struct vg_tenant *bt = bundle_tenant(q->t->id);
	struct learn_ctx lc = { .t = q->t, .rules = rules, .now = now_ns(), .hash = name_hash(q->qname) };
	struct evq e;

	F.res[q->resolver].answers++;
	/* the policy may have changed while the question was out: the rules in force decide */
	lc.nrules = bt ? vg_dns_rules_match(F.b, bt, q->qname, rules, MAX_MATCH) : 0;
	if (lc.nrules == 0) {
		query_fail(q, F.pol.refuse == VG_DNS_REFUSE_REFUSED ? VG_DNS_RCODE_REFUSED : VG_DNS_RCODE_NXDOMAIN,
			   "blocked");
		return;
	}
	vg_dns_answer_addrs(&F.m, learn_addr, &lc);
	if (lc.r < 0) {
		learn_failed(&lc, q->qname);
		query_fail(q, VG_DNS_RCODE_SERVFAIL, "learn_failed");
		return;
	}
	q->t->learned += lc.addrs;
	q->t->unlearnable += lc.unlearnable;
	q->t->answered++;
	/* before reply(): F.m and F.buf are reused by a TCP client's next question, handled from there */
	cache_put(q, ans, len, &lc);
	e = (struct evq){ .t = q->t, .qtype = q->qtype, .rcode = F.m.rcode, .tcp = q->tc != NULL, .verdict = "allowed",
			  .cache = q->cache, .rule_id = rules[0]->id, .answers = lc.addrs, .unlearnable = lc.unlearnable };
	ans[0] = (uint8_t)(q->client_id >> 8);
	ans[1] = (uint8_t)q->client_id;
	reply(q, ans, len);
	/* the event after the answer (learned before it): its cost is not the client's wait */
	event(&e, q->qname);
	query_free(q);
}

static int up_start(struct query *q);

/* the current resolver failed or took too long: the next one, or SERVFAIL */
static void query_next(struct query *q)
{
	up_close(q);
	while (++q->tries < F.pol.nresolvers) {
		q->resolver = (q->resolver + 1) % F.pol.nresolvers;
		if (up_start(q) == 0)
			return;
	}
	q->t->timeouts++;
	query_fail(q, VG_DNS_RCODE_SERVFAIL, "resolver_failed");
}

/* Is the message in buf the answer to q (parsed into F.m)? Anything else is dropped. */
static bool answer_valid(struct query *q, const uint8_t *buf, size_t len)
{
	struct vg_err err;

	if (vg_dns_parse(buf, len, &F.m, &err) < 0 || !F.m.response || F.m.id != q->up_id ||
	    strcmp(F.m.qname, q->qname) || F.m.qtype != q->qtype || F.m.qclass != q->qclass) {
		F.res[q->resolver].bad++;
		return false;
	}
	return true;
}

static void up_tcp_start(struct query *q);

static void on_up_udp(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct up_sock *s = arg;
	struct query *q = s->q;
	ssize_t n = recv(fd, F.buf, sizeof(F.buf), MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (!q) {
		/* idle: a late duplicate, an error, or someone who found the port: it goes */
		F.res[s->resolver].bad++;
		idle_remove(s);
		pool_close(s);
		return;
	}
	if (n < 0) {
		query_next(q); /* e.g. ECONNREFUSED: nothing listens there */
		return;
	}
	if (!answer_valid(q, F.buf, (size_t)n)) {
		s->stray = true; /* still waits for its answer, never carries another question */
		return;
	}
	q->up_answered = true;
	rtt_note(q->resolver, now_ns() - q->sent_ns);
	if (F.m.truncated) {
		up_tcp_start(q);
		return;
	}
	query_answer(q, F.buf, (size_t)n);
}

static void up_watch(struct query *q, uint32_t events, vg_io_cb cb)
{
	vg_loop_del_fd(F.d, q->up_fd);
	if (vg_loop_add_fd(F.d, q->up_fd, events, cb, q) < 0)
		query_next(q);
}

static void on_up_tcp(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct query *q = arg;
	ssize_t n;
	size_t want;

	if (!q->up_sent) {
		uint8_t hdr[2] = { (uint8_t)(q->len >> 8), (uint8_t)q->len };
		struct iovec iov[2] = { { hdr, 2 }, { q->msg, q->len } };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr ||
		    writev(fd, iov, 2) != (ssize_t)(q->len + 2)) {
			query_next(q);
			return;
		}
		q->up_sent = true;
		up_watch(q, EPOLLIN, on_up_tcp);
		return;
	}
	n = recv(fd, q->up_buf + q->up_len, VG_DNS_MSG_MAX + 2 - q->up_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		query_next(q);
		return;
	}
	q->up_len += (size_t)n;
	if (q->up_len < 2)
		return;
	want = (size_t)q->up_buf[0] << 8 | q->up_buf[1];
	if (q->up_len < want + 2)
		return;
	if (!answer_valid(q, q->up_buf + 2, want)) {
		query_next(q);
		return;
	}
	query_answer(q, q->up_buf + 2, want);
}

static socklen_t resolver_sockaddr(const struct vg_dns_resolver *r, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (r->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(r->port);
		memcpy(&s->sin_addr, r->addr, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(r->port);
	memcpy(&s6->sin6_addr, r->addr, 16);
	return sizeof(*s6);
}

static void up_tcp_start(struct query *q)
{
	int fd;

	up_close(q);
	q->up_tcp = true;
	q->up_buf = malloc(VG_DNS_MSG_MAX + 2);
	if (!q->up_buf || (fd = up_socket(q->resolver, SOCK_STREAM)) < 0) {
		query_next(q);
		return;
	}
	q->up_fd = fd;
	q->deadline = now_ms() + TRY_MS;
	if (vg_loop_add_fd(F.d, fd, EPOLLOUT, on_up_tcp, q) < 0)
		query_next(q);
}

static int up_start(struct query *q)
{
	int r = pool_get(q, q->resolver, &q->us);

	if (r < 0)
		return r;
	q->up_tcp = false;
	q->up_answered = false;
	q->up_id = random_id();
	q->msg[0] = (uint8_t)(q->up_id >> 8);
	q->msg[1] = (uint8_t)q->up_id;
	q->deadline = now_ms() + TRY_MS;
	F.res[q->resolver].sent++;
	if (send(q->us->fd, q->msg, q->len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)q->len) {
		up_close(q);
		return -EIO;
	}
	q->sent_ns = now_ns();
	spin_arm(q);
	return 0;
}

/* ---- the cache of answers (docs/dns.md, "The cache") ---- */

/* the cache as vigild.conf bounds it now (a change, on SIGHUP, starts it again, empty) */
static void cache_sync(void)
{
	const struct vg_config *cfg = vg_daemon_config(F.d);

	if (cfg->dns_cache_entries == F.cache_entries && cfg->dns_cache_bytes == F.cache_bytes)
		return;
	vg_dns_cache_free(F.cache);
	F.cache_entries = cfg->dns_cache_entries;
	F.cache_bytes = cfg->dns_cache_bytes;
	F.cache = vg_dns_cache_new(F.cache_entries, F.cache_bytes);
	if (!F.cache && F.cache_entries && F.cache_bytes)
		vg_log(LOG_ERR, "dns: out of memory for a cache of %u answers: answers are not cached", F.cache_entries);
}

/*
 * The question MSG (parsed into F.m, allowed to T by RULES) answered from the cache: every
 * address of the cached answer is learned for T, under T's rules, until the moment its TTL
 * left says, before the answer leaves; a learn that fails answers SERVFAIL, as for a fetched
 * answer. -ENOENT: a miss, the question goes to the resolver.
 */
static int cache_answer(struct fwd_tenant *t, const uint8_t *msg, size_t len, int qflags,
			const struct vg_name_rule **rules, size_t nrules, int fd, const struct sockaddr_storage *peer,
			socklen_t peerlen, struct tcp_client *tc)
{
	struct learn_ctx lc = { .t = t, .rules = rules, .nrules = nrules, .now = now_ns(), .hash = name_hash(F.m.qname) };
	const struct vg_dns_cache_entry *ce = vg_dns_cache_get(F.cache, F.m.qname, F.m.qtype, (uint8_t)qflags, lc.now);
	struct evq e = { .t = t, .qtype = F.m.qtype, .tcp = tc != NULL, .verdict = "allowed", .cache = "hit",
			 .rule_id = rules[0]->id };
	int n;

	if (!ce || (n = vg_dns_cache_answer(ce, msg, len, lc.now, F.hit, sizeof(F.hit))) < 0)
		return -ENOENT;
	lc.age_ns = lc.now - ce->fetched_ns;
	for (size_t i = 0; i < ce->naddrs && lc.r == 0; i++)
		learn_one(&lc, ce->addrs[i].family, ce->addrs[i].addr, ce->addrs[i].ttl);
	t->cache_hits++;
	if (lc.r < 0) {
		learn_failed(&lc, F.m.qname);
		t->servfail++;
		reply_local(fd, peer, peerlen, tc, msg, len, VG_DNS_RCODE_SERVFAIL);
		e.verdict = "learn_failed";
		e.rcode = VG_DNS_RCODE_SERVFAIL;
		e.rule_id = 0;
		event(&e, F.m.qname);
		return 0;
	}
	t->learned += lc.addrs;
	t->unlearnable += ce->unlearnable;
	t->answered++;
	e.rcode = F.hit[3] & 0x0f;
	e.answers = lc.addrs;
	e.unlearnable = ce->unlearnable;
	if (tc)
		tcp_reply(tc, F.hit, (size_t)n);
	else
		udp_answer(fd, peer, peerlen, msg, len, vg_dns_udp_size(msg, len), F.hit, (size_t)n);
	event(&e, F.m.qname);
	return 0;
}

/* ---- questions ---- */

/* The allowed question MSG (parsed into F.m) to the resolver: a query waiting for its answer. */
static void query_start(struct fwd_tenant *t, const uint8_t *msg, size_t len, int qflags, int fd,
			const struct sockaddr_storage *peer, socklen_t peerlen, struct tcp_client *tc)
{
	struct query *q = calloc(1, sizeof(*q));

	if (!q || !(q->msg = malloc(len))) {
		free(q);
		reply_local(fd, peer, peerlen, tc, msg, len, VG_DNS_RCODE_SERVFAIL);
		return;
	}
	memcpy(q->msg, msg, len);
	q->len = len;
	q->t = t;
	q->client_id = F.m.id;
	name_copy(q->qname, F.m.qname);
	q->qtype = F.m.qtype;
	q->qclass = F.m.qclass;
	q->qflags = qflags;
	q->gen = F.gen;
	q->cache = F.cache ? "miss" : "off";
	q->reply_fd = fd;
	if (peer)
		memcpy(&q->peer, peer, peerlen);
	q->peerlen = peerlen;
	q->udp_size = vg_dns_udp_size(msg, len);
	q->tc = tc;
	q->up_fd = -1;
	q->next = F.queries;
	if (F.queries)
		F.queries->prev = q;
	F.queries = q;
	t->nqueries++;
	F.nqueries++;
	if (tc)
		tc->busy = q;
	q->resolver = 0;
	if (up_start(q) < 0)
		query_next(q);
}

/* A question from a client of tenant T (over UDP from PEER at FD, or over TCP connection TC). */
static void handle_question(struct fwd_tenant *t, const uint8_t *msg, size_t len, int fd,
			    const struct sockaddr_storage *peer, socklen_t peerlen, struct tcp_client *tc)
{
	const struct vg_name_rule *rules[MAX_MATCH];
	const struct vg_tenant *bt = bundle_tenant(t->id);
	struct evq e = { .t = t, .tcp = tc != NULL };
	struct vg_err err;
	size_t nrules;
	int qflags;

	t->queries++;
	if (len < 12)
		return;
	if (vg_dns_parse(msg, len, &F.m, &err) < 0 || F.m.response) {
		t->malformed++;
		reply_local(fd, peer, peerlen, tc, msg, len, VG_DNS_RCODE_FORMERR);
		return;
	}
	if (vg_dns_opcode(msg) != 0) {
		t->malformed++;
		reply_local(fd, peer, peerlen, tc, msg, len, VG_DNS_RCODE_NOTIMP);
		return;
	}
	e.qtype = F.m.qtype;
	nrules = bt && F.m.qclass == 1 ? vg_dns_rules_match(F.b, bt, F.m.qname, rules, MAX_MATCH) : 0;
	if (!nrules) {
		t->blocked++;
		e.rcode = F.pol.refuse == VG_DNS_REFUSE_REFUSED ? VG_DNS_RCODE_REFUSED : VG_DNS_RCODE_NXDOMAIN;
		reply_local(fd, peer, peerlen, tc, msg, len, e.rcode);
		e.verdict = "blocked";
		event(&e, F.m.qname);
		return;
	}
	t->allowed++;
	cache_sync();
	qflags = F.cache ? vg_dns_query_flags(msg, len) : -1;
	if (qflags >= 0 && cache_answer(t, msg, len, qflags, rules, nrules, fd, peer, peerlen, tc) == 0)
		return;
	if (t->nqueries >= MAX_QUERIES_TENANT || F.nqueries >= MAX_QUERIES || !F.pol.nresolvers) {
		t->overload++;
		reply_local(fd, peer, peerlen, tc, msg, len, VG_DNS_RCODE_SERVFAIL);
		e = (struct evq){ .t = t, .qtype = F.m.qtype, .tcp = tc != NULL, .verdict = "overload", .rule_id = rules[0]->id,
				  .rcode = VG_DNS_RCODE_SERVFAIL, .cache = F.cache ? "miss" : "off" };
		event(&e, F.m.qname);
		return;
	}
	query_start(t, msg, len, qflags, fd, peer, peerlen, tc);
}

/* ---- client sockets ---- */

/* the datagrams waiting, UDP_VLEN per system call: one call when one question came */
static void on_udp(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct fwd_tenant *t = arg;
	struct sockaddr_storage peer[UDP_VLEN];
	struct iovec iov[UDP_VLEN];
	struct mmsghdr mm[UDP_VLEN];
	int n = UDP_VLEN;

	listen_note();
	for (int done = 0; done < UDP_BATCH && n == UDP_VLEN; done += n) {
		for (int i = 0; i < UDP_VLEN; i++) {
			iov[i] = (struct iovec){ F.qbuf[i], sizeof(F.qbuf[i]) };
			mm[i].msg_hdr = (struct msghdr){ .msg_name = &peer[i], .msg_namelen = sizeof(peer[i]),
							 .msg_iov = &iov[i], .msg_iovlen = 1 };
		}
		n = recvmmsg(fd, mm, UDP_VLEN, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			if (mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
				t->queries++;
				t->malformed++;
				continue;
			}
			handle_question(t, F.qbuf[i], mm[i].msg_len, fd, &peer[i], mm[i].msg_hdr.msg_namelen, NULL);
		}
	}
}

static void on_tcp_client(struct vg_daemon *d, int fd, uint32_t events, void *arg);

/* what the connection waits for: writing its answer, reading a question, or (busy) nothing */
static void tcp_watch(struct tcp_client *c)
{
	vg_loop_del_fd(F.d, c->fd);
	if (c->out)
		vg_loop_add_fd(F.d, c->fd, EPOLLOUT, on_tcp_client, c);
	else if (!c->busy)
		vg_loop_add_fd(F.d, c->fd, EPOLLIN, on_tcp_client, c);
}

static void tcp_close(struct tcp_client *c)
{
	struct tcp_client **pp;

	for (pp = &c->t->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->busy) {
		c->busy->tc = NULL;
		c->busy->reply_fd = -1; /* still learned and evented, answered to nobody */
	}
	vg_loop_del_fd(F.d, c->fd);
	close(c->fd);
	c->t->ntcp--;
	free(c->in);
	free(c->out);
	free(c);
}

/* the complete questions buffered, one at a time; then what the connection waits for */
static void tcp_take(struct tcp_client *c)
{
	c->taking = true;
	while (!c->dead && !c->busy && !c->out && c->inlen >= 2) {
		size_t want = (size_t)c->in[0] << 8 | c->in[1];

		if (c->inlen < want + 2)
			break;
		memcpy(F.buf + 2, c->in + 2, want); /* the buffer moves on before the question is handled */
		memmove(c->in, c->in + 2 + want, c->inlen - 2 - want);
		c->inlen -= 2 + want;
		handle_question(c->t, F.buf + 2, want, -1, NULL, 0, c);
	}
	c->taking = false;
	if (c->dead)
		tcp_close(c);
	else
		tcp_watch(c);
}

static void on_tcp_client(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct tcp_client *c = arg;
	ssize_t n;

	if (c->out) {
		n = send(fd, c->out + c->outoff, c->outlen - c->outoff, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			tcp_close(c);
			return;
		}
		c->outoff += n > 0 ? (size_t)n : 0;
		if (c->outoff == c->outlen) {
			free(c->out);
			c->out = NULL;
			tcp_take(c);
		}
		return;
	}
	n = recv(fd, c->in + c->inlen, VG_DNS_MSG_MAX + 2 - c->inlen, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		tcp_close(c);
		return;
	}
	if (n > 0)
		c->inlen += (size_t)n;
	if (c->inlen >= 2 && ((size_t)c->in[0] << 8 | c->in[1]) < 12) {
		tcp_close(c); /* no DNS message is that short */
		return;
	}
	tcp_take(c);
}

static void on_accept(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct fwd_tenant *t = arg;
	struct tcp_client *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (cfd < 0)
		return;
	if (t->ntcp >= MAX_TCP_TENANT) {
		t->overload++;
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->in = malloc(VG_DNS_MSG_MAX + 2))) {
		free(c);
		close(cfd);
		return;
	}
	c->t = t;
	c->fd = cfd;
	c->idle_deadline = now_ms() + TCP_IDLE_MS;
	if (vg_loop_add_fd(d, cfd, EPOLLIN, on_tcp_client, c) < 0) {
		free(c->in);
		free(c);
		close(cfd);
		return;
	}
	c->next = t->clients;
	t->clients = c;
	t->ntcp++;
}

/* ---- timeouts ---- */

static void on_tick(struct vg_daemon *d, void *arg)
{
	uint64_t now = now_ms();
	bool again = true;

	F.tick = 0;
	while (again) { /* query_next may free the query: walk again after each change */
		again = false;
		for (struct query *q = F.queries; q; q = q->next)
			if (q->deadline <= now) {
				F.res[q->resolver].timeouts++;
				rtt_note(q->resolver, TRY_MS * 1000000ull);
				query_next(q);
				again = true;
				break;
			}
	}
	for (size_t i = 0; i < F.tab.n; i++)
		for (struct tcp_client *c = F.tab.t[i]->clients, *next; c; c = next) {
			next = c->next;
			if (!c->busy && c->idle_deadline <= now)
				tcp_close(c);
		}
	pool_trim(false);
	if (F.cache)
		vg_dns_cache_sweep(F.cache, now_ns());
	spare_sample();
	if (F.tab.n)
		F.tick = vg_loop_add_timer(d, TICK_MS, on_tick, NULL);
}

/* ---- per-tenant sockets ---- */

static void tenant_free(struct fwd_tenant *t)
{
	udp_flush(); /* queued answers name its sockets by number, queued events the tenant */
	event_flush();
	while (t->clients)
		tcp_close(t->clients);
	for (struct query *q = F.queries, *next; q; q = next) {
		next = q->next;
		if (q->t == t)
			query_free(q);
	}
	int *fds[] = { &t->udp4, &t->tcp4, &t->udp6, &t->tcp6 };

	for (size_t i = 0; i < VG_ARRAY_SIZE(fds); i++)
		if (*fds[i] >= 0) {
			vg_loop_del_fd(F.d, *fds[i]);
			close(*fds[i]);
		}
	free(t->memo);
	free(t->memo_key);
	free(t);
}

/* a socket of TYPE bound to the loopback address SA (port 0: any); the port it got into SA */
static int bound_socket(int family, int type, struct sockaddr *sa, socklen_t sl)
{
	int one = 1, fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, sl) < 0 || getsockname(fd, sa, &sl) < 0 ||
	    (type == SOCK_STREAM && listen(fd, MAX_TCP_TENANT) < 0)) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* UDP and TCP on one port of the loopback address SA (a port taken for TCP: another one) */
static int socket_pair(int family, struct sockaddr *sa, socklen_t sl, int *udp, int *tcp)
{
	int r = -EADDRINUSE;

	for (int tries = 0; tries < 16 && r == -EADDRINUSE; tries++) {
		if (family == AF_INET)
			((struct sockaddr_in *)sa)->sin_port = 0;
		else
			((struct sockaddr_in6 *)sa)->sin6_port = 0;
		if ((*udp = bound_socket(family, SOCK_DGRAM, sa, sl)) < 0)
			return *udp;
		if ((*tcp = bound_socket(family, SOCK_STREAM, sa, sl)) >= 0)
			return 0;
		r = *tcp;
		close(*udp);
		*udp = *tcp = -1;
	}
	return r;
}

static int tenant_new(uint32_t id, struct fwd_tenant **out, struct vg_err *err)
{
	struct fwd_tenant *t = calloc(1, sizeof(*t));
	int r;

	if (!t || !(t->memo = calloc(MEMO_MAX, sizeof(*t->memo))) ||
	    !(t->memo_key = calloc(MEMO_MAX, sizeof(*t->memo_key)))) {
		if (t)
			free(t->memo);
		free(t);
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	}
	t->id = id;
	t->udp4 = t->tcp4 = t->udp6 = t->tcp6 = -1;
	t->addr.tenant = id;
	t->addr.v4.sin_family = AF_INET;
	t->addr.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r = socket_pair(AF_INET, (struct sockaddr *)&t->addr.v4, sizeof(t->addr.v4), &t->udp4, &t->tcp4)) < 0) {
		tenant_free(t);
		return vg_err_set(err, -r, "dns_forwarder", NULL, "tenant id %u: cannot open the DNS forwarder on 127.0.0.1: %s",
				  id, strerror(-r));
	}
	t->addr.v6.sin6_family = AF_INET6;
	t->addr.v6.sin6_addr = in6addr_loopback;
	if (socket_pair(AF_INET6, (struct sockaddr *)&t->addr.v6, sizeof(t->addr.v6), &t->udp6, &t->tcp6) < 0)
		memset(&t->addr.v6, 0, sizeof(t->addr.v6)); /* no IPv6 loopback on this host: IPv4 only */
	*out = t;
	return 0;
}

static int tenant_watch(struct fwd_tenant *t)
{
	int r = vg_loop_add_fd(F.d, t->udp4, EPOLLIN, on_udp, t);

	if (r == 0)
		r = vg_loop_add_fd(F.d, t->tcp4, EPOLLIN, on_accept, t);
	if (r == 0 && t->udp6 >= 0)
		r = vg_loop_add_fd(F.d, t->udp6, EPOLLIN, on_udp, t);
	if (r == 0 && t->tcp6 >= 0)
		r = vg_loop_add_fd(F.d, t->tcp6, EPOLLIN, on_accept, t);
	return r;
}

static struct fwd_tenant *running_tenant(uint32_t id)
{
	for (size_t i = 0; i < F.tab.n; i++)
		if (F.tab.t[i]->id == id)
			return F.tab.t[i];
	return NULL;
}

static bool staged_has(const struct fwd_table *s, const struct fwd_tenant *t)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i] == t)
			return true;
	return false;
}

static void table_abort(struct fwd_table *s)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (running_tenant(s->t[i]->id) != s->t[i])
			tenant_free(s->t[i]);
	if (s)
		free(s->t);
	free(s);
}

/* ---- module ---- */

static int dnsfwd_init(struct vg_daemon *d, struct vg_err *err)
{
	cpu_set_t cpus;

	F.d = d;
	F.ncpu = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
	F.stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	spare_sample(); /* the next sample's figure counts from here; no polling before it */
	return 0;
}

/* sockets for every tenant with names: kept for the tenants that already have them, new ones opened here */
static int dnsfwd_prepare(struct vg_daemon *d, const struct vg_bundle *b, void **staged, struct vg_err *err)
{
	struct fwd_table *s = calloc(1, sizeof(*s));
	struct vg_dns_learned_stats st;
	int r = 0;

	if (!s || !(s->t = calloc(b->ntenants + 1, sizeof(*s->t)))) {
		free(s);
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	}
	s->off = vg_enforce_dns_stats(0, &st) == -ENODEV;
	for (size_t i = 0; i < b->ntenants && r == 0 && !s->off; i++) {
		const struct vg_tenant *bt = &b->tenants[i];
		struct fwd_tenant *t;

		if (!vg_dns_tenant_has_names(b, bt))
			continue;
		t = running_tenant(bt->id);
		if (!t)
			r = tenant_new(bt->id, &t, err);
		if (r == 0)
			s->t[s->n++] = t;
	}
	if (r < 0) {
		table_abort(s);
		return r;
	}
	*staged = s;
	return 0;
}

static void dnsfwd_abort(struct vg_daemon *d, void *staged)
{
	table_abort(staged);
}

static void dnsfwd_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	struct fwd_table *s = staged;
	struct vg_dns_forwarder_addr *addrs = calloc(s->n + 1, sizeof(*addrs));
	struct vg_err err = { 0 };
	char msg[1024];

	for (size_t i = 0; i < F.tab.n; i++)
		if (!staged_has(s, F.tab.t[i]))
			tenant_free(F.tab.t[i]);
	free(F.tab.t);
	F.tab = *s;
	free(s);
	F.b = b;
	F.pol = b->dns;
	F.gen++;
	pool_trim(false);
	/* answers fetched under another policy (resolvers, rules, TTL bounds) are not served under this one */
	cache_sync();
	if (F.cache)
		vg_dns_cache_flush(F.cache);
	if (F.pol.nresolvers > VG_ARRAY_SIZE(F.res))
		F.pol.nresolvers = VG_ARRAY_SIZE(F.res);
	memset(F.res, 0, sizeof(F.res));
	F.error[0] = '\0';
	for (size_t i = 0; i < F.tab.n; i++) {
		struct fwd_tenant *t = F.tab.t[i];
		const struct vg_tenant *bt = bundle_tenant(t->id);

		snprintf(t->name, sizeof(t->name), "%s", bt ? bt->name : "?");
		vg_loop_del_fd(d, t->udp4); /* kept tenants are watched again: one watch per socket */
		vg_loop_del_fd(d, t->tcp4);
		vg_loop_del_fd(d, t->udp6);
		vg_loop_del_fd(d, t->tcp6);
		if (tenant_watch(t) < 0)
			snprintf(F.error, sizeof(F.error), "tenant %s: cannot watch the forwarder's sockets", t->name);
		if (addrs)
			addrs[i] = t->addr;
	}
	/* the kernel side redirects to the table in force (none: no redirect at all) */
	F.registered = addrs && vg_enforce_dns_forwarders(addrs, F.tab.n, &err) == 0;
	if (!F.registered && F.tab.n) {
		snprintf(F.error, sizeof(F.error), "the forwarders are not in force: %s",
			 addrs ? vg_err_str(&err, msg, sizeof(msg)) : "out of memory");
		vg_log(LOG_ERR, "dns: %s; tenants' names allow nothing", F.error);
	}
	free(addrs);
	if (F.tab.n && !F.tick)
		F.tick = vg_loop_add_timer(d, TICK_MS, on_tick, NULL);
}

static void dnsfwd_shutdown(struct vg_daemon *d)
{
	if (F.stat_fd >= 0)
		close(F.stat_fd);
	F.stat_fd = -1;
	for (size_t i = 0; i < F.tab.n; i++)
		tenant_free(F.tab.t[i]);
	free(F.tab.t);
	F.tab.t = NULL;
	F.tab.n = 0;
	pool_trim(true);
	vg_dns_cache_free(F.cache);
	F.cache = NULL;
	F.cache_entries = 0;
	F.cache_bytes = 0;
	if (F.tick > 0)
		vg_loop_cancel_timer(d, F.tick);
	F.tick = 0;
	if (F.flush_timer > 0)
		vg_loop_cancel_timer(d, F.flush_timer);
	F.flush_timer = 0;
}

/* ---- status, explain ---- */

static const char *sockaddr_str(const void *sa, char *buf, size_t len)
{
	const struct sockaddr_in *s4 = sa;
	const struct sockaddr_in6 *s6 = sa;
	char a[INET6_ADDRSTRLEN];

	if (s4->sin_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(s4->sin_port));
	} else {
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	}
	return buf;
}

static const char *resolver_str(const struct vg_dns_resolver *r, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	resolver_sockaddr(r, &ss);
	return sockaddr_str(&ss, buf, len);
}

static json_t *tenant_status(struct fwd_tenant *t)
{
	struct vg_dns_learned_stats st = { 0 };
	char a4[64], a6[80];
	json_t *j;

	j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "listen",
		      sockaddr_str(&t->addr.v4, a4, sizeof(a4)), "queries", (json_int_t)t->queries, "allowed",
		      (json_int_t)t->allowed, "blocked", (json_int_t)t->blocked, "answered", (json_int_t)t->answered,
		      "servfail", (json_int_t)t->servfail, "timeouts", (json_int_t)t->timeouts, "overload",
		      (json_int_t)t->overload, "malformed", (json_int_t)t->malformed, "addresses_learned",
		      (json_int_t)t->learned, "learn_failed", (json_int_t)t->learn_failed, "outstanding",
		      (json_int_t)t->nqueries, "tcp_connections", (json_int_t)t->ntcp, "events_dropped",
		      (json_int_t)t->events_dropped);
	if (!j)
		return NULL;
	json_object_set_new(j, "unlearnable", json_integer((json_int_t)t->unlearnable));
	json_object_set_new(j, "cache_hits", json_integer((json_int_t)t->cache_hits));
	if (t->addr.v6.sin6_family)
		json_object_set_new(j, "listen6", json_string(sockaddr_str(&t->addr.v6, a6, sizeof(a6))));
	if (vg_enforce_dns_stats(t->id, &st) == 0)
		json_object_set_new(j, "learned", json_pack("{s:I, s:I}", "addresses", (json_int_t)st.entries,
							    "evictions", (json_int_t)st.evictions));
	return j;
}

static json_t *cache_status(void)
{
	struct vg_dns_cache_stats cs;

	cache_sync();
	if (!F.cache)
		return json_pack("{s:s}", "state", "off");
	vg_dns_cache_stats(F.cache, &cs);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "state", "on", "entries",
			 (json_int_t)cs.entries, "bytes", (json_int_t)cs.bytes, "index_bytes", (json_int_t)cs.index_bytes,
			 "max_entries", (json_int_t)cs.max_entries, "max_bytes", (json_int_t)cs.max_bytes, "hits",
			 (json_int_t)cs.hits, "misses", (json_int_t)cs.misses, "stored", (json_int_t)cs.stored,
			 "evictions", (json_int_t)cs.evictions, "expired", (json_int_t)cs.expired, "flushes",
			 (json_int_t)cs.flushes);
}

static void dnsfwd_status(struct vg_daemon *d, json_t *st)
{
	const char *state = F.tab.off ? "off" : !F.tab.n ? "idle" : F.error[0] ? "degraded" : "running";
	json_t *tenants = json_object(), *res = json_array();
	char buf[80];

	for (size_t i = 0; i < F.tab.n; i++)
		json_object_set_new(tenants, F.tab.t[i]->name, tenant_status(F.tab.t[i]));
	for (size_t i = 0; i < F.pol.nresolvers; i++)
		json_array_append_new(res, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "address",
						     resolver_str(&F.pol.resolvers[i], buf, sizeof(buf)), "sent",
						     (json_int_t)F.res[i].sent, "answers", (json_int_t)F.res[i].answers,
						     "timeouts", (json_int_t)F.res[i].timeouts, "bad_answers",
						     (json_int_t)F.res[i].bad, "rtt_us",
						     (json_int_t)(F.res[i].rtt_ns / 1000)));
	json_object_set_new(st, "state", json_string(state));
	if (F.tab.off)
		json_object_set_new(st, "reason", json_string("enforcement is not running: rules by name allow nothing"));
	if (F.error[0])
		json_object_set_new(st, "error", json_string(F.error));
	json_object_set_new(st, "outstanding", json_integer((json_int_t)F.nqueries));
	json_object_set_new(st, "busy_polls", json_integer((json_int_t)F.spin_arms));
	json_object_set_new(st, "busy_polls_host_busy", json_integer((json_int_t)F.spin_busy));
	json_object_set_new(st, "listen_polls", json_integer((json_int_t)F.listen_arms));
	json_object_set_new(st, "listen_polls_host_busy", json_integer((json_int_t)F.listen_busy));
	json_object_set_new(st, "resolvers", res);
	json_object_set_new(st, "cache", cache_status());
	json_object_set_new(st, "tenants", tenants);
}

/* Does rule R allow PROTO (VG_PROTO_*) to PORT (-1: any port)? */
static bool rule_covers(const struct vg_name_rule *r, uint8_t proto, long port)
{
	if (r->proto != VG_PROTO_ANY && r->proto != proto)
		return false;
	if (port < 0 || r->nports == 0)
		return true;
	for (size_t i = 0; i < r->nports; i++)
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

static json_t *rule_json(const struct vg_bundle *b, const struct vg_tenant *bt, const struct vg_name_rule *r,
			 bool covers)
{
	json_t *ports = json_array();
	const char *from = "tenant";

	for (size_t s = 0; s < bt->nshared; s++) {
		const struct vg_shared_service *ss = &b->shared_services[bt->shared[s]];

		if (r >= ss->names && r < ss->names + ss->nnames)
			from = ss->name;
	}
	for (size_t i = 0; i < r->nports; i++)
		json_array_append_new(ports, r->ports[i].lo == r->ports[i].hi
						     ? json_integer(r->ports[i].lo)
						     : json_sprintf("%u-%u", r->ports[i].lo, r->ports[i].hi));
	return json_pack("{s:I, s:s, s:s, s:s, s:o, s:b}", "id", (json_int_t)r->id, "pattern", r->pattern, "from",
			 from, "proto", vg_proto_name(r->proto), "ports", ports, "covers", covers);
}

/* the addresses NAME gave tenant T since vigild started that the kernel holds learned now */
static json_t *learned_json(struct fwd_tenant *t, const char *name)
{
	json_t *arr = json_array();
	uint64_t now = now_ns();

	for (size_t i = 0; t && i < MEMO_MAX; i++) {
		const struct memo *m = &t->memo[i];

		if (strcmp(m->name, name))
			continue;
		for (size_t k = 0; k < m->naddr; k++) {
			char a[INET6_ADDRSTRLEN];
			uint32_t rule;
			uint64_t exp;

			if (vg_enforce_dns_lookup(t->id, m->addr[k].family, m->addr[k].addr, &rule, &exp) < 0 || exp <= now)
				continue;
			inet_ntop(m->addr[k].family, m->addr[k].addr, a, sizeof(a));
			json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "address", a, "rule_id", (json_int_t)rule,
							     "expires_in_s", (json_int_t)((exp - now + 999999999) / 1000000000)));
		}
	}
	return arr;
}

static int explain_args(json_t *req, uint8_t *proto, long *port, struct vg_err *err)
{
	const char *pstr = json_string_value(json_object_get(req, "proto"));
	json_t *jport = json_object_get(req, "port");

	*proto = VG_PROTO_TCP;
	*port = -1;
	if (jport && (!json_is_integer(jport) || json_integer_value(jport) < 0 || json_integer_value(jport) > 65535))
		return vg_err_set(err, EINVAL, "bad_request", "port", "port must be 0-65535");
	if (jport)
		*port = (long)json_integer_value(jport);
	if (!pstr || !strcmp(pstr, "tcp"))
		return 0;
	if (!strcmp(pstr, "udp"))
		*proto = VG_PROTO_UDP;
	else if (!strcmp(pstr, "icmp"))
		*proto = VG_PROTO_ICMP;
	else
		return vg_err_set(err, EINVAL, "bad_request", pstr, "protocol must be tcp, udp or icmp");
	return 0;
}

static int ctl_explain(struct vg_daemon *d, json_t *req, json_t **reply, struct vg_err *err)
{
	const char *tname = json_string_value(json_object_get(req, "tenant"));
	const char *in = json_string_value(json_object_get(req, "name"));
	const struct vg_name_rule *rules[MAX_MATCH];
	const struct vg_tenant *bt;
	char name[VG_DNS_NAME_MAX + 1];
	size_t n, covered = 0;
	uint8_t proto;
	long port;
	json_t *arr;
	int r;

	if (!F.b)
		return vg_err_set(err, ENOENT, "no_policy", NULL, "no policy is in force: nothing to explain");
	if (!tname || !in)
		return vg_err_set(err, EINVAL, "bad_request", NULL, "dns.explain needs \"tenant\" and \"name\"");
	if ((r = explain_args(req, &proto, &port, err)) < 0 || (r = vg_dns_name_normalize(in, name, sizeof(name), err)) < 0)
		return r;
	bt = vg_bundle_tenant_by_name(F.b, tname);
	if (!bt)
		return vg_err_set(err, ENOENT, "unknown_tenant", tname,
				  "no tenant \"%s\" in the policy in force (names are for tenants, not the host)", tname);
	n = vg_dns_rules_match(F.b, bt, name, rules, MAX_MATCH);
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		bool c = rule_covers(rules[i], proto, port);

		covered += c;
		json_array_append_new(arr, rule_json(F.b, bt, rules[i], c));
	}
	/* blocked: the lookup is refused; denied: it resolves, but no rule of the name covers this port */
	*reply = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "tenant", bt->name, "name", name, "proto",
			   vg_proto_name(proto), "decision", !n ? "blocked" : covered ? "allowed" : "denied", "rules", arr,
			   "learned", learned_json(running_tenant(bt->id), name), "policy_version",
			   (json_int_t)F.b->version);
	if (port >= 0)
		json_object_set_new(*reply, "port", json_integer(port));
	if (!n)
		json_object_set_new(*reply, "answer",
				    json_string(F.pol.refuse == VG_DNS_REFUSE_REFUSED ? "REFUSED" : "NXDOMAIN"));
	return 0;
}

static int dnsfwd_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		      struct vg_err *err)
{
	if (strcmp(cmd, "dns.explain"))
		return -ENOENT;
	return ctl_explain(d, req, reply, err);
}

const struct vg_module vg_module_dnsfwd = {
	.name = "dns",
	.init = dnsfwd_init,
	.prepare = dnsfwd_prepare,
	.commit = dnsfwd_commit,
	.abort = dnsfwd_abort,
	.ctl = dnsfwd_ctl,
	.status = dnsfwd_status,
	.shutdown = dnsfwd_shutdown,
};
