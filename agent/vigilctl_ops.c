/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigilctl metrics | top (docs/monitoring.md).
 * metrics: the Prometheus text vigild writes for node_exporter, rendered here
 * from `status` (lib/metrics.c, the same function).
 * top: a live view of per-tenant rates, recent deny events (read from the
 * local audit log, whose directory `status` names), audit lag and grants.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "vigil/auditlog.h"
#include "vigil/ctl.h"
#include "vigil/metrics.h"
#include "vigil/util.h"
#include "vigilctl.h"

static void reset_getopt(void)
{
	optind = 0;
	opterr = 1;
}

static int run_metrics(struct vgctl *c, int argc, char **argv)
{
	json_t *st = NULL;
	char *text = NULL;
	int r;

	if (argc > 1) {
		vgctl_error("metrics: unexpected argument \"%s\"", argv[1]);
		return VGCTL_EXIT_USAGE;
	}
	if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "status"), &st)) != 0)
		return r;
	r = vg_metrics_render(st, time(NULL), &text, NULL);
	json_decref(st);
	if (r < 0) {
		vgctl_error("metrics: %s", strerror(-r));
		return VGCTL_EXIT_FAIL;
	}
	fputs(text, stdout);
	free(text);
	return VGCTL_EXIT_OK;
}

/* ---- top ---- */

#define RECENT 10

struct top {
	struct vgctl *c;
	json_t *prev;		/* previous status, for rates */
	uint64_t prev_ms;
	struct vg_audit_reader *rd;
	char audit_dir[4096];
	json_t *recent[RECENT]; /* last deny events, oldest first */
	size_t nrecent;
};

static const json_t *jpath(const json_t *j, const char *a, const char *b, const char *c_)
{
	j = json_object_get(j, a);
	if (b)
		j = json_object_get(j, b);
	if (c_)
		j = json_object_get(j, c_);
	return j;
}

static double rate(const json_t *now, const json_t *before, double secs)
{
	if (!json_is_integer(now) || !json_is_integer(before) || secs <= 0)
		return -1;
	return (double)(json_integer_value(now) - json_integer_value(before)) / secs;
}

static void remember(struct top *t, json_t *ev)
{
	if (t->nrecent == RECENT) {
		json_decref(t->recent[0]);
		memmove(t->recent, t->recent + 1, (RECENT - 1) * sizeof(t->recent[0]));
		t->nrecent--;
	}
	t->recent[t->nrecent++] = ev;
}

/* read deny events appended to the local audit log since the last call */
static void follow_denies(struct top *t, const json_t *st)
{
	const char *dir = json_string_value(jpath(st, "modules", "audit", "dir"));
	uint64_t durable = (uint64_t)json_integer_value(jpath(st, "modules", "audit", "durable_seq"));
	struct vg_err err = { 0 };
	struct vg_arec rec;
	int k;

	if (!dir)
		return;
	if (strcmp(dir, t->audit_dir)) {
		vg_audit_reader_free(t->rd);
		t->rd = NULL;
		snprintf(t->audit_dir, sizeof(t->audit_dir), "%s", dir);
		/* the recent past: the last few thousand records */
		if (vg_audit_reader_open(dir, durable > 5000 ? durable - 5000 : 0, &t->rd, &err) < 0)
			t->rd = NULL;
	}
	if (!t->rd)
		return;
	while ((k = vg_audit_reader_next(t->rd, &rec, NULL, &err)) > 0) {
		json_t *ev;
		const char *ty;

		if (memmem(rec.payload, rec.len, "egress.", 7) == NULL)
			continue;
		ev = json_loadb(rec.payload, rec.len, 0, NULL);
		ty = json_string_value(json_object_get(ev, "type"));
		if (ty && (strstr(ty, "egress.denied") || strstr(ty, "egress.would_deny")))
			remember(t, ev);
		else
			json_decref(ev);
	}
}

