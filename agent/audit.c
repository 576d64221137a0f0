/* SPDX-License-Identifier: Apache-2.0 */
/* Audit module. Placeholder emitter: appends CloudEvents JSON lines to
 * state_dir/audit.jsonl until the hash-chained log (issue 4) replaces it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "vigil/util.h"

int vg_daemon_audit(struct vg_daemon *d, const char *type, const char *subject, json_t *data)
{
	const struct vg_config *c = vg_daemon_config(d);
	const struct vg_bundle *b = vg_daemon_bundle(d);
	char path[512], when[32], ty[128];
	json_t *ev;
	char *line;
	FILE *f;

	if (!data)
		data = json_object();
	if (b && !json_object_get(data, "policy_digest"))
		json_object_set_new(data, "policy_digest", json_string(b->digest));
	vg_time_format(vg_now(), when);
	snprintf(ty, sizeof(ty), "dev.vigil.%s", type);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "type", ty, "source",
		       vg_daemon_hostname(d), "time", when, "subject", subject ? subject : "", "data", data);
	if (!ev)
		return -ENOMEM;
	line = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!line)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/audit.jsonl", c->state_dir);
	f = fopen(path, "ae");
	if (!f) {
		free(line);
		return -errno;
	}
	fprintf(f, "%s\n", line);
	fclose(f);
	free(line);
	return 0;
}

const struct vg_module vg_module_audit = {
	.name = "audit",
};
