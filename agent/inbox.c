/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inbox: a directory watched with inotify (docs/bundle.md#inbox). A bundle
 * NAME.json is loaded once both NAME.json and NAME.json.sig have landed: moved in
 * (rename) or closed after writing. Names starting with "." are never read, so a
 * writer prepares ".NAME.json" and renames it in. Only regular files are opened
 * (O_NOFOLLOW|O_NONBLOCK, fstat): a FIFO, device or symlink is rejected, never
 * waited on. Every entry is considered; one bundle loads at a time, in name order.
 * Accepted pairs are removed; rejected ones are renamed NAME.json.rejected with the
 * reason in NAME.json.error. NAME.emergency.json is an emergency document (docs/emergency.md):
 * applied at once, before any bundle waiting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <syslog.h>

#include "core.h"
#include "emergency.h"
#include "vigil/emergency.h"
#include "vigil/util.h"

#define LANDED_MAX 4096

static struct {
	char **landed; /* names that were moved in or closed after writing */
	size_t nlanded;
	bool busy;     /* a bundle is in the loader */
	char current[256];
} I;

static ssize_t landed_find(const char *name)
{
	for (size_t i = 0; i < I.nlanded; i++)
		if (!strcmp(I.landed[i], name))
			return (ssize_t)i;
	return -1;
}

static void landed_add(const char *name)
{
	char *s;

	if (landed_find(name) >= 0 || I.nlanded >= LANDED_MAX || !(s = strdup(name)))
		return;
	I.landed[I.nlanded++] = s;
}

static void landed_remove(const char *name)
{
	ssize_t i = landed_find(name);

	if (i < 0)
		return;
	free(I.landed[i]);
	I.landed[i] = I.landed[--I.nlanded];
}

static void set_paths(struct vg_daemon *d, const char *name, char *path, size_t plen, char *spath, size_t slen)
{
	snprintf(path, plen, "%s/%s", d->cfg.inbox_dir, name);
	snprintf(spath, slen, "%s/%s.sig", d->cfg.inbox_dir, name);
}

static void write_error(const char *path, const struct vg_err *err)
{
	char epath[784], rpath[784], msg[1100];

	snprintf(rpath, sizeof(rpath), "%s.rejected", path);
	snprintf(epath, sizeof(epath), "%s.error", path);
	if (rename(path, rpath) < 0)
		unlink(path);
	vg_err_str(err, msg, sizeof(msg));
	strncat(msg, "\n", sizeof(msg) - strlen(msg) - 1);
	vg_write_file_atomic(epath, msg, strlen(msg), vg_file_mode(VG_FILE_PUBLIC));
}

/* the pair is done: applied ones are removed, refused ones moved aside with the reason */
static void done_pair(struct vg_daemon *d, int r, const struct vg_err *err)
{
	char path[768], spath[776], signame[264];

	set_paths(d, I.current, path, sizeof(path), spath, sizeof(spath));
	if (r == 0 || r == -EALREADY)
		unlink(path);
	else
		write_error(path, err);
	unlink(spath);
	snprintf(signame, sizeof(signame), "%s.sig", I.current);
	landed_remove(I.current);
	landed_remove(signame);
	I.busy = false;
}

static void loaded(struct vg_daemon *d, int r, const struct vg_err *err, void *arg)
{
	done_pair(d, r, err);
	vg_inbox_scan(d);
}

static int read_pair(const char *path, const char *spath, uint64_t max, char **bytes, size_t *len, char **sig,
		     size_t *siglen, struct vg_err *err)
{
	int r = vg_read_regular(path, max, bytes, len);

	if (r < 0)
		return vg_err_set(err, -r, r == -EFBIG ? "too_large" : "unreadable", path, "cannot read the document: %s%s",
				  r == -EFBIG ? "larger than the size limit" : strerror(-r),
				  r == -EINVAL ? " (not a regular file)" : "");
	r = vg_read_regular(spath, VG_SIG_MAX_BYTES, sig, siglen);
	if (r < 0) {
		free(*bytes);
		*bytes = NULL;
		return vg_err_set(err, -r, r == -EFBIG ? "signature_malformed" : "unreadable", spath,
				  "cannot read the signature: %s%s",
				  r == -EFBIG ? "larger than 256 KiB" : strerror(-r),
				  r == -EINVAL ? " (not a regular file)" : "");
	}
	return 0;
}

/* NAME.emergency.json: an emergency document (docs/emergency.md), small, applied at once */
static bool is_emergency_name(const char *n)
{
	size_t l = strlen(n);

	return l > 15 && !strcmp(n + l - 15, ".emergency.json");
}

static void submit_emergency(struct vg_daemon *d, const char *path, const char *spath)
{
	_cleanup_free_ char *bytes = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	struct vg_err err = { 0 };
	json_t *reply = NULL;
	int r = read_pair(path, spath, VG_EMERGENCY_MAX_BYTES, &bytes, &len, &sig, &siglen, &err);

	if (r == 0)
		r = vg_emergency_submit(d, bytes, len, sig, siglen, "inbox", &reply, &err);
	json_decref(reply);
	if (r < 0 && r != -EALREADY)
		vg_log(LOG_WARNING, "inbox: %s refused: %s", I.current, err.msg);
	done_pair(d, r, &err);
}

/* hand NAME.json to the loader; false when it was refused before (then it is already moved aside) */
static bool submit(struct vg_daemon *d, const char *name)
{
	char path[768], spath[776], *bytes = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	struct vg_err err = { 0 };

	set_paths(d, name, path, sizeof(path), spath, sizeof(spath));
	snprintf(I.current, sizeof(I.current), "%s", name);
	I.busy = true;
	if (is_emergency_name(name)) {
		submit_emergency(d, path, spath);
		return true;
	}
	if (read_pair(path, spath, d->cfg.max_bundle_bytes, &bytes, &len, &sig, &siglen, &err) == 0 &&
	    vg_policy_submit(d, bytes, len, sig, siglen, "inbox", 0, json_pack("{s:s}", "file", name), loaded, NULL,
			     &err) == 0)
		return true;
	vg_log(LOG_WARNING, "inbox: %s refused: %s", name, err.msg);
	write_error(path, &err);
	unlink(spath);
	I.busy = false;
	return false;
}

static bool is_bundle_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] != '.' && l > 5 && l < 250 && !strcmp(n + l - 5, ".json");
}

