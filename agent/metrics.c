/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics module of vigild (docs/monitoring.md): the status document as
 * Prometheus text, written atomically for node_exporter's textfile collector
 * every metrics_interval_s and, when metrics_listen is set, served over HTTP
 * on a loopback address or a UNIX socket. Nothing here decides anything: it
 * renders what `vigilctl status` shows (lib/metrics.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"
#include "vigil/metrics.h"
#include "vigil/util.h"

#define HTTP_MAX_CLIENTS 16
#define HTTP_TIMEOUT_MS 2000
#define HTTP_MAX_REQUEST 2048

struct http_client {
	int fd;
	int timer;
	char req[HTTP_MAX_REQUEST + 1];
	size_t got;
	char *out;
	size_t out_len, sent;
};

static struct {
	int timer;
	time_t written_at;
	char last_error[256];
	bool dir_absent;
	int listen_fd;
	size_t nclients;
	uint64_t scrapes;
} M = { .listen_fd = -1 };

static int render(struct vg_daemon *d, char **text, size_t *len)
{
	json_t *st = json_object();
	int r;

	if (!st)
		return -ENOMEM;
	vg_daemon_status(d, st);
	r = vg_metrics_render(st, vg_now(), text, len);
	json_decref(st);
	return r;
}

/* The textfile is written only where its directory exists: node_exporter's package makes it. */
static void write_textfile(struct vg_daemon *d)
{
	const struct vg_config *cfg = vg_daemon_config(d);
	char dir[sizeof(cfg->metrics_textfile)], *slash, *text = NULL;
	struct stat sb;
	size_t len;
	int r;

	snprintf(dir, sizeof(dir), "%s", cfg->metrics_textfile);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = 0;
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		if (!M.dir_absent)
			vg_log(LOG_INFO, "metrics: %s does not exist: the textfile is not written (install "
					 "prometheus-node-exporter, or set metrics_textfile)", dir);
		M.dir_absent = true;
		return;
	}
	M.dir_absent = false;
	if ((r = render(d, &text, &len)) == 0)
		r = vg_write_file_atomic(cfg->metrics_textfile, text, len, 0644);
	free(text);
	if (r < 0) {
		if (!M.last_error[0])
			vg_log(LOG_WARNING, "metrics: cannot write %s: %s", cfg->metrics_textfile, strerror(-r));
		snprintf(M.last_error, sizeof(M.last_error), "%s: %s", cfg->metrics_textfile, strerror(-r));
		return;
	}
	M.last_error[0] = 0;
	M.written_at = vg_now();
}

static void on_timer(struct vg_daemon *d, void *arg)
{
	write_textfile(d);
	M.timer = vg_loop_add_timer(d, (uint64_t)vg_daemon_config(d)->metrics_interval_s * 1000, on_timer, NULL);
}

/* ---- HTTP endpoint: GET /metrics, one request per connection ---- */

static void http_close(struct vg_daemon *d, struct http_client *c)
{
	vg_loop_del_fd(d, c->fd);
	if (c->timer > 0)
		vg_loop_cancel_timer(d, c->timer);
	close(c->fd);
	free(c->out);
	free(c);
	M.nclients--;
}

static void http_timeout(struct vg_daemon *d, void *arg)
{
	struct http_client *c = arg;

	c->timer = 0;
	http_close(d, c);
}

static void http_respond(struct vg_daemon *d, struct http_client *c)
{
	const char *status = "404 Not Found", *ctype = "text/plain; charset=utf-8";
	char *body = NULL;
	size_t blen = 0;
	FILE *f;

	if (!strncmp(c->req, "GET /metrics ", 13) || !strncmp(c->req, "GET / ", 6)) {
		if (render(d, &body, &blen) == 0) {
			status = "200 OK";
			ctype = "text/plain; version=0.0.4; charset=utf-8";
			M.scrapes++;
		} else {
			status = "500 Internal Server Error";
		}
	} else if (strncmp(c->req, "GET ", 4)) {
		status = "405 Method Not Allowed";
	}
	f = open_memstream(&c->out, &c->out_len);
	if (!f) {
		free(body);
		http_close(d, c);
		return;
	}
	fprintf(f, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
		ctype, body ? blen : strlen(status) + 1);
	if (body)
		fwrite(body, 1, blen, f);
	else
		fprintf(f, "%s\n", status);
	free(body);
	if (fclose(f) != 0) {
		http_close(d, c);
		return;
	}
	c->sent = 0;
}

static void http_io(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct http_client *c = arg;
	ssize_t n;

	if (!c->out) {
		n = recv(fd, c->req + c->got, HTTP_MAX_REQUEST - c->got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			http_close(d, c);
			return;
		}
		c->got += (size_t)n;
		c->req[c->got] = 0;
		if (!strstr(c->req, "\r\n\r\n") && !strstr(c->req, "\n\n")) {
			if (c->got == HTTP_MAX_REQUEST)
				http_close(d, c);
			return;
		}
		http_respond(d, c);
		if (!c->out)
			return;
		vg_loop_del_fd(d, fd);
		if (vg_loop_add_fd(d, fd, EPOLLOUT, http_io, c) < 0) {
			http_close(d, c);
			return;
		}
	}
	n = send(fd, c->out + c->sent, c->out_len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (c->sent += (size_t)n) == c->out_len)
		http_close(d, c);
}

