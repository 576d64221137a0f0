/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A socket iterator sees the sockets of the network namespace it was created
 * in, so the iterators run once per namespace where the quarantined tenants
 * have processes: found from their cgroups' cgroup.procs, entered with setns
 * by this thread only, left again before anything else runs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "daemon.h"
#include "enforce_cut.h"
#include "vigil/enforce.h"

/* network namespaces searched per cut; a tenant's processes rarely live in more */
#define MAX_NETNS 256

struct netns_set {
	int fd[MAX_NETNS];
	ino_t ino[MAX_NETNS];
	size_t n;
};

static void add_netns(struct netns_set *ns, const char *path)
{
	struct stat st;
	int fd;

	if (ns->n == MAX_NETNS)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	for (size_t i = 0; i < ns->n; i++)
		if (ns->ino[i] == st.st_ino) {
			close(fd);
			return;
		}
	ns->fd[ns->n] = fd;
	ns->ino[ns->n++] = st.st_ino;
}

/* The namespaces of the processes in dir and its descendant cgroups. */
static void collect_netns(const char *dir, int depth, struct netns_set *ns)
{
	char path[PATH_MAX], line[32];
	struct dirent *de;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			snprintf(path, sizeof(path), "/proc/%ld/ns/net", strtol(line, NULL, 10));
			add_netns(ns, path);
		}
		fclose(f);
	}
	if (depth >= VG_ENF_MAX_CGROUP_DEPTH || !(d = opendir(dir)))
		return;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			collect_netns(path, depth + 1, ns);
		}
	closedir(d);
}

/* Every iterator over the current network namespace; one line per destroyed socket. */
static long run_iterators(const int *iter_fd, size_t niter)
{
	long cut = 0;
	char buf[4096];

	for (size_t i = 0; i < niter; i++) {
		int link, it;
		ssize_t n;

		if (iter_fd[i] < 0)
			continue;
		link = bpf_link_create(iter_fd[i], 0, BPF_TRACE_ITER, NULL);
		if (link < 0) {
			vg_log(LOG_ERR, "enforce: cannot attach the flow-cutting iterator: %s", strerror(errno));
			continue;
		}
		it = bpf_iter_create(link);
		close(link);
		if (it < 0) {
			vg_log(LOG_ERR, "enforce: cannot start the flow-cutting iterator: %s", strerror(errno));
			continue;
		}
		while ((n = read(it, buf, sizeof(buf))) > 0)
			for (ssize_t k = 0; k < n; k++)
				cut += buf[k] == '\n';
		close(it);
	}
	return cut;
}

long vg_enf_cut_flows(const int *iter_fd, size_t niter, const char *const *dirs, size_t ndirs)
{
	struct netns_set ns = { .n = 0 };
	long cut = 0;
	int self;

	/* this thread's namespace comes first and is where it returns to */
	add_netns(&ns, "/proc/thread-self/ns/net");
	if (ns.n != 1)
		return -errno;
	self = ns.fd[0];
	for (size_t i = 0; i < ndirs; i++)
		collect_netns(dirs[i], 0, &ns);
	cut = run_iterators(iter_fd, niter);
	for (size_t i = 1; i < ns.n; i++) {
		if (setns(ns.fd[i], CLONE_NEWNET) < 0)
			continue;
		cut += run_iterators(iter_fd, niter);
		if (setns(self, CLONE_NEWNET) < 0) {
			/* vigild must not go on in a tenant's namespace */
			vg_log(LOG_CRIT, "enforce: cannot return to vigild's network namespace: %s", strerror(errno));
			abort();
		}
	}
	for (size_t i = 0; i < ns.n; i++)
		close(ns.fd[i]);
	return cut;
}
