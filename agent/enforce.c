/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Egress enforcement module of vigild (docs/enforcement.md): loads the BPF
 * programs of bpf/vigil.bpf.c at the cgroup2 root, pins programs' links and
 * maps under bpffs_dir so enforcement outlives vigild, re-adopts the pins on
 * start, applies each bundle as a new generation switched by one map write,
 * and turns the kernel's deny events into audit events.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <arpa/inet.h>
#include <linux/magic.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "daemon.h"
#include "dns.h"
#include "enforce_cut.h"
#include "vigil/enforce_fill.h"
#include "vigil/dns_learned.h"
#include "vigil/emergency.h"
#include "vigil/enforce.h"
#include "vigil/util.h"
#include "vigil.skel.h"

#define BPFFS_DEFAULT_MOUNT "/sys/fs/bpf"
/* beyond event_rate_limit per second and tenant, one event in this many is sent */
#define SAMPLE_EVERY 64
/* events turned into audit records per loop wakeup, so a flood cannot starve the control socket */
#define EVENT_BATCH 256

/* Pinned objects, by the names they have in bpf/vigil.bpf.c. */
enum {
	M_ACTIVE, M_CONF, M_GEN_LPM, M_GEN_RANGES, M_GEN_CGROUPS, M_SOCKS, M_COUNTERS, M_RATES, M_EVENTS, M_LSM_SEEN,
	M_CG_CACHE, M_Q_ACTIVE, M_Q_LPM, M_Q_RANGES, M_QUARANTINED,
	M_CONNRATE_CONF, M_CONNRATE_BUCKETS, M_CONNRATE_SOCKS, M_GEN_NAMES, M_LEARNED, M_DNS_FWD,
	M_DNS_FWD_ADDR, M_DNS_ORIGS, M_CG_FRONT, M_HOST_COUNTERS,
	M__COUNT
};
static const char *const map_names[M__COUNT] = {
	"active", "conf", "gen_lpm", "gen_ranges", "gen_cgroups", "sock_states", "counters", "rates", "events", "lsm_seen",
	"cg_cache", "q_active", "q_lpm", "q_ranges", "quarantined",
	"connrate_conf", "connrate_buckets", "connrate_socks",
	"gen_names", "learned", "dns_fwd", "dns_fwd_addr", "dns_origs", "cg_front", "host_counters",
};
/* the programs every kernel must take, attached at the cgroup2 root; vg_lsm_socket_create (LSM_PROG) is optional */
static const char *const prog_names[] = {
	"vg_connect4", "vg_connect6", "vg_sendmsg4", "vg_sendmsg6",
	"vg_recvmsg4", "vg_recvmsg6", "vg_getpeername4", "vg_getpeername6",
};
/*
 * The per-socket programs (socket creation, every packet): pinned as programs and attached
 * only where sockets need them (place_sock_progs): at each tenant cgroup, or at the cgroup2
 * root while the host has a policy of its own. Processes outside every tenant then pay
 * nothing for them (docs/enforcement.md "Where the programs run").
 */
static const struct {
	const char *name;
	enum bpf_attach_type type;
} sock_progs[] = {
	{ "vg_sock_create", BPF_CGROUP_INET_SOCK_CREATE },
	{ "vg_skb_egress", BPF_CGROUP_INET_EGRESS },
};
#define NSOCKPROGS VG_ARRAY_SIZE(sock_progs)
#define LSM_PROG "vg_lsm_socket_create"
#define NPROGS VG_ARRAY_SIZE(prog_names)
/* socket iterators that cut a quarantined tenant's flows: loaded where the kernel has bpf_sock_destroy (6.5) */
static const char *const iter_names[] = { "vg_iter_tcp", "vg_iter_udp" };
#define NITERS VG_ARRAY_SIZE(iter_names)

enum enf_state { ENF_DISABLED, ENF_ACTIVE, ENF_UNLOADED };

static struct enforce {
	enum enf_state state;
	bool adopted; /* found pinned at start rather than loaded */
	char dir[256];
	char cgroot[PATH_MAX];
	int fd[M__COUNT];
	struct ring_buffer *rb;
	int rb_fd;
	struct vg_enf_compiled *compiled; /* the running policy, for explain */
	struct vg_enf_compiled *qcompiled; /* the quarantine allow lists in force, for explain */
	uint64_t *cg_ids;		  /* id of each compiled->cgroups entry in the kernel map, 0: missing */
	uint64_t *cg_refused;		  /* the id cgroup_problem refused for that entry (reported once), 0: none */
	uint32_t gen;			  /* active[0]: generation in force, its low bit the slot */
	bool lsm;			  /* the AF_PACKET control (BPF LSM) is attached and seen working */
	char lsm_why[160];		  /* why not, when it is not */
	int iter_fd[NITERS];		  /* the flow-cutting iterators (pinned programs), -1: not on this kernel */
	char cut_why[160];		  /* why flows are not cut, when they are not */
	uint32_t qgen;			  /* q_active[0]: quarantine set in force, its low bit the slot */
	uint64_t flows_cut;		  /* connections destroyed by quarantines since vigild started */
	int watch_fd;			  /* inotify on the parents of tenant cgroups */
	int poll_timer;
	uint64_t events_received, events_audited;
	unsigned batch; /* events handled in this wakeup */
	struct vg_learned *learned; /* vigild's copy of the learned map (egress by name) */
	int sweep_timer;
	struct vg_enf_conf conf; /* what the conf map holds */
} E = { .rb_fd = -1, .watch_fd = -1, .iter_fd = { -1, -1 } };

/* egress by name: vigild's copy of the learned map, swept every LEARN_SWEEP_MS */
#define LEARN_SWEEP_MS 1000
static int learned_start(struct vg_daemon *d, struct vg_err *err);
static void learned_stop(struct vg_daemon *d);
static void on_learn_sweep(struct vg_daemon *d, void *arg);

struct staged {
	struct vg_enf_compiled *c;
	uint64_t *cg_ids, *cg_refused;
	uint32_t gen;
};

/* The program the kernel refused last and the end of its verifier log, for the load error. */
#define LOG_BEGIN "-- BEGIN PROG LOAD LOG --\n"
#define LOG_END "-- END PROG LOAD LOG --"
#define REFUSAL_TAIL_LINES 4
static struct {
	char prog[64];
	char tail[512];
} refusal;

/* From libbpf's "prog 'X': -- BEGIN PROG LOAD LOG --\n...": X and the log's last lines. */
static void note_refusal(const char *msg)
{
	const char *name = strstr(msg, "prog '"), *body = strstr(msg, LOG_BEGIN), *end, *p;
	size_t len = 0;
	int lines = 0;

	if (!name || !body || !(end = strstr(body, LOG_END)))
		return;
	name += strlen("prog '");
	snprintf(refusal.prog, sizeof(refusal.prog), "%.*s", (int)strcspn(name, "'"), name);
	body += strlen(LOG_BEGIN);
	while (end > body && end[-1] == '\n')
		end--;
	for (p = end; p > body; p--)
		if (p[-1] == '\n' && ++lines == REFUSAL_TAIL_LINES)
			break;
	for (; p < end && len + 4 < sizeof(refusal.tail); p++)
		len += snprintf(refusal.tail + len, sizeof(refusal.tail) - len, *p == '\n' ? " | " : "%c", *p);
	refusal.tail[len] = '\0';
}

/* Every line of every libbpf message reaches the log: the verifier log is many lines in one message. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg, *line, *save = NULL;

	if (level == LIBBPF_DEBUG || vasprintf(&msg, fmt, ap) < 0)
		return 0;
	note_refusal(msg);
	for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		vg_log(level == LIBBPF_WARN ? LOG_WARNING : LOG_INFO, "enforce: libbpf: %s", line);
	free(msg);
	return 0;
}

static void pin_path(char *buf, size_t len, const char *kind, const char *name)
{
	/* bpffs refuses names with a dot */
	snprintf(buf, len, "%s/%s_%s", E.dir, kind, name);
}

static void close_maps(void)
{
	for (int i = 0; i < M__COUNT; i++) {
		if (E.fd[i] >= 0)
			close(E.fd[i]);
		E.fd[i] = -1;
	}
	for (size_t i = 0; i < NITERS; i++) {
		if (E.iter_fd[i] >= 0)
			close(E.iter_fd[i]);
		E.iter_fd[i] = -1;
	}
}