static void fmt_rate(char *buf, size_t n, double r)
{
	if (r < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.1f", r);
}

static void fmt_left(char *buf, size_t n, const char *when, time_t now)
{
	time_t t;
	long s;

	if (!when || vg_time_parse(when, &t) < 0) {
		snprintf(buf, n, "-");
		return;
	}
	s = (long)(t - now);
	if (s < 0)
		snprintf(buf, n, "expired %ldm ago", -s / 60);
	else if (s >= 86400)
		snprintf(buf, n, "in %ldd%ldh", s / 86400, s % 86400 / 3600);
	else
		snprintf(buf, n, "in %ldh%02ldm", s / 3600, s % 3600 / 60);
}

/* one snapshot as JSON: the status fields top shows, plus rates and recent events */
static json_t *snapshot(struct top *t, const json_t *st, const json_t *grants, double secs)
{
	json_t *o = json_object(), *tenants = json_object(), *recent = json_array();
	const json_t *tt = jpath(st, "modules", "enforce", "tenants");
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)tt, k, v) {
		const json_t *pv = t->prev ? jpath(t->prev, "modules", "enforce", "tenants") : NULL;
		json_t *row = json_deep_copy(v);

		pv = json_object_get(pv, k);
		json_object_set_new(row, "allowed_per_s", json_real(rate(json_object_get(v, "allowed"),
									   json_object_get(pv, "allowed"), secs)));
		json_object_set_new(row, "denied_per_s", json_real(rate(json_object_get(v, "denied"),
									  json_object_get(pv, "denied"), secs)));
		json_object_set_new(row, "would_deny_per_s", json_real(rate(json_object_get(v, "would_deny"),
									      json_object_get(pv, "would_deny"), secs)));
		json_object_set_new(tenants, k, row);
	}
	for (size_t i = 0; i < t->nrecent; i++)
		json_array_append(recent, t->recent[i]);
	json_object_set_new(o, "tenants", tenants);
	json_object_set(o, "host", (json_t *)jpath(st, "modules", "enforce", "host"));
	json_object_set_new(o, "recent_denies", recent);
	json_object_set(o, "audit", (json_t *)jpath(st, "modules", "audit", NULL));
	json_object_set(o, "policy", (json_t *)json_object_get(st, "policy"));
	if (grants)
		json_object_set(o, "grants", (json_t *)grants);
	json_object_set_new(o, "interval_s", json_real(secs));
	return o;
}

