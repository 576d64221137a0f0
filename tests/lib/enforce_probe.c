/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: asks the kernel what it lets this process do. Optionally moves
 * itself into a cgroup and a network namespace (--netns /run/netns/NAME) first,
 * then reads one request per line from stdin and
 * prints one answer per line (flushed), so one process can test thousands of
 * destinations:
 *
 *   tcp ADDR PORT       non-blocking connect       -> deny | allow <detail>
 *   tcpwait ADDR PORT   connect, wait for the handshake (bounded)
 *   udp ADDR PORT       connect + send              (connected UDP)
 *   udpsend ADDR PORT   sendto                      (unconnected UDP)
 *   udpkeep ADDR PORT   sendto from one unconnected UDP socket per family, kept for all requests
 *   ping ADDR           ICMP echo on a ping socket, waits for the reply (bounded)
 *   raw ADDR            ICMP echo on a raw socket
 *   listen tcp|udp PORT bind on the wildcard address and keep the socket open
 *   open tcp|udp|mptcp ADDR PORT  connect and keep the socket (one at a time)
 *   send                send on the kept socket
 *   srh ADDR PORT VIA   TCP connect to ADDR with an IPv6 segment routing header via VIA
 *   lsrr ADDR PORT VIA  TCP connect to ADDR with an IPv4 loose source route via VIA
 *   tfo ADDR PORT       TCP Fast Open: the SYN carries data (sendto MSG_FASTOPEN)
 *   pktinfo ADDR PORT   UDP sendmsg with an IP(V6)_PKTINFO control message
 *   mptcp ADDR PORT     MPTCP connect
 *   packet              open an AF_PACKET socket
 *   bindclose tcp|udp ADDR PORT  bind a port (TCP: listen) and close it again
 *   flood tcp|udp|udpsend|udpflow ADDR PORT MS  new connections (TCP: completed handshakes; udp:
 *                       connect + send; udpsend: sendto from a new unconnected socket each time, to PORT
 *                       and PORT + 1 in turn; udpflow: sendto from one socket to PORT) as fast
 *                       as possible for MS ms -> "flood allowed A denied D other O ms M end_ns E"
 *                       (M: elapsed; E: CLOCK_MONOTONIC, bpf_ktime_get_ns's clock, after the last one)
 * ADDR may carry a scope: fe80::2%dev.
 *
 * --hold keeps the listeners open after the last request until a signal.
 * --count tcp|udp|mptcp PORT FILE: a receiver that counts what arrives (connections,
 *   datagrams, bytes) and how connections end (closed: EOF, resets: RST or abort), and
 *   rewrites FILE with "conns N msgs M bytes B closed C resets R ended_ms T" each time
 *   (T: CLOCK_REALTIME in ms when the last connection ended, 0: none yet).
 * --sniff DEV ADDR FILE: counts IP packets to ADDR seen on DEV (AF_PACKET),
 *   rewriting FILE with "seen N" each time: evidence that does not trust the sender.
 *
 * "deny" means the kernel answered EPERM: vigil's hooks refused it. ADDR may
 * be IPv4, IPv6 or IPv4-mapped IPv6 (then an AF_INET6 socket is used).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int wait_ms = 2000;

struct dst {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

static int parse_dst(const char *addr, const char *port, struct dst *d)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&d->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&d->ss;
	int p = port ? atoi(port) : 0;
	char a[128], *pct;

	memset(d, 0, sizeof(*d));
	snprintf(a, sizeof(a), "%s", addr);
	pct = strchr(a, '%');
	if (pct) {
		*pct = '\0';
		s6->sin6_scope_id = if_nametoindex(pct + 1);
		addr = a;
	}
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		d->len = sizeof(*s4);
		d->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		d->len = sizeof(*s6);
		d->family = AF_INET6;
		return 0;
	}
	return -1;
}

static void answer(int err, const char *detail)
{
	if (err == EPERM)
		printf("deny\n");
	else if (err)
		printf("allow %s\n", strerror(err));
	else
		printf("allow %s\n", detail);
	fflush(stdout);
}

static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, wait_ms) == 1 ? 0 : -1;
}

