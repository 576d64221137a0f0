/* SPDX-License-Identifier: Apache-2.0 */
/* The local security key, driven by a worker thread of vigild (agent/elevation_key.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <openssl/crypto.h>

#include "elevation_key.h"
#include "vigil/fido_dev.h"
#include "vigil/util.h"

#define CANCEL_POLL_MS 200u
/* how long an operation waits behind another (a touch wait) before it is answered key_busy */
#define QUEUE_WAIT_MS 2000u
/* the probe's open key waits this long for the same caller's key_assert (one enumeration and
 * CTAPHID_INIT per step-up, as when the PAM process held it) */
#define HOLD_MS 5000u

enum job_kind { JOB_PROBE, JOB_ASSERT };

struct job {
	enum job_kind kind;
	struct vg_client *client;
	pid_t pid;	/* the caller */
	uint32_t uid;	/* its requester uid (struct vg_requester) */
	char user[64];	/* whose step-up */
	uint64_t handed; /* monotonic ms it was handed over */
	char test_path[512];
	struct vg_key_sign sign;
	/* results, written by the worker */
	int r;
	struct vg_err err;
	json_t *reply;
	struct job *next;
};

static struct {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	bool running, stop;
	/* under mu */
	struct job *queue, **queue_tail, *done, **done_tail;
	struct job *current;   /* the job the worker is on */
	fido_dev_t *open_dev;  /* its device while a touch may be awaited (fido_dev_cancel) */
	bool cancel_sent;
	unsigned queued;       /* queued + current: the VG_KEY_QUEUE_MAX bound */
	/* worker only: the key the last probe opened, kept for that caller's assertion */
	fido_dev_t *held;
	pid_t held_pid;
	char held_path[512];
	uint64_t held_until;
	/* loop only */
	int cancel_timer;
} K = { .mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1 };

static void sign_clear(struct vg_key_sign *s)
{
	for (size_t i = 0; i < s->ncreds; i++)
		free(s->cred[i]);
	if (s->pin) {
		OPENSSL_cleanse(s->pin, strlen(s->pin));
		free(s->pin);
	}
	memset(s, 0, sizeof(*s));
}

static void job_free(struct job *j)
{
	sign_clear(&j->sign);
	json_decref(j->reply);
	free(j);
}

/* libfido2 1.12 hands out authenticatorData CBOR-wrapped (a byte string); the verifier wants
 * the raw bytes. Bounded: the header must describe exactly the remaining length. */
static int unwrap_bstr(const uint8_t *p, size_t len, const uint8_t **raw, size_t *raw_len)
{
	size_t hdr, n;

	if (len < 1 || (p[0] & 0xe0) != 0x40)
		return -EINVAL;
	switch (p[0] & 0x1f) {
	case 24:
		if (len < 2)
			return -EINVAL;
		hdr = 2;
		n = p[1];
		break;
	case 25:
		if (len < 3)
			return -EINVAL;
		hdr = 3;
		n = (size_t)p[1] << 8 | p[2];
		break;
	default:
		if ((p[0] & 0x1f) > 23)
			return -EINVAL;
		hdr = 1;
		n = p[0] & 0x1f;
	}
	if (hdr + n != len)
		return -EINVAL;
	*raw = p + hdr;
	*raw_len = n;
	return 0;
}

/* the step_up_failed reason of docs/pam.md for a libfido2 error */
static const char *fido_why(int r)
{
	switch (r) {
	case FIDO_ERR_USER_ACTION_TIMEOUT:
	case FIDO_ERR_ACTION_TIMEOUT:
	case FIDO_ERR_RX:
		return "timeout";
	case FIDO_ERR_NO_CREDENTIALS:
		return "wrong_key";
	case FIDO_ERR_PIN_INVALID:
	case FIDO_ERR_PIN_BLOCKED:
	case FIDO_ERR_PIN_AUTH_BLOCKED:
	case FIDO_ERR_UV_BLOCKED:
	case FIDO_ERR_UV_INVALID:
	case FIDO_ERR_UNSUPPORTED_OPTION:
		return "uv_missing";
	default:
		return "key_error";
	}
}

