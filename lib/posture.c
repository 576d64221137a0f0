/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Posture collectors and their evaluation (docs/posture.md). Every path is
 * read below o->root so the same code runs on the live host and on fixture
 * trees; every file is read through a bounded buffer or line by line.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil/posture.h"
#include "vigil/util.h"

#define MAX_LINE 1024	     /* longer log lines are skipped, not parsed */
#define MAX_MOUNTS 4096	     /* more mounts than this: disk_encryption is unknown */
#define MAX_DEPTH 16	     /* block device stacking deeper than this: unknown */
#define MAX_SLAVES 64
#define MAX_EVIDENCE_ITEMS 32 /* evidence lists stay readable and bounded */

static const char *const check_names[VG_CHECK__COUNT] = {
	[VG_CHECK_EDR] = "edr",
	[VG_CHECK_DISK_ENCRYPTION] = "disk_encryption",
	[VG_CHECK_PATCH_AGE] = "patch_age",
	[VG_CHECK_SECURE_BOOT] = "secure_boot",
	[VG_CHECK_KERNEL_LOCKDOWN] = "kernel_lockdown",
	[VG_CHECK_KERNEL_TAINT] = "kernel_taint",
};

const char *vg_posture_check_name(enum vg_posture_check_id id)
{
	return (unsigned)id < VG_CHECK__COUNT ? check_names[id] : "?";
}

const char *vg_posture_result_name(enum vg_posture_result r)
{
	switch (r) {
	case VG_POSTURE_PASS: return "pass";
	case VG_POSTURE_FAIL: return "fail";
	default: return "unknown";
	}
}

bool vg_posture_check_informational(enum vg_posture_check_id id)
{
	return id == VG_CHECK_KERNEL_LOCKDOWN || id == VG_CHECK_KERNEL_TAINT;
}

/* ---- helpers ------------------------------------------------------------ */

/* root + "/" + rel; -ENAMETOOLONG when it does not fit */
static int __attribute__((format(printf, 4, 5)))
rpath(const struct vg_posture_opts *o, char *buf, size_t len, const char *fmt, ...)
{
	const char *root = o->root && *o->root ? o->root : "/";
	size_t rl = strlen(root);
	char rel[PATH_MAX];
	va_list ap;
	int n;

	while (rl > 0 && root[rl - 1] == '/')
		rl--;
	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return -ENAMETOOLONG;
	n = snprintf(buf, len, "%.*s/%s", (int)rl, root, rel[0] == '/' ? rel + 1 : rel);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Read at most len-1 bytes, NUL-terminated; returns the byte count or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, len - 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

/* bounded copy that truncates (names and messages; truncation is harmless there) */
static void copy_trunc(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	while (n + 1 < len && src[n])
		n++;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Replace every byte that is not part of valid UTF-8 with '?': paths and names come from the
 * host (a user picks their own directory names) and JSON strings must be valid UTF-8; a
 * truncated message may also end in half a character. */
static void utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = *p < 0x80 ? 1 : (*p >= 0xc2 && *p <= 0xdf) ? 2 : (*p >= 0xe0 && *p <= 0xef) ? 3
			 : (*p >= 0xf0 && *p <= 0xf4) ? 4 : 0;
		bool ok = n > 0;

		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		/* no overlong forms, no surrogates, nothing above U+10FFFF */
		if (ok && n == 3)
			ok = !(p[0] == 0xe0 && p[1] < 0xa0) && !(p[0] == 0xed && p[1] > 0x9f);
		if (ok && n == 4)
			ok = !(p[0] == 0xf0 && p[1] < 0x90) && !(p[0] == 0xf4 && p[1] > 0x8f);
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

/* a JSON string of text from the host, made valid UTF-8 */
static json_t *jstr(const char *s)
{
	char *copy = strdup(s);
	json_t *j;

	if (!copy)
		return NULL;
	utf8_fix(copy);
	j = json_string(copy);
	free(copy);
	return j;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* a sysfs block device name we may put in a path: no '/', not "." or ".." */
static bool safe_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) < 64;
}

static void __attribute__((format(printf, 3, 4)))
check_set(struct vg_posture_check *c, enum vg_posture_result r, const char *fmt, ...)
{
	va_list ap;

	c->result = r;
	va_start(ap, fmt);
	vsnprintf(c->summary, sizeof(c->summary), fmt, ap);
	va_end(ap);
	utf8_fix(c->summary);
}

static void append_bounded(json_t *arr, json_t *item)
{
	if (json_array_size(arr) < MAX_EVIDENCE_ITEMS)
		json_array_append_new(arr, item);
	else
		json_decref(item);
}

/* Calls fn for every line of path up to MAX_LINE bytes; longer lines are skipped whole.
 * Returns 0, or -errno when the file cannot be opened. */
static int for_each_line(const char *path, void (*fn)(const char *line, void *arg), void *arg)
{
	FILE *f = fopen(path, "re");
	char buf[MAX_LINE];
	bool skipping = false;

	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		size_t n = strlen(buf);
		bool complete = n > 0 && buf[n - 1] == '\n';

		if (!skipping && (complete || feof(f))) {
			chomp(buf);
			fn(buf, arg);
		}
		skipping = !complete && !feof(f);
	}
	fclose(f);
	return 0;
}

/* ---- edr ---------------------------------------------------------------- */

