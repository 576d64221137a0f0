/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl grants | revoke USER | breakglass hash (docs/pam.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "vigilctl.h"
#include "vigil/elevation.h"

static int run_grants(struct vgctl *c, int argc, char **argv)
{
	json_t *reply = NULL, *arr, *g;
	size_t i;
	int r;

	if (argc > 1) {
		vgctl_error("grants: unexpected argument \"%s\"", argv[1]);
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "grants.list"), &reply)) != 0)
		return r;
	if (!vgctl_print_json(c, reply)) {
		arr = json_object_get(reply, "grants");
		if (json_array_size(arr) == 0)
			printf("no live grants\n");
		else
			printf("%-16s %-8s %-21s %-21s %-28s %s\n", "USER", "SERVICE", "STARTED", "EXPIRES", "GRANTED BY",
			       "REASON");
		json_array_foreach(arr, i, g)
			printf("%-16s %-8s %-21s %-21s %-28s %s\n", json_string_value(json_object_get(g, "user")),
			       json_string_value(json_object_get(g, "service")),
			       json_string_value(json_object_get(g, "started")),
			       json_string_value(json_object_get(g, "expires")),
			       json_string_value(json_object_get(g, "granted_by")),
			       json_string_value(json_object_get(g, "reason")));
	}
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

static int run_revoke(struct vgctl *c, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if (argc != 2) {
		vgctl_error("revoke: expected exactly one USER");
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s, s:s}", "cmd", "grants.revoke", "user", argv[1]), &reply)) != 0)
		return r;
	if (!vgctl_print_json(c, reply))
		printf("revoked the grant of %s (expires was %s)\n", argv[1],
		       json_string_value(json_object_get(json_object_get(reply, "revoked"), "expires")));
	json_decref(reply);
	return VGCTL_EXIT_OK;
}

/* The secret comes from stdin (one line), never from argv where ps would show it. */
static char *read_secret(void)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fprintf(stderr, "break-glass secret: ");
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (n < 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

static int run_breakglass_hash(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "iterations", required_argument, NULL, 'i' }, { 0 } };
	unsigned long iter = 600000;
	struct vg_err err;
	char *secret, *hash = NULL, *end;
	int o, r;

	optind = 1;
	while ((o = getopt_long(argc, argv, "i:", opts, NULL)) != -1) {
		if (o != 'i') {
			vgctl_error("breakglass hash: usage: vigilctl breakglass hash [--iterations N] < secret");
			return VGCTL_EXIT_USAGE;
		}
		errno = 0;
		iter = strtoul(optarg, &end, 10);
		if (errno || *end || iter > VG_PBKDF2_MAX_ITER) {
			vgctl_error("breakglass hash: --iterations must be %u..%u", VG_PBKDF2_MIN_ITER,
				    VG_PBKDF2_MAX_ITER);
			return VGCTL_EXIT_USAGE;
		}
	}
	secret = read_secret();
	if (!secret) {
		vgctl_error("breakglass hash: no secret on stdin");
		return VGCTL_EXIT_USAGE;
	}
	r = vg_breakglass_hash(secret, (uint32_t)iter, &hash, &err);
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
	if (r < 0) {
		vgctl_error("breakglass hash: %s", err.msg);
		return VGCTL_EXIT_USAGE;
	}
	if (c->json) {
		json_t *out = json_pack("{s:s, s:i}", "hash", hash, "iterations", (int)iter);

		vgctl_print_json(c, out);
		json_decref(out);
	} else {
		printf("%s\n", hash);
	}
	free(hash);
	return VGCTL_EXIT_OK;
}

const struct vgctl_cmd vgctl_elevation_cmds[] = {
	{ "grants", "", "list live elevation grants", run_grants },
	{ "revoke", "USER", "revoke USER's elevation grant (admin)", run_revoke },
	{ "breakglass hash", "[--iterations N] < SECRET", "hash a break-glass secret for the bundle",
	  run_breakglass_hash },
	{ NULL, NULL, NULL, NULL },
};
