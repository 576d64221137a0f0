/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild: the event loop and the start/stop sequence (the control socket: agent/ctlsock.c).
 * Single-threaded: every subsystem runs from this loop (the HTTPS pull runs
 * its transfer in a thread and hands the result back through an eventfd).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "core.h"
#include "vigil/ctl.h"
#include "vigil/util.h"


static int log_max_prio = LOG_INFO;

void vg_log(int prio, const char *fmt, ...)
{
	va_list ap;
	char buf[2048];

	if (prio > log_max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>%s\n", prio, buf);
}

/* ---- event loop ---- */

struct io_watch {
	int fd;
	vg_io_cb cb;
	void *arg;
	struct io_watch *next_dead;
};

static struct io_watch *watches[1024];
/* deleted watches may still sit in the current epoll batch: freed after it */
static struct io_watch *graveyard;

int vg_loop_add_fd(struct vg_daemon *d, int fd, uint32_t events, vg_io_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct io_watch *w;

	if (fd < 0 || fd >= (int)VG_ARRAY_SIZE(watches))
		return -EMFILE;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return -errno;
	}
	watches[fd] = w;
	return 0;
}

void vg_loop_mod_fd(struct vg_daemon *d, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = watches[fd] };

	epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void vg_loop_del_fd(struct vg_daemon *d, int fd)
{
	if (fd < 0 || fd >= (int)VG_ARRAY_SIZE(watches))
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (watches[fd]) {
		watches[fd]->cb = NULL;
		watches[fd]->next_dead = graveyard;
		graveyard = watches[fd];
		watches[fd] = NULL;
	}
}

int vg_loop_add_timer(struct vg_daemon *d, uint64_t delay_ms, vg_timer_cb cb, void *arg)
{
	if (d->ntimers == d->cap_timers) {
		size_t cap = d->cap_timers ? d->cap_timers * 2 : 16;
		struct vg_timer *t = realloc(d->timers, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		d->timers = t;
		d->cap_timers = cap;
	}
	if (++d->next_timer_id <= 0)
		d->next_timer_id = 1;
	d->timers[d->ntimers++] = (struct vg_timer){ d->next_timer_id, vg_now_ms_monotonic() + delay_ms, cb, arg };
	return d->next_timer_id;
}

void vg_loop_cancel_timer(struct vg_daemon *d, int id)
{
	for (size_t i = 0; i < d->ntimers; i++)
		if (d->timers[i].id == id) {
			d->timers[i] = d->timers[--d->ntimers];
			return;
		}
}

static uint64_t busy_until_ns;

void vg_loop_busy_poll(struct vg_daemon *d, uint64_t until_ns)
{
	busy_until_ns = until_ns;
}

static bool busy_polling(void)
{
	struct timespec ts;

	if (!busy_until_ns)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec < busy_until_ns)
		return true;
	busy_until_ns = 0;
	return false;
}

static int next_timeout(struct vg_daemon *d)
{
	uint64_t now = vg_now_ms_monotonic(), best = UINT64_MAX;

	for (size_t i = 0; i < d->ntimers; i++)
		if (d->timers[i].due_ms < best)
			best = d->timers[i].due_ms;
	if (best == UINT64_MAX)
		return 1000;
	return best <= now ? 0 : (int)(best - now > 1000 ? 1000 : best - now);
}

static void run_timers(struct vg_daemon *d)
{
	uint64_t now = vg_now_ms_monotonic();

	for (size_t i = 0; i < d->ntimers;) {
		if (d->timers[i].due_ms <= now) {
			struct vg_timer t = d->timers[i];

			d->timers[i] = d->timers[--d->ntimers];
			t.cb(d, t.arg);
			i = 0; /* the callback may have changed the table */
			continue;
		}
		i++;
	}
}

/* ---- accessors for modules ---- */

const struct vg_config *vg_daemon_config(struct vg_daemon *d)
{
	return &d->cfg;
}

const struct vg_bundle *vg_daemon_bundle(struct vg_daemon *d)
{
	return d->pol.bundle;
}

const char *vg_daemon_hostname(struct vg_daemon *d)
{
	return d->hostname;
}

/* ---- status ---- */

void vg_daemon_status(struct vg_daemon *d, json_t *r)
{
	json_t *mods = json_object();

	json_t *v = json_pack("{s:s, s:s, s:I, s:I}", "version", VIGIL_VERSION, "hostname", d->hostname, "pid",
			      (json_int_t)getpid(), "started_at", (json_int_t)d->started_at);

	vg_ctl_status(d, v);
	json_object_set_new(r, "vigild", v);
	vg_policy_status(d, r);
	vg_pull_status(d, r);
	for (size_t i = 0; vg_modules[i]; i++)
		if (vg_modules[i]->status) {
			json_t *m = json_object();

			vg_modules[i]->status(d, m);
			json_object_set_new(mods, vg_modules[i]->name, m);
		}
	json_object_set_new(r, "modules", mods);
}