/* The configured systemd unit for agent path, from "PATH=UNIT,..."; false when none. */
static bool unit_for(const char *units, const char *path, char *out, size_t len)
{
	size_t pl = strlen(path);

	for (const char *p = units; p && *p;) {
		const char *end = strchr(p, ','), *eq;
		size_t el = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', el);
		if (eq && (size_t)(eq - p) == pl && !strncmp(p, path, pl)) {
			size_t ul = el - pl - 1;

			if (ul >= len)
				return false;
			memcpy(out, eq + 1, ul);
			out[ul] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

int vg_posture_units_validate(const char *units, struct vg_err *err)
{
	for (const char *p = units; p && *p;) {
		const char *end = strchr(p, ','), *eq;
		size_t el = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', el);
		if (!eq || p[0] != '/' || eq == p + 1 || eq + 1 == p + el)
			return vg_err_set(err, EINVAL, "config_invalid", "posture_edr_units",
					  "entry '%.*s' is not PATH=UNIT with an absolute PATH "
					  "(e.g. /opt/edr/agentd=edr-agent.service)", (int)el, p);
		for (const char *u = eq + 1; u < p + el; u++)
			if (!isalnum((unsigned char)*u) && !strchr(":_.@-\\", *u))
				return vg_err_set(err, EINVAL, "config_invalid", "posture_edr_units",
						  "unit name in '%.*s' has the character '%c'; "
						  "use the unit's name as systemctl lists it", (int)el, p, *u);
		p = end ? end + 1 : NULL;
	}
	return 0;
}

/* Is the process in the cgroup systemd made for unit? (exists only while it runs) */
static bool in_unit_cgroup(const struct vg_posture_opts *o, const char *pid, const char *unit,
			   char *cg, size_t cglen)
{
	char path[PATH_MAX], buf[4096];
	size_t ul = strlen(unit);

	cg[0] = '\0';
	if (rpath(o, path, sizeof(path), "proc/%s/cgroup", pid) < 0 || read_small(path, buf, sizeof(buf)) < 0)
		return false;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *cpath = NULL;

		if (!strncmp(line, "0::", 3))
			cpath = line + 3;
		else if (strstr(line, ":name=systemd:"))
			cpath = strstr(line, ":name=systemd:") + 14;
		if (!cpath)
			continue;
		snprintf(cg, cglen, "%s", cpath);
		for (char *s = strstr(cpath, unit); s; s = strstr(s + 1, unit))
			if (s > cpath && s[-1] == '/' && (s[ul] == '\0' || s[ul] == '/'))
				return true;
	}
	return false;
}

/* Checks a process whose exe is the agent's path; fills why and returns false when rejected. */
static bool vet_agent(const struct vg_posture_opts *o, const char *pid, const char *agent, json_t *hit,
		      char *why, size_t wlen)
{
	char path[PATH_MAX], buf[4096], unit[128], cg[512];
	struct stat exe_st, file_st;
	unsigned ruid = 1, euid = 1;
	char *uid;

	if (rpath(o, path, sizeof(path), "proc/%s/status", pid) < 0 || read_small(path, buf, sizeof(buf)) < 0 ||
	    !(uid = strstr(buf, "\nUid:")) || sscanf(uid + 5, "%u %u", &ruid, &euid) != 2) {
		snprintf(why, wlen, "cannot read the process owner from /proc/%s/status", pid);
		return false;
	}
	if (ruid != 0 || euid != 0) {
		snprintf(why, wlen, "runs as uid %u (effective %u), not root", ruid, euid);
		return false;
	}
	if (rpath(o, path, sizeof(path), "%s", agent) < 0 || stat(path, &file_st) < 0) {
		snprintf(why, wlen, "cannot stat %s: %s", agent, strerror(errno));
		return false;
	}
	if (file_st.st_uid != 0) {
		snprintf(why, wlen, "%s is owned by uid %u, not root", agent, (unsigned)file_st.st_uid);
		return false;
	}
	if ((file_st.st_mode & S_IWOTH) || ((file_st.st_mode & S_IWGRP) && file_st.st_gid != 0)) {
		snprintf(why, wlen, "%s is writable by others (mode %04o)", agent, (unsigned)(file_st.st_mode & 07777));
		return false;
	}
	/* the running image must be the file at the path, not one swapped away since */
	if (rpath(o, path, sizeof(path), "proc/%s/exe", pid) < 0 || stat(path, &exe_st) < 0 ||
	    exe_st.st_dev != file_st.st_dev || exe_st.st_ino != file_st.st_ino) {
		snprintf(why, wlen, "the running executable is not the file now at %s", agent);
		return false;
	}
	if (unit_for(o->units, agent, unit, sizeof(unit))) {
		if (!in_unit_cgroup(o, pid, unit, cg, sizeof(cg))) {
			snprintf(why, wlen, "not running in systemd unit %s (cgroup %.200s)", unit, cg[0] ? cg : "unreadable");
			return false;
		}
		json_object_set_new(hit, "unit", jstr(unit));
		json_object_set_new(hit, "cgroup", jstr(cg));
	}
	return true;
}

/* readlink proc/PID/exe, mapped into the root prefix; *deleted when the kernel says so */
static int read_exe(const struct vg_posture_opts *o, const char *pid, char *exe, size_t len, bool *deleted)
{
	char path[PATH_MAX], tgt[PATH_MAX];
	const char *root = o->root && *o->root ? o->root : "/";
	size_t rl = strlen(root), n;
	ssize_t r;

	while (rl > 0 && root[rl - 1] == '/')
		rl--;
	if (rpath(o, path, sizeof(path), "proc/%s/exe", pid) < 0)
		return -ENAMETOOLONG;
	r = readlink(path, tgt, sizeof(tgt) - 1);
	if (r < 0)
		return -errno;
	tgt[r] = '\0';
	n = (size_t)r;
	*deleted = n > 10 && !strcmp(tgt + n - 10, " (deleted)");
	if (*deleted)
		tgt[n - 10] = '\0';
	/* a fixture tree links into itself; the host sees those paths without the prefix */
	if (rl > 0 && !strncmp(tgt, root, rl) && tgt[rl] == '/')
		memmove(tgt, tgt + rl, strlen(tgt + rl) + 1);
	if (strlen(tgt) >= len)
		return -ENAMETOOLONG;
	strcpy(exe, tgt);
	return 0;
}

static void collect_edr(const struct vg_posture_opts *o, struct vg_posture_check *c)
{
	json_t *ev = c->evidence, *agents = json_array(), *rejected = json_array();
	char path[PATH_MAX], exe[PATH_MAX], why[512], first_why[560] = "";
	struct dirent *de;
	DIR *dir;

	json_object_set_new(ev, "agents", agents);
	json_object_set_new(ev, "rejected", rejected);
	for (size_t i = 0; i < o->nagents; i++)
		json_array_append_new(agents, jstr(o->agents[i]));
	if (!o->nagents) {
		check_set(c, VG_POSTURE_UNKNOWN, "no EDR agent is configured (bundle elevation.posture.<env>.edr_agents)");
		return;
	}
	if (rpath(o, path, sizeof(path), "proc") < 0 || !(dir = opendir(path))) {
		check_set(c, VG_POSTURE_UNKNOWN, "cannot list processes in %s: %s", path, strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		bool deleted = false;

		if (!all_digits(de->d_name) || read_exe(o, de->d_name, exe, sizeof(exe), &deleted) < 0)
			continue;
		for (size_t i = 0; i < o->nagents; i++) {
			const char *agent = o->agents[i];
			bool same_path = !strcmp(exe, agent);
			json_t *hit;

			if (!same_path && strcmp(base_name(exe), base_name(agent)))
				continue;
			hit = json_pack("{s:I, s:o}", "pid", (json_int_t)strtoll(de->d_name, NULL, 10), "exe", jstr(exe));
			if (!same_path)
				snprintf(why, sizeof(why), "named like %.200s but runs %.200s", agent, exe);
			else if (deleted)
				snprintf(why, sizeof(why), "its executable was deleted or replaced since it started");
			else if (vet_agent(o, de->d_name, agent, hit, why, sizeof(why))) {
				json_object_set_new(hit, "agent", jstr(agent));
				json_object_set_new(ev, "running", hit);
				check_set(c, VG_POSTURE_PASS, "%s is running as pid %s", agent, de->d_name);
				closedir(dir);
				return;
			}
			json_object_set_new(hit, "reason", jstr(why));
			append_bounded(rejected, hit);
			if (!first_why[0])
				snprintf(first_why, sizeof(first_why), "; rejected pid %.16s: %s", de->d_name, why);
		}
	}
	closedir(dir);
	check_set(c, VG_POSTURE_FAIL, "none of the %zu configured EDR agents is running%s", o->nagents, first_why);
}

/* ---- disk_encryption ---------------------------------------------------- */

struct mount {
	unsigned maj, min;
	char point[512];
	char fstype[64];
	char source[512];
};

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
		    r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static int copy_field(char *dst, size_t len, const char *src)
{
	if (strlen(src) >= len)
		return -ENAMETOOLONG;
	strcpy(dst, src);
	unescape_octal(dst);
	return 0;
}

/* "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue" */
static int parse_mountinfo_line(char *line, struct mount *m)
{
	char *f[64], *save = NULL;
	int n = 0, dash = -1;

	for (char *t = strtok_r(line, " ", &save); t && n < 64; t = strtok_r(NULL, " ", &save)) {
		if (!strcmp(t, "-") && dash < 0 && n >= 6)
			dash = n;
		f[n++] = t;
	}
	if (dash < 0 || n < dash + 3 || sscanf(f[2], "%u:%u", &m->maj, &m->min) != 2)
		return -EINVAL;
	if (copy_field(m->point, sizeof(m->point), f[4]) || copy_field(m->fstype, sizeof(m->fstype), f[dash + 1]) ||
	    copy_field(m->source, sizeof(m->source), f[dash + 2]))
		return -EINVAL;
	return 0;
}

struct mount_list {
	struct mount *m;
	size_t n, cap;
	bool bad, overflow;
};

static void mount_line(const char *line, void *arg)
{
	struct mount_list *l = arg;
	char copy[MAX_LINE];

	if (l->n >= MAX_MOUNTS) {
		l->overflow = true;
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct mount *nm = realloc(l->m, cap * sizeof(*nm));

		if (!nm) {
			l->bad = true;
			return;
		}
		l->m = nm;
		l->cap = cap;
	}
	copy_trunc(copy, sizeof(copy), line);
	if (parse_mountinfo_line(copy, &l->m[l->n]) == 0)
		l->n++;
	else
		l->bad = true;
}

/* Resolve a "/dev/..." mount source through its symlinks to a sysfs block name. */
static int dev_source_name(const struct vg_posture_opts *o, const char *source, char *name, size_t len)
{
	char cur[PATH_MAX], path[PATH_MAX], tgt[PATH_MAX], dm[128];
	struct dirent *de;
	struct stat st;
	DIR *dir;

	copy_trunc(cur, sizeof(cur), source);
	for (int hop = 0; hop < 8; hop++) {
		ssize_t r;

		if (rpath(o, path, sizeof(path), "%s", cur) < 0)
			return -ENAMETOOLONG;
		r = readlink(path, tgt, sizeof(tgt) - 1);
		if (r < 0)
			break;
		tgt[r] = '\0';
		if (tgt[0] == '/') {
			copy_trunc(cur, sizeof(cur), tgt);
		} else {
			char *slash = strrchr(cur, '/');
			int dl = slash ? (int)(slash - cur) : 0;

			if (snprintf(path, sizeof(path), "%.*s/%s", dl, cur, tgt) >= (int)sizeof(path))
				return -ENAMETOOLONG;
			copy_trunc(cur, sizeof(cur), path);
		}
	}
	if (safe_name(base_name(cur)) && rpath(o, path, sizeof(path), "sys/class/block/%s", base_name(cur)) == 0 &&
	    stat(path, &st) == 0) {
		copy_trunc(name, len, base_name(cur));
		return 0;
	}
	/* /dev/mapper/NAME without udev's symlinks: find the dm device by its name */
	if (strncmp(cur, "/dev/mapper/", 12) || rpath(o, path, sizeof(path), "sys/class/block") < 0 ||
	    !(dir = opendir(path)))
		return -ENOENT;
	while ((de = readdir(dir))) {
		if (!safe_name(de->d_name) ||
		    rpath(o, path, sizeof(path), "sys/class/block/%s/dm/name", de->d_name) < 0 ||
		    read_small(path, dm, sizeof(dm)) < 0)
			continue;
		chomp(dm);
		if (!strcmp(dm, cur + 12)) {
			copy_trunc(name, len, de->d_name);
			closedir(dir);
			return 0;
		}
	}
	closedir(dir);
	return -ENOENT;
}

/* sysfs name of the block device behind a mount; -ENOENT when it is not block-backed */
static int mount_block_name(const struct vg_posture_opts *o, const struct mount *m, char *name, size_t len)
{
	char path[PATH_MAX], tgt[PATH_MAX];
	ssize_t r;

	if (m->maj == 0) /* anonymous device: tmpfs, proc, overlay... or btrfs, named by its source */
		return strncmp(m->source, "/dev/", 5) ? -ENOENT : (dev_source_name(o, m->source, name, len) ? -EIO : 0);
	if (rpath(o, path, sizeof(path), "sys/dev/block/%u:%u", m->maj, m->min) < 0)
		return -EIO;
	r = readlink(path, tgt, sizeof(tgt) - 1);
	if (r < 0)
		return -EIO;
	tgt[r] = '\0';
	if (!safe_name(base_name(tgt)))
		return -EIO;
	copy_trunc(name, len, base_name(tgt));
	return 0;
}

enum enc { ENC_NO = 0, ENC_YES = 1, ENC_UNKNOWN = 2 };

struct walk {
	const struct vg_posture_opts *o;
	const struct mount_list *mounts;
	char decided_by[64]; /* the dm-crypt device, or the first plain one */
};

static enum enc walk_device(struct walk *w, const char *name, int depth);

/* the mount holding path: longest mount point that prefixes it */
static const struct mount *mount_of(const struct mount_list *l, const char *path)
{
	const struct mount *best = NULL;
	size_t bl = 0;

	for (size_t i = 0; i < l->n; i++) {
		size_t pl = strlen(l->m[i].point);

		if (pl == 1 && l->m[i].point[0] == '/')
			pl = 0;
		if (!strncmp(path, l->m[i].point, pl) && (path[pl] == '/' || path[pl] == '\0') && (!best || pl >= bl)) {
			best = &l->m[i];
			bl = pl;
		}
	}
	return best;
}

/* A loop device is as encrypted as the filesystem its backing file lives on. */
static enum enc walk_loop(struct walk *w, const char *backing, int depth)
{
	const struct mount *m = mount_of(w->mounts, backing);
	char name[64];

	if (!m || mount_block_name(w->o, m, name, sizeof(name)) < 0) {
		snprintf(w->decided_by, sizeof(w->decided_by), "%.63s", backing);
		return m ? ENC_NO : ENC_UNKNOWN;
	}
	return walk_device(w, name, depth + 1);
}

static bool crypt_uuid(const char *uuid)
{
	/* verity, integrity and LUKS2 integrity sub-devices carry CRYPT- too but do not encrypt */
	return !strncmp(uuid, "CRYPT-", 6) && strncmp(uuid, "CRYPT-VERITY-", 13) &&
	       strncmp(uuid, "CRYPT-INTEGRITY-", 16) && strncmp(uuid, "CRYPT-SUBDEV-", 13);
}

static enum enc walk_device(struct walk *w, const char *name, int depth)
{
	char path[PATH_MAX], buf[PATH_MAX];
	enum enc all = ENC_YES;
	struct dirent *de;
	struct stat st;
	size_t nslaves = 0;
	DIR *dir;

	if (depth > MAX_DEPTH || !safe_name(name) || rpath(w->o, path, sizeof(path), "sys/class/block/%s", name) < 0 ||
	    stat(path, &st) < 0) {
		copy_trunc(w->decided_by, sizeof(w->decided_by), name);
		return ENC_UNKNOWN;
	}
	if (rpath(w->o, path, sizeof(path), "sys/class/block/%s/dm/uuid", name) == 0 &&
	    read_small(path, buf, sizeof(buf)) > 0 && crypt_uuid(buf)) {
		copy_trunc(w->decided_by, sizeof(w->decided_by), name);
		return ENC_YES;
	}
	if (rpath(w->o, path, sizeof(path), "sys/class/block/%s/loop/backing_file", name) == 0 &&
	    read_small(path, buf, sizeof(buf)) > 0) {
		chomp(buf);
		return walk_loop(w, buf, depth);
	}
	if (rpath(w->o, path, sizeof(path), "sys/class/block/%s/slaves", name) < 0 || !(dir = opendir(path))) {
		copy_trunc(w->decided_by, sizeof(w->decided_by), name);
		return ENC_NO; /* a partition: nothing below it */
	}
	/* LVM or md over several devices: encrypted only if every one of them is */
	while ((de = readdir(dir)) && all != ENC_NO) {
		enum enc e;

		if (de->d_name[0] == '.')
			continue;
		if (++nslaves > MAX_SLAVES) {
			all = ENC_UNKNOWN;
			break;
		}
		e = walk_device(w, de->d_name, depth + 1);
		if (e == ENC_NO || (e == ENC_UNKNOWN && all == ENC_YES))
			all = e;
	}
	closedir(dir);
	if (nslaves == 0) {
		copy_trunc(w->decided_by, sizeof(w->decided_by), name);
		return ENC_NO;
	}
	return all;
}

static bool exempt(const struct vg_posture_opts *o, const char *point)
{
	for (size_t i = 0; i < o->nexempt; i++)
		if (!strcmp(o->exempt[i], point))
			return true;
	return false;
}

struct disk_tally {
	size_t njudged, nplain, nunknown;
	char first_plain[768], first_unknown[768];
};

/* one judged device: its evidence entry and its place in the summary */
static void tally(struct disk_tally *t, json_t *list, const char *what, const char *fstype, const char *device,
		  enum enc e, const char *decided_by)
{
	append_bounded(list, json_pack("{s:o, s:o, s:o, s:o, s:o}", "mount", jstr(what), "fstype", jstr(fstype),
				       "device", jstr(device), "encrypted",
				       e == ENC_UNKNOWN ? json_null() : json_boolean(e == ENC_YES), "decided_by",
				       jstr(decided_by)));
	t->njudged++;
	if (e == ENC_NO && !t->nplain++)
		snprintf(t->first_plain, sizeof(t->first_plain), "%s (%s on %s) is not on dm-crypt", what, fstype,
			 decided_by);
	if (e == ENC_UNKNOWN && !t->nunknown++)
		snprintf(t->first_unknown, sizeof(t->first_unknown), "cannot follow %s (%s) to its disk", what,
			 decided_by);
}

/* Swap holds memory pages; on a plain disk it leaks what encryption protects elsewhere. */
static void judge_swap(const struct vg_posture_opts *o, struct walk *w, struct disk_tally *t, json_t *list,
		       json_t *exempted)
{
	char path[PATH_MAX], buf[16384], file[512], type[32], name[64];
	char *save = NULL;

	/* no swap information: nothing to judge */
	if (rpath(o, path, sizeof(path), "proc/swaps") < 0 || read_small(path, buf, sizeof(buf)) < 0)
		return;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const struct mount *m = NULL;
		enum enc e;
		int r;

		/* the header ("Filename Type ...") does not start with '/' */
		if (sscanf(line, "%511s %31s", file, type) != 2 || file[0] != '/')
			continue;
		unescape_octal(file);
		if (exempt(o, file)) {
			append_bounded(exempted, jstr(file));
			continue;
		}
		if (!strcmp(type, "partition")) {
			r = dev_source_name(o, file, name, sizeof(name));
			if (r == 0 && !strncmp(name, "zram", 4))
				continue; /* compressed RAM: never reaches a disk */
		} else {
			/* a swap file is as encrypted as the filesystem holding it */
			m = mount_of(w->mounts, file);
			r = m ? mount_block_name(o, m, name, sizeof(name)) : -ENOENT;
		}
		e = r < 0 ? ENC_UNKNOWN : walk_device(w, name, 0);
		if (r < 0)
			copy_trunc(w->decided_by, sizeof(w->decided_by), m ? m->source : file);
		tally(t, list, file, "swap", r < 0 ? file : name, e, w->decided_by);
	}
}

static void collect_disk(const struct vg_posture_opts *o, struct vg_posture_check *c)
{
	json_t *ev = c->evidence, *mounts = json_array(), *swap = json_array(), *exempted = json_array();
	struct mount_list l = { 0 };
	struct walk w = { .o = o, .mounts = &l };
	struct disk_tally t = { 0 };
	char path[PATH_MAX];
	size_t nmounts;
	int r;

	json_object_set_new(ev, "mounts", mounts);
	json_object_set_new(ev, "swap", swap);
	json_object_set_new(ev, "exempt", exempted);
	r = rpath(o, path, sizeof(path), "proc/self/mountinfo");
	if (r == 0)
		r = for_each_line(path, mount_line, &l);
	if (r < 0) {
		check_set(c, VG_POSTURE_UNKNOWN, "cannot read %s: %s", path, strerror(-r));
		goto out;
	}
	if (l.overflow || (l.bad && !l.n)) {
		check_set(c, VG_POSTURE_UNKNOWN, "%s is %s", path, l.overflow ? "too long" : "unreadable");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct mount *m = &l.m[i];
		char name[64];
		enum enc e;

		r = mount_block_name(o, m, name, sizeof(name));
		if (r == -ENOENT)
			continue;
		if (exempt(o, m->point)) {
			append_bounded(exempted, jstr(m->point));
			continue;
		}
		e = r < 0 ? ENC_UNKNOWN : walk_device(&w, name, 0);
		if (r < 0)
			copy_trunc(w.decided_by, sizeof(w.decided_by), m->source);
		tally(&t, mounts, m->point, m->fstype, r < 0 ? m->source : name, e, w.decided_by);
	}
	nmounts = t.njudged;
	judge_swap(o, &w, &t, swap, exempted);
	if (t.nplain)
		check_set(c, VG_POSTURE_FAIL, "%s%s", t.first_plain, t.nplain > 1 ? " (and others)" : "");
	else if (t.nunknown)
		check_set(c, VG_POSTURE_UNKNOWN, "%s", t.first_unknown);
	else if (!nmounts)
		check_set(c, VG_POSTURE_UNKNOWN, "no block-backed filesystem is mounted");
	else
		check_set(c, VG_POSTURE_PASS, "all %zu block-backed filesystems%s are on dm-crypt", nmounts,
			  t.njudged > nmounts ? " and swap areas" : "");
out:
	free(l.m);
}

/* ---- patch_age ---------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "YYYY-MM-DD" sep "HH:MM:SS" into tm; returns the length consumed or -EINVAL */
static int parse_datetime(const char *s, char sep, bool spaces, struct tm *tm)
{
	int y, mo, d, h, mi, se, i = 10;

	memset(tm, 0, sizeof(*tm));
	if (strnlen(s, 11) < 11 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || s[10] != sep)
		return -EINVAL;
	while (spaces && s[i + 1] == ' ')
		i++;
	s += i + 1;
	if (strnlen(s, 8) < 8 || digits(s, 2, &h) || s[2] != ':' || digits(s + 3, 2, &mi) || s[5] != ':' ||
	    digits(s + 6, 2, &se))
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -EINVAL;
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = se;
	tm->tm_isdst = -1;
	return i + 1 + 8;
}

/* dpkg.log: "2026-11-23 09:19:48 upgrade libdpkg-perl:all 1.21.22 1.21.23", local time */
int vg_posture_dpkg_line(const char *line, time_t *t)
{
	struct tm tm;
	int n = parse_datetime(line, ' ', false, &tm);

	if (n < 0 || strncmp(line + n, " upgrade ", 9))
		return 0;
	*t = mktime(&tm);
	return *t == (time_t)-1 ? 0 : 1;
}

/* history.log: "Start-Date: 2026-11-23  09:14:55" opens a run, "Upgrade: ..." says it upgraded */
int vg_posture_apt_history_line(const char *line, time_t *start, time_t *t)
{
	struct tm tm;

	if (!strncmp(line, "Start-Date: ", 12)) {
		*start = parse_datetime(line + 12, ' ', true, &tm) < 0 ? 0 : mktime(&tm);
		if (*start == (time_t)-1)
			*start = 0;
		return 0;
	}
	if (strncmp(line, "Upgrade: ", 9) || *start <= 0)
		return 0;
	*t = *start;
	return 1;
}

/* dnf.rpm.log: "2026-11-20T10:11:12+0000 SUBDEBUG Upgrade: bash-5.1.8-6.el9.x86_64" */
int vg_posture_dnf_line(const char *line, time_t *t)
{
	struct tm tm;
	int n = parse_datetime(line, 'T', false, &tm), oh, om, off = 0;
	const char *p;

	if (n < 0)
		return 0;
	p = line + n;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		if (digits(p + 1, 2, &oh))
			return 0;
		if (p[3] == ':' ? digits(p + 4, 2, &om) : digits(p + 3, 2, &om))
			return 0;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += p[3] == ':' ? 6 : 5;
	} else {
		return 0;
	}
	if (*p != ' ' || !strstr(p, " Upgrade: "))
		return 0;
	*t = timegm(&tm) - off;
	return 1;
}

struct upgrade_scan {
	int (*line)(const char *line, time_t *t);
	time_t start; /* apt history: the current run's Start-Date */
	time_t newest;
	bool apt;
};

static void upgrade_line(const char *line, void *arg)
{
	struct upgrade_scan *s = arg;
	time_t t;

	if (s->apt ? vg_posture_apt_history_line(line, &s->start, &t) : s->line(line, &t))
		if (t > s->newest)
			s->newest = t;
}

/* Newest upgrade recorded in one log; 0 when none; files that do not exist are skipped. */
static time_t scan_log(const struct vg_posture_opts *o, const char *rel, bool apt,
		       int (*fn)(const char *, time_t *), json_t *sources)
{
	struct upgrade_scan s = { .line = fn, .apt = apt };
	char path[PATH_MAX];

	if (rpath(o, path, sizeof(path), "%s", rel) < 0 || for_each_line(path, upgrade_line, &s) < 0)
		return 0;
	json_array_append_new(sources, json_string(rel));
	return s.newest;
}

/* Ubuntu's update-notifier: "N updates can be applied immediately.\nM of these updates are
 * standard security updates." (older: "M updates are security updates."); -1 without data */
static int pending_security(const struct vg_posture_opts *o)
{
	char path[PATH_MAX], buf[4096];
	int n = 0;

	if (rpath(o, path, sizeof(path), "var/lib/update-notifier/updates-available") < 0 ||
	    read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ')
			line++;
		if (strstr(line, "security update") && isdigit((unsigned char)*line))
			n = atoi(line);
	}
	return n;
}

static bool exists(const struct vg_posture_opts *o, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	return rpath(o, path, sizeof(path), "%s", rel) == 0 && stat(path, &st) == 0;
}

static void collect_patch(const struct vg_posture_opts *o, struct vg_posture_check *c, time_t *last)
{
	static const char *const dpkg_logs[] = { "var/log/dpkg.log", "var/log/dpkg.log.1" };
	static const char *const apt_logs[] = { "var/log/apt/history.log", "var/log/apt/history.log.1" };
	static const char *const dnf_logs[] = { "var/log/dnf.rpm.log", "var/log/dnf.rpm.log.1" };
	uint32_t max_days = o->patch_max_age_days ? o->patch_max_age_days : VG_POSTURE_DEFAULT_PATCH_DAYS;
	json_t *ev = c->evidence, *sources = json_array();
	bool dpkg = exists(o, "var/lib/dpkg/status");
	bool rpm = exists(o, "var/lib/rpm") || exists(o, "usr/lib/sysimage/rpm");
	char path[PATH_MAX], when[32];
	time_t newest = 0, t;
	struct stat st;
	int pending;
	long days;

	*last = 0;
	json_object_set_new(ev, "package_manager", json_string(dpkg ? "dpkg" : rpm ? "rpm" : "none"));
	json_object_set_new(ev, "sources", sources);
	if (dpkg) {
		for (size_t i = 0; i < VG_ARRAY_SIZE(dpkg_logs); i++)
			if ((t = scan_log(o, dpkg_logs[i], false, vg_posture_dpkg_line, sources)) > newest)
				newest = t;
		for (size_t i = 0; i < VG_ARRAY_SIZE(apt_logs); i++)
			if ((t = scan_log(o, apt_logs[i], true, NULL, sources)) > newest)
				newest = t;
		/* unattended-upgrades touches this after each successful run */
		if (rpath(o, path, sizeof(path), "var/lib/apt/periodic/upgrade-stamp") == 0 && stat(path, &st) == 0) {
			json_array_append_new(sources, json_string("var/lib/apt/periodic/upgrade-stamp"));
			if (st.st_mtime > newest)
				newest = st.st_mtime;
		}
	} else if (rpm) {
		for (size_t i = 0; i < VG_ARRAY_SIZE(dnf_logs); i++)
			if ((t = scan_log(o, dnf_logs[i], false, vg_posture_dnf_line, sources)) > newest)
				newest = t;
	} else {
		check_set(c, VG_POSTURE_UNKNOWN, "no dpkg or rpm database below %s", o->root ? o->root : "/");
		return;
	}
	pending = pending_security(o);
	json_object_set_new(ev, "pending_security_updates", pending < 0 ? json_null() : json_integer(pending));
	json_object_set_new(ev, "max_age_days", json_integer(max_days));
	if (!newest) {
		check_set(c, VG_POSTURE_UNKNOWN, "no package upgrade is recorded in the %s logs", dpkg ? "dpkg/apt" : "dnf");
		return;
	}
	*last = newest;
	days = newest >= o->now ? 0 : (long)((o->now - newest) / 86400);
	vg_time_format(newest, when);
	json_object_set_new(ev, "last_upgrade", json_string(when));
	json_object_set_new(ev, "age_days", json_integer(days));
	check_set(c, days > (long)max_days ? VG_POSTURE_FAIL : VG_POSTURE_PASS,
		  "last package upgrade %s, %ld days ago (maximum %u)%s", when, days, max_days,
		  pending > 0 ? "; security updates are pending" : "");
}

/* ---- secure_boot, kernel_lockdown, kernel_taint ------------------------- */

#define EFI_GLOBAL_GUID "8be4df61-93ca-11d2-aa0d-00e098032b8c"

static void collect_secure_boot(const struct vg_posture_opts *o, struct vg_posture_check *c)
{
	char path[PATH_MAX], var[64];
	ssize_t n;
	DIR *dir;
	struct dirent *de;
	bool any = false;

	if (!exists(o, "sys/firmware/efi")) {
		json_object_set_new(c->evidence, "efi", json_false());
		check_set(c, VG_POSTURE_UNKNOWN, "not booted through EFI: Secure Boot does not apply");
		return;
	}
	json_object_set_new(c->evidence, "efi", json_true());
	if (rpath(o, path, sizeof(path), "sys/firmware/efi/efivars") < 0 || !(dir = opendir(path))) {
		check_set(c, VG_POSTURE_UNKNOWN, "efivarfs is not mounted at /sys/firmware/efi/efivars");
		return;
	}
	while (!any && (de = readdir(dir)))
		any = de->d_name[0] != '.';
	closedir(dir);
	if (!any) {
		check_set(c, VG_POSTURE_UNKNOWN, "efivarfs is not mounted at /sys/firmware/efi/efivars");
		return;
	}
	if (rpath(o, path, sizeof(path), "sys/firmware/efi/efivars/SecureBoot-" EFI_GLOBAL_GUID) < 0)
		return;
	n = read_small(path, var, sizeof(var));
	if (n == -ENOENT) {
		check_set(c, VG_POSTURE_FAIL, "the firmware has no SecureBoot variable (no Secure Boot support)");
		return;
	}
	/* efivarfs: 4 bytes of attributes, then the one-byte value */
	if (n != 5) {
		check_set(c, VG_POSTURE_UNKNOWN, "SecureBoot variable unreadable or malformed (%zd bytes)", n);
		return;
	}
	json_object_set_new(c->evidence, "SecureBoot", json_integer((unsigned char)var[4]));
	if (var[4] == 1)
		check_set(c, VG_POSTURE_PASS, "Secure Boot is enabled");
	else
		check_set(c, VG_POSTURE_FAIL, "Secure Boot is disabled (SecureBoot=%u)", (unsigned char)var[4]);
}

static void collect_lockdown(const struct vg_posture_opts *o, struct vg_posture_check *c)
{
	char path[PATH_MAX], buf[256], mode[32];
	char *open_br, *close_br;

	if (rpath(o, path, sizeof(path), "sys/kernel/security/lockdown") < 0 || read_small(path, buf, sizeof(buf)) < 0) {
		check_set(c, VG_POSTURE_UNKNOWN, "the lockdown LSM is not available (no /sys/kernel/security/lockdown)");
		return;
	}
	open_br = strchr(buf, '[');
	close_br = open_br ? strchr(open_br, ']') : NULL;
	if (!close_br || close_br - open_br - 1 >= (long)sizeof(mode)) {
		check_set(c, VG_POSTURE_UNKNOWN, "cannot parse /sys/kernel/security/lockdown");
		return;
	}
	snprintf(mode, sizeof(mode), "%.*s", (int)(close_br - open_br - 1), open_br + 1);
	json_object_set_new(c->evidence, "mode", jstr(mode));
	check_set(c, strcmp(mode, "none") ? VG_POSTURE_PASS : VG_POSTURE_FAIL, "kernel lockdown: %s", mode);
}

static void collect_taint(const struct vg_posture_opts *o, struct vg_posture_check *c)
{
	/* Documentation/admin-guide/tainted-kernels.rst, bit order */
	static const char letters[] = "PFSRMBUDAWCIOELKXTNJ";
	char path[PATH_MAX], buf[64], flags[sizeof(letters)] = "", *end;
	unsigned long long v;
	size_t nf = 0;

	if (rpath(o, path, sizeof(path), "proc/sys/kernel/tainted") < 0 || read_small(path, buf, sizeof(buf)) < 0) {
		check_set(c, VG_POSTURE_UNKNOWN, "cannot read /proc/sys/kernel/tainted");
		return;
	}
	chomp(buf);
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || *end) {
		check_set(c, VG_POSTURE_UNKNOWN, "cannot parse /proc/sys/kernel/tainted");
		return;
	}
	for (size_t i = 0; i < sizeof(letters) - 1; i++)
		if (v & (1ULL << i))
			flags[nf++] = letters[i];
	flags[nf] = '\0';
	json_object_set_new(c->evidence, "tainted", json_integer((json_int_t)v));
	json_object_set_new(c->evidence, "flags", json_string(flags));
	if (v)
		check_set(c, VG_POSTURE_FAIL, "kernel is tainted (%llu, flags %s)", v, nf ? flags : "?");
	else
		check_set(c, VG_POSTURE_PASS, "kernel is not tainted");
}