/* bpffs_dir must live on a bpf filesystem; mount the standard one when nothing is there. */
static int ensure_bpffs(struct vg_err *err)
{
	struct statfs st;
	int r;

	if (statfs(BPFFS_DEFAULT_MOUNT, &st) == 0 && (uint32_t)st.f_type != BPF_FS_MAGIC &&
	    !strncmp(E.dir, BPFFS_DEFAULT_MOUNT "/", strlen(BPFFS_DEFAULT_MOUNT "/")) &&
	    mount("bpf", BPFFS_DEFAULT_MOUNT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return vg_err_set(err, errno, "bpffs_mount", BPFFS_DEFAULT_MOUNT, "cannot mount the bpf filesystem: %s",
				  strerror(errno));
	if ((r = vg_mkdir_p(E.dir, 0700)) < 0)
		return vg_err_set(err, -r, "bpffs_dir", E.dir, "cannot create the pin directory: %s", strerror(-r));
	if (statfs(E.dir, &st) < 0 || (uint32_t)st.f_type != BPF_FS_MAGIC)
		return vg_err_set(err, EINVAL, "bpffs_dir", E.dir,
				  "not on a bpf filesystem: mount one (mount -t bpf bpf /sys/fs/bpf) or fix bpffs_dir");
	return 0;
}

/* The cgroup2 mount: config cgroup_root, else the first cgroup2 line of /proc/self/mountinfo. */
static int find_cgroup_root(const struct vg_config *cfg, struct vg_err *err)
{
	char line[4096];
	FILE *f;

	if (cfg->cgroup_root[0]) {
		snprintf(E.cgroot, sizeof(E.cgroot), "%s", cfg->cgroup_root);
		return 0;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return vg_err_set(err, errno, "cgroup2_missing", "/proc/self/mountinfo", "cannot read: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *save = NULL, *tok, *mnt = NULL;
		int field = 0;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		*sep = '\0';
		for (tok = strtok_r(line, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			if (++field == 5)
				mnt = tok;
		if (mnt) {
			snprintf(E.cgroot, sizeof(E.cgroot), "%s", mnt);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	return vg_err_set(err, ENOENT, "cgroup2_missing", "/proc/self/mountinfo",
			  "no cgroup2 filesystem is mounted: mount one or set cgroup_root");
}

static bool is_sock_prog(const char *name)
{
	for (size_t k = 0; k < NSOCKPROGS; k++)
		if (!strcmp(name, sock_progs[k].name))
			return true;
	return false;
}

static bool is_pin(const char *name, void *arg)
{
	return !strncmp(name, "link_", 5) || !strncmp(name, "map_", 4) || !strncmp(name, "prog_", 5);
}

static bool any_pinned(void)
{
	struct dirent *de;
	bool any = false;
	DIR *dir;

	dir = opendir(E.dir);
	if (!dir)
		return false;
	while (!any && (de = readdir(dir)))
		any = is_pin(de->d_name, NULL);
	closedir(dir);
	return any;
}

/*
 * Pins in E.dir whose name starts with prefix and that drop() picks: removed, each
 * appended to removed (if given). Removing a link's pin detaches its program
 * (nothing else holds the link). 0, or the last -errno.
 */
static int unpin_matching(const char *prefix, bool (*drop)(const char *name, void *arg), void *arg, json_t *removed)
{
	char **names = NULL, **more, p[PATH_MAX];
	size_t n = 0, len = strlen(prefix);
	struct dirent *de;
	int r = 0;
	DIR *dir;

	dir = opendir(E.dir);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		if (strncmp(de->d_name, prefix, len) || !drop(de->d_name, arg))
			continue;
		more = realloc(names, (n + 1) * sizeof(*names));
		if (!more || !(more[n] = strdup(de->d_name))) {
			names = more ? more : names;
			r = -ENOMEM;
			break;
		}
		names = more;
		n++;
	}
	closedir(dir);
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%s", E.dir, names[i]);
		if (unlink(p) == 0) {
			if (removed)
				json_array_append_new(removed, json_string(p));
		} else if (errno != ENOENT) {
			r = -errno;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

/* Every pin: the links first (detached), then maps and programs. */
static int unpin_all(json_t *removed)
{
	int r = unpin_matching("link_", is_pin, NULL, removed), r2 = unpin_matching("", is_pin, NULL, removed);

	if (r2 < 0)
		r = r2;
	if (rmdir(E.dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		r = -errno;
	return r;
}

/* Open every pinned map; the root links and the per-socket programs must be pinned too, or this is not a complete installation. */
static int adopt(void)
{
	char p[PATH_MAX];

	for (size_t i = 0; i < NPROGS + NSOCKPROGS; i++) {
		int fd;

		if (i < NPROGS)
			pin_path(p, sizeof(p), "link", prog_names[i]);
		else
			pin_path(p, sizeof(p), "prog", sock_progs[i - NPROGS].name);
		fd = bpf_obj_get(p);
		if (fd < 0)
			return -ENOENT;
		close(fd);
	}
	for (int i = 0; i < M__COUNT; i++) {
		pin_path(p, sizeof(p), "map", map_names[i]);
		E.fd[i] = bpf_obj_get(p);
		if (E.fd[i] < 0) {
			close_maps();
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < NITERS; i++) {
		pin_path(p, sizeof(p), "prog", iter_names[i]);
		E.iter_fd[i] = bpf_obj_get(p);
	}
	return 0;
}

/* Name the refused program, what the verifier said last and the kernel it said it on. */
static int load_error(struct vg_err *err, int e)
{
	struct utsname u;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	if (!refusal.prog[0])
		return vg_err_set(err, e, "bpf_load", "bpf/vigil.bpf.c",
				  "kernel %s refused the BPF object: %s (the 'enforce: libbpf:' lines above say which step)",
				  u.release, strerror(e));
	return vg_err_set(err, e, "bpf_load", refusal.prog,
			  "kernel %s refused BPF program %s: %s (verifier: %s; the whole verifier log is in the 'enforce: libbpf:' lines above)",
			  u.release, refusal.prog, strerror(e), refusal.tail);
}

/* The kernel has the BPF LSM hook vg_lsm_socket_create attaches to (CONFIG_BPF_LSM). */
/* The kernel's BTF has function name (a BPF LSM hook, a kfunc). */
static bool kernel_has_func(const char *name)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok;

	if (!btf)
		return false;
	ok = btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) >= 0;
	btf__free(btf);
	return ok;
}

static bool is_iter_prog(const char *name)
{
	for (size_t i = 0; i < NITERS; i++)
		if (!strcmp(name, iter_names[i]))
			return true;
	return false;
}

static uint64_t lsm_seen(void)
{
	uint32_t zero = 0;
	uint64_t n = 0;

	if (E.fd[M_LSM_SEEN] >= 0)
		bpf_map_lookup_elem(E.fd[M_LSM_SEEN], &zero, &n);
	return n;
}

/*
 * Run-time probe: an attached LSM program runs only when "bpf" is among the
 * kernel's active LSMs (lsm= on the command line). Open a packet socket and
 * see whether the program counted it; if not, detach it and say why.
 */
static void probe_lsm(void)
{
	char p[PATH_MAX];
	uint64_t before = lsm_seen();
	int fd;

	pin_path(p, sizeof(p), "link", LSM_PROG);
	if (access(p, F_OK) < 0) {
		if (!E.lsm_why[0])
			snprintf(E.lsm_why, sizeof(E.lsm_why), "not loaded");
		return;
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		close(fd);
	E.lsm = lsm_seen() > before;
	if (E.lsm) {
		E.lsm_why[0] = '\0';
		return;
	}
	unlink(p);
	snprintf(E.lsm_why, sizeof(E.lsm_why), "the BPF LSM is not active (add bpf to lsm= on the kernel command line)");
	vg_log(LOG_WARNING, "enforce: AF_PACKET sockets cannot be refused to tenants: %s", E.lsm_why);
}

static struct bpf_link *attach(struct bpf_program *prog, int cgfd)
{
	if (bpf_program__type(prog) == BPF_PROG_TYPE_LSM)
		return bpf_program__attach_lsm(prog);
	return bpf_program__attach_cgroup(prog, cgfd);
}

/*
 * Load every program; the LSM one only where the kernel takes it. A kernel
 * without it (no CONFIG_BPF_LSM, or a refusal) gets the rest, and status
 * says why AF_PACKET is not controlled.
 */
static int open_and_load(struct vigil_bpf **skel, struct vg_err *err)
{
	bool lsm = kernel_has_func("bpf_lsm_socket_create"), cut = kernel_has_func("bpf_sock_destroy");
	int r;

	if (!lsm)
		snprintf(E.lsm_why, sizeof(E.lsm_why), "the kernel has no BPF LSM (CONFIG_BPF_LSM)");
	if (!cut)
		snprintf(E.cut_why, sizeof(E.cut_why), "the kernel has no bpf_sock_destroy (before 6.5)");
#if VIGIL_TEST_HOOKS
	/* tests stand in for a kernel before 6.5 */
	if (getenv("VIGIL_TEST_NO_SOCK_DESTROY")) {
		cut = false;
		snprintf(E.cut_why, sizeof(E.cut_why), "VIGIL_TEST_NO_SOCK_DESTROY is set (test build)");
	}
#endif
	for (int attempt = 0; attempt < 3; attempt++) {
		*skel = vigil_bpf__open();
		if (!*skel)
			return vg_err_set(err, errno, "bpf_load", "bpf/vigil.bpf.c", "cannot open the BPF object: %s",
					  strerror(errno));
		bpf_program__set_autoload((*skel)->progs.vg_lsm_socket_create, lsm);
		bpf_program__set_autoload((*skel)->progs.vg_iter_tcp, cut);
		bpf_program__set_autoload((*skel)->progs.vg_iter_udp, cut);
		r = vigil_bpf__load(*skel);
		if (r == 0)
			return 0;
		vigil_bpf__destroy(*skel);
		*skel = NULL;
		/* the optional programs: load the others without the one refused (unnamed: the LSM one first) */
		if (lsm && (!strcmp(refusal.prog, LSM_PROG) || !refusal.prog[0])) {
			snprintf(E.lsm_why, sizeof(E.lsm_why), "the kernel refused the BPF LSM program: %s", strerror(-r));
			vg_log(LOG_WARNING, "enforce: %s; loading the other programs without it", E.lsm_why);
			lsm = false;
		} else if (cut && (is_iter_prog(refusal.prog) || !refusal.prog[0])) {
			snprintf(E.cut_why, sizeof(E.cut_why), "the kernel refused %s: %s", refusal.prog, strerror(-r));
			vg_log(LOG_WARNING, "enforce: %s; quarantined flows are dropped per packet instead of cut", E.cut_why);
			cut = false;
		} else {
			break;
		}
		refusal.prog[0] = '\0';
	}
	return load_error(err, -r);
}

static int load_and_pin(struct vg_err *err)
{
	struct vigil_bpf *skel = NULL;
	struct bpf_program *prog;
	struct bpf_map *map;
	char p[PATH_MAX];
	int cgfd = -1, r;

	cgfd = open(E.cgroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		r = vg_err_set(err, errno, "cgroup2_missing", E.cgroot, "cannot open the cgroup2 root: %s", strerror(errno));
		goto out;
	}
	if ((r = open_and_load(&skel, err)) < 0)
		goto out;
	bpf_object__for_each_map(map, skel->obj) {
		/* .rodata (the iterators' format strings) is held by its programs */
		if (bpf_map__is_internal(map))
			continue;
		pin_path(p, sizeof(p), "map", bpf_map__name(map));
		if ((r = bpf_map__pin(map, p)) < 0) {
			r = vg_err_set(err, -r, "bpf_pin", p, "cannot pin map: %s", strerror(-r));
			goto out;
		}
	}
	bpf_object__for_each_program(prog, skel->obj) {
		struct bpf_link *link;

		if (!bpf_program__autoload(prog))
			continue;
		/* iterators run on demand (enforce_quarantine), the per-socket programs where a policy places them */
		if (is_iter_prog(bpf_program__name(prog)) || is_sock_prog(bpf_program__name(prog))) {
			pin_path(p, sizeof(p), "prog", bpf_program__name(prog));
			if ((r = bpf_program__pin(prog, p)) < 0) {
				r = vg_err_set(err, -r, "bpf_pin", p, "cannot pin program: %s", strerror(-r));
				goto out;
			}
			continue;
		}
		link = attach(prog, cgfd);
		if (!link) {
			r = vg_err_set(err, errno, "bpf_attach", E.cgroot, "cannot attach %s: %s", bpf_program__name(prog),
				       strerror(errno));
			goto out;
		}
		pin_path(p, sizeof(p), "link", bpf_program__name(prog));
		r = bpf_link__pin(link, p);
		/* the pin (if any) keeps the program attached after this fd closes */
		bpf_link__destroy(link);
		if (r < 0) {
			r = vg_err_set(err, -r, "bpf_pin", p, "cannot pin link: %s", strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	vigil_bpf__destroy(skel);
	if (cgfd >= 0)
		close(cgfd);
	if (r < 0)
		unpin_all(NULL);
	return r;
}

static const char *tenant_name(struct vg_daemon *d, uint32_t id)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);

	if (id == 0)
		return "host";
	for (size_t i = 0; b && i < b->ntenants; i++)
		if (b->tenants[i].id == id)
			return b->tenants[i].name;
	return "unknown";
}

static void format_addr(uint8_t fam, const uint8_t *a, char *buf, size_t len)
{
	if (!inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

static const char *hook_name(uint8_t hook)
{
	switch (hook) {
	case VG_ENF_HOOK_CONNECT:
		return "connect";
	case VG_ENF_HOOK_SENDMSG:
		return "sendmsg";
	case VG_ENF_HOOK_SOCK_CREATE:
		return "sock_create";
	default:
		return "egress_packet";
	}
}

static const char *family_name(uint8_t family)
{
	switch (family) {
	case AF_INET:
		return "ipv4";
	case AF_INET6:
		return "ipv6";
	case AF_PACKET:
		return "packet";
	default:
		return "other";
	}
}

static const char *actor_name(uint8_t actor)
{
	switch (actor) {
	case VG_ENF_ACTOR_TASK:
		return "process";
	case VG_ENF_ACTOR_CREATOR:
		return "socket_creator";
	default:
		return "socket_owner";
	}
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct vg_daemon *d = ctx;
	const struct vg_enf_event *e = data;
	char dst[INET6_ADDRSTRLEN], comm[sizeof(e->comm) + 1];
	const char *tname;
	json_t *j;

	if (size < sizeof(*e))
		return 0;
	E.events_received++;
	tname = tenant_name(d, e->tenant);
	format_addr(e->fam, e->addr, dst, sizeof(dst));
	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	j = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:b}", "tenant", tname,
		      "tenant_id", (json_int_t)e->tenant, "pid", (json_int_t)e->pid, "uid", (json_int_t)e->uid, "comm",
		      comm, "cgroup_id", (json_int_t)e->cgroup_id, "family", family_name(e->family),
		      "proto", vg_proto_name(e->proto), "dst", dst, "port", (json_int_t)e->port, "rule_id",
		      (json_int_t)e->rule_id, "reason", vg_enf_verdict_name(e->verdict), "mode",
		      vg_mode_name((enum vg_mode)e->mode), "hook", hook_name(e->hook), "sampled", e->sampled != 0);
	if (!j)
		return 0;
	json_object_set_new(j, "proto_number", json_integer(e->proto));
	/* packets have no process context: pid/comm are the socket creator's, or only the owner uid is known */
	json_object_set_new(j, "actor", json_string(actor_name(e->actor)));
	if (e->hook == VG_ENF_HOOK_SOCK_CREATE) {
		json_object_del(j, "dst");
		json_object_del(j, "port");
	}
	if (e->owner)
		json_object_set_new(j, "owner_tenant", json_string(tenant_name(d, e->owner)));
	if (vg_daemon_audit(d, e->mode == VG_MODE_AUDIT ? "egress.would_deny" : "egress.denied", tname, j) == 0)
		E.events_audited++;
	/* stop here; the ring stays readable and the loop comes back after other work */
	return ++E.batch >= EVENT_BATCH ? -EAGAIN : 0;
}

static void on_ring(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	E.batch = 0;
	ring_buffer__consume(E.rb);
}

static int start_events(struct vg_daemon *d, struct vg_err *err)
{
	E.rb = ring_buffer__new(E.fd[M_EVENTS], on_event, d, NULL);
	if (!E.rb)
		return vg_err_set(err, errno, "bpf_ringbuf", E.dir, "cannot open the event ring buffer: %s", strerror(errno));
	E.rb_fd = ring_buffer__epoll_fd(E.rb);
	return vg_loop_add_fd(d, E.rb_fd, EPOLLIN, on_ring, NULL);
}

static void stop_events(struct vg_daemon *d)
{
	if (E.rb) {
		E.batch = 0;
		ring_buffer__consume(E.rb);
		vg_loop_del_fd(d, E.rb_fd);
		ring_buffer__free(E.rb);
	}
	E.rb = NULL;
	E.rb_fd = -1;
}

static bool map_empty(int fd, size_t key_size)
{
	char key[64];

	return key_size > sizeof(key) || bpf_map_get_next_key(fd, NULL, key) < 0;
}

/* Set or clear a VG_ENF_HAS_* flag: set before the first entry is written, cleared after the last is gone. */
static int conf_flag(uint32_t flag, bool on)
{
	struct vg_enf_conf c = E.conf;
	uint32_t zero = 0;

	c.flags = on ? c.flags | flag : c.flags & ~flag;
	if (c.flags == E.conf.flags)
		return 0;
	if (bpf_map_update_elem(E.fd[M_CONF], &zero, &c, BPF_ANY) < 0)
		return -errno;
	E.conf = c;
	return 0;
}

static int enforce_init(struct vg_daemon *d, struct vg_err *err)
{
	const struct vg_config *cfg = vg_daemon_config(d);
	uint32_t zero = 0;
	int r;

	for (int i = 0; i < M__COUNT; i++)
		E.fd[i] = -1;
	if (!cfg->enforce) {
		E.state = ENF_DISABLED;
		vg_log(LOG_INFO, "enforce: disabled by configuration (enforce = false)");
		return 0;
	}
	libbpf_set_print(libbpf_log);
	snprintf(E.dir, sizeof(E.dir), "%s", cfg->bpffs_dir);
	if ((r = ensure_bpffs(err)) < 0 || (r = find_cgroup_root(cfg, err)) < 0)
		return r;
	if (adopt() == 0) {
		E.adopted = true;
		vg_log(LOG_INFO, "enforce: re-adopted the programs pinned under %s", E.dir);
	} else {
		if (any_pinned()) {
			vg_log(LOG_WARNING, "enforce: incomplete pins under %s (interrupted start?): replacing them", E.dir);
			unpin_all(NULL);
		}
		if ((r = ensure_bpffs(err)) < 0 || (r = load_and_pin(err)) < 0)
			return r;
		if (adopt() < 0)
			return vg_err_set(err, ENOENT, "bpf_pin", E.dir, "the pins vanished right after loading");
		vg_log(LOG_INFO, "enforce: programs attached at %s, pinned under %s", E.cgroot, E.dir);
	}
	if (bpf_map_lookup_elem(E.fd[M_ACTIVE], &zero, &E.gen) < 0)
		E.gen = 0;
	if (bpf_map_lookup_elem(E.fd[M_Q_ACTIVE], &zero, &E.qgen) < 0)
		E.qgen = 0;
	if (E.iter_fd[0] < 0 && E.iter_fd[1] < 0 && !E.cut_why[0])
		snprintf(E.cut_why, sizeof(E.cut_why), "the flow-cutting iterators are not loaded");
	probe_lsm();
	/* the flags say what the (possibly adopted) maps hold */
	E.conf = (struct vg_enf_conf){ .event_rate_limit = cfg->event_rate_limit, .sample_every = SAMPLE_EVERY };
	if (!map_empty(E.fd[M_DNS_FWD_ADDR], sizeof(struct vg_enf_fwd_key)) || !map_empty(E.fd[M_DNS_FWD], sizeof(uint32_t)))
		E.conf.flags |= VG_ENF_HAS_FORWARDERS;
	if (!map_empty(E.fd[M_QUARANTINED], sizeof(uint32_t)))
		E.conf.flags |= VG_ENF_HAS_QUARANTINE;
	if (!map_empty(E.fd[M_CONNRATE_CONF], sizeof(struct vg_enf_connrate_key)))
		E.conf.flags |= VG_ENF_HAS_CONNRATE;
	if (bpf_map_update_elem(E.fd[M_CONF], &zero, &E.conf, BPF_ANY) < 0) {
		r = vg_err_set(err, errno, "bpf_map", E.dir, "cannot write the event settings: %s", strerror(errno));
		goto fail;
	}
	if ((r = start_events(d, err)) < 0 || (r = learned_start(d, err)) < 0)
		goto fail;
	E.sweep_timer = vg_loop_add_timer(d, LEARN_SWEEP_MS, on_learn_sweep, NULL);
	E.state = ENF_ACTIVE;
	return 0;
fail:
	close_maps();
	return r;
}

/* cgroup id = the kernfs node id that name_to_handle_at() returns for the directory (path, or dirfd itself with AT_EMPTY_PATH) */
static int cgroup_id_at(int dirfd, const char *path, int flags, uint64_t *id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	int mnt;

	if (name_to_handle_at(dirfd, path, &h.fh, &mnt, flags) < 0)
		return -errno;
	if (h.fh.handle_bytes != sizeof(uint64_t))
		return -EINVAL;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

static int cgroup_id(const char *path, uint64_t *id)
{
	return cgroup_id_at(AT_FDCWD, path, 0, id);
}

/* The path the kernel knows cgroup cgid by, relative to the cgroup2 mount ("" for its root). */
static int cgroup_kernel_path(uint64_t cgid, char *rel, size_t len)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t) };
	char link[64], path[PATH_MAX];
	size_t rootlen = strlen(E.cgroot);
	int mnt, fd, mfd;
	ssize_t n;

	/* the handle type of this cgroup2 mount, from its root */
	if (name_to_handle_at(AT_FDCWD, E.cgroot, &h.fh, &mnt, 0) < 0)
		return -errno;
	memcpy(h.fh.f_handle, &cgid, sizeof(cgid));
	mfd = open(E.cgroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_CLOEXEC);
	close(mfd);
	if (fd < 0)
		return -errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	path[n] = '\0';
	if (!strcmp(E.cgroot, "/"))
		rootlen = 0;
	if (strncmp(path, E.cgroot, rootlen) || (path[rootlen] && path[rootlen] != '/'))
		return -EXDEV;
	snprintf(rel, len, "%s", path + rootlen);
	return 0;
}

/*
 * Without CAP_DAC_READ_SEARCH (the shipped unit has none) the kernel opens no cgroup by id
 * (EPERM). The path a tenant names is then the kernel's own as long as it crosses no other
 * mount: the alias its text cannot show is a bind mount inside the cgroup2 file system, which
 * the mount id of the path tells (statx, no capability needed). The spelling itself
 * is canonical (lib/bundle.c refuses any other). 0, or -EXDEV for a path through another mount.
 */
static int cgroup_path_unaliased(const char *path, const char *cfg_rel, char *rel, size_t len)
{
	struct statx root, at;

	if (statx(AT_FDCWD, E.cgroot, 0, STATX_MNT_ID, &root) < 0 || statx(AT_FDCWD, path, 0, STATX_MNT_ID, &at) < 0)
		return -errno;
	if (!(root.stx_mask & at.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	if (root.stx_mnt_id != at.stx_mnt_id)
		return -EXDEV;
	snprintf(rel, len, "%s", cfg_rel);
	return 0;
}

/* Levels below the cgroup2 root: "" is 0, "/a/b" is 2. */
static unsigned cgroup_level(const char *rel)
{
	unsigned n = 0;

	for (; *rel; rel++)
		n += rel[0] == '/' && rel[1] && rel[1] != '/';
	return n;
}

/*
 * Kernel truth about tenant cgroup i of c, resolved to ids[i]: the one check,
 * at apply and whenever a cgroup is re-resolved. It must be a cgroup v2
 * directory at a level the programs walk (1 to VG_ENF_MAX_CGROUP_DEPTH - 1;
 * the root is never looked up), and no other entry may resolve to the same
 * cgroup: an alias ("/a/.", a bind mount) would let the second entry take
 * the first one's processes, e.g. an enforced tenant judged as an audited one.
 * Entries below upto (other than i) are compared. 0, or -errno with what is
 * wrong in why.
 */
static int cgroup_problem(const struct vg_enf_compiled *c, const uint64_t *ids, size_t i, size_t upto, char *why,
			  size_t len)
{
	char path[PATH_MAX], rel[PATH_MAX];
	struct statfs st;
	unsigned level;
	int r;

	snprintf(path, sizeof(path), "%s%s", E.cgroot, c->cgroups[i].path);
	if (statfs(path, &st) < 0 || (uint32_t)st.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, len, "%s is not a cgroup v2 directory (a mount over it?)", path);
		return -ENOTDIR;
	}
	r = cgroup_kernel_path(ids[i], rel, sizeof(rel));
	if (r == -EPERM)
		r = cgroup_path_unaliased(path, c->cgroups[i].path, rel, sizeof(rel));
	if (r == -EXDEV) {
		snprintf(why, len, "%s crosses another mount inside the cgroup2 file system (a bind mount?): "
			 "name the cgroup by its real path below %s", path, E.cgroot);
		return r;
	}
	if (r < 0) {
		snprintf(why, len, "the kernel does not find cgroup %s (id %llu) below %s: %s", path,
			 (unsigned long long)ids[i], E.cgroot, strerror(-r));
		return r;
	}
	level = cgroup_level(rel);
	if (level < 1 || level >= VG_ENF_MAX_CGROUP_DEPTH) {
		snprintf(why, len, "%s is cgroup \"%s\" at level %u in the kernel: a tenant cgroup must be at level 1 to %u",
			 path, rel[0] ? rel : "/", level, VG_ENF_MAX_CGROUP_DEPTH - 1);
		return -EINVAL;
	}
	for (size_t j = 0; j < upto; j++)
		if (j != i && ids[j] == ids[i]) {
			snprintf(why, len,
				 "\"%s\" (tenant id %u) and \"%s\" (tenant id %u) are the same cgroup in the kernel, \"%s\" (id %llu): "
				 "a cgroup belongs to one tenant; list it once, by its real path",
				 c->cgroups[i].path, c->cgroups[i].val.tenant, c->cgroups[j].path, c->cgroups[j].val.tenant,
				 rel, (unsigned long long)ids[i]);
			return -EEXIST;
		}
	return 0;
}

/*
 * Tenant cgroups through their lifetime: a cgroup removed and created again
 * (a service restart) has a new id. vigild watches the parent directories
 * (inotify) and polls once a second; a changed id is put into the cgroup map
 * of the generation in force in place, and the generation number moves by 2
 * (same slot) so that every cached per-socket verdict is judged again.
 */
#define CGROUP_POLL_MS 1000

/* Where the per-socket programs run: at the cgroup2 root while the host has a policy of its own. */
static bool host_policy(const struct vg_enf_compiled *c)
{
	return c->host.dflt == VG_DEFAULT_DENY;
}

/* Pin of sock_progs[k]'s link at cgroup id (0: the cgroup2 root). */
static void sock_link_path(char *buf, size_t len, size_t k, uint64_t id)
{
	if (!id)
		pin_path(buf, len, "link", sock_progs[k].name);
	else
		snprintf(buf, len, "%s/link_%s_cg%llu", E.dir, sock_progs[k].name, (unsigned long long)id);
}

static int attach_sock_prog(size_t k, int cgfd, uint64_t id)
{
	char p[PATH_MAX];
	int pfd, lfd, r = 0;

	sock_link_path(p, sizeof(p), k, id);
	if (access(p, F_OK) == 0)
		return 0;
	pin_path(p, sizeof(p), "prog", sock_progs[k].name);
	pfd = bpf_obj_get(p);
	if (pfd < 0)
		return -errno;
	lfd = bpf_link_create(pfd, cgfd, sock_progs[k].type, NULL);
	if (lfd < 0) {
		r = -errno;
	} else {
		sock_link_path(p, sizeof(p), k, id);
		/* the pin keeps the program attached after this fd closes, and while vigild is down */
		if (bpf_obj_pin(lfd, p) < 0)
			r = -errno;
		close(lfd);
	}
	close(pfd);
	return r;
}

/*
 * The per-socket programs attached at cgroup path, whose id is id (0: the cgroup2
 * root), and pinned; what is attached there already stays. -ESTALE when path is
 * no longer that cgroup (created again meanwhile: recheck_cgroups takes it up).
 */
static int attach_sock_progs(const char *path, uint64_t id)
{
	uint64_t now;
	int cgfd, r = 0;

	cgfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0)
		return -errno;
	if (id && (cgroup_id_at(cgfd, "", AT_EMPTY_PATH, &now) < 0 || now != id))
		r = -ESTALE;
	for (size_t k = 0; k < NSOCKPROGS && !r; k++)
		r = attach_sock_prog(k, cgfd, id);
	close(cgfd);
	return r;
}

/* Policy c (tenant cgroup ids, 0: missing) needs the per-socket programs at these cgroups: attached now. */
static int place_sock_progs(const struct vg_enf_compiled *c, const uint64_t *ids, struct vg_err *err)
{
	char path[PATH_MAX];
	int r;

	if (host_policy(c)) {
		if ((r = attach_sock_progs(E.cgroot, 0)) < 0)
			return vg_err_set(err, -r, "bpf_attach", E.cgroot, "cannot attach the per-socket programs: %s",
					  strerror(-r));
		return 0;
	}
	for (size_t i = 0; i < c->ncgroups; i++) {
		if (!ids[i])
			continue;
		snprintf(path, sizeof(path), "%s%s", E.cgroot, c->cgroups[i].path);
		r = attach_sock_progs(path, ids[i]);
		if (r < 0 && r != -ESTALE)
			return vg_err_set(err, -r, "bpf_attach", path, "cannot attach the per-socket programs: %s",
					  strerror(-r));
	}
	return 0;
}

struct placement {
	const struct vg_enf_compiled *c;
	const uint64_t *ids;
};

/* A per-socket program's link that placement arg does not need (links of other programs: never). */
static bool unneeded_link(const char *name, void *arg)
{
	const struct placement *pl = arg;
	const char *rest;
	uint64_t id;
	char *end;

	for (size_t k = 0; k < NSOCKPROGS; k++) {
		size_t len = strlen(sock_progs[k].name);

		if (strncmp(name + 5, sock_progs[k].name, len))
			continue;
		rest = name + 5 + len;
		if (!*rest)
			return !host_policy(pl->c);
		if (strncmp(rest, "_cg", 3))
			continue;
		id = strtoull(rest + 3, &end, 10);
		if (*end || host_policy(pl->c))
			return true;
		for (size_t i = 0; i < pl->c->ncgroups; i++)
			if (pl->ids[i] == id)
				return false;
		return true;
	}
	return false;
}

/* Links of the per-socket programs that policy c (ids) does not need: removed, which detaches them. */
static void prune_sock_progs(const struct vg_enf_compiled *c, const uint64_t *ids)
{
	struct placement pl = { c, ids };
	int r = unpin_matching("link_", unneeded_link, &pl, NULL);

	if (r < 0)
		vg_log(LOG_ERR, "enforce: cannot detach the per-socket programs where no tenant needs them: %s",
		       strerror(-r));
}

static void cgroup_path(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", E.cgroot, E.compiled->cgroups[i].path);
}

static const char *path_of(size_t i, char *buf, size_t len)
{
	cgroup_path(i, buf, len);
	return buf;
}

static int active_cgroups_map(void)
{
	uint32_t slot = VG_ENF_GEN_SLOT(E.gen), id;

	if (bpf_map_lookup_elem(E.fd[M_GEN_CGROUPS], &slot, &id) < 0)
		return -errno;
	return bpf_map_get_fd_by_id(id);
}

/*
 * A change made in place (same slot): the generation number moves by 2, so
 * every per-socket cached verdict and cg_cache entry is judged again.
 */
static int move_generation(void)
{
	uint32_t zero = 0, gen = E.gen + 2;

	if (bpf_map_update_elem(E.fd[M_ACTIVE], &zero, &gen, BPF_ANY) < 0)
		return -errno;
	E.gen = gen;
	return 0;
}

/* A tenant cgroup's id moved (gone, re-created, refused by cgroup_problem): logged and audited. */
static void report_cgroup_change(struct vg_daemon *d, size_t i, uint64_t id, const char *problem)
{
	char path[PATH_MAX];
	json_t *j;

	cgroup_path(i, path, sizeof(path));
	if (problem)
		vg_log(LOG_ERR, "enforce: tenant cgroup %s is not enforced: %s", path, problem);
	else
		vg_log(id ? LOG_NOTICE : LOG_WARNING, "enforce: tenant cgroup %s %s", path,
		       id ? "(re)appeared: enforced under its new id" : "is gone: nothing of its tenant runs there");
	j = json_pack("{s:s, s:I, s:I, s:b}", "cgroup", E.compiled->cgroups[i].path, "old_id", (json_int_t)E.cg_ids[i],
		      "new_id", (json_int_t)id, "present", id != 0);
	if (j && problem)
		json_object_set_new(j, "problem", json_string(problem));
	vg_daemon_audit(d, "enforce.cgroup_changed", vg_daemon_hostname(d), j);
}

/*
 * The ids the tenant cgroups have now into the cgroup map in force. A new id
 * passes cgroup_problem first (an id another entry holds is never taken over).
 * Stale ids go before new ones enter, so that an id that moved from one entry
 * to another (a rename) is not deleted after it was entered.
 */
static void recheck_cgroups(struct vg_daemon *d)
{
	size_t n = E.compiled ? E.compiled->ncgroups : 0;
	char path[PATH_MAX], why[1024];
	bool changed = false;
	uint64_t *now;
	int m, r;

	if (E.state != ENF_ACTIVE || !n)
		return;
	now = calloc(n, sizeof(*now));
	if (!now)
		return;
	for (size_t i = 0; i < n; i++) {
		cgroup_path(i, path, sizeof(path));
		if (cgroup_id(path, &now[i]) < 0)
			now[i] = 0;
	}
	m = active_cgroups_map();
	if (m < 0) {
		vg_log(LOG_ERR, "enforce: cannot open the cgroup map in force: %s", strerror(-m));
		free(now);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (now[i] != E.cg_ids[i] && E.cg_ids[i])
			bpf_map_delete_elem(m, &E.cg_ids[i]);
	for (size_t i = 0; i < n; i++) {
		const char *problem = NULL;
		uint64_t id = now[i];

		if (id == E.cg_ids[i] || (id && id == E.cg_refused[i]))
			continue;
		E.cg_refused[i] = 0;
		if (id && cgroup_problem(E.compiled, now, i, n, why, sizeof(why)) < 0) {
			problem = why;
			E.cg_refused[i] = id;
			id = 0;
		} else if (id && !host_policy(E.compiled) && (r = attach_sock_progs(path_of(i, path, sizeof(path)), id)) < 0) {
			snprintf(why, sizeof(why), "cannot attach the per-socket programs at its new id %llu: %s",
				 (unsigned long long)id, strerror(-r));
			problem = why;
			id = 0;
		} else if (id && bpf_map_update_elem(m, &id, &E.compiled->cgroups[i].val, BPF_ANY) < 0) {
			snprintf(why, sizeof(why), "cannot enter its new id %llu: %s", (unsigned long long)id, strerror(errno));
			problem = why;
			id = 0;
		}
		report_cgroup_change(d, i, id, problem);
		E.cg_ids[i] = id;
		changed = true;
	}
	close(m);
	free(now);
	if (!changed)
		return;
	if (move_generation() < 0)
		vg_log(LOG_ERR, "enforce: cannot move the policy generation: %s", strerror(errno));
	prune_sock_progs(E.compiled, E.cg_ids);
}

static void on_cgroup_event(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	recheck_cgroups(d);
}

static void on_cgroup_poll(struct vg_daemon *d, void *arg)
{
	E.poll_timer = 0;
	recheck_cgroups(d);
	E.poll_timer = vg_loop_add_timer(d, CGROUP_POLL_MS, on_cgroup_poll, NULL);
}

static void unwatch_cgroups(struct vg_daemon *d)
{
	if (E.watch_fd >= 0) {
		vg_loop_del_fd(d, E.watch_fd);
		close(E.watch_fd);
	}
	E.watch_fd = -1;
	if (E.poll_timer > 0)
		vg_loop_cancel_timer(d, E.poll_timer);
	E.poll_timer = 0;
}

static void watch_cgroups(struct vg_daemon *d)
{
	char path[PATH_MAX];

	unwatch_cgroups(d);
	if (!E.compiled || !E.compiled->ncgroups)
		return;
	E.watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (E.watch_fd >= 0) {
		for (size_t i = 0; i < E.compiled->ncgroups; i++) {
			char *slash;

			cgroup_path(i, path, sizeof(path));
			slash = strrchr(path, '/');
			if (slash && slash != path)
				*slash = '\0';
			/* a parent that is missing too is found by the poll */
			inotify_add_watch(E.watch_fd, path, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR);
		}
		if (vg_loop_add_fd(d, E.watch_fd, EPOLLIN, on_cgroup_event, NULL) < 0) {
			close(E.watch_fd);
			E.watch_fd = -1;
		}
	}
	E.poll_timer = vg_loop_add_timer(d, CGROUP_POLL_MS, on_cgroup_poll, NULL);
}

static int create_inner(enum bpf_map_type type, uint32_t key_size, uint32_t value_size, size_t n, uint32_t flags,
			const char *name, struct vg_err *err)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	int fd;

	if (n > UINT32_MAX)
		return vg_err_set(err, E2BIG, "enforce_too_large", "$.tenants",
				  "the policy needs %zu %s entries, beyond what a BPF map holds", n, name);
	fd = bpf_map_create(type, name, key_size, value_size, (uint32_t)(n ? n : 1), &o);
	if (fd < 0)
		return vg_err_set(err, errno, "enforce_too_large", "$.tenants",
				  "the kernel refused a %s map of %zu entries: %s; reduce the policy or raise the memory limit of vigild",
				  name, n, strerror(errno));
	return fd;
}

static int fill_failed(struct vg_err *err, const char *what, size_t done, size_t n)
{
	return vg_err_set(err, errno, "enforce_too_large", "$.tenants",
			  "the kernel refused %s entry %zu of %zu: %s; reduce the policy or raise the memory limit of vigild",
			  what, done + 1, n, strerror(errno));
}

/* JSON path of compiled cgroup i: the compiler lists them in bundle order. */
static void cgroup_json_path(const struct vg_bundle *b, size_t i, char *buf, size_t len)
{
	for (size_t t = 0; t < b->ntenants; t++) {
		if (i < b->tenants[t].ncgroups) {
			snprintf(buf, len, "$.tenants[%zu].cgroups[%zu]", t, i);
			return;
		}
		i -= b->tenants[t].ncgroups;
	}
	snprintf(buf, len, "$.tenants");
}

/*
 * Each tenant cgroup to its id in ids, then checked against the kernel
 * (cgroup_problem). A tenant cgroup that does not exist yet is created, so its
 * id is known now and the processes placed in it later are covered.
 */
static int resolve_cgroups(const struct vg_bundle *b, const struct vg_enf_compiled *c, uint64_t *ids,
			   struct vg_err *err)
{
	char path[PATH_MAX], where[64], why[1024];
	int r;

	for (size_t i = 0; i < c->ncgroups; i++) {
		snprintf(path, sizeof(path), "%s%s", E.cgroot, c->cgroups[i].path);
		if ((r = vg_mkdir_p(path, 0755)) < 0 || (r = cgroup_id(path, &ids[i])) < 0) {
			cgroup_json_path(b, i, where, sizeof(where));
			return vg_err_set(err, -r, "enforce_cgroup", where, "cannot create or resolve cgroup %s: %s", path,
					  strerror(-r));
		}
	}
	for (size_t i = 0; i < c->ncgroups; i++)
		if ((r = cgroup_problem(c, ids, i, i, why, sizeof(why))) < 0) {
			cgroup_json_path(b, i, where, sizeof(where));
			return vg_err_set(err, -r, r == -EEXIST ? "enforce_cgroup_alias" : "enforce_cgroup", where, "%s", why);
		}
	return 0;
}

/*
 * n entries of stride bytes (key at offset 0, value at val_off) into map fd: in batches of
 * FILL_CHUNK, one system call each (a kernel without batch updates for this map type takes
 * them one at a time). -1 with errno and *done set: the entry the kernel refused.
 */
#define FILL_CHUNK 8192
static int fill_map(int fd, const void *base, size_t stride, size_t key_size, size_t val_off, size_t val_size, size_t n,
		    size_t *done)
{
	bool no_batch = false;
	char *keys = NULL, *vals = NULL;
	const char *e = base;
	int r = 0;

	*done = 0;
	if (n > 1 && (!(keys = malloc(FILL_CHUNK * key_size)) || !(vals = malloc(FILL_CHUNK * val_size)))) {
		free(keys);
		errno = ENOMEM;
		return -1;
	}
	while (*done < n && !no_batch && n > 1) {
		uint32_t k, cnt = (uint32_t)(n - *done < FILL_CHUNK ? n - *done : FILL_CHUNK);

		for (k = 0; k < cnt; k++) {
			memcpy(keys + k * key_size, e + (*done + k) * stride, key_size);
			memcpy(vals + k * val_size, e + (*done + k) * stride + val_off, val_size);
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, NULL) == 0) {
			*done += cnt;
			continue;
		}
		/* the kernel has no batch update for this map type (ENOTSUPP, 524): one at a time */
		if (*done == 0 && (errno == 524 || errno == EOPNOTSUPP)) {
			no_batch = true;
			break;
		}
		*done += cnt;
		r = -1;
		goto out;
	}
	for (; *done < n; (*done)++)
		if (bpf_map_update_elem(fd, e + *done * stride, e + *done * stride + val_off, BPF_ANY) < 0) {
			r = -1;
			break;
		}
out:
	free(keys);
	free(vals);
	return r;
}

/* The port intervals of c in a new map (*ranges: an fd the caller closes); the trie was filled beside the compile. */
static int create_ranges_map(const struct vg_enf_compiled *c, int *ranges, struct vg_err *err)
{
	*ranges = create_inner(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(struct vg_enf_range), c->nranges,
			       BPF_F_INNER_MAP, "vg_ranges", err);
	if (*ranges < 0)
		return *ranges;
	/* arrays take batches: one syscall per chunk instead of one per interval */
	for (size_t i = 0; i < c->nranges;) {
		uint32_t keys[4096], n = (uint32_t)(c->nranges - i < 4096 ? c->nranges - i : 4096);

		for (uint32_t k = 0; k < n; k++)
			keys[k] = (uint32_t)(i + k);
		if (bpf_map_update_batch(*ranges, keys, &c->ranges[i], &n, NULL) < 0)
			return fill_failed(err, "port interval", i, c->nranges);
		i += n;
	}
	return 0;
}

/* The trie and the port intervals of c in new maps, filled after the compile (the small quarantine lists). */
static int create_rule_maps(const struct vg_enf_compiled *c, int *lpm, int *ranges, struct vg_err *err)
{
	size_t done;

	*ranges = -1;
	*lpm = create_inner(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct vg_enf_lpm_key), sizeof(struct vg_enf_lpm_val),
			    c->nentries, BPF_F_NO_PREALLOC, "vg_lpm", err);
	if (*lpm < 0)
		return *lpm;
	if (fill_map(*lpm, c->entries, sizeof(c->entries[0]), sizeof(c->entries[0].key),
		     offsetof(struct vg_enf_entry, val), sizeof(c->entries[0].val), c->nentries, &done) < 0)
		return fill_failed(err, "trie", done, c->nentries);
	return create_ranges_map(c, ranges, err);
}

static void close_fds(int a, int b, int c)
{
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	if (c >= 0)
		close(c);
}

/* The generation's name rules (tenant, rule id) -> tag and port lists, in a new map (fd). */
static int create_names_map(const struct vg_enf_compiled *c, struct vg_err *err)
{
	int fd = create_inner(BPF_MAP_TYPE_HASH, sizeof(struct vg_enf_name_key), sizeof(struct vg_enf_name_val),
			      c->nnames, 0, "vg_names", err);
	size_t done;

	if (fd < 0)
		return fd;
	if (fill_map(fd, c->names, sizeof(c->names[0]), sizeof(c->names[0].key), offsetof(struct vg_enf_name_entry, val),
		     sizeof(c->names[0].val), c->nnames, &done) < 0) {
		int r = fill_failed(err, "name rule", done, c->nnames);

		close(fd);
		return r;
	}
	return fd;
}

/*
 * The generation's maps into the inactive slot: lpm is the trie *fill is putting c's
 * entries into (it ends here, before the slot points at the trie; *fill is NULL after).
 */
static int fill_generation(struct vg_enf_compiled *c, uint32_t slot, const uint64_t *ids, int lpm,
			   struct vg_trie_fill **fill, uint64_t *fill_cpu_ms, struct vg_err *err)
{
	int ranges = -1, cgroups = -1, names = -1, r;
	uint64_t host = VG_ENF_HOST_CGID;

	if ((r = create_ranges_map(c, &ranges, err)) < 0)
		goto out;
	if ((names = create_names_map(c, err)) < 0) {
		r = names;
		goto out;
	}
	cgroups = create_inner(BPF_MAP_TYPE_HASH, sizeof(uint64_t), sizeof(struct vg_enf_cgroup_val), c->ncgroups + 1, 0,
			       "vg_cgroups", err);
	if (cgroups < 0) {
		r = cgroups;
		goto out;
	}
	if (bpf_map_update_elem(cgroups, &host, &c->host, BPF_ANY) < 0) {
		r = fill_failed(err, "cgroup", 0, c->ncgroups + 1);
		goto out;
	}
	for (size_t i = 0; i < c->ncgroups; i++) {
		if (bpf_map_update_elem(cgroups, &ids[i], &c->cgroups[i].val, BPF_ANY) < 0) {
			r = fill_failed(err, "cgroup", i + 1, c->ncgroups + 1);
			goto out;
		}
	}
	r = vg_trie_fill_end(*fill, fill_cpu_ms, err);
	*fill = NULL;
	if (r < 0)
		goto out;
	/* the inactive slot: nothing reads it until active[0] points there */
	if (bpf_map_update_elem(E.fd[M_GEN_LPM], &slot, &lpm, BPF_ANY) < 0 ||
	    bpf_map_update_elem(E.fd[M_GEN_RANGES], &slot, &ranges, BPF_ANY) < 0 ||
	    bpf_map_update_elem(E.fd[M_GEN_CGROUPS], &slot, &cgroups, BPF_ANY) < 0 ||
	    bpf_map_update_elem(E.fd[M_GEN_NAMES], &slot, &names, BPF_ANY) < 0) {
		r = vg_err_set(err, errno, "bpf_map", E.dir, "cannot install the new policy generation: %s", strerror(errno));
		goto out;
	}
	r = 0;
out:
	/* the outer maps hold their own references */
	close_fds(ranges, cgroups, names);
	return r;
}

/*
 * ---- Connection rate (docs/enforcement.md "Connection rate") ----
 * Each tenant's bucket settings go into the generation slot being prepared,
 * so they switch with the policy; the buckets (tokens, counters) are keyed by
 * tenant only and are never rewritten from here: a swap neither refills nor
 * empties them.
 */
_Static_assert(sizeof(struct bpf_spin_lock) == sizeof(__u32), "vg_enf_bucket.lock is a struct bpf_spin_lock");

static void clear_connrates(uint32_t slot)
{
	struct vg_enf_connrate_key key, next;
	bool more;

	more = bpf_map_get_next_key(E.fd[M_CONNRATE_CONF], NULL, &next) == 0;
	while (more) {
		key = next;
		more = bpf_map_get_next_key(E.fd[M_CONNRATE_CONF], &key, &next) == 0;
		if (key.slot == slot)
			bpf_map_delete_elem(E.fd[M_CONNRATE_CONF], &key);
	}
}

/* VG_ENF_HAS_CONNRATE follows connrate_conf: cleared only once no slot has settings (the programs then skip the lookup). */
static void connrate_flag_update(void)
{
	if (map_empty(E.fd[M_CONNRATE_CONF], sizeof(struct vg_enf_connrate_key)))
		conf_flag(VG_ENF_HAS_CONNRATE, false); /* left set, the programs only look up more */
}

static int fill_connrates(const struct vg_enf_compiled *c, uint32_t slot, struct vg_err *err)
{
	int r;

	clear_connrates(slot);
	connrate_flag_update();
	if (c->nconnrates && (r = conf_flag(VG_ENF_HAS_CONNRATE, true)) < 0)
		return vg_err_set(err, -r, "bpf_map", E.dir, "cannot write the connect_rate flag: %s", strerror(-r));
	for (size_t i = 0; i < c->nconnrates; i++) {
		struct vg_enf_connrate_key key = { .tenant = c->connrates[i].tenant, .slot = slot };

		if (bpf_map_update_elem(E.fd[M_CONNRATE_CONF], &key, &c->connrates[i].conf, BPF_ANY) < 0)
			return fill_failed(err, "connect_rate", i, c->nconnrates);
	}
	return 0;
}

static const struct vg_enf_connrate *connrate_of(uint32_t tenant)
{
	for (size_t i = 0; E.compiled && i < E.compiled->nconnrates; i++)
		if (E.compiled->connrates[i].tenant == tenant)
			return &E.compiled->connrates[i];
	return NULL;
}

/* The tenant's bucket as the kernel holds it: all zero when it was never used. */
static void connrate_bucket(uint32_t tenant, struct vg_enf_bucket *b)
{
	memset(b, 0, sizeof(*b));
	if (E.fd[M_CONNRATE_BUCKETS] >= 0 &&
	    bpf_map_lookup_elem_flags(E.fd[M_CONNRATE_BUCKETS], &tenant, b, BPF_F_LOCK) < 0)
		memset(b, 0, sizeof(*b));
}

/* status: the counters of every tenant (metrics), the settings and level of those with a rate */
static void connrate_status(json_t *c, uint32_t tenant)
{
	const struct vg_enf_connrate *cr = connrate_of(tenant);
	struct vg_enf_bucket b;

	connrate_bucket(tenant, &b);
	json_object_set_new(c, "rate_limited", json_integer((json_int_t)b.limited));
	json_object_set_new(c, "rate_would_limit", json_integer((json_int_t)b.would_limit));
	if (cr)
		json_object_set_new(c, "connect_rate",
				    json_pack("{s:I, s:I, s:I}", "per_second", (json_int_t)cr->conf.per_second, "burst",
					      (json_int_t)cr->conf.burst, "tokens",
					      (json_int_t)vg_enf_bucket_level(&cr->conf, &b, vg_now_ms_monotonic() * 1000000u)));
}

static int enforce_prepare(struct vg_daemon *d, const struct vg_bundle *b, void **staged, struct vg_err *err)
{
	size_t limit = vg_daemon_config(d)->enforce_max_entries;
	struct vg_trie_fill *fill = NULL;
	uint64_t t0, t1, fill_cpu = 0;
	struct staged *s;
	int r, lpm = -1;

	*staged = NULL;
	if (E.state != ENF_ACTIVE)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	t0 = vg_now_ms_monotonic();
	/* no-prealloc: max_entries only caps the trie, and the compile refuses more than the limit */
	if (!limit || limit > VG_ENF_MAX_ENTRIES)
		limit = VG_ENF_MAX_ENTRIES;
	lpm = create_inner(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct vg_enf_lpm_key), sizeof(struct vg_enf_lpm_val),
			   limit, BPF_F_NO_PREALLOC, "vg_lpm", err);
	if (lpm < 0) {
		r = lpm;
		goto fail;
	}
	if ((r = vg_trie_fill_start(&fill, lpm, err)) < 0 ||
	    (r = vg_enf_compile_sink(b, limit, vg_trie_fill_sink(fill), &s->c, err)) < 0)
		goto fail;
	t1 = vg_now_ms_monotonic();
	s->gen = E.gen + 1;
	s->cg_ids = calloc(s->c->ncgroups ? s->c->ncgroups : 1, sizeof(*s->cg_ids));
	s->cg_refused = calloc(s->c->ncgroups ? s->c->ncgroups : 1, sizeof(*s->cg_refused));
	if (!s->cg_ids || !s->cg_refused) {
		r = vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
		goto fail;
	}
	if ((r = resolve_cgroups(b, s->c, s->cg_ids, err)) < 0 || (r = place_sock_progs(s->c, s->cg_ids, err)) < 0 ||
	    (r = fill_generation(s->c, VG_ENF_GEN_SLOT(s->gen), s->cg_ids, lpm, &fill, &fill_cpu, err)) < 0 ||
	    (r = fill_connrates(s->c, VG_ENF_GEN_SLOT(s->gen), err)) < 0)
		goto fail;
	close(lpm); /* the slot holds it */
	vg_log(LOG_INFO,
	       "enforce: version %lld compiled in %llu ms, kernel maps filled in %llu ms (the trie's %zu entries beside the compile, on a thread of %llu ms CPU)",
	       (long long)b->version, (unsigned long long)(t1 - t0), (unsigned long long)(vg_now_ms_monotonic() - t1),
	       s->c->nentries, (unsigned long long)fill_cpu);
	*staged = s;
	return 0;
fail:
	if (fill)
		vg_trie_fill_end(fill, NULL, NULL);
	if (lpm >= 0)
		close(lpm);
	/* what place_sock_progs attached for this policy goes again (with no policy known in force, all stays) */
	if (E.compiled)
		prune_sock_progs(E.compiled, E.cg_ids);
	vg_enf_compiled_free(s->c);
	free(s->cg_ids);
	free(s->cg_refused);
	free(s);
	return r;
}

static void enforce_commit(struct vg_daemon *d, const struct vg_bundle *b, void *staged)
{
	struct staged *s = staged;
	uint32_t zero = 0;
	bool switched;

	if (!s)
		return;
	/* the switch: one write, every hook sees the old generation or the new one */
	switched = bpf_map_update_elem(E.fd[M_ACTIVE], &zero, &s->gen, BPF_ANY) == 0;
	if (!switched)
		vg_log(LOG_ERR, "enforce: cannot switch to policy version %lld: %s; the previous policy stays in force",
		       (long long)b->version, strerror(errno));
	else
		E.gen = s->gen;
	vg_enf_compiled_free(E.compiled);
	free(E.cg_ids);
	free(E.cg_refused);
	E.compiled = s->c;
	E.cg_ids = s->cg_ids;
	E.cg_refused = s->cg_refused;
	free(s);
	/* after the switch: the per-socket programs leave the cgroups the new policy does not need */
	if (switched)
		prune_sock_progs(E.compiled, E.cg_ids);
	watch_cgroups(d);
	vg_log(LOG_INFO, "enforce: policy version %lld in force (%zu trie entries, %zu port intervals, %zu cgroups)",
	       (long long)b->version, E.compiled->nentries, E.compiled->nranges, E.compiled->ncgroups);
}

static void enforce_abort(struct vg_daemon *d, void *staged)
{
	struct staged *s = staged;
	uint32_t slot;

	if (!s)
		return;
	slot = VG_ENF_GEN_SLOT(s->gen);
	/* free the kernel memory of the generation that will not run */
	bpf_map_delete_elem(E.fd[M_GEN_LPM], &slot);
	bpf_map_delete_elem(E.fd[M_GEN_RANGES], &slot);
	bpf_map_delete_elem(E.fd[M_GEN_CGROUPS], &slot);
	clear_connrates(slot);
	connrate_flag_update();
	bpf_map_delete_elem(E.fd[M_GEN_NAMES], &slot);
	/* what place_sock_progs attached for it goes again (with no policy known in force, all stays) */
	if (E.compiled)
		prune_sock_progs(E.compiled, E.cg_ids);
	vg_enf_compiled_free(s->c);
	free(s->cg_ids);
	free(s->cg_refused);
	free(s);
}

/*
 * ---- Quarantine (docs/enforcement.md "Quarantine", docs/emergency.md) ----
 * The allow lists are compiled by the bundle's own compiler (one tenant each)
 * into q_lpm/q_ranges, switched by q_active like a generation; `quarantined`
 * names the tenants. Neither is touched by a bundle swap, and both are pinned.
 */
static int compile_quarantine(const struct vg_quarantine *q, size_t n, struct vg_enf_compiled **out,
			      struct vg_err *err)
{
	struct vg_bundle b = { .ntenants = n, .host = { .mode = VG_MODE_ENFORCE, .dflt = VG_DEFAULT_ALLOW } };
	struct vg_tenant *t = calloc(n ? n : 1, sizeof(*t));
	int r;

	if (!t)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	for (size_t i = 0; i < n; i++)
		t[i] = (struct vg_tenant){ .name = (char *)q[i].tenant, .id = q[i].tenant_id, .mode = VG_MODE_ENFORCE,
					   .negress = q[i].nallow, .egress = (struct vg_rule *)q[i].allow };
	b.tenants = t;
	r = vg_enf_compile(&b, 0, out, err);
	free(t);
	return r;
}

static int install_quarantine_maps(const struct vg_enf_compiled *c, uint32_t slot, struct vg_err *err)
{
	int lpm = -1, ranges = -1, r;

	r = create_rule_maps(c, &lpm, &ranges, err);
	if (r == 0 && (bpf_map_update_elem(E.fd[M_Q_LPM], &slot, &lpm, BPF_ANY) < 0 ||
		       bpf_map_update_elem(E.fd[M_Q_RANGES], &slot, &ranges, BPF_ANY) < 0))
		r = vg_err_set(err, errno, "bpf_map", E.dir, "cannot install the quarantine allow lists: %s", strerror(errno));
	close_fds(lpm, ranges, -1);
	return r;
}

static bool in_quarantine(const struct vg_quarantine *q, size_t n, uint32_t tenant)
{
	for (size_t i = 0; i < n; i++)
		if (q[i].tenant_id == tenant)
			return true;
	return false;
}

/* `quarantined` becomes exactly q: released tenants leave, the others are entered. */
static int set_quarantined(const struct vg_quarantine *q, size_t n, struct vg_err *err)
{
	int fd = E.fd[M_QUARANTINED];
	uint32_t key, next;
	bool more;

	more = bpf_map_get_next_key(fd, NULL, &next) == 0;
	while (more) {
		key = next;
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (!in_quarantine(q, n, key))
			bpf_map_delete_elem(fd, &key);
	}
	for (size_t i = 0; i < n; i++) {
		struct vg_enf_quar v = { .counter = q[i].counter, .expires_at = (int64_t)q[i].expires_at };

		snprintf(v.id, sizeof(v.id), "%s", q[i].id ? q[i].id : "");
		if (bpf_map_update_elem(fd, &q[i].tenant_id, &v, BPF_ANY) < 0)
			return vg_err_set(err, errno, "bpf_map", q[i].tenant, "cannot quarantine tenant %s: %s", q[i].tenant,
					  strerror(errno));
	}
	return 0;
}

/* Established flows of the quarantined tenants, destroyed by the socket iterators where the kernel has them. */
static long cut_quarantined_flows(const struct vg_quarantine *q, size_t n)
{
	const char **dirs;
	char (*paths)[PATH_MAX];
	size_t nd = 0;
	long cut;

	if (E.iter_fd[0] < 0 && E.iter_fd[1] < 0)
		return -EOPNOTSUPP;
	if (!E.compiled || !E.compiled->ncgroups)
		return vg_enf_cut_flows(E.iter_fd, NITERS, NULL, 0);
	dirs = calloc(E.compiled->ncgroups, sizeof(*dirs));
	paths = calloc(E.compiled->ncgroups, sizeof(*paths));
	if (!dirs || !paths) {
		free(dirs);
		free(paths);
		return -ENOMEM;
	}
	for (size_t i = 0; i < E.compiled->ncgroups; i++)
		if (in_quarantine(q, n, E.compiled->cgroups[i].val.tenant)) {
			cgroup_path(i, paths[nd], sizeof(paths[nd]));
			dirs[nd] = paths[nd];
			nd++;
		}
	cut = vg_enf_cut_flows(E.iter_fd, NITERS, dirs, nd);
	free(dirs);
	free(paths);
	return cut;
}

int vg_enforce_quarantine(const struct vg_quarantine *q, size_t n, struct vg_err *err)
{
	struct vg_enf_compiled *c = NULL;
	uint32_t zero = 0, qgen = E.qgen + 1;
	uint64_t t0 = vg_now_ms_monotonic();
	long cut = 0;
	int r;

	if (E.state != ENF_ACTIVE)
		return vg_err_set(err, ENODEV, "enforce_off", NULL, "enforcement is not running on this host");
	if (n > VG_QUARANTINE_MAX)
		return vg_err_set(err, E2BIG, "too_many", NULL, "at most %u quarantines at once", VG_QUARANTINE_MAX);
	for (size_t i = 0; i < n; i++)
		if (!q[i].tenant_id || q[i].tenant_id > VG_ENF_MAX_TENANT)
			return vg_err_set(err, EINVAL, "bad_tenant", q[i].tenant, "tenant id %u is out of range",
					  q[i].tenant_id);
	if ((r = compile_quarantine(q, n, &c, err)) < 0)
		return r;
	/* allow lists first, then the set: in between, a tenant is quarantined with no allow list (denied) or not yet */
	if ((r = install_quarantine_maps(c, VG_ENF_GEN_SLOT(qgen), err)) < 0)
		goto out;
	if (n && (r = conf_flag(VG_ENF_HAS_QUARANTINE, true)) < 0) {
		r = vg_err_set(err, -r, "bpf_map", E.dir, "cannot announce the quarantine: %s", strerror(-r));
		goto out;
	}
	if (bpf_map_update_elem(E.fd[M_Q_ACTIVE], &zero, &qgen, BPF_ANY) < 0) {
		r = vg_err_set(err, errno, "bpf_map", E.dir, "cannot switch the quarantine allow lists: %s", strerror(errno));
		goto out;
	}
	E.qgen = qgen;
	if ((r = set_quarantined(q, n, err)) < 0)
		goto out;
	if (!n)
		conf_flag(VG_ENF_HAS_QUARANTINE, false); /* left set, the programs only look up more */
	/* every cached verdict is judged again: the quarantined tenants' flows are dropped from their next packet */
	if ((r = move_generation()) < 0) {
		r = vg_err_set(err, -r, "bpf_map", E.dir, "cannot move the policy generation: %s", strerror(-r));
		goto out;
	}
	vg_enf_compiled_free(E.qcompiled);
	E.qcompiled = c;
	c = NULL;
	if (n)
		cut = cut_quarantined_flows(q, n);
	if (cut > 0)
		E.flows_cut += (uint64_t)cut;
	vg_log(LOG_NOTICE, "enforce: %zu tenant(s) quarantined; %s %ld connection(s) in %llu ms", n,
	       cut >= 0 ? "cut" : "could not cut (their packets are dropped)", cut >= 0 ? cut : 0,
	       (unsigned long long)(vg_now_ms_monotonic() - t0));
out:
	vg_enf_compiled_free(c);
	return r;
}

/*
 * ---- Egress by name: the kernel side of agent/dns.h (docs/dns.md) ----
 * The learned map is written here only, through vigild's copy (lib/dns_learned.c),
 * which bounds it per tenant and in all; expired entries are swept once a second.
 */
static int learned_put(void *arg, const struct vg_enf_learn_key *k, const struct vg_enf_learn_val *v)
{
	return bpf_map_update_elem(E.fd[M_LEARNED], k, v, BPF_ANY) < 0 ? -errno : 0;
}

static int learned_del(void *arg, const struct vg_enf_learn_key *k)
{
	return bpf_map_delete_elem(E.fd[M_LEARNED], k) < 0 ? -errno : 0;
}

static uint64_t now_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* (tenant, family, addr) as the kernel keys it: IPv4-mapped IPv6 is IPv4. */
static int learn_key(uint32_t tenant, int family, const uint8_t *addr, struct vg_enf_learn_key *k)
{
	memset(k, 0, sizeof(*k));
	k->tenant = tenant;
	if (family == AF_INET) {
		k->fam = 4;
		memcpy(k->addr, addr, 4);
	} else if (family == AF_INET6 && vg_enf_v4mapped(addr)) {
		k->fam = 4;
		memcpy(k->addr, addr + 12, 4);
	} else if (family == AF_INET6) {
		k->fam = 6;
		memcpy(k->addr, addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

/* vigild's copy from the pinned map: after a restart the entries learned before are still bounded and swept. */
static int learned_start(struct vg_daemon *d, struct vg_err *err)
{
	const struct vg_learned_ops ops = { .put = learned_put, .del = learned_del };
	struct vg_enf_learn_key key, next;
	struct vg_enf_learn_val val;
	size_t n = 0;
	bool more;

	E.learned = vg_learned_new(VG_ENF_LEARN_MAX, vg_daemon_config(d)->dns_learned_per_tenant, &ops);
	if (!E.learned)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	more = bpf_map_get_next_key(E.fd[M_LEARNED], NULL, &next) == 0;
	while (more) {
		key = next;
		more = bpf_map_get_next_key(E.fd[M_LEARNED], &key, &next) == 0;
		if (bpf_map_lookup_elem(E.fd[M_LEARNED], &key, &val) == 0 && vg_learned_adopt(E.learned, &key, &val) == 0)
			n++;
	}
	if (n)
		vg_log(LOG_INFO, "enforce: %zu address(es) learned by name before this start are enforced until they expire", n);
	return 0;
}

static void on_learn_sweep(struct vg_daemon *d, void *arg)
{
	E.sweep_timer = 0;
	if (E.learned)
		vg_learned_sweep(E.learned, now_monotonic_ns());
	E.sweep_timer = vg_loop_add_timer(d, LEARN_SWEEP_MS, on_learn_sweep, NULL);
}

static void learned_stop(struct vg_daemon *d)
{
	if (E.sweep_timer > 0)
		vg_loop_cancel_timer(d, E.sweep_timer);
	E.sweep_timer = 0;
	vg_learned_free(E.learned);
	E.learned = NULL;
}

int vg_enforce_dns_learn(uint32_t tenant, uint32_t rule_id, int family, const uint8_t *addr, uint64_t expires_ns,
			 struct vg_err *err)
{
	const struct vg_enf_name_entry *ne;
	struct vg_enf_learn_key k;
	int r;

	if (E.state != ENF_ACTIVE || !E.learned)
		return vg_err_set(err, ENODEV, "enforce_off", NULL, "enforcement is not running on this host");
	if (!tenant || tenant > VG_ENF_MAX_TENANT || learn_key(tenant, family, addr, &k) < 0)
		return vg_err_set(err, EINVAL, "bad_request", NULL, "tenant %u or address family %d out of range", tenant,
				  family);
	ne = vg_enf_name_find(E.compiled, tenant, rule_id);
	if (!ne)
		return vg_err_set(err, ENOENT, "unknown_name_rule", NULL,
				  "tenant %u has no name rule %u in the policy in force", tenant, rule_id);
	r = vg_learned_learn(E.learned, &k, rule_id, ne->val.tag, expires_ns, now_monotonic_ns());
	if (r == -EINVAL)
		return vg_err_set(err, EINVAL, "bad_request", NULL, "the expiry is already past");
	if (r < 0)
		return vg_err_set(err, -r, "bpf_map", E.dir, "cannot enter the learned address: %s", strerror(-r));
	return 0;
}

int vg_enforce_dns_stats(uint32_t tenant, struct vg_dns_learned_stats *out)
{
	struct vg_learned_tenant_stats st;

	memset(out, 0, sizeof(*out));
	if (E.state != ENF_ACTIVE || !E.learned)
		return -ENODEV;
	vg_learned_stats(E.learned, tenant, &st);
	out->entries = st.entries;
	out->evictions = st.evictions;
	return 0;
}

int vg_enforce_dns_lookup(uint32_t tenant, int family, const uint8_t *addr, uint32_t *rule_id, uint64_t *expires_ns)
{
	struct vg_enf_learn_key k;
	struct vg_enf_learn_val v;
	uint64_t now = now_monotonic_ns();
	int r;

	*rule_id = 0;
	*expires_ns = 0;
	if (E.state != ENF_ACTIVE)
		return -ENODEV;
	if ((r = learn_key(tenant, family, addr, &k)) < 0)
		return r;
	if (bpf_map_lookup_elem(E.fd[M_LEARNED], &k, &v) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* the slot living longest among those the policy in force still honours */
	for (int i = 0; i < VG_ENF_LEARN_SLOTS; i++) {
		const struct vg_enf_learn_slot *sl = &v.slot[i];
		const struct vg_enf_name_entry *ne = vg_enf_name_find(E.compiled, tenant, sl->rule);

		if (sl->expires_ns > now && sl->expires_ns > *expires_ns && ne && ne->val.tag == sl->tag) {
			*rule_id = sl->rule;
			*expires_ns = sl->expires_ns;
		}
	}
	return 0;
}

static bool loopback(const struct sockaddr_in *a)
{
	return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
}

/* One forwarder, checked: tenant in range, IPv4 on the loopback (and IPv6 ::1), ports set. */
static int fwd_entry(const struct vg_dns_forwarder_addr *f, struct vg_enf_dns_fwd *out, struct vg_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!f->tenant || f->tenant > VG_ENF_MAX_TENANT)
		return vg_err_set(err, EINVAL, "bad_forwarder", NULL, "tenant id %u out of range", f->tenant);
	if (f->v4.sin_family != AF_INET || !loopback(&f->v4) || !f->v4.sin_port)
		return vg_err_set(err, EINVAL, "bad_forwarder", NULL,
				  "tenant %u: the IPv4 forwarder must be a loopback address and port", f->tenant);
	memcpy(out->addr4, &f->v4.sin_addr, 4);
	out->port4 = ntohs(f->v4.sin_port);
	if (!f->v6.sin6_family)
		return 0;
	if (f->v6.sin6_family != AF_INET6 || !IN6_IS_ADDR_LOOPBACK(&f->v6.sin6_addr) || !f->v6.sin6_port)
		return vg_err_set(err, EINVAL, "bad_forwarder", NULL,
				  "tenant %u: the IPv6 forwarder must be [::1] and a port", f->tenant);
	memcpy(out->addr6, &f->v6.sin6_addr, 16);
	out->port6 = ntohs(f->v6.sin6_port);
	return 0;
}

static void fwd_keys(const struct vg_enf_dns_fwd *v, struct vg_enf_fwd_key k[2])
{
	memset(k, 0, 2 * sizeof(*k));
	k[0].fam = 4;
	k[0].port = v->port4;
	memcpy(k[0].addr, v->addr4, 4);
	k[1].fam = 6;
	k[1].port = v->port6;
	memcpy(k[1].addr, v->addr6, 16);
}

static bool fwd_listed(size_t n, uint32_t tenant, const uint32_t *tenants)
{
	for (size_t i = 0; i < n; i++)
		if (tenants[i] == tenant)
			return true;
	return false;
}

/* Remove what the new table does not have: forwarders of other tenants, addresses no longer used. */
static void fwd_prune(const struct vg_enf_dns_fwd *v, const uint32_t *tenants, size_t n)
{
	uint32_t key, next;
	struct vg_enf_fwd_key ak, anext;
	bool more;

	more = bpf_map_get_next_key(E.fd[M_DNS_FWD], NULL, &next) == 0;
	while (more) {
		key = next;
		more = bpf_map_get_next_key(E.fd[M_DNS_FWD], &key, &next) == 0;
		if (!fwd_listed(n, key, tenants))
			bpf_map_delete_elem(E.fd[M_DNS_FWD], &key);
	}
	more = bpf_map_get_next_key(E.fd[M_DNS_FWD_ADDR], NULL, &anext) == 0;
	while (more) {
		bool keep = false;

		ak = anext;
		more = bpf_map_get_next_key(E.fd[M_DNS_FWD_ADDR], &ak, &anext) == 0;
		for (size_t i = 0; i < n && !keep; i++) {
			struct vg_enf_fwd_key k[2];

			fwd_keys(&v[i], k);
			keep = (!memcmp(&k[0], &ak, sizeof(ak)) && k[0].port) || (!memcmp(&k[1], &ak, sizeof(ak)) && k[1].port);
		}
		if (!keep)
			bpf_map_delete_elem(E.fd[M_DNS_FWD_ADDR], &ak);
	}
}

int vg_enforce_dns_forwarders(const struct vg_dns_forwarder_addr *f, size_t n, struct vg_err *err)
{
	struct vg_enf_dns_fwd *v = NULL;
	uint32_t *tenants = NULL;
	int r = 0;

	if (E.state != ENF_ACTIVE)
		return vg_err_set(err, ENODEV, "enforce_off", NULL, "enforcement is not running on this host");
	v = calloc(n ? n : 1, sizeof(*v));
	tenants = calloc(n ? n : 1, sizeof(*tenants));
	if (!v || !tenants) {
		r = vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if ((r = fwd_entry(&f[i], &v[i], err)) < 0)
			goto out;
		tenants[i] = f[i].tenant;
	}
	if (n && (r = conf_flag(VG_ENF_HAS_FORWARDERS, true)) < 0) {
		r = vg_err_set(err, -r, "bpf_map", E.dir, "cannot announce the DNS forwarders: %s", strerror(-r));
		goto out;
	}
	/* addresses first: a redirect never points at an address not yet known as a forwarder's */
	for (size_t i = 0; i < n; i++) {
		struct vg_enf_fwd_key k[2];

		fwd_keys(&v[i], k);
		for (int j = 0; j < 2; j++)
			if (k[j].port && bpf_map_update_elem(E.fd[M_DNS_FWD_ADDR], &k[j], &tenants[i], BPF_ANY) < 0) {
				r = vg_err_set(err, errno, "bpf_map", E.dir, "cannot enter a forwarder address: %s", strerror(errno));
				goto out;
			}
	}
	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(E.fd[M_DNS_FWD], &tenants[i], &v[i], BPF_ANY) < 0) {
			r = vg_err_set(err, errno, "bpf_map", E.dir, "cannot enter tenant %u's forwarder: %s", tenants[i],
				       strerror(errno));
			goto out;
		}
	fwd_prune(v, tenants, n);
	if (!n && map_empty(E.fd[M_DNS_FWD_ADDR], sizeof(struct vg_enf_fwd_key)) && map_empty(E.fd[M_DNS_FWD], sizeof(uint32_t)))
		conf_flag(VG_ENF_HAS_FORWARDERS, false); /* left set, the programs only look up more */
out:
	free(v);
	free(tenants);
	return r;
}

static bool is_quarantined(uint32_t tenant)
{
	struct vg_enf_quar v;

	return tenant && E.fd[M_QUARANTINED] >= 0 && bpf_map_lookup_elem(E.fd[M_QUARANTINED], &tenant, &v) == 0;
}

/* vg_enf_explain with the kernel's quarantine steps around it (judge() and quarantine() in bpf/vigil.bpf.c). */
/*
 * steer_dns() of bpf/vigil.bpf.c for a connect or sendmsg: a forwarder's address named
 * directly is refused, the tenant's port-53 traffic goes to its forwarder. true: decided.
 */
static bool explain_dns(uint32_t tid, int family, const uint8_t *addr, uint16_t port, uint8_t proto,
			struct vg_enf_verdict_info *v)
{
	struct vg_enf_learn_key a;
	struct vg_enf_fwd_key k = { 0 };
	struct vg_enf_dns_fwd f;
	uint32_t owner;

	if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP) || learn_key(tid, family, addr, &a) < 0)
		return false;
	*v = (struct vg_enf_verdict_info){ .verdict = VG_ENF_DENY_DNS, .fam = a.fam };
	for (size_t i = 0; E.compiled && i < E.compiled->ntenants; i++)
		if (E.compiled->tenants[i].tenant == tid)
			v->mode = E.compiled->tenants[i].mode;
	k.fam = a.fam;
	k.port = port;
	memcpy(k.addr, a.addr, 16);
	if (bpf_map_lookup_elem(E.fd[M_DNS_FWD_ADDR], &k, &owner) == 0) {
		v->owner = owner;
		v->allowed = v->mode == VG_MODE_AUDIT;
		return true;
	}
	if (port != 53 || bpf_map_lookup_elem(E.fd[M_DNS_FWD], &tid, &f) < 0)
		return false;
	if ((a.fam == 4 && f.port4) || (a.fam == 6 && f.port6))
		v->verdict = VG_ENF_ALLOW_DNS;
	v->allowed = vg_enf_verdict_allows(v->verdict) || v->mode == VG_MODE_AUDIT;
	return true;
}

static int explain_verdict(uint32_t tid, int family, const uint8_t *addr, uint16_t port, uint8_t proto,
			   uint32_t port_owner, struct vg_enf_verdict_info *v)
{
	int r;

	if (tid && port_owner && port_owner != tid && is_quarantined(port_owner)) {
		*v = (struct vg_enf_verdict_info){ .verdict = VG_ENF_DENY_QUARANTINE, .owner = port_owner };
		return 0;
	}
	if (tid && !is_quarantined(tid) && explain_dns(tid, family, addr, port, proto, v))
		return 0;
	if (!is_quarantined(tid)) {
		struct vg_enf_learn_key k;
		struct vg_enf_learn_val l;
		bool have = tid && learn_key(tid, family, addr, &k) == 0 &&
			    bpf_map_lookup_elem(E.fd[M_LEARNED], &k, &l) == 0;

		return vg_enf_explain_learned(E.compiled, tid, family, addr, port, proto, port_owner, have ? &l : NULL,
					      now_monotonic_ns(), v);
	}
	*v = (struct vg_enf_verdict_info){ .verdict = VG_ENF_DENY_DEFAULT };
	if (E.qcompiled && (r = vg_enf_explain(E.qcompiled, tid, family, addr, port, proto, port_owner, v)) < 0)
		return r;
	v->mode = VG_MODE_ENFORCE;
	if (v->verdict == VG_ENF_DENY_DEFAULT)
		v->verdict = VG_ENF_DENY_QUARANTINE;
	v->allowed = vg_enf_verdict_allows(v->verdict);
	return 0;
}

static json_t *quarantine_json(void)
{
	int fd = E.fd[M_QUARANTINED];
	json_t *arr = json_array();
	uint32_t key, next;
	bool more;

	more = fd >= 0 && bpf_map_get_next_key(fd, NULL, &next) == 0;
	while (more) {
		struct vg_enf_quar v;

		key = next;
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (bpf_map_lookup_elem(fd, &key, &v) < 0)
			continue;
		v.id[sizeof(v.id) - 1] = '\0';
		json_array_append_new(arr, json_pack("{s:I, s:s, s:I, s:I}", "tenant_id", (json_int_t)key, "id", v.id,
						     "counter", (json_int_t)v.counter, "expires_at", (json_int_t)v.expires_at));
	}
	return json_pack("{s:o, s:I}", "tenants", arr, "flows_cut", (json_int_t)E.flows_cut);
}

static int parse_proto(const char *s, uint8_t *proto)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} names[] = { { "tcp", VG_PROTO_TCP }, { "udp", VG_PROTO_UDP }, { "icmp", VG_PROTO_ICMP }, { "icmpv6", 58 } };
	char *end;
	long v;

	for (size_t i = 0; i < VG_ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i].name)) {
			*proto = names[i].proto;
			return 0;
		}
	v = strtol(s, &end, 10);
	if (!*s || *end || v < 0 || v > 255)
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

static json_t *ports_json(const struct vg_portrange *p, size_t n)
{
	json_t *ports = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(ports, p[i].lo == p[i].hi ? json_sprintf("%u", p[i].lo)
								: json_sprintf("%u-%u", p[i].lo, p[i].hi));
	return ports;
}

/* A name rule by id (tenants' and shared services'), for explain; null when the bundle has none. */
static json_t *name_rule_json(const struct vg_bundle *b, uint32_t id)
{
	const struct vg_name_rule *r = NULL;
	const char *where = "";

	for (size_t i = 0; !r && i < b->ntenants; i++)
		for (size_t k = 0; !r && k < b->tenants[i].nnames; k++)
			if (b->tenants[i].names[k].id == id) {
				r = &b->tenants[i].names[k];
				where = b->tenants[i].name;
			}
	for (size_t i = 0; !r && i < b->nshared_services; i++)
		for (size_t k = 0; !r && k < b->shared_services[i].nnames; k++)
			if (b->shared_services[i].names[k].id == id) {
				r = &b->shared_services[i].names[k];
				where = b->shared_services[i].name;
			}
	if (!r)
		return json_null();
	return json_pack("{s:I, s:s, s:s, s:o, s:s}", "id", (json_int_t)r->id, "pattern", r->pattern, "proto",
			 vg_proto_name(r->proto), "ports", ports_json(r->ports, r->nports), "from", where);
}

static const struct vg_rule *find_rule(const struct vg_bundle *b, uint32_t id, const char **where)
{
	for (size_t i = 0; i < b->ntenants; i++)
		for (size_t k = 0; k < b->tenants[i].negress; k++)
			if (b->tenants[i].egress[k].id == id) {
				*where = b->tenants[i].name;
				return &b->tenants[i].egress[k];
			}
	for (size_t i = 0; i < b->nshared_services; i++)
		for (size_t k = 0; k < b->shared_services[i].nrules; k++)
			if (b->shared_services[i].rules[k].id == id) {
				*where = b->shared_services[i].name;
				return &b->shared_services[i].rules[k];
			}
	for (size_t k = 0; k < b->host.negress; k++)
		if (b->host.egress[k].id == id) {
			*where = "host";
			return &b->host.egress[k];
		}
	return NULL;
}

static json_t *rule_json(const struct vg_rule *r, const char *where)
{
	char cidr[64];

	vg_cidr_format(&r->cidr, cidr, sizeof(cidr));
	return json_pack("{s:I, s:s, s:s, s:o, s:s}", "id", (json_int_t)r->id, "cidr", cidr, "proto",
			 vg_proto_name(r->proto), "ports", ports_json(r->ports, r->nports), "from", where);
}

/* Tenant of a cgroup id: the longest tenant cgroup path that is the cgroup's path or one of its ancestors. */
static uint32_t tenant_of_cgroup(uint64_t cgid)
{
	char rel[PATH_MAX];
	size_t best = 0;
	uint32_t tenant = 0;

	if (cgroup_kernel_path(cgid, rel, sizeof(rel)) < 0) {
		/* no CAP_DAC_READ_SEARCH: the tenant whose cgroup it is itself, by id */
		for (size_t i = 0; i < E.compiled->ncgroups; i++) {
			char path[PATH_MAX];
			uint64_t id;

			snprintf(path, sizeof(path), "%s%s", E.cgroot, E.compiled->cgroups[i].path);
			if (cgroup_id(path, &id) == 0 && id == cgid)
				return E.compiled->cgroups[i].val.tenant;
		}
		return 0;
	}
	for (size_t i = 0; i < E.compiled->ncgroups; i++) {
		const char *tp = E.compiled->cgroups[i].path;
		size_t l = strlen(tp);

		if (l > best && !strncmp(rel, tp, l) && (rel[l] == '\0' || rel[l] == '/')) {
			best = l;
			tenant = E.compiled->cgroups[i].val.tenant;
		}
	}
	return tenant;
}

/* One sock_diag dump (family, proto) for sockets bound to port: the tenant of the first found, 0: none or host. */
static uint32_t diag_port_owner(int nl, int family, uint8_t proto, uint16_t port)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = proto,
		       .idiag_states = proto == IPPROTO_TCP ? 1u << 10 /* TCP_LISTEN */ : ~0u },
	};
	static char buf[32768];
	uint32_t owner = 0;
	bool done = false;

	if (send(nl, &req, sizeof(req), 0) < 0)
		return 0;
	while (!done) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n <= 0)
			break;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct inet_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a;
			int len;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			if (owner || ntohs(m->id.idiag_sport) != port)
				continue;
			len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
			for (a = (struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
				if (a->rta_type == INET_DIAG_CGROUP_ID && RTA_PAYLOAD(a) >= sizeof(uint64_t)) {
					uint64_t id;

					memcpy(&id, RTA_DATA(a), sizeof(id));
					owner = tenant_of_cgroup(id);
				}
		}
	}
	return owner;
}