static void print_human(struct top *t, const json_t *st, const json_t *grants, double secs, bool tty)
{
	const json_t *pol = json_object_get(st, "policy"), *au = jpath(st, "modules", "audit", NULL);
	const json_t *tt = jpath(st, "modules", "enforce", "tenants"), *sinks = json_object_get(au, "sinks");
	time_t now = time(NULL);
	char left[32], clock[16], r1[16], r2[16], r3[16];
	const char *k;
	json_t *v;
	size_t i;

	strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
	if (tty)
		fputs("\033[H\033[2J", stdout);
	fmt_left(left, sizeof(left), json_string_value(json_object_get(pol, "expires_at")), now);
	printf("vigil top  %s  host %s  vigild %s", clock,
	       json_string_value(jpath(st, "vigild", "hostname", NULL)) ?: "?",
	       json_string_value(jpath(st, "vigild", "version", NULL)) ?: "?");
	if (json_is_true(json_object_get(pol, "active")))
		printf("  policy v%" JSON_INTEGER_FORMAT " (%s) expires %s\n",
		       json_integer_value(json_object_get(pol, "version")),
		       json_string_value(json_object_get(pol, "environment")) ?: "?", left);
	else
		printf("  no policy applied\n");
	printf("enforce: %s   posture: %s   audit: %s, durable seq %" JSON_INTEGER_FORMAT "\n",
	       json_string_value(jpath(st, "modules", "enforce", "state")) ?: "off",
	       json_string_value(jpath(st, "modules", "posture", "verdict")) ?: "-",
	       json_is_true(json_object_get(au, "degraded")) ? "DEGRADED" : "ok",
	       json_integer_value(json_object_get(au, "durable_seq")));
	json_array_foreach(sinks, i, v)
		printf("  sink %-16s lag %" JSON_INTEGER_FORMAT " events (%" JSON_INTEGER_FORMAT " s)%s\n",
		       json_string_value(json_object_get(v, "name")) ?: "?",
		       json_integer_value(json_object_get(v, "lag_events")),
		       json_integer_value(json_object_get(v, "lag_seconds")),
		       json_is_true(json_object_get(v, "connected")) ? "" : "  not connected");
	printf("\n%-20s %-8s %11s %10s %13s %10s %10s %10s\n", "TENANT", "MODE", "ALLOWED/s", "DENIED/s",
	       "WOULD-DENY/s", "ALLOWED", "DENIED", "WOULD-DENY");
	json_object_foreach((json_t *)tt, k, v) {
		const json_t *pv = t->prev ? json_object_get(jpath(t->prev, "modules", "enforce", "tenants"), k) : NULL;

		fmt_rate(r1, sizeof(r1), rate(json_object_get(v, "allowed"), json_object_get(pv, "allowed"), secs));
		fmt_rate(r2, sizeof(r2), rate(json_object_get(v, "denied"), json_object_get(pv, "denied"), secs));
		fmt_rate(r3, sizeof(r3), rate(json_object_get(v, "would_deny"), json_object_get(pv, "would_deny"), secs));
		printf("%-20.20s %-8s %11s %10s %13s %10" JSON_INTEGER_FORMAT " %10" JSON_INTEGER_FORMAT
		       " %10" JSON_INTEGER_FORMAT "\n",
		       k, json_string_value(json_object_get(v, "mode")) ?: "-", r1, r2, r3,
		       json_integer_value(json_object_get(v, "allowed")), json_integer_value(json_object_get(v, "denied")),
		       json_integer_value(json_object_get(v, "would_deny")));
	}
	if (grants) {
		printf("\nGRANTS (%zu)\n", json_array_size(json_object_get(grants, "grants")));
		json_array_foreach(json_object_get(grants, "grants"), i, v) {
			fmt_left(left, sizeof(left), json_string_value(json_object_get(v, "expires")), now);
			printf("  %-16s %-8s expires %-12s %s\n", json_string_value(json_object_get(v, "user")) ?: "?",
			       json_string_value(json_object_get(v, "service")) ?: "?", left,
			       json_string_value(json_object_get(v, "reason")) ?: "");
		}
	} else {
		printf("\nGRANTS: %" JSON_INTEGER_FORMAT " live (the list needs the admin group)\n",
		       json_integer_value(jpath(st, "modules", "elevation", "grants")));
	}
	printf("\nRECENT DENIES%s\n", t->rd ? "" : " (the audit log is not readable by this user)");
	for (i = t->nrecent; i-- > 0;) {
		const json_t *ev = t->recent[i], *d = json_object_get(ev, "data");
		const char *tm = json_string_value(json_object_get(ev, "time"));

		printf("  %s %-14.14s %-10s pid %-7" JSON_INTEGER_FORMAT " uid %-6" JSON_INTEGER_FORMAT
		       " %-15.15s -> %s:%" JSON_INTEGER_FORMAT "/%s  rule %" JSON_INTEGER_FORMAT " (%s)\n",
		       tm && strlen(tm) >= 19 ? tm + 11 : "?", json_string_value(json_object_get(d, "tenant")) ?: "-",
		       json_string_value(json_object_get(d, "mode")) ?: "-",
		       json_integer_value(json_object_get(d, "pid")), json_integer_value(json_object_get(d, "uid")),
		       json_string_value(json_object_get(d, "comm")) ?: "",
		       json_string_value(json_object_get(d, "dst")) ?: "?", json_integer_value(json_object_get(d, "port")),
		       json_string_value(json_object_get(d, "proto")) ?: "?",
		       json_integer_value(json_object_get(d, "rule_id")),
		       json_string_value(json_object_get(d, "reason")) ?: "-");
	}
	if (tty)
		printf("\n(q quits; refreshing every %.0f s)\n", secs > 0 ? secs : 0);
	fflush(stdout);
}

