/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: NSS lookups through glibc with a chosen buffer size, and an
 * enumeration that pauses so a test can replace the cache in the middle.
 *   nss_lookup pwnam NAME BUFLEN | pwuid UID BUFLEN | grnam NAME BUFLEN | grgid GID BUFLEN
 *   nss_lookup pwent-pause READY_FILE GO_FILE MIN_UID MAX_UID
 *   nss_lookup pwuid-loop MIN_UID MAX_UID SECONDS|-COUNT
 *       getpwuid over the range again and again, for SECONDS or COUNT lookups;
 *       prints "found F notfound N unavail U wrong W" (wrong: an answer for another uid)
 * Prints the entry as a passwd/group line, or "ERANGE", "NOTFOUND", "ERROR <errno>".
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int report(int r, void *found, const char *line)
{
	if (r == ERANGE) {
		printf("ERANGE\n");
		return 3;
	}
	if (r) {
		printf("ERROR %d\n", r);
		return 1;
	}
	if (!found) {
		printf("NOTFOUND\n");
		return 2;
	}
	printf("%s\n", line);
	return 0;
}

static void fmt_pw(const struct passwd *p, char *line, size_t n)
{
	snprintf(line, n, "%s:%s:%u:%u:%s:%s:%s", p->pw_name, p->pw_passwd, p->pw_uid, p->pw_gid, p->pw_gecos,
		 p->pw_dir, p->pw_shell);
}

static void fmt_gr(const struct group *g, char *line, size_t n)
{
	size_t o = (size_t)snprintf(line, n, "%s:%s:%u:", g->gr_name, g->gr_passwd, g->gr_gid);

	for (char **m = g->gr_mem; *m && o < n; m++)
		o += (size_t)snprintf(line + o, n - o, "%s%s", m == g->gr_mem ? "" : ",", *m);
}

/* Enumerate passwd (entries with uid in [min, max]: "files" comes first); after the
 * first such entry, create READY and wait (bounded) for GO. */
static int pwent_pause(const char *ready, const char *go, uid_t min, uid_t max)
{
	struct passwd *p;
	int n = 0;

	setpwent();
	while ((p = getpwent())) {
		if (p->pw_uid < min || p->pw_uid > max)
			continue;
		printf("%s\n", p->pw_name);
		fflush(stdout);
		if (n++ == 0) {
			FILE *f = fopen(ready, "w");

			if (f)
				fclose(f);
			for (int i = 0; i < 1000 && access(go, F_OK) != 0; i++)
				nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
		}
	}
	endpwent();
	return 0;
}

static int pwuid_loop(uid_t min, uid_t max, long limit)
{
	long found = 0, notfound = 0, unavail = 0, wrong = 0, n = 0;
	time_t end = time(NULL) + (limit > 0 ? limit : 0);
	char buf[1024];

	for (uid_t u = min; limit > 0 ? time(NULL) < end : n < -limit; u = u == max ? min : u + 1, n++) {
		struct passwd pw, *res = NULL;
		int r = getpwuid_r(u, &pw, buf, sizeof(buf), &res);

		if (res && res->pw_uid != u)
			wrong++;
		else if (res)
			found++;
		else if (r == 0 || r == ENOENT)
			notfound++;
		else
			unavail++;
	}
	printf("found %ld notfound %ld unavail %ld wrong %ld\n", found, notfound, unavail, wrong);
	return 0;
}

int main(int argc, char **argv)
{
	char line[8192];
	char *buf;
	size_t len;
	int r;

	if (argc == 6 && strcmp(argv[1], "pwent-pause") == 0)
		return pwent_pause(argv[2], argv[3], (uid_t)strtoul(argv[4], NULL, 10),
				   (uid_t)strtoul(argv[5], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "pwuid-loop") == 0)
		return pwuid_loop((uid_t)strtoul(argv[2], NULL, 10), (uid_t)strtoul(argv[3], NULL, 10),
				  strtol(argv[4], NULL, 10));
	if (argc != 4) {
		fprintf(stderr, "usage: nss_lookup pwnam|pwuid|grnam|grgid KEY BUFLEN | pwent-pause READY GO MIN_UID MAX_UID\n");
		return 64;
	}
	len = strtoul(argv[3], NULL, 10);
	buf = malloc(len ? len : 1);
	if (!buf)
		return 1;
	if (strncmp(argv[1], "pw", 2) == 0) {
		struct passwd pw, *res = NULL;

		if (strcmp(argv[1], "pwnam") == 0)
			r = getpwnam_r(argv[2], &pw, buf, len, &res);
		else
			r = getpwuid_r((uid_t)strtoul(argv[2], NULL, 10), &pw, buf, len, &res);
		if (res)
			fmt_pw(res, line, sizeof(line));
		r = report(r, res, line);
	} else {
		struct group gr, *res = NULL;

		if (strcmp(argv[1], "grnam") == 0)
			r = getgrnam_r(argv[2], &gr, buf, len, &res);
		else
			r = getgrgid_r((gid_t)strtoul(argv[2], NULL, 10), &gr, buf, len, &res);
		if (res)
			fmt_gr(res, line, sizeof(line));
		r = report(r, res, line);
	}
	free(buf);
	return r;
}