/*
 * What the kernel's packet path finds for a local destination: the tenant
 * owning the socket bound to the port (in vigild's network namespace).
 */
static uint32_t local_port_owner(uint16_t port, uint8_t proto)
{
	uint32_t owner = 0;
	int nl;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return 0;
	owner = diag_port_owner(nl, AF_INET, proto, port);
	if (!owner)
		owner = diag_port_owner(nl, AF_INET6, proto, port);
	close(nl);
	return owner;
}
static int ctl_explain(struct vg_daemon *d, json_t *req, json_t **reply, struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	const char *tname = json_string_value(json_object_get(req, "tenant"));
	const char *dst = json_string_value(json_object_get(req, "dst"));
	const char *pstr = json_string_value(json_object_get(req, "proto"));
	json_t *jport = json_object_get(req, "port");
	const struct vg_tenant *t = NULL;
	const struct vg_enf_connrate *cr;
	struct vg_enf_verdict_info v;
	uint8_t addr[16], proto = VG_PROTO_TCP;
	uint32_t tid = 0, port_owner = 0;
	json_int_t port = 0;
	int family, r;
	char prefix[INET6_ADDRSTRLEN + 8];

	if (!E.compiled || !b)
		return vg_err_set(err, ENOENT, "no_policy", NULL, "no policy is in force: nothing to explain");
	if (!tname || !dst)
		return vg_err_set(err, EINVAL, "bad_request", NULL, "enforce.explain needs \"tenant\" and \"dst\"");
	if (strcmp(tname, "host")) {
		t = vg_bundle_tenant_by_name(b, tname);
		if (!t)
			return vg_err_set(err, ENOENT, "unknown_tenant", tname,
					  "no tenant \"%s\" in policy version %lld (\"host\" explains the host policy)", tname,
					  (long long)b->version);
		tid = t->id;
	}
	family = strchr(dst, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, dst, addr) != 1)
		return vg_err_set(err, EINVAL, "bad_request", dst, "not an IPv4 or IPv6 address");
	if (jport && (!json_is_integer(jport) || json_integer_value(jport) < 0 || json_integer_value(jport) > 65535))
		return vg_err_set(err, EINVAL, "bad_request", "port", "port must be 0-65535");
	if (jport)
		port = json_integer_value(jport);
	if (pstr && parse_proto(pstr, &proto) < 0)
		return vg_err_set(err, EINVAL, "bad_request", pstr, "protocol must be tcp, udp, icmp, icmpv6 or a number");
	if (proto == VG_PROTO_ICMP && family == AF_INET6)
		proto = 58;
	/* local listeners are runtime state: ask the kernel who owns the socket on that port */
	port_owner = local_port_owner((uint16_t)port, proto);
	if ((r = explain_verdict(tid, family, addr, (uint16_t)port, proto, port_owner, &v)) < 0)
		return vg_err_set(err, -r, "explain_failed", tname, "cannot explain: %s", strerror(-r));
	*reply = json_pack("{s:s, s:s, s:I, s:s, s:s, s:b, s:s, s:s, s:I}", "tenant", t ? t->name : "host", "dst", dst,
			   "port", port, "proto", vg_proto_name(proto), "verdict", vg_enf_verdict_name(v.verdict),
			   "allowed", v.allowed, "decision",
			   vg_enf_verdict_allows(v.verdict) ? "allow" : (v.mode == VG_MODE_AUDIT ? "would_deny" : "deny"),
			   "mode", vg_mode_name((enum vg_mode)v.mode), "policy_version", (json_int_t)b->version);
	if (!*reply)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	json_object_set_new(*reply, "proto_number", json_integer(proto));
	if (is_quarantined(tid)) {
		/* the rule ids of a quarantine are positions in its allow list */
		json_object_set_new(*reply, "quarantined", json_true());
		if (v.rule_id)
			json_object_set_new(*reply, "quarantine_allow", json_integer(v.rule_id));
	} else if (v.verdict == VG_ENF_ALLOW_NAME) {
		json_object_set_new(*reply, "rule_id", json_integer(v.rule_id));
		json_object_set_new(*reply, "name_rule", name_rule_json(b, v.rule_id));
		json_object_set_new(*reply, "learned_expires_in_ms",
				    json_integer((json_int_t)((v.expires_ns - now_monotonic_ns()) / 1000000)));
	} else if (v.rule_id) {
		const char *where = "";
		const struct vg_rule *rule = find_rule(b, v.rule_id, &where);

		json_object_set_new(*reply, "rule_id", json_integer(v.rule_id));
		if (rule)
			json_object_set_new(*reply, "rule", rule_json(rule, where));
	}
	if (v.owner)
		json_object_set_new(*reply, "owner_tenant", json_string(tenant_name(d, v.owner)));
	if (tid && (cr = connrate_of(tid)))
		json_object_set_new(*reply, "connect_rate", json_pack("{s:I, s:I}", "per_second", (json_int_t)cr->conf.per_second,
								     "burst", (json_int_t)cr->conf.burst));
	if (v.matched) {
		char a[INET6_ADDRSTRLEN];

		format_addr(v.fam, v.prefix, a, sizeof(a));
		snprintf(prefix, sizeof(prefix), "%s/%u", a, v.prefixlen);
		json_object_set_new(*reply, "matched_prefix", json_string(prefix));
	}
	return 0;
}

