/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the audit record decoder and verifier, in memory and through the segment reader. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigil/auditlog.h"
#include "vigil/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static char dir[64];

static void cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	struct vg_err err;

	vg_key_generate("ed25519", &key, &err);
	snprintf(dir, sizeof(dir), "/tmp/fuzz-auditlog-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vg_audit_verify v;
	struct vg_arec rec;
	struct vg_err err;
	size_t off = 0, used;
	char path[128];
	FILE *f;
	int k;

	if (!key)
		setup();
	/* what verify does with the bytes of one segment, without the file system */
	vg_audit_verify_init(&v, key, 0);
	while ((k = vg_arec_decode(data + off, size - off, &rec, &used)) == 1) {
		vg_audit_verify_feed(&v, &rec);
		off += used;
	}
	if (k < 0)
		vg_audit_verify_bad_bytes(&v, "fuzz");
	else if (off < size)
		vg_audit_verify_partial(&v, size - off);
	vg_audit_verify_finish(&v);

	/* the same bytes as a segment file, through the reader */
	snprintf(path, sizeof(path), "%s/00000000000000000001.seg", dir);
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	vg_audit_verify_init(&v, key, 0);
	vg_audit_verify_dir(dir, &v, NULL, &err);

	/* and as a collector's copy (one CloudEvent per line) */
	struct vg_audit_events *ev = NULL;

	if (vg_audit_events_load(path, NULL, &ev, &err) == 0) {
		for (size_t i = 0; i < vg_audit_events_logs(ev); i++) {
			vg_audit_verify_init(&v, key, 0);
			vg_audit_events_verify(ev, i, &v, NULL);
		}
		vg_audit_events_free(ev);
	}
	return 0;
}
