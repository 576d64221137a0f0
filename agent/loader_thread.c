/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The loader thread: verifies and parses queued bundles (vg_load_verify) so that
 * the event loop keeps answering status, PAM and NSS-facing requests while a large
 * bundle loads. One thread, FIFO: loads finish in the order they were queued. The
 * loop picks finished jobs up through an eventfd and applies them (vg_policy_finish).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <unistd.h>

#include "core.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	bool started, stop;
	int efd;
	struct vg_load_job *todo, **todo_tail, *done, **done_tail;
	size_t pending; /* queued + being verified + verified but not yet applied */
} L = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .efd = -1 };

static void *loader_main(void *arg)
{
	uint64_t one = 1;

	pthread_mutex_lock(&L.mu);
	for (;;) {
		struct vg_load_job *j;

		while (!L.todo && !L.stop)
			pthread_cond_wait(&L.cv, &L.mu);
		if (L.stop)
			break;
		j = L.todo;
		L.todo = j->next;
		if (!L.todo)
			L.todo_tail = &L.todo;
		pthread_mutex_unlock(&L.mu);
		vg_load_verify(j);
		pthread_mutex_lock(&L.mu);
		j->next = NULL;
		*L.done_tail = j;
		L.done_tail = &j->next;
		if (write(L.efd, &one, sizeof(one)) < 0)
			vg_log(LOG_ERR, "loader: cannot wake the event loop: %m");
	}
	pthread_mutex_unlock(&L.mu);
	return NULL;
}

static void on_done(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	struct vg_load_job *j, *next;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&L.mu);
	j = L.done;
	L.done = NULL;
	L.done_tail = &L.done;
	pthread_mutex_unlock(&L.mu);
	for (; j; j = next) {
		next = j->next;
		j->next = NULL;
		pthread_mutex_lock(&L.mu);
		L.pending--;
		pthread_mutex_unlock(&L.mu);
		vg_policy_finish(d, j);
	}
}

int vg_loader_start(struct vg_daemon *d)
{
	int r;

	L.todo_tail = &L.todo;
	L.done_tail = &L.done;
	L.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (L.efd < 0)
		return -errno;
	if ((r = vg_loop_add_fd(d, L.efd, EPOLLIN, on_done, NULL)) < 0)
		return r;
	if ((r = pthread_create(&L.th, NULL, loader_main, NULL)) != 0)
		return -r;
	L.started = true;
	return 0;
}

int vg_loader_queue(struct vg_load_job *j)
{
	if (!L.started)
		return -ESRCH;
	pthread_mutex_lock(&L.mu);
	j->next = NULL;
	*L.todo_tail = j;
	L.todo_tail = &j->next;
	L.pending++;
	pthread_cond_signal(&L.cv);
	pthread_mutex_unlock(&L.mu);
	return 0;
}

size_t vg_loader_pending(void)
{
	size_t n;

	pthread_mutex_lock(&L.mu);
	n = L.pending;
	pthread_mutex_unlock(&L.mu);
	return n;
}

/* Loads not applied yet are dropped: their callers get no reply, as when vigild stops mid-request. */
void vg_loader_stop(void)
{
	struct vg_load_job *j, *next;

	if (!L.started)
		return;
	pthread_mutex_lock(&L.mu);
	L.stop = true;
	pthread_cond_signal(&L.cv);
	pthread_mutex_unlock(&L.mu);
	pthread_join(L.th, NULL);
	L.started = false;
	for (j = L.todo; j; j = next) {
		next = j->next;
		vg_load_job_free(j);
	}
	for (j = L.done; j; j = next) {
		next = j->next;
		vg_load_job_free(j);
	}
	L.todo = L.done = NULL;
}