static void do_tcp(struct dst *d, int wait)
{
	int fd = socket(d->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
	socklen_t el = sizeof(err);

	if (fd < 0) {
		answer(errno, "");
		return;
	}
	if (connect(fd, (struct sockaddr *)&d->ss, d->len) == 0) {
		answer(0, "connected");
	} else if (errno != EINPROGRESS) {
		answer(errno, "");
	} else if (!wait) {
		answer(0, "in-progress");
	} else if (wait_fd(fd, POLLOUT) < 0) {
		answer(0, "timeout");
	} else {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		answer(err, "connected");
	}
	close(fd);
}

static void do_udp(struct dst *d, int connected)
{
	int fd = socket(d->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	if (fd < 0) {
		answer(errno, "");
		return;
	}
	if (connected) {
		if (connect(fd, (struct sockaddr *)&d->ss, d->len) < 0) {
			answer(errno, "");
			close(fd);
			return;
		}
		n = send(fd, "probe", 5, 0);
	} else {
		n = sendto(fd, "probe", 5, 0, (struct sockaddr *)&d->ss, d->len);
	}
	answer(n < 0 ? errno : 0, "sent");
	close(fd);
}

/* sendto from the unconnected socket of d's family this prober keeps (one socket's datagrams, judged each time) */
static void do_udpkeep(struct dst *d)
{
	static int fd4 = -1, fd6 = -1;
	int *fd = d->family == AF_INET ? &fd4 : &fd6;
	ssize_t n;

	if (*fd < 0)
		*fd = socket(d->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (*fd < 0) {
		answer(errno, "");
		return;
	}
	n = sendto(*fd, "probe", 5, 0, (struct sockaddr *)&d->ss, d->len);
	answer(n < 0 ? errno : 0, "sent");
}

static void do_icmp(struct dst *d, int raw)
{
	int proto = d->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	int fd = socket(d->family, (raw ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC, proto);
	unsigned char pkt[64] = { 0 }, buf[1500];
	ssize_t n;

	if (fd < 0) {
		printf("error socket %s\n", strerror(errno));
		fflush(stdout);
		return;
	}
	if (d->family == AF_INET) {
		struct icmphdr *h = (struct icmphdr *)pkt;
		uint32_t sum = 0;

		h->type = ICMP_ECHO;
		h->un.echo.id = htons(0x7667);
		h->un.echo.sequence = htons(1);
		/* a raw socket sends what we wrote: it needs a valid checksum */
		for (size_t i = 0; i < sizeof(pkt); i += 2)
			sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		h->checksum = htons((uint16_t)~sum);
	} else {
		struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;

		h->icmp6_type = ICMP6_ECHO_REQUEST;
		h->icmp6_id = htons(0x7667);
		h->icmp6_seq = htons(1);
		if (raw) {
			int off = 2;

			setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off));
		}
	}
	n = sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&d->ss, d->len);
	if (n < 0) {
		answer(errno, "");
	} else {
		/* the reply proves the packet left; raw sockets also see other ICMP, any answer will do */
		int got = wait_fd(fd, POLLIN) == 0 && recv(fd, buf, sizeof(buf), 0) > 0;

		answer(0, got ? "reply" : "no-reply");
	}
	close(fd);
}

static int do_listen(const char *proto, const char *port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port)) };
	int udp = !strcmp(proto, "udp");
	int fd = socket(AF_INET6, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0), zero = 0, one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (!udp && listen(fd, 4096) < 0)) {
		printf("error listen %s\n", strerror(errno));
		fflush(stdout);
		close(fd);
		return -1;
	}
	printf("listening\n");
	fflush(stdout);
	return fd; /* kept open until exit */
}

static int held = -1;

static void do_open(const char *proto, struct dst *d)
{
	int udp = !strcmp(proto, "udp"), err = 0;
	socklen_t el = sizeof(err);

	if (held >= 0)
		close(held);
	held = socket(d->family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
		      !strcmp(proto, "mptcp") ? 262 /* IPPROTO_MPTCP */ : 0);
	if (held < 0) {
		answer(errno, "");
		return;
	}
	if (connect(held, (struct sockaddr *)&d->ss, d->len) == 0) {
		answer(0, "connected");
	} else if (errno != EINPROGRESS) {
		answer(errno, "");
	} else if (wait_fd(held, POLLOUT) < 0) {
		answer(0, "timeout");
	} else {
		getsockopt(held, SOL_SOCKET, SO_ERROR, &err, &el);
		answer(err, "connected");
	}
}

static void do_send(void)
{
	ssize_t n = held < 0 ? -1 : send(held, "probe", 5, MSG_NOSIGNAL);

	answer(n < 0 ? (held < 0 ? EBADF : errno) : 0, "sent");
}