static void set_dev(fido_dev_t *dev)
{
	pthread_mutex_lock(&K.mu);
	K.open_dev = dev;
	K.cancel_sent = false;
	pthread_mutex_unlock(&K.mu);
}

static void release_held(void)
{
	vg_fido_dev_close(&K.held);
	K.held_pid = 0;
}

/* the probe's device when this caller's assertion follows it, else a fresh one */
static int take_dev(const struct job *j, fido_dev_t **dev, struct vg_err *err)
{
	if (K.held && K.held_pid == j->pid && strcmp(K.held_path, j->test_path) == 0 &&
	    vg_now_ms_monotonic() < K.held_until) {
		*dev = K.held;
		K.held = NULL;
		K.held_pid = 0;
		return 0;
	}
	release_held();
	return vg_fido_dev_open_exact(j->test_path, dev, err);
}

static void run_probe(struct job *j)
{
	fido_dev_t *dev = NULL;
	struct vg_err err = { 0 };
	int r;

	release_held();
	r = vg_fido_dev_open_exact(j->test_path, &dev, &err);
	if (r == 0) {
		K.held = dev;
		K.held_pid = j->pid;
		snprintf(K.held_path, sizeof(K.held_path), "%s", j->test_path);
		K.held_until = vg_now_ms_monotonic() + HOLD_MS;
	}
	j->reply = json_pack("{s:s, s:s}", "key", r == 0 ? "present" : r == -ENODEV ? "absent" : "unusable", "detail",
			     r == 0 ? "" : err.msg);
	j->r = j->reply ? 0 : -ENOMEM;
}

static int assert_result(struct job *j, fido_assert_t *as)
{
	const uint8_t *raw;
	size_t raw_len;
	_cleanup_free_ char *id = NULL, *ad = NULL, *sig = NULL;

	if (fido_assert_count(as) != 1 ||
	    unwrap_bstr(fido_assert_authdata_ptr(as, 0), fido_assert_authdata_len(as, 0), &raw, &raw_len) < 0)
		return vg_err_set(&j->err, EIO, "key_error", "security key", "unexpected assertion shape from the key");
	id = vg_b64_encode(fido_assert_id_ptr(as, 0), fido_assert_id_len(as, 0), true);
	ad = vg_b64_encode(raw, raw_len, false);
	sig = vg_b64_encode(fido_assert_sig_ptr(as, 0), fido_assert_sig_len(as, 0), false);
	if (!id || !ad || !sig ||
	    !(j->reply = json_pack("{s:s, s:s, s:s}", "credential_id", id, "auth_data", ad, "signature", sig)))
		return vg_err_set(&j->err, ENOMEM, "key_error", "security key", "out of memory");
	return 0;
}

static int run_assert(struct job *j)
{
	struct vg_key_sign *s = &j->sign;
	fido_dev_t *dev = NULL;
	fido_assert_t *as = NULL;
	int fr, r;

	if ((r = take_dev(j, &dev, &j->err)) < 0) {
		snprintf(j->err.code, sizeof(j->err.code), "%s", r == -ENODEV ? "no_key" : "key_error");
		return r;
	}
	r = -ENOMEM;
	if (!(as = fido_assert_new()) || fido_assert_set_rp(as, s->rp_id) != FIDO_OK ||
	    fido_assert_set_clientdata_hash(as, s->client_data_hash, 32) != FIDO_OK ||
	    fido_assert_set_up(as, FIDO_OPT_TRUE) != FIDO_OK ||
	    /* a PIN makes the user verified; the uv option itself is then omitted */
	    fido_assert_set_uv(as, s->uv && !s->pin ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) != FIDO_OK) {
		vg_err_set(&j->err, EIO, "key_error", "security key", "cannot build the assertion request");
		goto out;
	}
	for (size_t i = 0; i < s->ncreds; i++)
		fido_assert_allow_cred(as, s->cred[i], s->cred_len[i]);
	/* bounded: a key nobody touches ends the wait */
	fido_dev_set_timeout(dev, (int)(s->touch_timeout_s * 1000u));
	set_dev(dev);
	fr = fido_dev_get_assert(dev, as, s->pin);
	set_dev(NULL);
	if (!s->pin && (fr == FIDO_ERR_PIN_REQUIRED || (fr == FIDO_ERR_UNSUPPORTED_OPTION && s->uv && fido_dev_has_pin(dev)))) {
		vg_err_set(&j->err, EACCES, "pin_required", "security key", "the security key asks for its PIN");
		r = -EACCES;
		goto out;
	}
	if (fr != FIDO_OK) {
		vg_err_set(&j->err, EPERM, fido_why(fr), "security key", "libfido2: %s", fido_strerr(fr));
		r = -EPERM;
		goto out;
	}
	r = assert_result(j, as);
out:
	fido_assert_free(&as);
	vg_fido_dev_close(&dev);
	return r;
}

