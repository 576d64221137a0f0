/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench/nss_apply.sh's clock: nss_gen_wait DIR prints the NSS generation counter of
 * DIR/generation (0 without one); nss_gen_wait DIR FROM VERSION waits until it differs from
 * FROM with passwd.cache and group.cache written from bundle VERSION in place, and prints the
 * wall clock (ms since the epoch) when it saw that. A few preads per millisecond: a shell loop
 * of `od` would compete for the CPU with the vigild it measures.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "vigil/nsscache.h"

/* the 64-bit word at off of path, 0 if there is none */
static uint64_t word(const char *dir, const char *name, off_t off)
{
	char path[4096];
	uint64_t g = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &g, sizeof(g), off) != (ssize_t)sizeof(g))
			g = 0;
		close(fd);
	}
	return g;
}

static uint64_t generation(const char *dir)
{
	return word(dir, VG_NSSC_GEN_FILE, 8);
}

static bool applied(const char *dir, uint64_t from, uint64_t version)
{
	off_t off = offsetof(struct vg_nssc_header, generation);

	return generation(dir) != from && word(dir, VG_NSSC_PASSWD_FILE, off) == version &&
	       word(dir, VG_NSSC_GROUP_FILE, off) == version;
}

int main(int argc, char **argv)
{
	struct timespec ms = { 0, 1000000 }, now;
	uint64_t from, version;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: nss_gen_wait DIR [FROM VERSION]\n");
		return 2;
	}
	if (argc == 2) {
		printf("%llu\n", (unsigned long long)generation(argv[1]));
		return 0;
	}
	from = strtoull(argv[2], NULL, 10);
	version = strtoull(argv[3], NULL, 10);
	for (long i = 0; !applied(argv[1], from, version); i++) {
		if (i > 600000) /* 10 minutes */
			return 1;
		nanosleep(&ms, NULL);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	printf("%lld\n", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	return 0;
}
