/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Progress of long vigilctl work on a terminal (docs/vigilctl.md): a thread redraws
 * one line on stderr every 250 ms — the phase, a count the work advances (records,
 * bytes) and the time spent — and erases it when the work ends. Nothing is printed
 * when stderr is not a terminal or with --json, so scripts see no difference.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vigil/util.h"
#include "vigilctl.h"

static void draw(struct vgctl_progress *p)
{
	double secs = (double)(vg_now_ms_monotonic() - p->start_ms) / 1000.0;
	const char *phase = __atomic_load_n(&p->phase, __ATOMIC_ACQUIRE);
	char count[64] = "";

	if (p->count) {
		unsigned long long n = __atomic_load_n(p->count, __ATOMIC_RELAXED);

		if (p->unit && !strcmp(p->unit, "bytes"))
			snprintf(count, sizeof(count), ", %.1f MB", (double)n / 1048576.0);
		else
			snprintf(count, sizeof(count), ", %llu %s", n, p->unit ? p->unit : "");
	}
	fprintf(stderr, "\r\033[K%s%s (%.1f s)", phase ? phase : "", count, secs);
	fflush(stderr);
}

/* $VIGILCTL_PROGRESS_DELAY: seconds before the line appears (like git's GIT_PROGRESS_DELAY),
 * 0.5 unless set to a number from 0 to 60 */
static uint64_t delay_ms(void)
{
	const char *v = getenv("VIGILCTL_PROGRESS_DELAY");
	char *end;
	double s;

	if (!v || !*v)
		return 500;
	s = strtod(v, &end);
	if (*end || !(s >= 0 && s <= 60))
		return 500;
	return (uint64_t)(s * 1000.0);
}

static void *run(void *arg)
{
	struct vgctl_progress *p = arg;
	struct timespec ts = { 0, 250 * 1000 * 1000 };

	for (;;) {
		if (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE))
			break;
		if (vg_now_ms_monotonic() - p->start_ms >= p->delay_ms)
			draw(p);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

void vgctl_progress_start(struct vgctl *c, struct vgctl_progress *p, const char *phase, const uint64_t *count,
			  const char *unit)
{
	memset(p, 0, sizeof(*p));
	p->phase = phase;
	p->count = count;
	p->unit = unit;
	p->start_ms = vg_now_ms_monotonic();
	p->delay_ms = delay_ms();
	/* quiet in scripts: only a terminal gets the line, and only for work longer than the delay */
	if (c->json || !isatty(STDERR_FILENO))
		return;
	p->running = pthread_create(&p->thread, NULL, run, p) == 0;
}

void vgctl_progress_phase(struct vgctl_progress *p, const char *phase)
{
	__atomic_store_n(&p->phase, phase, __ATOMIC_RELEASE);
}

void vgctl_progress_stop(struct vgctl_progress *p)
{
	if (!p->running)
		return;
	__atomic_store_n(&p->done, true, __ATOMIC_RELEASE);
	pthread_join(p->thread, NULL);
	p->running = false;
	if (vg_now_ms_monotonic() - p->start_ms >= p->delay_ms) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}