static int ctl_unload(struct vg_daemon *d, const struct vg_peer *peer, json_t **reply, struct vg_err *err)
{
	json_t *removed = json_array();
	int r;

	if (E.state != ENF_ACTIVE) {
		json_decref(removed);
		return vg_err_set(err, ENOENT, "not_loaded", E.dir[0] ? E.dir : NULL, "enforcement is not loaded");
	}
	unwatch_cgroups(d);
	stop_events(d);
	learned_stop(d);
	close_maps();
	r = unpin_all(removed);
	E.state = ENF_UNLOADED;
	vg_enf_compiled_free(E.compiled);
	vg_enf_compiled_free(E.qcompiled);
	E.compiled = NULL;
	E.qcompiled = NULL;
	vg_daemon_audit(d, "enforce.unloaded", vg_daemon_hostname(d),
			json_pack("{s:I, s:I, s:s, s:O, s:b}", "by_uid", (json_int_t)peer->uid, "by_pid", (json_int_t)peer->pid,
				  "bpffs_dir", E.dir, "removed", removed, "complete", r == 0));
	vg_log(LOG_WARNING, "enforce: unloaded by uid %u: egress is no longer enforced until vigild restarts", peer->uid);
	if (r < 0) {
		json_decref(removed);
		return vg_err_set(err, -r, "unload_incomplete", E.dir, "some pins could not be removed: %s", strerror(-r));
	}
	*reply = json_pack("{s:b, s:o, s:s}", "unloaded", 1, "removed", removed, "bpffs_dir", E.dir);
	return 0;
}