/* connect fd to d and report like tcpwait */
static void connect_wait(int fd, struct dst *d)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (connect(fd, (struct sockaddr *)&d->ss, d->len) == 0)
		answer(0, "connected");
	else if (errno != EINPROGRESS)
		answer(errno, "");
	else if (wait_fd(fd, POLLOUT) < 0)
		answer(0, "timeout");
	else {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		answer(err, "connected");
	}
	close(fd);
}

/* IPv6 segment routing header (type 4): the packet goes to VIA first, ADDR is the last segment */
static void do_srh(struct dst *d, const char *via)
{
	struct {
		uint8_t nexthdr, hdrlen, type, segments_left, first_segment, flags;
		uint16_t tag;
		struct in6_addr seg[2];
	} __attribute__((packed)) srh = { .hdrlen = 4, .type = 4, .segments_left = 1, .first_segment = 1 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || inet_pton(AF_INET6, via, &srh.seg[1]) != 1) {
		answer(errno ? errno : EINVAL, "");
		return;
	}
	srh.seg[0] = ((struct sockaddr_in6 *)&d->ss)->sin6_addr;
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_RTHDR, &srh, sizeof(srh)) < 0) {
		printf("error setsockopt IPV6_RTHDR %s\n", strerror(errno));
		fflush(stdout);
		close(fd);
		return;
	}
	connect_wait(fd, d);
}

/* IPv4 loose source route: the packet goes to VIA first, ADDR is the last hop */
static void do_lsrr(struct dst *d, const char *via)
{
	uint8_t opt[8] = { 1, 131, 7, 4 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || inet_pton(AF_INET, via, opt + 4) != 1) {
		answer(errno ? errno : EINVAL, "");
		return;
	}
	if (setsockopt(fd, IPPROTO_IP, IP_OPTIONS, opt, sizeof(opt)) < 0) {
		printf("error setsockopt IP_OPTIONS %s\n", strerror(errno));
		fflush(stdout);
		close(fd);
		return;
	}
	connect_wait(fd, d);
}

static void do_tfo(struct dst *d)
{
	int fd = socket(d->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	if (fd < 0) {
		answer(errno, "");
		return;
	}
	n = sendto(fd, "probe", 5, MSG_FASTOPEN | MSG_DONTWAIT, (struct sockaddr *)&d->ss, d->len);
	answer(n < 0 && errno != EINPROGRESS ? errno : 0, "sent");
	usleep(200000);
	close(fd);
}

/* UDP sendmsg with a PKTINFO control message choosing the source */
static void do_pktinfo(struct dst *d)
{
	int fd = socket(d->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))] = { 0 };
	struct iovec iov = { .iov_base = "probe", .iov_len = 5 };
	struct msghdr m = { .msg_name = &d->ss, .msg_namelen = d->len, .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf };
	struct cmsghdr *c = (struct cmsghdr *)cbuf;
	ssize_t n;

	if (fd < 0) {
		answer(errno, "");
		return;
	}
	if (d->family == AF_INET) {
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
		m.msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
	} else {
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
		m.msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
	}
	n = sendmsg(fd, &m, 0);
	answer(n < 0 ? errno : 0, "sent");
	close(fd);
}

static void do_mptcp(struct dst *d)
{
	int fd = socket(d->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 262 /* IPPROTO_MPTCP */);

	if (fd < 0) {
		answer(errno, "");
		return;
	}
	connect_wait(fd, d);
}

static void do_packet(void)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));

	answer(fd < 0 ? errno : 0, "opened");
	if (fd >= 0)
		close(fd);
}

static void do_bindclose(const char *proto, struct dst *d)
{
	int udp = !strcmp(proto, "udp"), one = 1;
	int fd = socket(d->family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		answer(errno, "");
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&d->ss, d->len) < 0 || (!udp && listen(fd, 1) < 0))
		answer(errno, "");
	else
		answer(0, "bound");
	close(fd);
}