static struct termios saved_tio;
static bool tio_saved;

static void restore_tty(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void on_sig(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* wait up to ms; true when the user pressed q */
static bool wait_key(int ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	char ch;

	if (!tio_saved) {
		usleep((useconds_t)ms * 1000);
		return false;
	}
	if (poll(&p, 1, ms) > 0 && read(STDIN_FILENO, &ch, 1) == 1)
		return ch == 'q' || ch == 'Q';
	return false;
}

static int run_top(struct vgctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "iterations", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct top t = { .c = c };
	double interval = 2;
	long iterations = -1;
	bool tty = isatty(STDOUT_FILENO) && !c->json;
	int o, r = 0;

	reset_getopt();
	while ((o = getopt_long(argc, argv, "i:n:", opts, NULL)) != -1) {
		switch (o) {
		case 'i': interval = strtod(optarg, NULL); break;
		case 'n': iterations = strtol(optarg, NULL, 10); break;
		default: return VGCTL_EXIT_USAGE;
		}
	}
	if (optind != argc || interval < 0.1 || interval > 3600 || iterations == 0) {
		vgctl_error("top: usage: top [-i SECONDS] [-n ITERATIONS] (interval 0.1..3600)");
		return VGCTL_EXIT_USAGE;
	}
	/* not a terminal: one snapshot with rates over one interval */
	if (!tty && iterations < 0)
		iterations = 1;
	if (tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
		struct termios raw = saved_tio;

		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
		signal(SIGINT, on_sig);
		signal(SIGTERM, on_sig);
	}
	for (long n = 0;; n++) {
		json_t *st = NULL, *grants = NULL;
		struct vg_err err = { 0 };
		uint64_t now_ms;
		double secs;

		if ((r = vgctl_call(c, json_pack("{s:s}", "cmd", "status"), &st)) != 0)
			break;
		now_ms = vg_now_ms_monotonic();
		secs = t.prev ? (double)(now_ms - t.prev_ms) / 1000.0 : 0;
		follow_denies(&t, st);
		/* the grant list is admin-only: without it, top shows the count from status */
		if (vg_ctl_call(c->socket, json_pack("{s:s}", "cmd", "grants.list"), &grants, c->timeout_ms, &err) < 0 ||
		    !json_is_true(json_object_get(grants, "ok"))) {
			json_decref(grants);
			grants = NULL;
		}
		/* without a tty the first sample only sets the baseline for the rates */
		if (t.prev || tty) {
			if (c->json) {
				json_t *snap = snapshot(&t, st, grants, secs);

				vgctl_print_json(c, snap);
				json_decref(snap);
			} else {
				print_human(&t, st, grants, secs, tty);
			}
		}
		json_decref(grants);
		json_decref(t.prev);
		t.prev = st;
		t.prev_ms = now_ms;
		if (t.prev && iterations > 0 && n >= iterations - (tty ? 1 : 0))
			break;
		if (wait_key((int)(interval * 1000)))
			break;
	}
	restore_tty();
	json_decref(t.prev);
	for (size_t i = 0; i < t.nrecent; i++)
		json_decref(t.recent[i]);
	vg_audit_reader_free(t.rd);
	return r;
}

const struct vgctl_cmd vgctl_ops_cmds[] = {
	{ "metrics", "", "print the Prometheus metrics vigild exports (docs/monitoring.md)", run_metrics },
	{ "top", "[-i SECONDS] [-n ITERATIONS]", "live view: per-tenant rates, recent denies, audit lag, grants", run_top },
	{ NULL, NULL, NULL, NULL },
};