#if VIGIL_TEST_HOOKS
/* The address after a (big endian, len bytes). */
static void addr_next(uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++a[i])
			break;
}

/* enforce.test_learn {tenant, rule, addr, ttl_ms, count}: COUNT consecutive addresses from ADDR, as the forwarder learns them. */
static int ctl_test_learn(struct vg_daemon *d, json_t *req, json_t **reply, struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	const char *tname = json_string_value(json_object_get(req, "tenant"));
	const char *astr = json_string_value(json_object_get(req, "addr"));
	json_int_t rule = json_integer_value(json_object_get(req, "rule"));
	json_int_t ttl = json_integer_value(json_object_get(req, "ttl_ms"));
	json_t *jc = json_object_get(req, "count");
	json_int_t count = jc ? json_integer_value(jc) : 1, done;
	const struct vg_tenant *t = b && tname ? vg_bundle_tenant_by_name(b, tname) : NULL;
	uint64_t expires;
	uint8_t a[16];
	int family, r = 0;

	if (!t || !astr || rule <= 0 || rule > UINT32_MAX || ttl <= 0 || count < 1 || count > 10000000)
		return vg_err_set(err, EINVAL, "bad_request", NULL,
				  "enforce.test_learn needs a tenant of the policy, rule, addr, ttl_ms > 0, count >= 1");
	family = strchr(astr, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, astr, a) != 1)
		return vg_err_set(err, EINVAL, "bad_request", astr, "not an IPv4 or IPv6 address");
	expires = now_monotonic_ns() + (uint64_t)ttl * 1000000ull;
	for (done = 0; done < count; done++) {
		if ((r = vg_enforce_dns_learn(t->id, (uint32_t)rule, family, a, expires, err)) < 0)
			return r;
		addr_next(a, family == AF_INET ? 4 : 16);
	}
	*reply = json_pack("{s:I}", "learned", done);
	return 0;
}

