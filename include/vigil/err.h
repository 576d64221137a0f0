/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error reports meant for people: what was wrong (msg), where (path: file,
 * JSON path or line), and a stable machine code for audit events (code).
 * Functions return 0 or -errno; the details go into a struct vg_err.
 */
#ifndef VIGIL_ERR_H
#define VIGIL_ERR_H

#include <stdarg.h>

struct vg_err {
	char code[48];	/* stable reason code, e.g. "signature_invalid" */
	char path[256]; /* JSON path ("$.tenants[2].egress[0].cidr"), file or line */
	char msg[768];	/* what was wrong and what to do */
};

/* Fill err (if non-NULL) and return -errnum, so callers can write: return vg_err_set(...) */
int vg_err_set(struct vg_err *err, int errnum, const char *code, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void vg_err_clear(struct vg_err *err);
/* "path: msg" or "msg" */
const char *vg_err_str(const struct vg_err *err, char *buf, unsigned long len);

#endif