/* one new connection: 1 made, 0 refused by vigil (EPERM), -1 failed otherwise */
static int flood_one(const char *proto, struct dst *d, uint16_t port, int usock, unsigned i)
{
	int fd, r = 1;

	fd = strcmp(proto, "udpflow") ? socket(d->family, (!strcmp(proto, "tcp") ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0)
				      : usock;
	if (fd < 0)
		return -1;
	if (!strcmp(proto, "udpsend") || !strcmp(proto, "udpflow")) {
		/* udpsend: PORT and PORT + 1 in turn, each from a new socket */
		if (!strcmp(proto, "udpsend"))
			((struct sockaddr_in *)&d->ss)->sin_port = htons((uint16_t)(port + i % 2));
		if (sendto(fd, "f", 1, 0, (struct sockaddr *)&d->ss, d->len) != 1)
			r = errno == EPERM ? 0 : -1;
	} else if (connect(fd, (struct sockaddr *)&d->ss, d->len) < 0)
		r = errno == EPERM ? 0 : -1;
	else if (strcmp(proto, "tcp") && send(fd, "f", 1, 0) != 1)
		r = -1;
	if (fd != usock)
		close(fd);
	return r;
}

static void do_flood(const char *proto, struct dst *d, const char *ms)
{
	unsigned long n[3] = { 0 }; /* refused, made, other */
	int usock = socket(d->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port = ntohs(((struct sockaddr_in *)&d->ss)->sin_port);
	struct timespec a, b;
	double el = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	b = a;
	for (unsigned i = 0; el < atof(ms); i++) {
		int r = flood_one(proto, d, port, usock, i);

		n[r < 0 ? 2 : r]++;
		clock_gettime(CLOCK_MONOTONIC, &b);
		el = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	close(usock);
	printf("flood allowed %lu denied %lu other %lu ms %.0f end_ns %llu\n", n[1], n[0], n[2], el,
	       (unsigned long long)b.tv_sec * 1000000000ull + (unsigned long long)b.tv_nsec);
	fflush(stdout);
}

static void write_file(const char *path, const char *text)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fputs(text, f);
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* a receiver that counts what reaches it, until killed */
static int count_mode(const char *proto, const char *port, const char *file)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)atoi(port)) };
	int udp = !strcmp(proto, "udp"), zero = 0, one = 1, n = 1;
	int fd = socket(AF_INET6, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC,
			!strcmp(proto, "mptcp") ? 262 /* IPPROTO_MPTCP */ : 0);
	struct pollfd p[64];
	unsigned long conns = 0, msgs = 0, bytes = 0, closed = 0, resets = 0;
	unsigned long long ended_ms = 0;
	struct timespec ts;
	char buf[65536], line[128];

	if (fd < 0)
		return 1;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (!udp && listen(fd, 4096) < 0)) {
		fprintf(stderr, "enforce_probe: count %s %s: %s\n", proto, port, strerror(errno));
		return 1;
	}
	snprintf(line, sizeof(line), "conns 0 msgs 0 bytes 0 closed 0 resets 0 ended_ms 0\n");
	write_file(file, line);
	p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0)
			continue;
		for (int i = 0; i < n; i++) {
			ssize_t r;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (i == 0 && !udp) {
				int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

				if (c >= 0 && n < 64) {
					p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
					conns++;
				} else if (c >= 0) {
					conns++;
					close(c);
				}
				continue;
			}
			r = recv(p[i].fd, buf, sizeof(buf), 0);
			if (r > 0) {
				msgs++;
				bytes += (unsigned long)r;
			} else if (!udp) {
				if (r == 0)
					closed++;
				else
					resets++;
				clock_gettime(CLOCK_REALTIME, &ts);
				ended_ms = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
				close(p[i].fd);
				p[i--] = p[--n];
			}
		}
		snprintf(line, sizeof(line), "conns %lu msgs %lu bytes %lu closed %lu resets %lu ended_ms %llu\n", conns,
			 msgs, bytes, closed, resets, ended_ms);
		write_file(file, line);
	}
}

/* counts IP packets to addr seen on dev, until killed */
static int sniff_mode(const char *dev, const char *addr, const char *file)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	unsigned char want[16], buf[2048];
	int v6 = strchr(addr, ':') != NULL, fd;
	unsigned long seen = 0;
	char line[64];

	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, want) != 1)
		return 2;
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ll.sll_ifindex = (int)if_nametoindex(dev);
	if (fd < 0 || !ll.sll_ifindex || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		fprintf(stderr, "enforce_probe: sniff %s: %s\n", dev, strerror(errno));
		return 1;
	}
	write_file(file, "seen 0\n");
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n <= 0)
			continue;
		if ((!v6 && n >= 20 && buf[0] >> 4 == 4 && !memcmp(buf + 16, want, 4)) ||
		    (v6 && n >= 40 && buf[0] >> 4 == 6 && !memcmp(buf + 24, want, 16))) {
			snprintf(line, sizeof(line), "seen %lu\n", ++seen);
			write_file(file, line);
		}
	}
}

