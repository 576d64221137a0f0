/* SPDX-License-Identifier: Apache-2.0 */
/* softfido internals: persistent state (state.c), CTAP2 commands (ctap2.c), CTAPHID (ctaphid.c). */
#ifndef SOFTFIDO_INTERNAL_H
#define SOFTFIDO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define SF_MAX_CREDS 64
#define SF_CRED_ID_LEN 32
#define SF_MAX_MSG 2048	     /* largest CTAPHID message accepted (maxMsgSize in getInfo) */
#define SF_REPORT 64	     /* CTAPHID report size */
#define SF_PIN_RETRIES 8

/* CTAP2 status codes used here */
#define CTAP1_ERR_INVALID_COMMAND 0x01
#define CTAP1_ERR_INVALID_PARAMETER 0x02
#define CTAP1_ERR_INVALID_LENGTH 0x03
#define CTAP1_ERR_INVALID_SEQ 0x04
#define CTAP2_ERR_INVALID_CBOR 0x12
#define CTAP2_ERR_MISSING_PARAMETER 0x14
#define CTAP2_ERR_CREDENTIAL_EXCLUDED 0x19
#define CTAP2_ERR_UNSUPPORTED_ALGORITHM 0x26
#define CTAP2_ERR_OPERATION_DENIED 0x27
#define CTAP2_ERR_UNSUPPORTED_OPTION 0x2B
#define CTAP2_ERR_KEEPALIVE_CANCEL 0x2D
#define CTAP2_ERR_NO_CREDENTIALS 0x2E
#define CTAP2_ERR_USER_ACTION_TIMEOUT 0x2F
#define CTAP2_ERR_PIN_INVALID 0x31
#define CTAP2_ERR_PIN_BLOCKED 0x32
#define CTAP2_ERR_PIN_AUTH_INVALID 0x33
#define CTAP2_ERR_PIN_NOT_SET 0x35
#define CTAP2_ERR_PIN_REQUIRED 0x36
#define CTAP2_ERR_INVALID_SUBCOMMAND 0x3E
#define CTAP1_ERR_OTHER 0x7F

enum sf_uv { SF_UV_OFF = 0, SF_UV_ON, SF_UV_FAIL };
enum sf_counter { SF_COUNTER_INCREMENT = 0, SF_COUNTER_FROZEN, SF_COUNTER_ZERO };

struct sf_cred {
	uint8_t id[SF_CRED_ID_LEN];
	int alg; /* COSE */
	char rp_id[256];
	uint8_t user_id[64];
	size_t user_id_len;
	EVP_PKEY *key;
};

struct sf_state {
	uint8_t aaguid[16];
	uint32_t counter;
	bool touch;
	unsigned notouch_ms;
	enum sf_uv uv;
	enum sf_counter counter_mode;
	bool wrong_key;
	bool attest_none;
	bool has_pin;
	uint8_t pin_hash[16]; /* LEFT(SHA-256(pin), 16), as CTAP2 clientPIN compares it */
	unsigned pin_retries;
	size_t ncreds;
	struct sf_cred creds[SF_MAX_CREDS];
};

/* The state file, locked for the whole load-change-save (flock on PATH.lock). */
struct sf_lock {
	int fd;
};
int sf_state_lock(const char *path, struct sf_lock *lk);
void sf_state_unlock(struct sf_lock *lk);
int sf_state_load(const char *path, struct sf_state *st);
int sf_state_save(const char *path, const struct sf_state *st);
void sf_state_free(struct sf_state *st);
void sf_state_defaults(struct sf_state *st);
/* one knob of softfido_set(), applied to a loaded state */
int softfido_set_in(struct sf_state *st, const char *key, const char *value);

/* A session of one opened device: what a power cycle would reset. */
struct sf_session {
	EVP_PKEY *ka_key;  /* clientPIN key agreement */
	uint8_t pin_token[32];
	bool have_token;
};
void sf_session_free(struct sf_session *s);

/* Result of one CTAP2 command. touch_timeout: it waits for a touch that never comes. */
struct sf_reply {
	uint8_t status;
	uint8_t *body; /* CBOR, malloc'd, may be NULL */
	size_t body_len;
	bool touch_timeout;
	unsigned touch_wait_ms; /* how long the key waits before giving up */
};
void sf_ctap2(const char *path, struct sf_session *s, const uint8_t *req, size_t len, struct sf_reply *rep);

EVP_PKEY *sf_keygen(int alg);

#endif