/* ---- collection --------------------------------------------------------- */

static void check_reset(struct vg_posture_check *c, time_t now)
{
	json_decref(c->evidence);
	memset(c, 0, sizeof(*c));
	c->observed_at = now;
	c->evidence = json_object();
}

void vg_posture_collect_one(const struct vg_posture_opts *o, enum vg_posture_check_id id, struct vg_posture *p)
{
	struct vg_posture_check *c = &p->check[id];

	check_reset(c, o->now);
	switch (id) {
	case VG_CHECK_EDR: collect_edr(o, c); break;
	case VG_CHECK_DISK_ENCRYPTION: collect_disk(o, c); break;
	case VG_CHECK_PATCH_AGE: collect_patch(o, c, &p->last_upgrade); break;
	case VG_CHECK_SECURE_BOOT: collect_secure_boot(o, c); break;
	case VG_CHECK_KERNEL_LOCKDOWN: collect_lockdown(o, c); break;
	case VG_CHECK_KERNEL_TAINT: collect_taint(o, c); break;
	default: break;
	}
}

void vg_posture_collect(const struct vg_posture_opts *o, struct vg_posture *p)
{
	for (int id = 0; id < VG_CHECK__COUNT; id++)
		vg_posture_collect_one(o, (enum vg_posture_check_id)id, p);
}

