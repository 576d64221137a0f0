/* SPDX-License-Identifier: Apache-2.0 */
/* vigilctl: command table, global options, and the helpers every subcommand uses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/ctl.h"
#include "vigil_version.h"
#include "vigilctl.h"

/* Families of commands; each array ends with an entry whose name is NULL. */
static const struct vgctl_cmd *const families[] = {
	vgctl_policy_cmds,
	vgctl_posture_cmds,
	vgctl_elevation_cmds,
	vgctl_fido_cmds,
	vgctl_audit_cmds,
	vgctl_enforce_cmds,
	vgctl_identity_cmds,
	vgctl_ops_cmds,
	vgctl_emergency_cmds,
	NULL,
};

void vgctl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vigilctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int vgctl_call(struct vgctl *c, json_t *req, json_t **reply)
{
	struct vg_err err = { 0 };
	int r;

	*reply = NULL;
	r = vg_ctl_call(c->socket, req, reply, c->timeout_ms, &err);
	json_decref(req);
	return vgctl_reply(c, r, &err, reply);
}

int vgctl_reply(struct vgctl *c, int r, const struct vg_err *call_err, json_t **reply)
{
	const struct vg_err err = *call_err;
	json_t *e;

	if (r < 0) {
		vgctl_error("%s%s%s", err.path[0] ? err.path : "", err.path[0] ? ": " : "", err.msg);
		return VGCTL_EXIT_UNREACHABLE;
	}
	if (json_is_true(json_object_get(*reply, "ok")))
		return 0;
	e = json_object_get(*reply, "error");
	if (c->json) {
		char *s = json_dumps(*reply, JSON_INDENT(2));

		if (s)
			printf("%s\n", s);
		free(s);
	} else {
		const char *path = json_string_value(json_object_get(e, "path"));

		vgctl_error("%s%s%s [%s]", path ? path : "", path ? ": " : "",
			    json_string_value(json_object_get(e, "message")) ?: "request failed",
			    json_string_value(json_object_get(e, "code")) ?: "error");
	}
	json_decref(*reply);
	*reply = NULL;
	return VGCTL_EXIT_FAIL;
}

bool vgctl_print_json(struct vgctl *c, json_t *reply)
{
	char *s;

	if (!c->json)
		return false;
	s = json_dumps(reply, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (s)
		printf("%s\n", s);
	free(s);
	return true;
}

static void print_cmd(FILE *f, const struct vgctl_cmd *cmd)
{
	char left[64];

	snprintf(left, sizeof(left), "%s %s", cmd->name, cmd->args ? cmd->args : "");
	if (strlen(left) > 34)
		fprintf(f, "  %s\n  %-34s %s\n", left, "", cmd->summary);
	else
		fprintf(f, "  %-34s %s\n", left, cmd->summary);
}

bool vgctl_want_help(const struct vgctl_cmd *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: vigilctl [-s SOCKET] [--json] %s %s\n\n%s\n\nSee vigilctl(8) and docs/vigilctl.md.\n",
			       cmd->name, cmd->args ? cmd->args : "", cmd->summary);
			return true;
		}
	}
	return false;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vigilctl [-s SOCKET] [--json] [--timeout MS] COMMAND [ARGS]\n"
		   "\n"
		   "Control and inspect vigild, the vigil host enforcement agent.\n"
		   "\n"
		   "Options:\n"
		   "  -s, --socket PATH  vigild's control socket (default %s, or $VIGIL_SOCKET)\n"
		   "  -j, --json         machine-readable JSON output\n"
		   "      --timeout MS   give up waiting for vigild after MS milliseconds (default %d)\n"
		   "  -h, --help         this help; COMMAND --help for one command\n"
		   "\n"
		   "Commands:\n",
		VG_CTL_DEFAULT_SOCKET, VG_CTL_TIMEOUT_MS);
	for (size_t f_ = 0; families[f_]; f_++)
		for (const struct vgctl_cmd *c = families[f_]; c->name; c++)
			print_cmd(f, c);
	fprintf(f, "\nExit codes: 0 ok, 1 refused or failed, 2 usage error, 3 vigild unreachable,\n"
		   "4 verification failed.\n");
}

/* Longest command name that matches the leading words of argv. */
static const struct vgctl_cmd *find_cmd(int argc, char **argv, int *words)
{
	const struct vgctl_cmd *best = NULL;
	int best_words = 0;

	for (size_t f = 0; families[f]; f++)
		for (const struct vgctl_cmd *c = families[f]; c->name; c++) {
			char name[64], *save = NULL, *w;
			int n = 0;
			bool match = true;

			snprintf(name, sizeof(name), "%s", c->name);
			for (w = strtok_r(name, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
				if (n >= argc || strcmp(argv[n], w)) {
					match = false;
					break;
				}
			if (match && n > best_words) {
				best = c;
				best_words = n;
			}
		}
	*words = best_words;
	return best;
}

int main(int argc, char **argv)
{
	struct vgctl c = { .socket = getenv("VIGIL_SOCKET"), .timeout_ms = VG_CTL_TIMEOUT_MS };
	const struct vgctl_cmd *cmd;
	int i = 1, words;

	if (!c.socket || !*c.socket)
		c.socket = VG_CTL_DEFAULT_SOCKET;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) {
			if (++i == argc) {
				vgctl_error("%s needs a path", argv[i - 1]);
				return VGCTL_EXIT_USAGE;
			}
			c.socket = argv[i];
		} else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			c.json = true;
		} else if (!strcmp(argv[i], "--timeout")) {
			if (++i == argc || atoi(argv[i]) <= 0) {
				vgctl_error("--timeout needs a positive number of milliseconds");
				return VGCTL_EXIT_USAGE;
			}
			c.timeout_ms = atoi(argv[i]);
			c.timeout_set = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("vigilctl %s\n", VIGIL_VERSION);
			return 0;
		} else {
			vgctl_error("unknown option %s (see vigilctl --help)", argv[i]);
			return VGCTL_EXIT_USAGE;
		}
	}
	if (i == argc) {
		usage(stderr);
		return VGCTL_EXIT_USAGE;
	}
	cmd = find_cmd(argc - i, argv + i, &words);
	if (!cmd) {
		vgctl_error("unknown command \"%s\" (see vigilctl --help)", argv[i]);
		return VGCTL_EXIT_USAGE;
	}
	/* --json may also follow the command */
	for (int k = i + words; k < argc; k++) {
		if (!strcmp(argv[k], "--"))
			break;
		if (!strcmp(argv[k], "--json") || !strcmp(argv[k], "-j")) {
			c.json = true;
			for (int m = k; m < argc - 1; m++)
				argv[m] = argv[m + 1];
			argc--;
			k--;
		}
	}
	if (vgctl_want_help(cmd, argc - (i + words - 1), argv + i + words - 1))
		return 0;
	return cmd->run(&c, argc - (i + words - 1), argv + i + words - 1);
}
