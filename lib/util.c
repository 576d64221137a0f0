/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "vigil/util.h"

static int read_fd(int fd, const struct stat *st, size_t max, char **out, size_t *len)
{
	char *buf;
	size_t cap, n = 0;

	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size > max)
		return -EFBIG;
	/* /proc and sysfs files say size 0: one page at once, not reads of 1, 2, 4... bytes */
	cap = S_ISREG(st->st_mode) && st->st_size > 0 ? (size_t)st->st_size + 1 : 4096;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *nb;

			if (cap > max + 1) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int vg_read_file(const char *path, size_t max, char **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	return read_fd(fd, &st, max, out, len);
}

int vg_read_regular(const char *path, size_t max, char **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return read_fd(fd, &st, max, out, len);
}

int vg_file_trusted(const char *path, const struct stat *st, struct vg_err *err)
{
	if (!S_ISREG(st->st_mode))
		return vg_err_set(err, EINVAL, "untrusted_file", path, "%s is not a regular file", path);
	if (st->st_uid != 0)
		return vg_err_set(err, EPERM, "untrusted_file", path,
				  "%s is owned by uid %u: vigild trusts only files owned by root (chown root: %s)", path,
				  (unsigned)st->st_uid, path);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return vg_err_set(err, EPERM, "untrusted_file", path,
				  "%s is writable by group or others (mode %04o): vigild refuses it (chmod go-w %s)", path,
				  (unsigned)(st->st_mode & 07777), path);
	return 0;
}

size_t vg_body_write(char *p, size_t size, size_t n, void *arg)
{
	struct vg_body *b = arg;
	size_t len = size * n;
	char *nd;

	if (b->len + len > b->max) {
		b->too_big = true;
		return 0;
	}
	nd = realloc(b->data, b->len + len + 1);
	if (!nd)
		return 0;
	b->data = nd;
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

int vg_path_trusted(const char *path, struct vg_err *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return vg_err_set(err, errno, "unreadable", path, "cannot read %s: %s", path, strerror(errno));
	return vg_file_trusted(path, &st, err);
}

int vg_read_trusted(const char *path, size_t max, char **out, size_t *len, struct vg_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return vg_err_set(err, errno, "unreadable", path, "cannot read %s: %s", path, strerror(errno));
	if ((r = vg_file_trusted(path, &st, err)) < 0)
		return r;
	if ((r = read_fd(fd, &st, max, out, len)) < 0)
		return vg_err_set(err, -r, r == -EFBIG ? "too_large" : "unreadable", path, "cannot read %s: %s", path,
				  r == -EFBIG ? "too large" : strerror(-r));
	return 0;
}

int vg_read_trusted_range(const char *path, uint64_t off, size_t max, char **out, size_t *len, uint64_t *total,
			  struct vg_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	size_t n = 0, want;
	char *buf;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return vg_err_set(err, errno, "unreadable", path, "cannot read %s: %s", path, strerror(errno));
	if ((r = vg_file_trusted(path, &st, err)) < 0)
		return r;
	*total = (uint64_t)st.st_size;
	want = off >= *total ? 0 : *total - off < max ? (size_t)(*total - off) : max;
	if (!(buf = malloc(want + 1)))
		return vg_err_set(err, ENOMEM, "out_of_memory", path, "out of memory reading %s", path);
	while (n < want) {
		ssize_t k = pread(fd, buf + n, want - n, (off_t)(off + n));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) { /* shorter than fstat said: the reader's digest tells */
			if (k < 0) {
				free(buf);
				return vg_err_set(err, errno, "unreadable", path, "cannot read %s: %s", path, strerror(errno));
			}
			break;
		}
		n += (size_t)k;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

unsigned vg_file_mode(enum vg_file_kind kind)
{
	switch (kind) {
	case VG_FILE_PUBLIC: return 0644;
	case VG_FILE_SECRET: return 0600;
	case VG_DIR_PUBLIC: return 0755;
	case VG_DIR_SECRET: return 0700;
	}
	return 0600;
}

int vg_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int fsync_dir_of(const char *path)
{
	char tmp[PATH_MAX];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s", path);
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int vg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd = -1, r = 0;

	/* an unpredictable name created exclusively: nothing planted beforehand is ever written through */
	for (int tries = 0; fd < 0 && tries < 8; tries++) {
		uint8_t rnd[8];
		char hex[17];

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -EIO;
		vg_hex(rnd, sizeof(rnd), hex);
		if (snprintf(tmp, sizeof(tmp), "%s.tmp.%s", path, hex) >= (int)sizeof(tmp))
			return -ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto fail;
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_dir_of(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

int vg_mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t n;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	n = strlen(tmp);
	while (n > 1 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

time_t vg_now(void)
{
#ifdef VIGIL_TEST_HOOKS
	const char *fake = getenv("VIGIL_FAKE_NOW");

	if (fake && *fake)
		return (time_t)strtoll(fake, NULL, 10);
#endif
	return time(NULL);
}

uint64_t vg_now_ms_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t vg_thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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

static int days_in_month(int y, int mo)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return mo == 2 && leap ? 29 : days[mo - 1];
}

int vg_time_parse(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, se;
	const char *p;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
	    s[16] != ':')
		return -EINVAL;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
	    digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60 || y < 1970)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	*out = timegm(&tm);
	return 0;
}

void vg_time_format(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void vg_hex(const uint8_t *in, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int vg_b64_decode(const char *in, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *buf;

	while (n > 0 && in[n - 1] == '=')
		n--;
	buf = malloc(n * 3 / 4 + 3);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)in[i]);

		if (v < 0) {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* leftover bits must be zero padding and fewer than a byte's worth of characters */
	if (bits >= 6 || (acc & ((1u << bits) - 1))) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*outlen = o;
	return 0;
}

char *vg_b64_encode(const uint8_t *in, size_t len, bool url)
{
	const char *tab = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(len / 3 * 4 + 5), *p;
	size_t i;

	if (!out)
		return NULL;
	p = out;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*p++ = tab[v >> 18];
		*p++ = tab[(v >> 12) & 63];
		*p++ = tab[(v >> 6) & 63];
		*p++ = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		*p++ = tab[v >> 18];
		*p++ = tab[(v >> 12) & 63];
		if (i + 1 < len)
			*p++ = tab[(v >> 6) & 63];
		else if (!url)
			*p++ = '=';
		if (!url)
			*p++ = '=';
	}
	*p = '\0';
	return out;
}

static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The digest is fetched once: SHA256() looks it up (under a lock) on every call, which
 * costs as much as hashing an audit record. */
void vg_sha256(const void *data, size_t len, uint8_t out[32])
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, sha256_fetch);
	if (!sha256_md || !EVP_Digest(data, len, out, NULL, sha256_md, NULL))
		SHA256(data, len, out);
}

void vg_sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t md[32];

	SHA256(data, len, md);
	vg_hex(md, 32, out);
}

bool vg_str_valid_name(const char *s, size_t maxlen)
{
	size_t n = strlen(s);

	if (n == 0 || n > maxlen)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			  (i > 0 && (c == '.' || c == '-'));

		if (!ok)
			return false;
	}
	return true;
}
