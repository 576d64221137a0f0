// SPDX-License-Identifier: Apache-2.0
/*
 * Open "the security key". Production: the first FIDO2 device libfido2
 * enumerates. Test builds (-DVIGIL_TEST_HOOKS=1) first look for a softfido
 * state file; nothing of that path is compiled into production builds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigil/fido_dev.h"

#define MAX_DEVICES 16

#if VIGIL_TEST_HOOKS
#include "../tests/softfido/softfido.h"

/* The softfido state file a test named, or NULL when none exists; -errno in *why when the
 * one the test named exists but the caller's real uid cannot use it (a key out of reach). */
static const char *test_softfido_path(const char *test_path, bool exact, int *why)
{
	*why = 0;
	if (test_path && *test_path) {
		if (access(test_path, R_OK | W_OK) == 0)
			return test_path;
		if (errno != ENOENT) {
			*why = -errno;
			return test_path;
		}
	}
	return exact ? NULL : vg_fido_test_path(NULL);
}
#endif

void vg_fido_dev_close(fido_dev_t **dev)
{
	if (!dev || !*dev)
		return;
	fido_dev_close(*dev);
	fido_dev_free(dev);
}

static int open_first_device(fido_dev_t **out, struct vg_err *err)
{
	fido_dev_info_t *list = fido_dev_info_new(MAX_DEVICES);
	size_t n = 0;
	int r, last = FIDO_OK;

	if (!list)
		return vg_err_set(err, ENOMEM, "out_of_memory", "security key", "out of memory");
	r = fido_dev_info_manifest(list, MAX_DEVICES, &n);
	if (r != FIDO_OK || n == 0) {
		fido_dev_info_free(&list, MAX_DEVICES);
		return vg_err_set(err, ENODEV, "no_key", "security key",
				  "no FIDO2 security key found: plug in your key and try again");
	}
	for (size_t i = 0; i < n; i++) {
		const fido_dev_info_t *di = fido_dev_info_ptr(list, i);
		fido_dev_t *dev = fido_dev_new();

		if (!dev)
			break;
		last = fido_dev_open(dev, fido_dev_info_path(di));
		/* a U2F-only key cannot do CTAP2 assertions with UV: skip it */
		if (last == FIDO_OK && fido_dev_is_fido2(dev)) {
			*out = dev;
			fido_dev_info_free(&list, MAX_DEVICES);
			return 0;
		}
		if (last == FIDO_OK)
			fido_dev_close(dev);
		fido_dev_free(&dev);
	}
	fido_dev_info_free(&list, MAX_DEVICES);
	return vg_err_set(err, EIO, "key_open_failed", "security key",
			  "%zu security key(s) found but none could be opened as a FIDO2 key (%s); "
			  "check permissions on /dev/hidraw* or try another key",
			  n, last == FIDO_OK ? "U2F only" : fido_strerr(last));
}

static int dev_open(const char *test_path, bool exact, fido_dev_t **out, struct vg_err *err)
{
	*out = NULL;
	fido_init(0);
#if VIGIL_TEST_HOOKS
	{
		int why;
		const char *sf = test_softfido_path(test_path, exact, &why);

		if (sf) {
			fido_dev_t *dev;
			int r;

			if (why < 0)
				return vg_err_set(err, -why, "key_open_failed", sf, "test authenticator %s: %s", sf,
						  strerror(-why));
			dev = fido_dev_new();
			if (!dev)
				return vg_err_set(err, ENOMEM, "out_of_memory", "security key", "out of memory");
			r = softfido_open(dev, sf);
			if (r != FIDO_OK) {
				fido_dev_free(&dev);
				return vg_err_set(err, EIO, "key_open_failed", sf,
						  "cannot open the test authenticator: %s", fido_strerr(r));
			}
			*out = dev;
			return 0;
		}
	}
#else
	(void)test_path;
	(void)exact;
#endif
	return open_first_device(out, err);
}

int vg_fido_dev_open(const char *test_path, fido_dev_t **out, struct vg_err *err)
{
	return dev_open(test_path, false, out, err);
}

int vg_fido_dev_open_exact(const char *test_path, fido_dev_t **out, struct vg_err *err)
{
	return dev_open(test_path, true, out, err);
}
