// SPDX-License-Identifier: Apache-2.0
/*
 * softfido's CTAPHID transport: libfido2 writes 64-byte reports (plus the
 * report id byte) through softfido_io.write and reads 64-byte reports back
 * through softfido_io.read. Messages are reassembled from INIT/CONT frames,
 * answered, and the answer is queued as frames. A command that waits for a
 * touch that never comes answers KEEPALIVE(UPNEEDED) frames until notouch_ms
 * has passed, then CTAP2_ERR_USER_ACTION_TIMEOUT, as a real key does.
 * The time the key spends answering (work a hardware key does on its own
 * processor) is appended in microseconds to $SOFTFIDO_TIME_LOG, if set, when
 * the device closes: bench/pam.sh tells it apart from the host's time.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "internal.h"
#include "softfido.h"

#define HID_PING 0x01
#define HID_MSG 0x03
#define HID_INIT 0x06
#define HID_WINK 0x08
#define HID_CBOR 0x10
#define HID_CANCEL 0x11
#define HID_KEEPALIVE 0x3B
#define HID_ERROR 0x3F
#define FRAME_INIT 0x80
#define CAP_WINK 0x01
#define CAP_CBOR 0x04
#define STATUS_UPNEEDED 0x02
#define KEEPALIVE_MS 100

static const uint8_t broadcast[4] = { 0xff, 0xff, 0xff, 0xff };

struct sf_handle {
	char *path;
	struct sf_session session;
	/* request being reassembled */
	uint8_t req[SF_MAX_MSG];
	uint8_t req_cid[4];
	uint8_t req_cmd;
	size_t req_len, req_have;
	uint8_t next_seq;
	bool assembling;
	/* reply frames waiting to be read */
	uint8_t *out;
	size_t out_len, out_off;
	/* a command waiting for a touch that never comes */
	bool pending;
	uint64_t pending_deadline_ms;
	uint8_t pending_cid[4];
	uint64_t busy_us; /* spent answering frames */
	/* a CANCEL may be written from another thread while one reads (vigild's loop cancels the
	 * touch wait of a caller that hung up, as a real key's hidraw allows) */
	pthread_mutex_t mu;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Queue one message as INIT + CONT frames. */
static int queue_msg(struct sf_handle *h, const uint8_t cid[4], uint8_t cmd, const uint8_t *data, size_t len)
{
	size_t nframes = 1 + (len > SF_REPORT - 7 ? (len - (SF_REPORT - 7) + SF_REPORT - 6) / (SF_REPORT - 5) : 0);
	size_t off = 0;
	uint8_t *f;

	if (len > UINT16_MAX)
		return -EINVAL;
	/* drop what was already read so the queue does not grow forever */
	if (h->out_off == h->out_len) {
		h->out_len = h->out_off = 0;
	}
	f = realloc(h->out, h->out_len + nframes * SF_REPORT);
	if (!f)
		return -ENOMEM;
	h->out = f;
	f += h->out_len;
	memset(f, 0, nframes * SF_REPORT);
	for (size_t i = 0; i < nframes; i++, f += SF_REPORT) {
		size_t room = i == 0 ? SF_REPORT - 7 : SF_REPORT - 5, n = len - off < room ? len - off : room;

		memcpy(f, cid, 4);
		if (i == 0) {
			f[4] = FRAME_INIT | cmd;
			f[5] = (uint8_t)(len >> 8);
			f[6] = (uint8_t)len;
			memcpy(f + 7, data + off, n);
		} else {
			f[4] = (uint8_t)(i - 1);
			memcpy(f + 5, data + off, n);
		}
		off += n;
	}
	h->out_len += nframes * SF_REPORT;
	return 0;
}

static void queue_error(struct sf_handle *h, const uint8_t cid[4], uint8_t code)
{
	queue_msg(h, cid, HID_ERROR, &code, 1);
}