/* ---- signals, config ---- */

/* Fails closed: without a valid trust file no trust is in force, every bundle is refused (the
 * running policy keeps enforcing) and status says why. */
void vg_trust_reload(struct vg_daemon *d)
{
	struct vg_err err = { 0 };
	struct vg_trust *t = NULL;
	char msg[1100];

	if (vg_trust_load(d->cfg.trust_file, &t, &err) < 0) {
		vg_err_str(&err, msg, sizeof(msg));
		vg_log(LOG_ERR, "trust: %s (every bundle will be refused until this is fixed)", msg);
		snprintf(d->pol.trust_error, sizeof(d->pol.trust_error), "%s", msg);
		vg_trust_free(d->trust);
		d->trust = NULL;
		return;
	}
	d->pol.trust_error[0] = '\0';
	vg_trust_free(d->trust);
	d->trust = t;
	vg_log(LOG_INFO, "trust: version %lld, %zu key(s), threshold %u", (long long)t->version, t->nkeys,
	       t->threshold);
}

static void on_signal(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			vg_log(LOG_INFO, "received %s, shutting down", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			d->running = false;
		} else if (si.ssi_signo == SIGHUP) {
			struct vg_config nc;
			struct vg_err err = { 0 };
			char msg[1100];

			if (vg_config_load(&nc, d->cfg_path, &err) < 0) {
				vg_log(LOG_ERR, "SIGHUP: keeping the running configuration: %s",
				       vg_err_str(&err, msg, sizeof(msg)));
				continue;
			}
			/* paths stay as they were: moving sockets and state under a running daemon is a restart */
			memcpy(nc.state_dir, d->cfg.state_dir, sizeof(nc.state_dir));
			memcpy(nc.run_dir, d->cfg.run_dir, sizeof(nc.run_dir));
			memcpy(nc.socket, d->cfg.socket, sizeof(nc.socket));
			memcpy(nc.bpffs_dir, d->cfg.bpffs_dir, sizeof(nc.bpffs_dir));
			memcpy(nc.inbox_dir, d->cfg.inbox_dir, sizeof(nc.inbox_dir));
			d->cfg = nc;
			vg_trust_reload(d);
			vg_log(LOG_INFO, "SIGHUP: configuration and trust file reloaded");
		}
	}
}

static int setup_signals(struct vg_daemon *d)
{
	sigset_t mask;
	int fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	return vg_loop_add_fd(d, fd, EPOLLIN, on_signal, NULL);
}

/* the authorisation table as docs/control-socket.md prints it (a test diffs the two) */
static void list_commands(void)
{
	printf("| cmd | who | what |\n|---|---|---|\n");
	for (const struct vg_ctl_command *c = vg_ctl_commands; c->name; c++)
		printf("| `%s` | %s | %s |\n", c->name, vg_ctl_who_name(c->who), c->what);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: vigild [-c FILE] [--foreground] [--check-config] [--verbose]\n"
		   "\n"
		   "The vigil host enforcement agent (see vigild(8), vigild.conf(5)).\n"
		   "\n"
		   "  -c, --config FILE   configuration file (default %s)\n"
		   "  -f, --foreground    stay in the foreground (systemd runs it so); logs go to stderr\n"
		   "      --check-config  parse the configuration, print the effective values and exit\n"
		   "      --list-commands print the control commands and who may call them (markdown)\n"
		   "  -v, --verbose       log debug messages\n"
		   "  -h, --help          this help\n"
		   "  -V, --version       print the version\n",
		VG_DEFAULT_CONFIG);
}

/*
 * A large bundle is read, verified, parsed and compiled in buffers of hundreds of MB, and in a
 * virtual machine every first touch of a 4 KiB page is a costly fault (about 16 us on the test
 * VM: 0.5 s of a 1M-rule push went to memcpy's faults alone). glibc backs its large blocks with
 * transparent huge pages (madvise) when the tunable glibc.malloc.hugetlb=1 is set, and tunables
 * are read only when a program starts: vigild executes itself again once with it. An environment
 * that already sets GLIBC_TUNABLES is the administrator's choice and is kept; so is a kernel with
 * transparent huge pages off. (vigild(8), ENVIRONMENT; measured in docs/benchmarks.md)
 */
