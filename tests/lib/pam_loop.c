/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pam_loop: N authentications through the real libpam and the service's stack in one process,
 * as a stream of separate logins would make them (a fresh handle each), without paying a
 * process start per attempt. Echo-on prompts get ANSWER, echo-off prompts an empty line; with
 * N = 1 the module's messages go to stderr.
 * With --ruid U the real uid and gid become U (the test accounts' gid is their uid) and the
 * supplementary groups U alone, while the effective ids stay 0, as inside setuid su.
 * Prints "ok=N fail=M"; exit 0.
 *
 * usage: pam_loop [--ruid U] SERVICE USER N ANSWER
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <security/pam_appl.h>

static int verbose;

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *answer)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (verbose)
			fprintf(stderr, "%s\n", msg[i]->msg);
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_ON || msg[i]->msg_style == PAM_PROMPT_ECHO_OFF)
			r[i].resp = strdup(msg[i]->msg_style == PAM_PROMPT_ECHO_ON ? answer : "");
	}
	*resp = r;
	return PAM_SUCCESS;
}

int main(int argc, char **argv)
{
	unsigned long ok = 0, failed = 0, n;
	int a = 1;

	if (argc > 2 && strcmp(argv[1], "--ruid") == 0) {
		uid_t u = (uid_t)strtoul(argv[2], NULL, 10);

		gid_t g = (gid_t)u;

		/* the caller's own groups only, as when that user runs setuid su: root's
		 * supplementary group 0 (present under sudo) would decide access checks otherwise */
		if (setgroups(1, &g) < 0 || setresgid(g, 0, 0) < 0 || setresuid(u, 0, 0) < 0) {
			perror("pam_loop: setresuid");
			return 2;
		}
		a = 3;
	}
	if (argc - a != 4) {
		fprintf(stderr, "usage: pam_loop [--ruid U] SERVICE USER N ANSWER\n");
		return 2;
	}
	n = strtoul(argv[a + 2], NULL, 10);
	verbose = n == 1;
	for (unsigned long i = 0; i < n; i++) {
		struct pam_conv c = { conv, argv[a + 3] };
		pam_handle_t *h = NULL;
		int r = pam_start(argv[a], argv[a + 1], &c, &h);

		if (r == PAM_SUCCESS)
			r = pam_authenticate(h, PAM_SILENT);
		if (r == PAM_SUCCESS)
			ok++;
		else
			failed++;
		pam_end(h, r);
	}
	printf("ok=%lu fail=%lu\n", ok, failed);
	return 0;
}
