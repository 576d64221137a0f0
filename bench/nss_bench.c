/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lookup rate through glibc, whichever NSS service nsswitch.conf names:
 *   nss_bench pwnam|pwmiss|pwuid|grnam|grgid ITERATIONS COUNT
 *   nss_bench stat ITERATIONS PATH   (the cost of one stat(), for reference)
 * Looks up pseudo-random entries u%06d (uid 100000+i) / g%05d (gid 200000+i),
 * i < COUNT, and prints "ns_per_op <n>": the process's CPU time (user + system)
 * per lookup, so that on a shared machine the time spent waiting for a CPU does
 * not count (wall time measured the neighbours' load as much as the lookup).
 * Every lookup must succeed; pwmiss looks up names no service has (x%06d) and
 * every one must be NOTFOUND.
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	static char buf[1 << 21]; /* libnss-cache wants 1 MiB for group lookups */
	unsigned long iters, count, seed = 42;
	const char *op;
	double t0, t1;

	if (argc != 4)
		return 64;
	op = argv[1];
	iters = strtoul(argv[2], NULL, 10);
	if (strcmp(op, "stat") == 0) {
		struct stat st;

		t0 = now_ns();
		for (unsigned long n = 0; n < iters; n++)
			if (stat(argv[3], &st) < 0)
				return 1;
		printf("ns_per_op %.0f\n", (now_ns() - t0) / (double)iters);
		return 0;
	}
	count = strtoul(argv[3], NULL, 10);
	t0 = now_ns();
	for (unsigned long n = 0; n < iters; n++) {
		unsigned long i;
		char name[32];
		int r;

		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		i = (seed >> 33) % count;
		if (op[0] == 'p') {
			struct passwd pw, *res = NULL;

			snprintf(name, sizeof(name), "%c%06lu", op[2] == 'm' ? 'x' : 'u', i);
			r = strcmp(op, "pwuid") != 0 ? getpwnam_r(name, &pw, buf, sizeof(buf), &res)
						     : getpwuid_r((uid_t)(100000 + i), &pw, buf, sizeof(buf), &res);
			if (!r && (op[2] == 'm') != !res)
				r = -1; /* a hit that should miss, or a miss that should hit */
		} else {
			struct group gr, *res = NULL;

			snprintf(name, sizeof(name), "g%05lu", i);
			r = strcmp(op, "grnam") == 0 ? getgrnam_r(name, &gr, buf, sizeof(buf), &res)
						     : getgrgid_r((gid_t)(200000 + i), &gr, buf, sizeof(buf), &res);
			if (!r && !res)
				r = -1;
		}
		if (r) {
			fprintf(stderr, "nss_bench: %s lookup %lu failed (%d)\n", op, i, r);
			return 1;
		}
	}
	t1 = now_ns();
	printf("ns_per_op %.0f\n", (t1 - t0) / (double)iters);
	return 0;
}