void vg_posture_clear(struct vg_posture *p)
{
	for (int id = 0; id < VG_CHECK__COUNT; id++)
		json_decref(p->check[id].evidence);
	memset(p, 0, sizeof(*p));
}

/* ---- evaluation --------------------------------------------------------- */

static bool required(const struct vg_posture_req *req, enum vg_posture_check_id id)
{
	switch (id) {
	case VG_CHECK_EDR: return req->edr;
	case VG_CHECK_DISK_ENCRYPTION: return req->disk_encryption;
	case VG_CHECK_PATCH_AGE: return req->patch_max_age_days > 0;
	case VG_CHECK_SECURE_BOOT: return req->secure_boot;
	default: return false;
	}
}

/* patch_age against the bundle's maximum at now (the age keeps growing after collection) */
static enum vg_posture_result patch_result(const struct vg_posture *p, const struct vg_posture_req *req, time_t now,
					   char *msg, size_t len)
{
	const struct vg_posture_check *c = &p->check[VG_CHECK_PATCH_AGE];
	char when[32];
	long days;

	if (!p->last_upgrade || !req || !req->patch_max_age_days) {
		copy_trunc(msg, len, c->summary);
		return c->result;
	}
	days = p->last_upgrade >= now ? 0 : (long)((now - p->last_upgrade) / 86400);
	vg_time_format(p->last_upgrade, when);
	snprintf(msg, len, "last package upgrade %s, %ld days ago (maximum %u)", when, days, req->patch_max_age_days);
	return days > (long)req->patch_max_age_days ? VG_POSTURE_FAIL : VG_POSTURE_PASS;
}

