/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/enforce.sh helper: TCP connect+close rate to a listener on 127.0.0.1
 * from this process (optionally moved into a cgroup and a network namespace
 * first). Prints "connects_per_s N connects TOTAL".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int lfd;

static void *acceptor(void *arg)
{
	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c >= 0)
			close(c);
	}
	return arg;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	double secs = 2, t0, t1;
	unsigned long n = 0;
	pthread_t th;
	int one = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) {
			char p[4096];
			FILE *f;

			snprintf(p, sizeof(p), "%s/cgroup.procs", argv[++i]);
			f = fopen(p, "w");
			if (!f || fprintf(f, "0\n") < 0 || fclose(f)) {
				perror(p);
				return 1;
			}
		} else if (!strcmp(argv[i], "--netns") && i + 1 < argc) {
			int fd = open(argv[++i], O_RDONLY);

			if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
				perror(argv[i]);
				return 1;
			}
			close(fd);
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			secs = atof(argv[++i]);
		} else {
			fprintf(stderr, "usage: enforce_connrate [--cgroup DIR] [--netns PATH] [--seconds S]\n");
			return 2;
		}
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
		perror("listen");
		return 1;
	}
	pthread_create(&th, NULL, acceptor, NULL);
	t0 = now();
	do {
		for (int k = 0; k < 100; k++) {
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			struct linger lg = { 1, 0 }; /* RST on close: no TIME_WAIT pile-up exhausting ports */

			if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
				fprintf(stderr, "connect: %s\n", strerror(errno));
				return 1;
			}
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
			n++;
		}
		t1 = now();
	} while (t1 - t0 < secs);
	printf("connects_per_s %.0f connects %.0f\n", n / (t1 - t0), (double)n);
	return 0;
}