/* under K.mu: sleep until a job comes or the monotonic deadline (ms) passes */
static void wait_until(uint64_t deadline_ms)
{
	uint64_t now = vg_now_ms_monotonic(), left = deadline_ms > now ? deadline_ms - now : 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&K.cv, &K.mu, &ts);
}

static void *worker_main(void *arg)
{
	uint64_t one = 1;

	(void)arg;
	pthread_mutex_lock(&K.mu);
	for (;;) {
		struct job *j;

		while (!K.queue && !K.stop) {
			if (!K.held) {
				pthread_cond_wait(&K.cv, &K.mu);
				continue;
			}
			/* a held key is let go when its caller does not come back in time */
			if (vg_now_ms_monotonic() >= K.held_until) {
				pthread_mutex_unlock(&K.mu);
				release_held();
				pthread_mutex_lock(&K.mu);
				continue;
			}
			wait_until(K.held_until);
		}
		if (!K.queue)
			break;
		j = K.queue;
		if (!(K.queue = j->next))
			K.queue_tail = &K.queue;
		K.current = j;
		pthread_mutex_unlock(&K.mu);
		if (j->kind == JOB_PROBE)
			run_probe(j);
		else
			j->r = run_assert(j);
		pthread_mutex_lock(&K.mu);
		K.current = NULL;
		j->next = NULL;
		*K.done_tail = j;
		K.done_tail = &j->next;
		if (write(K.efd, &one, sizeof(one)) < 0) {
			/* the eventfd counter cannot overflow here; nothing to do */
		}
	}
	pthread_mutex_unlock(&K.mu);
	release_held();
	return NULL;
}

/* loop: answer what the worker finished */
static void on_done(struct vg_daemon *d, int fd, uint32_t events, void *arg)
{
	uint64_t v;
	struct job *list, *next;

	(void)events;
	(void)arg;
	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a wake-up already taken */
	}
	pthread_mutex_lock(&K.mu);
	list = K.done;
	K.done = NULL;
	K.done_tail = &K.done;
	pthread_mutex_unlock(&K.mu);
	for (; list; list = next) {
		next = list->next;
		pthread_mutex_lock(&K.mu);
		K.queued--;
		pthread_mutex_unlock(&K.mu);
		vg_client_reply(d, list->client, list->r, list->reply, &list->err);
		list->reply = NULL;
		job_free(list);
	}
}

/* loop: a caller that hung up while its key waits for a touch cancels the wait (CTAPHID_CANCEL);
 * the worker then moves on to the next caller instead of blinking for nobody */
static struct vg_err busy_err(void)
{
	struct vg_err e = { 0 };

	vg_err_set(&e, EBUSY, "key_busy", "security key",
		   "the security key is waiting for another step-up's touch; try again when it is done");
	return e;
}

