// SPDX-License-Identifier: Apache-2.0
/* softfido-ctl: create a softfido state file and turn its knobs from shell tests. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "softfido.h"

static int usage(void)
{
	fprintf(stderr, "usage: softfido-ctl create STATE\n"
			"       softfido-ctl set STATE KEY VALUE   (touch, notouch_ms, uv, pin, counter_mode,\n"
			"                                           counter, wrong_key, attestation)\n"
			"       softfido-ctl get STATE KEY         (the same keys, and ncreds)\n");
	return 2;
}

int main(int argc, char **argv)
{
	char buf[64];
	int r;

	if (argc == 3 && strcmp(argv[1], "create") == 0) {
		r = softfido_create(argv[2]);
	} else if (argc == 5 && strcmp(argv[1], "set") == 0) {
		r = softfido_set(argv[2], argv[3], argv[4]);
	} else if (argc == 4 && strcmp(argv[1], "get") == 0) {
		r = softfido_get(argv[2], argv[3], buf, sizeof(buf));
		if (r == 0)
			printf("%s\n", buf);
	} else {
		return usage();
	}
	if (r < 0) {
		fprintf(stderr, "softfido-ctl: %s %s: %s\n", argv[1], argv[2],
			r == -EINVAL ? "unknown key or bad value (or not a softfido state file)" : strerror(-r));
		return 1;
	}
	return 0;
}