/* "127.0.0.1:5353" or "[::1]:5353" into a (family set), 0 or -EINVAL */
static int parse_fwd_addr(const char *s, struct sockaddr_in *v4, struct sockaddr_in6 *v6)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon || (hl = (size_t)(colon - s)) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (v4 && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)atoi(colon + 1));
		return 0;
	}
	if (v6 && hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
			v6->sin6_family = AF_INET6;
			v6->sin6_port = htons((uint16_t)atoi(colon + 1));
			return 0;
		}
	}
	return -EINVAL;
}

/* enforce.test_forwarders {forwarders: [{tenant, v4: "127.0.0.1:P", v6: "[::1]:P"}]}: the table the forwarder sets. */
static int ctl_test_forwarders(struct vg_daemon *d, json_t *req, json_t **reply, struct vg_err *err)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	json_t *arr = json_object_get(req, "forwarders"), *el;
	struct vg_dns_forwarder_addr *f;
	size_t i, n = json_array_size(arr);
	int r = 0;

	f = calloc(n ? n : 1, sizeof(*f));
	if (!f)
		return vg_err_set(err, ENOMEM, "out_of_memory", NULL, "out of memory");
	json_array_foreach(arr, i, el) {
		const char *tname = json_string_value(json_object_get(el, "tenant"));
		const char *v4 = json_string_value(json_object_get(el, "v4"));
		const char *v6 = json_string_value(json_object_get(el, "v6"));
		const struct vg_tenant *t = b && tname ? vg_bundle_tenant_by_name(b, tname) : NULL;

		if (!t || !v4 || parse_fwd_addr(v4, &f[i].v4, NULL) < 0 || (v6 && parse_fwd_addr(v6, NULL, &f[i].v6) < 0)) {
			r = vg_err_set(err, EINVAL, "bad_request", NULL, "forwarders[%zu]: tenant of the policy, v4, v6", i);
			goto out;
		}
		f[i].tenant = t->id;
	}
	if ((r = vg_enforce_dns_forwarders(f, n, err)) == 0)
		*reply = json_pack("{s:I}", "forwarders", (json_int_t)n);