static void malloc_hugepages(char **argv)
{
	char buf[128] = "", self[PATH_MAX];
	ssize_t n;
	int fd;

	if (getenv("GLIBC_TUNABLES"))
		return;
	fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	if (!strstr(buf, "[always]") && !strstr(buf, "[madvise]"))
		return;
	/* by its own name, so that the process is still called vigild (not "exe") */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1)
		return;
	self[n] = '\0';
	if (setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1) == 0)
		execv(self, argv);
	unsetenv("GLIBC_TUNABLES"); /* still here (the binary was replaced or removed): run without */
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' }, { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	     { "version", no_argument, NULL, 'V' },
		{ "list-commands", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	static struct vg_daemon daemon_state;
	struct vg_daemon *d = &daemon_state;
	const char *cfg = VG_DEFAULT_CONFIG;
	bool foreground = false, check = false;
	struct vg_err err = { 0 };
	char msg[1100];
	int o, r;

	malloc_hugepages(argv);
	while ((o = getopt_long(argc, argv, "c:fvhV", opts, NULL)) != -1) {
		switch (o) {
		case 'c': cfg = optarg; break;
		case 'f': foreground = true; break;
		case 'C': check = true; break;
		case 'v': log_max_prio = LOG_DEBUG; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("vigild %s\n", VIGIL_VERSION); return 0;
		case 'L': list_commands(); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (vg_config_load(&d->cfg, cfg, &err) < 0) {
		fprintf(stderr, "vigild: %s\n", vg_err_str(&err, msg, sizeof(msg)));
		return 1;
	}
	snprintf(d->cfg_path, sizeof(d->cfg_path), "%s", cfg);
	if (check) {
		printf("configuration %s is valid\n", cfg);
		return 0;
	}
	if (d->cfg.hostname[0])
		snprintf(d->hostname, sizeof(d->hostname), "%s", d->cfg.hostname);
	else
		gethostname(d->hostname, sizeof(d->hostname) - 1);
	if (!foreground && daemon(0, 0) < 0) {
		fprintf(stderr, "vigild: daemon: %s\n", strerror(errno));
		return 1;
	}
	umask(022);
	d->started_at = vg_now();
	d->running = true;
	d->listen_fd = -1;
	d->inbox_fd = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0 || setup_signals(d) < 0) {
		vg_log(LOG_ERR, "cannot set up the event loop: %s", strerror(errno));
		return 1;
	}
	if ((r = vg_mkdir_p(d->cfg.state_dir, vg_file_mode(VG_DIR_PUBLIC))) < 0) {
		vg_log(LOG_ERR, "cannot create state_dir %s: %s", d->cfg.state_dir, strerror(-r));
		return 1;
	}
	vg_log(LOG_INFO, "vigild %s starting on %s (config %s, state %s)", VIGIL_VERSION, d->hostname, cfg,
	       d->cfg.state_dir);
	vg_trust_reload(d);
	for (size_t i = 0; vg_modules[i]; i++) {
		if (!vg_modules[i]->init)
			continue;
		vg_err_clear(&err);
		/* one module that cannot start never takes the others (PAM, NSS, audit, policy) down */
		if ((r = vg_modules[i]->init(d, &err)) < 0) {
			vg_log(LOG_ERR, "%s: failed, vigild runs on without it: %s", vg_modules[i]->name,
			       vg_err_str(&err, msg, sizeof(msg)));
			vg_daemon_audit(d, "agent.module_failed", d->hostname,
					json_pack("{s:s, s:s, s:s}", "module", vg_modules[i]->name, "reason", err.code,
						  "error", msg));
			vg_module_failed(i, &err);
		}
	}
	vg_daemon_audit(d, "agent.started", d->hostname,
			json_pack("{s:s, s:s}", "version", VIGIL_VERSION, "config", cfg));
	vg_policy_init(d);
	if ((r = vg_loader_start(d)) < 0) {
		vg_log(LOG_ERR, "cannot start the loader thread: %s", strerror(-r));
		return 1;
	}
	if (vg_ctl_open(d, &err) < 0) {
		vg_log(LOG_ERR, "%s", vg_err_str(&err, msg, sizeof(msg)));
		return 1;
	}
	vg_inbox_init(d);
	vg_pull_init(d);
	vg_log(LOG_INFO, "ready: control socket %s", d->cfg.socket);

	while (d->running) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, 32, vg_ctl_pending() || busy_polling() ? 0 : next_timeout(d));

		for (int i = 0; i < n; i++) {
			struct io_watch *w = evs[i].data.ptr;

			if (w->cb) {
				uint64_t t0 = vg_now_ms_monotonic();

				w->cb(d, w->fd, evs[i].events, w->arg);
				if (vg_now_ms_monotonic() - t0 > 200)
					vg_log(LOG_WARNING, "event loop: a handler on fd %d took %llu ms", w->fd,
					       (unsigned long long)(vg_now_ms_monotonic() - t0));
			}
		}
		run_timers(d);
		vg_ctl_turn_end(d);
		while (graveyard) {
			struct io_watch *w = graveyard;

			graveyard = w->next_dead;
			free(w);
		}
	}

	vg_pull_shutdown(d);
	vg_loader_stop();
	for (size_t i = 0; vg_modules[i]; i++)
		if (vg_modules[i]->shutdown)
			vg_modules[i]->shutdown(d);
	vg_daemon_audit(d, "agent.stopped", d->hostname, json_pack("{s:s}", "version", VIGIL_VERSION));
	vg_policy_shutdown(d);
	unlink(d->cfg.socket);
	vg_trust_free(d->trust);
	vg_log(LOG_INFO, "stopped");
	return 0;
}