/* under K.mu: take out the waiting operations whose caller hung up or that waited QUEUE_WAIT_MS */
static struct job *take_stale(uint64_t now)
{
	struct job **pp = &K.queue, *stale = NULL;

	while (*pp) {
		struct job *j = *pp;

		if (now >= j->handed + QUEUE_WAIT_MS || vg_client_gone(j->client)) {
			*pp = j->next;
			j->next = stale;
			stale = j;
			K.queued--;
		} else {
			pp = &j->next;
		}
	}
	K.queue_tail = pp;
	return stale;
}

/* loop, while operations are pending: a caller that hung up while its key waits for a touch
 * cancels the wait (CTAPHID_CANCEL), so the worker moves on instead of blinking for nobody; an
 * operation that would wait behind a touch longer than QUEUE_WAIT_MS is answered key_busy (a
 * real key answers a second caller "channel busy" at once) */
static void cancel_poll(struct vg_daemon *d, void *arg)
{
	struct job *stale, *next;
	bool busy;

	(void)arg;
	K.cancel_timer = 0;
	pthread_mutex_lock(&K.mu);
	if (K.current && K.open_dev && !K.cancel_sent && vg_client_gone(K.current->client)) {
		fido_dev_cancel(K.open_dev);
		K.cancel_sent = true;
	}
	stale = take_stale(vg_now_ms_monotonic());
	busy = K.queued > 0;
	pthread_mutex_unlock(&K.mu);
	for (; stale; stale = next) {
		struct vg_err e = busy_err();

		next = stale->next;
		vg_client_reply(d, stale->client, -EBUSY, NULL, &e);
		job_free(stale);
	}
	/* polled only while operations are pending: an idle vigild is not woken */
	if (K.running && busy)
		K.cancel_timer = vg_loop_add_timer(d, CANCEL_POLL_MS, cancel_poll, NULL);
}

int vg_key_start(struct vg_daemon *d, struct vg_err *err)
{
	int r;

	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&K.cv, &ca);
	pthread_condattr_destroy(&ca);
	K.queue = K.done = NULL;
	K.queue_tail = &K.queue;
	K.done_tail = &K.done;
	K.stop = false;
	K.queued = 0;
	K.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (K.efd < 0)
		return vg_err_set(err, errno, "internal", "security key", "eventfd: %s", strerror(errno));
	if ((r = vg_loop_add_fd(d, K.efd, EPOLLIN, on_done, NULL)) < 0) {
		close(K.efd);
		K.efd = -1;
		return vg_err_set(err, -r, "internal", "security key", "cannot watch the key worker: %s", strerror(-r));
	}
	if ((r = pthread_create(&K.th, NULL, worker_main, NULL)) != 0) {
		vg_loop_del_fd(d, K.efd);
		close(K.efd);
		K.efd = -1;
		return vg_err_set(err, r, "internal", "security key", "cannot start the key worker: %s", strerror(r));
	}
	K.running = true;
	return 0;
}

void vg_key_stop(struct vg_daemon *d)
{
	struct job *j, *next;

	if (!K.running)
		return;
	pthread_mutex_lock(&K.mu);
	K.stop = true;
	/* a touch being awaited ends now: vigild is going away */
	if (K.open_dev && !K.cancel_sent)
		fido_dev_cancel(K.open_dev);
	for (j = K.queue; j; j = next) {
		next = j->next;
		job_free(j);
	}
	K.queue = NULL;
	K.queue_tail = &K.queue;
	pthread_cond_signal(&K.cv);
	pthread_mutex_unlock(&K.mu);
	pthread_join(K.th, NULL);
	for (j = K.done; j; j = next) {
		next = j->next;
		job_free(j);
	}
	K.done = NULL;
	K.running = false;
	if (K.cancel_timer > 0)
		vg_loop_cancel_timer(d, K.cancel_timer);
	K.cancel_timer = 0;
	vg_loop_del_fd(d, K.efd);
	close(K.efd);
	K.efd = -1;
}