out:
	free(f);
	return r;
}
#endif

static int enforce_ctl(struct vg_daemon *d, const struct vg_peer *peer, const char *cmd, json_t *req, json_t **reply,
		       struct vg_err *err)
{
#if VIGIL_TEST_HOOKS
	if (!strcmp(cmd, "enforce.test_learn"))
		return ctl_test_learn(d, req, reply, err);
	if (!strcmp(cmd, "enforce.test_forwarders"))
		return ctl_test_forwarders(d, req, reply, err);
#endif
	if (strcmp(cmd, "enforce.explain") && strcmp(cmd, "enforce.unload"))
		return -ENOENT;
	if (E.state == ENF_DISABLED)
		return vg_err_set(err, ENOENT, "enforce_disabled", NULL, "enforcement is disabled (enforce = false)");
	if (!strcmp(cmd, "enforce.unload"))
		return ctl_unload(d, peer, reply, err);
	return ctl_explain(d, req, reply, err);
}

static json_t *counters_json(uint32_t tenant)
{
	int ncpu = libbpf_num_possible_cpus(), fd = tenant ? E.fd[M_COUNTERS] : E.fd[M_HOST_COUNTERS];
	struct vg_enf_counters *per, sum = { 0 };

	if (ncpu <= 0 || fd < 0)
		return NULL;
	per = calloc((size_t)ncpu, sizeof(*per));
	/* the host's are in host_counters (key 0) */
	if (per && bpf_map_lookup_elem(fd, &tenant, per) == 0)
		for (int i = 0; i < ncpu; i++) {
			sum.allowed += per[i].allowed;
			sum.denied += per[i].denied;
			sum.would_deny += per[i].would_deny;
			sum.events_dropped += per[i].events_dropped;
			sum.packets_dropped += per[i].packets_dropped;
		}
	free(per);
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "allowed", (json_int_t)sum.allowed, "denied", (json_int_t)sum.denied,
			 "would_deny", (json_int_t)sum.would_deny, "events_dropped", (json_int_t)sum.events_dropped,
			 "packets_dropped", (json_int_t)sum.packets_dropped);
}

