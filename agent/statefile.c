/* SPDX-License-Identifier: Apache-2.0 */
/* State files written off the loop (agent/statefile.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "statefile.h"

/* a version handed over: pending (not started), then finished (written or replaced) */
struct version {
	struct vg_sf_job job;
	int r;
	struct vg_err err;
	struct version *next;
};

struct waiter {
	uint64_t ticket;
	void (*cb)(struct vg_daemon *, void *);
	void *arg;
};

static struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv, written_cv;
	int efd;
	bool running, stop, start_failed;
	/* under mu */
	struct version *pending[VG_SF_NFILES];
	uint64_t pending_ticket; /* the newest ticket among pending */
	uint64_t written;	 /* every ticket up to this one is written */
#if VIGIL_TEST_HOOKS
	unsigned test_delay_ms; /* VIGIL_TEST_STATEFILE_DELAY_MS */
#endif
	struct version *fin, **fin_tail;
	/* loop only */
	uint64_t ticket;
	struct waiter *w;
	size_t nw, capw;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
	.written_cv = PTHREAD_COND_INITIALIZER,
	.efd = -1 };

static int add_waiter(uint64_t ticket, void (*cb)(struct vg_daemon *, void *), void *arg);

static bool any_pending(void)
{
	for (int f = 0; f < VG_SF_NFILES; f++)
		if (S.pending[f])
			return true;
	return false;
}

static void finish(struct version *v)
{
	v->next = NULL;
	*S.fin_tail = v;
	S.fin_tail = &v->next;
}