void vg_key_test_path(const struct vg_peer *peer, const char *path, char *out, size_t len)
{
	out[0] = 0;
#if VIGIL_TEST_HOOKS
	if (path && path[0] == '/' && peer->pid > 0)
		snprintf(out, len, "/proc/%d/root%s", (int)peer->pid, path);
#else
	(void)peer;
	(void)path;
	(void)len;
#endif
}

/* a probe or an assertion of the same requester for the same user while one of its assertions
 * waits: it would only wait behind it */
static bool same_requester(const struct job *q, const struct job *j)
{
	/* one whose caller hung up is being cancelled: the caller's retry waits for that, briefly */
	return q && q->kind == JOB_ASSERT && q->uid == j->uid && strcmp(q->user, j->user) == 0 &&
	       !vg_client_gone(q->client);
}

/* under K.mu: an assertion of the same requester for the same user runs or waits */
static bool requester_waiting(const struct job *j)
{
	if (same_requester(K.current, j))
		return true;
	for (const struct job *q = K.queue; q; q = q->next)
		if (same_requester(q, j))
			return true;
	return false;
}

/* One key operation at a time, VG_KEY_QUEUE_MAX waiting, and one assertion per requester and user:
 * a user cannot hold the key's queue for others by parking prompts. */
static int hand_over(struct vg_daemon *d, struct job *j, struct vg_err *err)
{
	int r;

	pthread_mutex_lock(&K.mu);
	if (!K.running) {
		pthread_mutex_unlock(&K.mu);
		job_free(j);
		return vg_err_set(err, EIO, "key_unavailable", "security key",
				  "vigild cannot drive the local security key (see its log); use remote step-up");
	}
	if (requester_waiting(j)) {
		pthread_mutex_unlock(&K.mu);
		r = vg_err_set(err, EBUSY, "key_busy", "security key",
			       "a step-up of %s by uid %u is already waiting for the security key; finish or cancel it first",
			       j->user, (unsigned)j->uid);
		job_free(j);
		return r;
	}
	if (K.queued >= VG_KEY_QUEUE_MAX) {
		pthread_mutex_unlock(&K.mu);
		job_free(j);
		return vg_err_set(err, EBUSY, "key_busy", "security key",
				  "%u security-key operations are already waiting; try again when they are done",
				  VG_KEY_QUEUE_MAX);
	}
	j->client = vg_ctl_defer(d);
	j->handed = vg_now_ms_monotonic();
	K.queued++;
	*K.queue_tail = j;
	K.queue_tail = &j->next;
	pthread_cond_signal(&K.cv);
	pthread_mutex_unlock(&K.mu);
	if (K.cancel_timer <= 0)
		K.cancel_timer = vg_loop_add_timer(d, CANCEL_POLL_MS, cancel_poll, NULL);
	return -EINPROGRESS;
}

int vg_key_probe(struct vg_daemon *d, pid_t pid, uint32_t uid, const char *user, const char *test_path,
		 struct vg_err *err)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return vg_err_set(err, ENOMEM, "internal", "security key", "out of memory");
	j->kind = JOB_PROBE;
	j->pid = pid;
	j->uid = uid;
	snprintf(j->user, sizeof(j->user), "%s", user);
	snprintf(j->test_path, sizeof(j->test_path), "%s", test_path ? test_path : "");
	return hand_over(d, j, err);
}

int vg_key_assert(struct vg_daemon *d, pid_t pid, uint32_t uid, const char *user, const char *test_path,
		  struct vg_key_sign *sign, struct vg_err *err)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		sign_clear(sign);
		return vg_err_set(err, ENOMEM, "internal", "security key", "out of memory");
	}
	j->kind = JOB_ASSERT;
	j->pid = pid;
	j->uid = uid;
	snprintf(j->user, sizeof(j->user), "%s", user);
	j->sign = *sign;
	memset(sign, 0, sizeof(*sign));
	snprintf(j->test_path, sizeof(j->test_path), "%s", test_path ? test_path : "");
	return hand_over(d, j, err);
}