/* Kernel features probed at run time: what is available, and what happens without it. */
static json_t *features_json(void)
{
	bool cut = E.iter_fd[0] >= 0 || E.iter_fd[1] >= 0;

	return json_pack("{s:{s:b, s:s, s:s}, s:{s:b, s:s, s:s}}", "packet_socket_control", "available", E.lsm, "detail",
			 E.lsm ? "BPF LSM socket_create refuses AF_PACKET to tenants that do not allow it" : E.lsm_why,
			 "fallback", E.lsm ? "none needed"
					   : "AF_PACKET sockets of tenants (root or CAP_NET_RAW only) are not refused: a documented gap",
			 "quarantine_flow_cut", "available", cut, "detail",
			 cut ? "a quarantine destroys the tenant's established connections (socket iterators, bpf_sock_destroy)"
			     : E.cut_why,
			 "fallback", cut ? "none needed"
					 : "a quarantined tenant's established connections are not reset: their packets are dropped");
}

/* Each tenant cgroup and its id in the kernel; a missing one is a problem to show, not enforcement. */
static json_t *cgroups_json(json_t *problems)
{
	json_t *arr = json_array();

	for (size_t i = 0; E.compiled && i < E.compiled->ncgroups; i++) {
		const struct vg_enf_cgroup *c = &E.compiled->cgroups[i];

		json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:b}", "path", c->path, "tenant_id",
						     (json_int_t)c->val.tenant, "id", (json_int_t)E.cg_ids[i], "present",
						     E.cg_ids[i] != 0));
		if (E.cg_refused[i])
			json_array_append_new(problems, json_sprintf("tenant cgroup %s is refused (the same cgroup as another tenant's, or not a usable cgroup; vigild's log says why): nothing is enforced there",
								     c->path));
		else if (!E.cg_ids[i])
			json_array_append_new(problems, json_sprintf("tenant cgroup %s does not exist: nothing is enforced there until it is created again",
								     c->path));
	}
	return arr;
}

/* Addresses the tenant holds learned by name, and live ones pushed out by the bounds. */
static json_t *learned_json(uint32_t tenant)
{
	struct vg_dns_learned_stats st;

	vg_enforce_dns_stats(tenant, &st);
	return json_pack("{s:I, s:I}", "addresses", (json_int_t)st.entries, "evictions", (json_int_t)st.evictions);
}

static size_t cgroups_missing(uint32_t tenant)
{
	size_t n = 0;

	for (size_t i = 0; E.compiled && i < E.compiled->ncgroups; i++)
		n += E.compiled->cgroups[i].val.tenant == tenant && !E.cg_ids[i];
	return n;
}

static void enforce_status(struct vg_daemon *d, json_t *st)
{
	const struct vg_bundle *b = vg_daemon_bundle(d);
	json_t *tenants, *problems;

	json_object_set_new(st, "state", json_string(E.state == ENF_ACTIVE ? "enforcing"
						   : E.state == ENF_UNLOADED ? "unloaded"
									       : "disabled"));
	if (E.state != ENF_ACTIVE)
		return;
	problems = json_array();
	json_object_set_new(st, "bpffs_dir", json_string(E.dir));
	json_object_set_new(st, "cgroup_root", json_string(E.cgroot));
	json_object_set_new(st, "adopted", json_boolean(E.adopted));
	json_object_set_new(st, "generation", json_integer(E.gen));
	json_object_set_new(st, "generation_slot", json_integer(VG_ENF_GEN_SLOT(E.gen)));
	json_object_set_new(st, "features", features_json());
	json_object_set_new(st, "quarantine", quarantine_json());
	json_object_set_new(st, "cgroups", cgroups_json(problems));
	if (json_array_size(problems))
		json_object_set_new(st, "state", json_string("degraded"));
	json_object_set_new(st, "problems", problems);
	if (E.compiled)
		json_object_set_new(st, "maps", json_pack("{s:I, s:I, s:I}", "trie_entries", (json_int_t)E.compiled->nentries,
							   "port_intervals", (json_int_t)E.compiled->nranges, "cgroups",
							   (json_int_t)E.compiled->ncgroups));
	json_object_set_new(st, "events", json_pack("{s:I, s:I}", "received", (json_int_t)E.events_received, "audited",
						    (json_int_t)E.events_audited));
	tenants = json_object();
	for (size_t i = 0; b && i < b->ntenants; i++) {
		json_t *c = counters_json(b->tenants[i].id);

		if (c) {
			json_object_set_new(c, "id", json_integer(b->tenants[i].id));
			json_object_set_new(c, "mode", json_string(vg_mode_name(b->tenants[i].mode)));
			json_object_set_new(c, "cgroups_missing", json_integer((json_int_t)cgroups_missing(b->tenants[i].id)));
			connrate_status(c, b->tenants[i].id);
			json_object_set_new(c, "learned", learned_json(b->tenants[i].id));
			json_object_set_new(tenants, b->tenants[i].name, c);
		}
	}
	json_object_set_new(st, "tenants", tenants);
	json_object_set_new(st, "host", counters_json(0));
}

static void enforce_shutdown(struct vg_daemon *d)
{
	/* the pins keep enforcing; only vigild's handles go */
	unwatch_cgroups(d);
	stop_events(d);
	learned_stop(d);
	close_maps();
	vg_enf_compiled_free(E.compiled);
	vg_enf_compiled_free(E.qcompiled);
	E.compiled = NULL;
	E.qcompiled = NULL;
	free(E.cg_ids);
	free(E.cg_refused);
	E.cg_ids = NULL;
	E.cg_refused = NULL;
}

const struct vg_module vg_module_enforce = {
	.name = "enforce",
	.init = enforce_init,
	.prepare = enforce_prepare,
	.commit = enforce_commit,
	.abort = enforce_abort,
	.ctl = enforce_ctl,
	.status = enforce_status,
	.shutdown = enforce_shutdown,
};
