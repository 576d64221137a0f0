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
 *   ping ADDR           ICMP echo on a ping socket, waits for the reply (bounded)
 *   raw ADDR            ICMP echo on a raw socket
 *   listen tcp|udp PORT bind on the wildcard address and keep the socket open
 *
 * --hold keeps the listeners open after the last request until a signal.
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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

	memset(d, 0, sizeof(*d));
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
		} else if (!strcmp(argv[i], "--wait-ms") && i + 1 < argc) {
			wait_ms = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: enforce_probe [--cgroup DIR] [--netns PATH] [--wait-ms N] [--hold] < requests\n");
			return 2;
		}
	}
	while (fgets(line, sizeof(line), stdin)) {
		char *op = strtok(line, " \t\n"), *a1 = strtok(NULL, " \t\n"), *a2 = strtok(NULL, " \t\n");
		struct dst d;

		if (!op || op[0] == '#')
			continue;
		if (!strcmp(op, "listen")) {
			if (!a1 || !a2 || do_listen(a1, a2) < 0)
				return 1;
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
		else if (!strcmp(op, "ping"))
			do_icmp(&d, 0);
		else if (!strcmp(op, "raw"))
			do_icmp(&d, 1);
		else {
			printf("error unknown request %s\n", op);
			fflush(stdout);
		}
	}
	while (hold)
		pause();
	return 0;
}