int main(int argc, char **argv)
{
	char line[512];
	int hold = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) {
			char p[4096];
			FILE *f;

			snprintf(p, sizeof(p), "%s/cgroup.procs", argv[++i]);
			f = fopen(p, "we");
			if (!f || fprintf(f, "0\n") < 0 || fclose(f) != 0) {
				fprintf(stderr, "enforce_probe: cannot join %s: %s\n", p, strerror(errno));
				return 1;
			}
		} else if (!strcmp(argv[i], "--netns") && i + 1 < argc) {
			/* after --cgroup: "ip netns exec" would hide the cgroup2 mount behind a fresh /sys */
			int fd = open(argv[++i], O_RDONLY | O_CLOEXEC);

			if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
				fprintf(stderr, "enforce_probe: cannot enter %s: %s\n", argv[i], strerror(errno));
				return 1;
			}
			close(fd);
		} else if (!strcmp(argv[i], "--hold")) {
			hold = 1;
		} else if (!strcmp(argv[i], "--count") && i + 3 < argc) {
			return count_mode(argv[i + 1], argv[i + 2], argv[i + 3]);
		} else if (!strcmp(argv[i], "--sniff") && i + 3 < argc) {
			return sniff_mode(argv[i + 1], argv[i + 2], argv[i + 3]);
		} else if (!strcmp(argv[i], "--wait-ms") && i + 1 < argc) {
			wait_ms = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: enforce_probe [--cgroup DIR] [--netns PATH] [--wait-ms N] [--hold] < requests\n");
			return 2;
		}
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *op = strtok(line, " \t\n"), *a1 = strtok(NULL, " \t\n"), *a2 = strtok(NULL, " \t\n");
		char *a3 = strtok(NULL, " \t\n");
		struct dst d;

		if (!op || op[0] == '#')
			continue;
		if (!strcmp(op, "listen")) {
			if (!a1 || !a2 || do_listen(a1, a2) < 0)
				return 1;
			continue;
		}
		if (!strcmp(op, "send")) {
			do_send();
			continue;
		}
		if (!strcmp(op, "packet")) {
			do_packet();
			continue;
		}
		if (!strcmp(op, "flood")) {
			char *a4 = strtok(NULL, " \t\n");

			if (!a2 || !a3 || !a4 || parse_dst(a2, a3, &d) < 0 || d.family != AF_INET) {
				printf("error bad request\n");
				fflush(stdout);
			} else {
				do_flood(a1, &d, a4);
			}
			continue;
		}
		if (!strcmp(op, "open") || !strcmp(op, "bindclose")) {
			if (!a2 || parse_dst(a2, a3, &d) < 0) {
				printf("error bad request\n");
				fflush(stdout);
			} else if (!strcmp(op, "open")) {
				do_open(a1, &d);
			} else {
				do_bindclose(a1, &d);
			}
			continue;
		}
		if (!a1 || parse_dst(a1, a2, &d) < 0) {
			printf("error bad request\n");
			fflush(stdout);
			continue;
		}
		if (!strcmp(op, "tcp"))
			do_tcp(&d, 0);
		else if (!strcmp(op, "tcpwait"))
			do_tcp(&d, 1);
		else if (!strcmp(op, "udp"))
			do_udp(&d, 1);
		else if (!strcmp(op, "udpsend"))
			do_udp(&d, 0);
		else if (!strcmp(op, "udpkeep"))
			do_udpkeep(&d);
		else if (!strcmp(op, "ping"))
			do_icmp(&d, 0);
		else if (!strcmp(op, "raw"))
			do_icmp(&d, 1);
		else if (!strcmp(op, "srh") && a3)
			do_srh(&d, a3);
		else if (!strcmp(op, "lsrr") && a3)
			do_lsrr(&d, a3);
		else if (!strcmp(op, "tfo"))
			do_tfo(&d);
		else if (!strcmp(op, "pktinfo"))
			do_pktinfo(&d);
		else if (!strcmp(op, "mptcp"))
			do_mptcp(&d);
		else {
			printf("error unknown request %s\n", op);
			fflush(stdout);
		}
	}
	while (hold)
		pause();
	return 0;
}