static void queue_status(struct sf_handle *h, const uint8_t cid[4], uint8_t status, const uint8_t *body, size_t len)
{
	uint8_t *buf = malloc(len + 1);

	if (!buf) {
		queue_error(h, cid, CTAP1_ERR_OTHER);
		return;
	}
	buf[0] = status;
	if (len)
		memcpy(buf + 1, body, len);
	queue_msg(h, cid, HID_CBOR, buf, len + 1);
	free(buf);
}

static void handle_cbor(struct sf_handle *h)
{
	struct sf_reply rep;

	sf_ctap2(h->path, &h->session, h->req, h->req_len, &rep);
	if (rep.touch_timeout) {
		h->pending = true;
		h->pending_deadline_ms = now_ms() + rep.touch_wait_ms;
		memcpy(h->pending_cid, h->req_cid, 4);
		return;
	}
	queue_status(h, h->req_cid, rep.status, rep.body, rep.status == 0 ? rep.body_len : 0);
	free(rep.body);
}

static void handle_msg(struct sf_handle *h)
{
	uint8_t resp[8];

	switch (h->req_cmd) {
	case HID_INIT:
		if (h->req_len != 8) {
			queue_error(h, h->req_cid, CTAP1_ERR_INVALID_LENGTH);
			return;
		}
		{
			uint8_t reply[17];

			memcpy(reply, h->req, 8);
			/* a fresh channel id (never the broadcast one) */
			do {
				if (RAND_bytes(reply + 8, 4) != 1) {
					queue_error(h, h->req_cid, CTAP1_ERR_OTHER);
					return;
				}
			} while (memcmp(reply + 8, broadcast, 4) == 0 || memcmp(reply + 8, "\0\0\0\0", 4) == 0);
			reply[12] = 2; /* CTAPHID protocol version */
			reply[13] = 1; /* device version major, minor, build */
			reply[14] = 0;
			reply[15] = 0;
			reply[16] = CAP_WINK | CAP_CBOR;
			h->pending = false;
			queue_msg(h, h->req_cid, HID_INIT, reply, sizeof(reply));
		}
		return;
	case HID_PING:
		queue_msg(h, h->req_cid, HID_PING, h->req, h->req_len);
		return;
	case HID_WINK:
		queue_msg(h, h->req_cid, HID_WINK, NULL, 0);
		return;
	case HID_MSG:
		/* no U2F applet: ISO 7816 "instruction not supported" */
		resp[0] = 0x6d;
		resp[1] = 0x00;
		queue_msg(h, h->req_cid, HID_MSG, resp, 2);
		return;
	case HID_CBOR:
		handle_cbor(h);
		return;
	default:
		queue_error(h, h->req_cid, CTAP1_ERR_INVALID_COMMAND);
		return;
	}
}

static int write_frame(struct sf_handle *h, const unsigned char *buf, size_t len)
{
	const uint8_t *f = buf + 1; /* buf[0] is the HID report id */

	if (len != SF_REPORT + 1)
		return -1;
	if (f[4] & FRAME_INIT) {
		uint8_t cmd = f[4] & 0x7f;
		size_t total = (size_t)f[5] << 8 | f[6];

		if (cmd == HID_CANCEL) {
			/* CANCEL has no reply of its own: it ends the waiting command */
			if (h->pending && memcmp(f, h->pending_cid, 4) == 0) {
				h->pending = false;
				queue_status(h, h->pending_cid, CTAP2_ERR_KEEPALIVE_CANCEL, NULL, 0);
			}
			return (int)len;
		}
		if (memcmp(f, broadcast, 4) == 0 && cmd != HID_INIT) {
			queue_error(h, f, CTAP1_ERR_INVALID_PARAMETER);
			return (int)len;
		}
		if (total > SF_MAX_MSG) {
			queue_error(h, f, CTAP1_ERR_INVALID_LENGTH);
			return (int)len;
		}
		memcpy(h->req_cid, f, 4);
		h->req_cmd = cmd;
		h->req_len = total;
		h->req_have = total < SF_REPORT - 7 ? total : SF_REPORT - 7;
		memcpy(h->req, f + 7, h->req_have);
		h->next_seq = 0;
		h->assembling = h->req_have < total;
	} else {
		size_t n;

		if (!h->assembling || memcmp(f, h->req_cid, 4) != 0)
			return (int)len; /* a stray continuation is ignored, as on a real key */
		if (f[4] != h->next_seq) {
			h->assembling = false;
			queue_error(h, f, CTAP1_ERR_INVALID_SEQ);
			return (int)len;
		}
		h->next_seq++;
		n = h->req_len - h->req_have < SF_REPORT - 5 ? h->req_len - h->req_have : SF_REPORT - 5;
		memcpy(h->req + h->req_have, f + 5, n);
		h->req_have += n;
		h->assembling = h->req_have < h->req_len;
	}
	if (!h->assembling)
		handle_msg(h);
	return (int)len;
}

