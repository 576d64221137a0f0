/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy trie filled beside its compile (enforce_fill.h). The kernel's trie
 * takes about a microsecond an entry here (a lock and an allocation each), a
 * million-rule policy about a second: run beside the compile (~0.3 s), that
 * second no longer comes after it. The queue holds FILLQ runs, so the compile
 * waits rather than buffer the whole policy twice.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "vigil/enforce_fill.h"
#include "vigil/util.h"

#define FILL_RUN 8192 /* entries per batch update: one system call */
#define FILLQ 4	      /* runs queued: 2 MB */

struct vg_trie_fill {
	int fd;
	bool threaded;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct vg_enf_lpm_key *keys[FILLQ];
	struct vg_enf_lpm_val *vals[FILLQ];
	uint32_t len[FILLQ];
	size_t head, tail; /* runs taken, runs handed over: tail - head queued */
	bool closed;	   /* nothing more comes */
	int error;	   /* errno of the entry the kernel refused, 0: none */
	size_t done;	   /* entries in the kernel */
	uint64_t cpu_us;
	struct vg_enf_sink sink;
};

/*
 * Run i into the kernel: one batch, or one at a time where the map takes no batch.
 * 0 or the errno of the entry refused; *put: the entries that went in.
 */
static int put_run(const struct vg_trie_fill *f, unsigned i, size_t *put)
{
	uint32_t cnt = f->len[i], k;

	if (bpf_map_update_batch(f->fd, f->keys[i], f->vals[i], &cnt, NULL) == 0) {
		*put = f->len[i];
		return 0;
	}
	*put = cnt;
	if (errno != 524 && errno != EOPNOTSUPP) /* 524: ENOTSUPP, no batch update for this map type */
		return errno;
	for (k = 0; k < f->len[i]; k++)
		if (bpf_map_update_elem(f->fd, &f->keys[i][k], &f->vals[i][k], BPF_ANY) < 0)
			break;
	*put = k;
	return k < f->len[i] ? errno : 0;
}

static void *fill_main(void *arg)
{
	struct vg_trie_fill *f = arg;
	uint64_t cpu0 = vg_thread_cpu_us();

	pthread_mutex_lock(&f->lock);
	for (;;) {
		size_t put = 0;
		int e = 0;

		while (f->head == f->tail && !f->closed)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->head == f->tail)
			break;
		if (!f->error) { /* after a refusal the rest is only taken off the queue */
			unsigned i = (unsigned)(f->head % FILLQ);

			pthread_mutex_unlock(&f->lock);
			e = put_run(f, i, &put);
			pthread_mutex_lock(&f->lock);
		}
		f->done += put;
		f->error = e ? e : f->error;
		f->head++;
		pthread_cond_broadcast(&f->cond);
	}
	f->cpu_us = vg_thread_cpu_us() - cpu0;
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static int refused(const struct vg_trie_fill *f, struct vg_err *err)
{
	return vg_err_set(err, f->error, "enforce_too_large", "$.tenants",
			  "the kernel refused trie entry %zu: %s; reduce the policy or raise the memory limit of vigild",
			  f->done + 1, strerror(f->error));
}

static int fill_chunk(void *arg, const struct vg_enf_entry *e, size_t n, struct vg_err *err)
{
	struct vg_trie_fill *f = arg;
	unsigned i;
	int error;

	pthread_mutex_lock(&f->lock);
	while (f->threaded && f->tail - f->head == FILLQ)
		pthread_cond_wait(&f->cond, &f->lock);
	error = f->error ? refused(f, err) : 0;
	pthread_mutex_unlock(&f->lock);
	if (error)
		return error;
	i = (unsigned)(f->tail % FILLQ); /* free: the thread is past it */
	for (size_t k = 0; k < n; k++) {
		f->keys[i][k] = e[k].key;
		f->vals[i][k] = e[k].val;
	}
	f->len[i] = (uint32_t)n;
	if (!f->threaded) {
		size_t put;

		f->error = put_run(f, i, &put);
		f->done += put;
		return f->error ? refused(f, err) : 0;
	}
	pthread_mutex_lock(&f->lock);
	f->tail++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fill_free(struct vg_trie_fill *f)
{
	for (unsigned i = 0; i < FILLQ; i++) {
		free(f->keys[i]);
		free(f->vals[i]);
	}
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int vg_trie_fill_start(struct vg_trie_fill **out, int fd, struct vg_err *err)
{
	struct vg_trie_fill *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return vg_err_set(err, ENOMEM, "enforce_nomem", "$", "out of memory filling the egress policy");
	f->fd = fd;
	f->sink = (struct vg_enf_sink){ .chunk = fill_chunk, .arg = f, .every = FILL_RUN };
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	for (unsigned i = 0; i < FILLQ; i++) {
		f->keys[i] = malloc(FILL_RUN * sizeof(*f->keys[i]));
		f->vals[i] = malloc(FILL_RUN * sizeof(*f->vals[i]));
		if (!f->keys[i] || !f->vals[i]) {
			fill_free(f);
			return vg_err_set(err, ENOMEM, "enforce_nomem", "$", "out of memory filling the egress policy");
		}
	}
	/* no thread (resource limits): the runs go in inline, as before */
	f->threaded = pthread_create(&f->thread, NULL, fill_main, f) == 0;
	*out = f;
	return 0;
}

const struct vg_enf_sink *vg_trie_fill_sink(struct vg_trie_fill *f)
{
	return &f->sink;
}

int vg_trie_fill_end(struct vg_trie_fill *f, uint64_t *cpu_ms, struct vg_err *err)
{
	int r = 0;

	if (f->threaded) {
		pthread_mutex_lock(&f->lock);
		f->closed = true;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->thread, NULL);
	}
	if (f->error)
		r = refused(f, err);
	if (cpu_ms)
		*cpu_ms = f->cpu_us / 1000;
	fill_free(f);
	return r;
}