static void __attribute__((format(printf, 4, 5)))
add_reason(struct vg_posture_verdict *v, int check, const char *code, const char *fmt, ...)
{
	struct vg_posture_reason *r;
	va_list ap;

	if (v->nreasons >= VG_POSTURE_MAX_REASONS)
		return;
	r = &v->reasons[v->nreasons++];
	r->check = check;
	copy_trunc(r->code, sizeof(r->code), code);
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	utf8_fix(r->msg);
}

void vg_posture_evaluate(const struct vg_posture *p, const struct vg_posture_req *req, time_t now,
			 struct vg_posture_verdict *v)
{
	uint32_t max_age;

	memset(v, 0, sizeof(*v));
	if (!req) {
		add_reason(v, -1, "no_policy", "no policy bundle is applied, so there are no posture requirements to meet");
		return;
	}
	/* deny rather than guess: an environment the bundle does not list cannot pass */
	if (!req->present) {
		add_reason(v, -1, "no_requirements",
			   "the bundle lists no posture requirements for this host's environment");
		return;
	}
	max_age = req->max_age_s ? req->max_age_s : VG_POSTURE_DEFAULT_MAX_AGE_S;
	for (int id = 0; id < VG_CHECK__COUNT; id++) {
		const struct vg_posture_check *c = &p->check[id];
		const char *name = check_names[id];
		enum vg_posture_result r;
		char msg[256];

		if (!required(req, (enum vg_posture_check_id)id))
			continue;
		if (!c->observed_at || now - c->observed_at > (time_t)max_age || c->observed_at > now + 60) {
			v->stale = true;
			add_reason(v, id, "stale", "%s was last observed %lds ago, more than max_age %us", name,
				   c->observed_at ? (long)(now - c->observed_at) : -1L, max_age);
			continue;
		}
		r = id == VG_CHECK_PATCH_AGE ? patch_result(p, req, now, msg, sizeof(msg))
					     : (copy_trunc(msg, sizeof(msg), c->summary), c->result);
		if (r == VG_POSTURE_FAIL)
			add_reason(v, id, "fail", "%s: %s", name, msg);
		else if (r == VG_POSTURE_UNKNOWN && req->unknown_as == VG_UNKNOWN_FAIL)
			add_reason(v, id, "unknown", "%s could not be determined (%s), and unknown counts as fail",
				   name, msg);
	}
	v->pass = v->nreasons == 0;
}