/* a request is answered as its last frame arrives: the key's work happens here */
static int sf_write(void *handle, const unsigned char *buf, size_t len)
{
	struct sf_handle *h = handle;
	uint64_t t0;
	int r;

	pthread_mutex_lock(&h->mu);
	t0 = now_us();
	r = write_frame(h, buf, len);
	h->busy_us += now_us() - t0;
	pthread_mutex_unlock(&h->mu);
	return r;
}

static int sf_read(void *handle, unsigned char *buf, size_t len, int ms)
{
	struct sf_handle *h = handle;
	bool keepalive = false;

	if (len < SF_REPORT)
		return -1;
	pthread_mutex_lock(&h->mu);
	if (h->pending && h->out_off == h->out_len) {
		if (now_ms() < h->pending_deadline_ms) {
			keepalive = true;
		} else {
			h->pending = false;
			queue_status(h, h->pending_cid, CTAP2_ERR_USER_ACTION_TIMEOUT, NULL, 0);
		}
	}
	if (keepalive) {
		uint8_t ka = STATUS_UPNEEDED;

		pthread_mutex_unlock(&h->mu);
		sleep_ms(KEEPALIVE_MS);
		pthread_mutex_lock(&h->mu);
		/* a CANCEL that arrived meanwhile already queued its answer */
		if (h->pending)
			queue_msg(h, h->pending_cid, HID_KEEPALIVE, &ka, 1);
	}
	if (h->out_off == h->out_len) {
		pthread_mutex_unlock(&h->mu);
		/* nothing to say: a silent device; a timeout as hid read would report */
		if (ms > 0)
			sleep_ms(ms < 100 ? (uint64_t)ms : 100);
		return -1;
	}
	memcpy(buf, h->out + h->out_off, SF_REPORT);
	h->out_off += SF_REPORT;
	pthread_mutex_unlock(&h->mu);
	return SF_REPORT;
}

static void *sf_open(const char *path)
{
	struct sf_handle *h;

	if (access(path, R_OK | W_OK) < 0)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	h->path = strdup(path);
	if (!h->path) {
		free(h);
		return NULL;
	}
	return h;
}

static void log_busy(const struct sf_handle *h)
{
	const char *path = getenv("SOFTFIDO_TIME_LOG");
	int fd;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	dprintf(fd, "%llu\n", (unsigned long long)h->busy_us);
	close(fd);
}

static void sf_close(void *handle)
{
	struct sf_handle *h = handle;

	if (!h)
		return;
	log_busy(h);
	sf_session_free(&h->session);
	free(h->out);
	free(h->path);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

const fido_dev_io_t softfido_io = {
	.open = sf_open,
	.close = sf_close,
	.read = sf_read,
	.write = sf_write,
};

int softfido_open(fido_dev_t *dev, const char *path)
{
	int r = fido_dev_set_io_functions(dev, &softfido_io);

	return r != FIDO_OK ? r : fido_dev_open(dev, path);
}
