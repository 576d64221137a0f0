/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vigil/err.h"

int vg_err_set(struct vg_err *err, int errnum, const char *code, const char *path, const char *fmt, ...)
{
	va_list ap;

	if (errnum < 0)
		errnum = -errnum;
	if (!err)
		return -errnum;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "error");
	snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -errnum;
}

void vg_err_clear(struct vg_err *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

const char *vg_err_str(const struct vg_err *err, char *buf, unsigned long len)
{
	if (err->path[0])
		snprintf(buf, len, "%s: %s", err->path, err->msg);
	else
		snprintf(buf, len, "%s", err->msg);
	return buf;
}