/* each round takes every pending version (membership first: it is what other processes see) */
static void *writer_main(void *arg)
{
	uint64_t one = 1;

	pthread_mutex_lock(&S.mu);
	for (;;) {
		struct version *take[VG_SF_NFILES];
		uint64_t upto;

		while (!any_pending() && !S.stop)
			pthread_cond_wait(&S.cv, &S.mu);
		if (!any_pending())
			break;
		memcpy(take, S.pending, sizeof(take));
		memset(S.pending, 0, sizeof(S.pending));
		upto = S.pending_ticket;
		pthread_mutex_unlock(&S.mu);
#if VIGIL_TEST_HOOKS
		/* tests stand in for a slow disk: what waits for the files must wait this long */
		if (S.test_delay_ms)
			usleep(S.test_delay_ms * 1000u);
#endif
		for (int f = 0; f < VG_SF_NFILES; f++)
			if (take[f])
				take[f]->r = take[f]->job.write(take[f]->job.arg, &take[f]->err);
		pthread_mutex_lock(&S.mu);
		for (int f = 0; f < VG_SF_NFILES; f++)
			if (take[f])
				finish(take[f]);
		S.written = upto;
		pthread_cond_broadcast(&S.written_cv);
		if (write(S.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			vg_log(LOG_ERR, "statefile: cannot wake the loop: %s", strerror(errno));
	}
	pthread_mutex_unlock(&S.mu);
	return NULL;
}

static void wait_written(uint64_t ticket)
{
	pthread_mutex_lock(&S.mu);
	while (S.running && S.written < ticket)
		pthread_cond_wait(&S.written_cv, &S.mu);
	pthread_mutex_unlock(&S.mu);
}

/* On the loop: the finished versions' done(), then the answers that waited for them. */
static void reap(struct vg_daemon *d)
{
	struct version *v, *next;
	struct waiter *w;
	uint64_t written, n;
	size_t i, nw;

	if (S.efd >= 0 && read(S.efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vg_log(LOG_ERR, "statefile: cannot read the writer's wakeup: %s", strerror(errno));
	pthread_mutex_lock(&S.mu);
	v = S.fin;
	S.fin = NULL;
	S.fin_tail = &S.fin;
	written = S.written;
	pthread_mutex_unlock(&S.mu);
	for (; v; v = next) {
		next = v->next;
		v->job.done(d, v->job.arg, v->r, &v->err);
		free(v);
	}
	/* the answers that waited; a callback may add waiters of its own */
	w = S.w;
	nw = S.nw;
	S.w = NULL;
	S.nw = S.capw = 0;
	for (i = 0; i < nw; i++) {
		if (w[i].ticket <= written)
			w[i].cb(d, w[i].arg);
		else if (add_waiter(w[i].ticket, w[i].cb, w[i].arg) < 0) {
			wait_written(w[i].ticket); /* no memory to wait on the loop: here */
			w[i].cb(d, w[i].arg);
		}
	}
	free(w);
}

static void on_written(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	reap(d);
}

static void start(struct vg_daemon *d)
{
	if (S.running || S.start_failed || S.stop)
		return;
	S.fin_tail = &S.fin;
#if VIGIL_TEST_HOOKS
	S.test_delay_ms = (unsigned)atoi(getenv("VIGIL_TEST_STATEFILE_DELAY_MS") ?: "0");
#endif
	S.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (S.efd >= 0 && vg_loop_add_fd(d, S.efd, EPOLLIN, on_written, NULL) == 0) {
		if (pthread_create(&S.th, NULL, writer_main, NULL) == 0) {
			S.running = true;
			return;
		}
		vg_loop_del_fd(d, S.efd);
	}
	if (S.efd >= 0)
		close(S.efd);
	S.efd = -1;
	S.start_failed = true;
	vg_log(LOG_WARNING, "statefile: no writer thread; grants, counters and NSS files are written on the loop");
}

uint64_t vg_sf_put(struct vg_daemon *d, enum vg_sf_file f, const struct vg_sf_job *job)
{
	struct version *v, *old;
	struct vg_err err = { 0 };

	start(d);
	v = S.running ? calloc(1, sizeof(*v)) : NULL;
	if (!v) {
		/* on the caller (no thread, or no memory to hand it over), after what is handed over */
		int r;

		vg_sf_drain(d);
		r = job->write(job->arg, &err);
		pthread_mutex_lock(&S.mu);
		S.written = ++S.ticket;
		pthread_mutex_unlock(&S.mu);
		job->done(d, job->arg, r, &err);
		return S.ticket;
	}
	v->job = *job;
	pthread_mutex_lock(&S.mu);
	old = S.pending[f];
	S.pending[f] = v;
	S.pending_ticket = ++S.ticket;
	pthread_cond_signal(&S.cv);
	pthread_mutex_unlock(&S.mu);
	if (old) {
		old->job.done(d, old->job.arg, -ECANCELED, &err);
		free(old);
	}
	return S.ticket;
}

static int add_waiter(uint64_t ticket, void (*cb)(struct vg_daemon *, void *), void *arg)
{
	if (S.nw == S.capw) {
		size_t cap = S.capw ? S.capw * 2 : 8;
		struct waiter *w = realloc(S.w, cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		S.w = w;
		S.capw = cap;
	}
	S.w[S.nw++] = (struct waiter){ ticket, cb, arg };
	return 0;
}

int vg_sf_when_written(struct vg_daemon *d, uint64_t ticket, void (*cb)(struct vg_daemon *, void *), void *arg)
{
	uint64_t written;

	pthread_mutex_lock(&S.mu);
	written = S.written;
	pthread_mutex_unlock(&S.mu);
	return ticket <= written ? 1 : add_waiter(ticket, cb, arg);
}

void vg_sf_drain(struct vg_daemon *d)
{
	if (!S.running)
		return;
	wait_written(S.ticket);
	reap(d);
}

void vg_sf_stop(struct vg_daemon *d)
{
	if (S.running) {
		pthread_mutex_lock(&S.mu);
		S.stop = true;
		pthread_cond_signal(&S.cv);
		pthread_mutex_unlock(&S.mu);
		pthread_join(S.th, NULL);
		S.running = false;
		reap(d);
		vg_loop_del_fd(d, S.efd);
		close(S.efd);
		S.efd = -1;
	}
	S.stop = true;
}
