/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inbox: a directory watched with inotify. A bundle NAME.json is loaded
 * once NAME.json.sig is there too (write the .sig first, or rename both in).
 * Accepted pairs are removed; rejected ones are renamed NAME.json.rejected
 * with the reason in NAME.json.error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <syslog.h>

#include "core.h"
#include "vigil/util.h"

static void process(struct vg_daemon *d, const char *name)
{
	char path[768], spath[776], rpath[784], epath[784], msg[1100];
	char *bytes = NULL, *sig = NULL;
	size_t len, siglen;
	struct vg_err err = { 0 };
	int r;

	snprintf(path, sizeof(path), "%s/%s", d->cfg.inbox_dir, name);
	snprintf(spath, sizeof(spath), "%s.sig", path);
	if (access(spath, F_OK) < 0)
		return; /* wait for the signature */
	r = vg_read_file(path, d->cfg.max_bundle_bytes, &bytes, &len);
	if (r == 0)
		r = vg_read_file(spath, VG_SIG_MAX_BYTES, &sig, &siglen);
	if (r < 0)
		vg_err_set(&err, -r, r == -EFBIG ? "too_large" : "unreadable", path, "cannot read the bundle: %s",
			   strerror(-r));
	else
		r = vg_policy_load(d, bytes, len, sig, siglen, "inbox", 0, json_pack("{s:s}", "file", name), &err);
	free(bytes);
	free(sig);
	if (r == 0 || r == -EALREADY) {
		unlink(path);
		unlink(spath);
		return;
	}
	snprintf(rpath, sizeof(rpath), "%s.rejected", path);
	snprintf(epath, sizeof(epath), "%s.error", path);
	rename(path, rpath);
	unlink(spath);
	vg_err_str(&err, msg, sizeof(msg));
	strncat(msg, "\n", sizeof(msg) - strlen(msg) - 1);
	vg_write_file_atomic(epath, msg, strlen(msg), 0644);
}

static bool is_bundle_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && !strcmp(n + l - 5, ".json");
}

void vg_inbox_scan(struct vg_daemon *d)
{
	DIR *dir = opendir(d->cfg.inbox_dir);
	struct dirent *e;
	char names[64][256];
	int n = 0;

	if (!dir)
		return;
	while ((e = readdir(dir)) && n < 64)
		if (is_bundle_name(e->d_name))
			snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	closedir(dir);
	for (int i = 0; i < n; i++)
		process(d, names[i]);
}

static void on_inotify(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t len;

	while ((len = read(fd, buf, sizeof(buf))) > 0)
		any = true;
	if (any)
		vg_inbox_scan(d);
}

int vg_inbox_init(struct vg_daemon *d)
{
	int fd, r;

	if (!d->cfg.inbox_dir[0])
		return 0;
	if ((r = vg_mkdir_p(d->cfg.inbox_dir, 0700)) < 0) {
		vg_log(LOG_ERR, "inbox: cannot create %s: %s (inbox disabled)", d->cfg.inbox_dir, strerror(-r));
		return r;
	}
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, d->cfg.inbox_dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		vg_log(LOG_ERR, "inbox: cannot watch %s: %s (inbox disabled)", d->cfg.inbox_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	d->inbox_fd = fd;
	vg_loop_add_fd(d, fd, EPOLLIN, on_inotify, NULL);
	vg_inbox_scan(d);
	return 0;
}