/* emergency documents first, then name order */
static int by_name(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	if (is_emergency_name(x) != is_emergency_name(y))
		return is_emergency_name(x) ? -1 : 1;
	return strcmp(x, y);
}

/* the first landed NAME.json whose NAME.json.sig landed too, in name order */
static bool next_ready(char *out, size_t outlen)
{
	char signame[264];
	char **names;
	size_t n = 0;
	bool found = false;

	if (!I.nlanded)
		return false;
	names = malloc(I.nlanded * sizeof(*names));
	if (!names)
		return false;
	for (size_t i = 0; i < I.nlanded; i++)
		if (is_bundle_name(I.landed[i]))
			names[n++] = I.landed[i];
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n && !found; i++) {
		snprintf(signame, sizeof(signame), "%s.sig", names[i]);
		if (landed_find(signame) >= 0) {
			snprintf(out, outlen, "%s", names[i]);
			found = true;
		}
	}
	free(names);
	return found;
}

void vg_inbox_scan(struct vg_daemon *d)
{
	char name[256];

	while (!I.busy && next_ready(name, sizeof(name)))
		if (!submit(d, name)) {
			char signame[264];

			snprintf(signame, sizeof(signame), "%s.sig", name);
			landed_remove(name);
			landed_remove(signame);
		}
}

static void on_inotify(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	while ((len = read(fd, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->len && ev->name[0] != '.' && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
				landed_add(ev->name);
			else if (ev->len && (ev->mask & (IN_DELETE | IN_MOVED_FROM)))
				landed_remove(ev->name);
			p += sizeof(*ev) + ev->len;
		}
	vg_inbox_scan(d);
}

/* at start every entry present counts as landed: nobody is writing into an inbox vigild did not watch */
static void initial_scan(struct vg_daemon *d)
{
	DIR *dir = opendir(d->cfg.inbox_dir);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			landed_add(e->d_name);
	closedir(dir);
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
	I.landed = calloc(LANDED_MAX, sizeof(*I.landed));
	if (!I.landed)
		return -ENOMEM;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, d->cfg.inbox_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0) {
		vg_log(LOG_ERR, "inbox: cannot watch %s: %s (inbox disabled)", d->cfg.inbox_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	d->inbox_fd = fd;
	vg_loop_add_fd(d, fd, EPOLLIN, on_inotify, NULL);
	initial_scan(d);
	vg_inbox_scan(d);
	return 0;
}