static void http_accept(struct vg_daemon *d, int lfd, uint32_t events, void *arg)
{
	struct http_client *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (M.nclients >= HTTP_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	c->fd = fd;
	if (vg_loop_add_fd(d, fd, EPOLLIN, http_io, c) < 0) {
		close(fd);
		free(c);
		return;
	}
	M.nclients++;
	c->timer = vg_loop_add_timer(d, HTTP_TIMEOUT_MS, http_timeout, c);
}

/* "127.0.0.1:9477", "[::1]:9477" or "unix:/run/vigil/metrics.sock"; only loopback is accepted:
 * the metrics name tenants and users, and this endpoint has no authentication. */
static int http_listen(const char *spec, struct vg_err *err)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t slen;
	char host[64];
	const char *colon;
	unsigned long port;
	char *end;
	int fd, one = 1;

	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		if (strlen(spec + 5) >= sizeof(un->sun_path) || spec[5] != '/')
			return vg_err_set(err, EINVAL, "metrics_listen", "metrics_listen",
					  "\"%s\": a UNIX socket needs an absolute path shorter than %zu bytes", spec,
					  sizeof(un->sun_path));
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, spec + 5);
		unlink(un->sun_path);
		slen = sizeof(*un);
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			goto bad;
		port = strtoul(colon + 1, &end, 10);
		if (*end || !port || port > 65535)
			goto bad;
		if (spec[0] == '[' && colon[-1] == ']') {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			snprintf(host, sizeof(host), "%.*s", (int)(colon - spec - 2), spec + 1);
			if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1 || !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
				goto notloop;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons((uint16_t)port);
			slen = sizeof(*s6);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
			if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
				goto bad;
			if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
				goto notloop;
			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			slen = sizeof(*s4);
		}
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vg_err_set(err, errno, "metrics_listen", "metrics_listen", "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 16) < 0) {
		int e = errno;

		close(fd);
		return vg_err_set(err, e, "metrics_listen", "metrics_listen", "cannot listen on %s: %s", spec,
				  strerror(e));
	}
	if (ss.ss_family == AF_UNIX)
		chmod(((struct sockaddr_un *)&ss)->sun_path, 0600);
	return fd;
bad:
	return vg_err_set(err, EINVAL, "metrics_listen", "metrics_listen",
			  "\"%s\" is not ADDRESS:PORT, [ADDRESS]:PORT or unix:/PATH", spec);
notloop:
	return vg_err_set(err, EINVAL, "metrics_listen", "metrics_listen",
			  "\"%s\" is not a loopback address: the endpoint has no authentication; scrape the textfile "
			  "through node_exporter, or put a proxy in front", spec);
}

static int metrics_init(struct vg_daemon *d, struct vg_err *err)
{
	const struct vg_config *cfg = vg_daemon_config(d);
	int fd;

	if (cfg->metrics_listen[0]) {
		if ((fd = http_listen(cfg->metrics_listen, err)) < 0)
			return fd;
		if (vg_loop_add_fd(d, fd, EPOLLIN, http_accept, NULL) < 0) {
			close(fd);
			return vg_err_set(err, ENOMEM, "metrics_listen", NULL, "cannot watch the metrics socket");
		}
		M.listen_fd = fd;
		vg_log(LOG_INFO, "metrics: serving http://%s/metrics", cfg->metrics_listen);
	}
	if (cfg->metrics_textfile[0])
		M.timer = vg_loop_add_timer(d, 1000, on_timer, NULL);
	return 0;
}

static void metrics_status(struct vg_daemon *d, json_t *o)
{
	const struct vg_config *cfg = vg_daemon_config(d);
	char when[32];

	json_object_set_new(o, "textfile", json_string(cfg->metrics_textfile));
	if (cfg->metrics_textfile[0])
		json_object_set_new(o, "textfile_state", json_string(M.dir_absent ? "directory absent"
								    : M.last_error[0] ? "failing"
								    : M.written_at ? "written" : "pending"));
	if (M.written_at) {
		vg_time_format(M.written_at, when);
		json_object_set_new(o, "written_at", json_string(when));
	}
	if (M.last_error[0])
		json_object_set_new(o, "last_error", json_string(M.last_error));
	if (cfg->metrics_listen[0]) {
		json_object_set_new(o, "listen", json_string(cfg->metrics_listen));
		json_object_set_new(o, "scrapes", json_integer((json_int_t)M.scrapes));
	}
}

static void metrics_shutdown(struct vg_daemon *d)
{
	const struct vg_config *cfg = vg_daemon_config(d);

	if (M.timer > 0)
		vg_loop_cancel_timer(d, M.timer);
	if (M.listen_fd >= 0) {
		vg_loop_del_fd(d, M.listen_fd);
		close(M.listen_fd);
		if (!strncmp(cfg->metrics_listen, "unix:", 5))
			unlink(cfg->metrics_listen + 5);
	}
}

const struct vg_module vg_module_metrics = {
	.name = "metrics",
	.init = metrics_init,
	.status = metrics_status,
	.shutdown = metrics_shutdown,
};