json_t *vg_posture_report(const struct vg_posture *p, const struct vg_posture_req *req,
			  const struct vg_posture_verdict *v, time_t now)
{
	json_t *rep, *checks, *reasons, *reqj = json_null();
	char when[32];

	vg_time_format(now, when);
	checks = json_object();
	reasons = json_array();
	if (req && req->present)
		reqj = json_pack("{s:b, s:b, s:i, s:b, s:i, s:s}", "edr", req->edr, "disk_encryption",
				 req->disk_encryption, "patch_max_age_days", (int)req->patch_max_age_days, "secure_boot",
				 req->secure_boot, "max_age", (int)(req->max_age_s ? req->max_age_s
									 : VG_POSTURE_DEFAULT_MAX_AGE_S),
				 "unknown", req->unknown_as == VG_UNKNOWN_PASS ? "pass" : "fail");
	rep = json_pack("{s:s, s:b, s:s, s:o, s:o, s:o}", "verdict", v->pass ? "pass" : "fail", "stale", v->stale,
			"evaluated_at", when, "requirements", reqj, "checks", checks, "reasons", reasons);
	if (!rep)
		return NULL;
	for (size_t i = 0; i < v->nreasons; i++)
		json_array_append_new(reasons, json_pack("{s:s?, s:s, s:s}", "check",
							 v->reasons[i].check < 0 ? NULL : check_names[v->reasons[i].check],
							 "code", v->reasons[i].code, "message", v->reasons[i].msg));
	for (int id = 0; id < VG_CHECK__COUNT; id++) {
		const struct vg_posture_check *c = &p->check[id];
		enum vg_posture_result r = c->result;
		char msg[256], obs[32];

		copy_trunc(msg, sizeof(msg), c->summary);
		if (id == VG_CHECK_PATCH_AGE)
			r = patch_result(p, req && req->present ? req : NULL, now, msg, sizeof(msg));
		vg_time_format(c->observed_at, obs);
		json_object_set_new(checks, check_names[id],
				    json_pack("{s:s, s:b, s:b, s:s, s:I, s:s, s:o}", "result", vg_posture_result_name(r),
					      "required", req && req->present && required(req, (enum vg_posture_check_id)id),
					      "informational", vg_posture_check_informational((enum vg_posture_check_id)id),
					      "observed_at", obs, "age_s", (json_int_t)(now - c->observed_at), "summary", msg,
					      "evidence", c->evidence ? json_incref(c->evidence) : json_object()));
	}
	return rep;
}
