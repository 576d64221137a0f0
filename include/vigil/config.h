/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vigild.conf: "key = value" lines, '#' comments, every key has a default
 * (docs/vigild.conf.md). Unknown keys and bad values are errors naming the line.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

#define VG_DEFAULT_CONFIG "/etc/vigil/vigild.conf"
/* the range of max_bundle_bytes; vigild and `vigilctl policy verify` apply the configured value */
#define VG_MAX_BUNDLE_BYTES_FLOOR (1u << 10)
#define VG_MAX_BUNDLE_BYTES_CEILING (512u << 20)
/* the range of ctl_timeout_ms: a slow machine (an emulated CPU) may need a minute */
#define VG_CTL_TIMEOUT_FLOOR_MS 100u
#define VG_CTL_TIMEOUT_CEILING_MS 600000u

struct vg_config {
	/* paths */
	char state_dir[256];  /* /var/lib/vigil */
	char run_dir[256];    /* /run/vigil */
	char socket[256];     /* /run/vigil/vigil.sock */
	char bpffs_dir[256];  /* /sys/fs/bpf/vigil */
	char trust_file[256]; /* /etc/vigil/trust.json */
	char inbox_dir[256];  /* /var/lib/vigil/inbox ("" disables) */
	char cgroup_root[256]; /* "" = autodetect the cgroup2 mount */
	char nss_cache_dir[256]; /* /var/lib/vigil/nss */
	char posture_root[256]; /* "/" ; collectors read below this prefix */
	char posture_edr_units[1024]; /* "" ; "PATH=UNIT,..." systemd unit an EDR agent must run in */
	uint32_t posture_interval_s; /* 60 ; periodic posture refresh */
	char breakglass_spool[256]; /* /var/lib/vigil/breakglass.spool */
	/* identity of this host */
	char hostname[256];   /* "" = gethostname() */
	char labels[512];     /* "k=v,k2=v2" */
	char admin_group[64]; /* vigil-admin */
	/* bundle */
	uint64_t max_bundle_bytes; /* 64 MiB */
	uint32_t clock_skew_s;	   /* 300 */
	/* control socket */
	uint32_t ctl_timeout_ms; /* 5000 ; the whole of a non-admin caller's request */
	/* HTTPS pull ("" url disables) */
	char pull_url[512];
	uint32_t pull_interval_s; /* 300 */
	uint32_t pull_jitter_s;	  /* 30 */
	uint32_t pull_backoff_max_s; /* 3600 */
	char pull_ca_file[256];
	char pull_cert_file[256];
	char pull_key_file[256];
	/* HTTPS pull of emergency documents (docs/emergency.md; "" url disables); CA and client
	 * certificate are the pull_* ones */
	char emergency_url[512];
	uint32_t emergency_interval_s; /* 10 */
	uint32_t emergency_jitter_s;   /* 5 */
	/* audit log */
	uint64_t audit_segment_bytes; /* 16 MiB */
	uint64_t audit_spool_max_bytes; /* 1 GiB */
	uint32_t audit_checkpoint_every; /* records, 1000 */
	uint32_t audit_checkpoint_interval_s; /* 60 */
	char audit_when_full[16]; /* "degrade" | "rotate" */
	uint32_t audit_retention_days; /* 730 */
	/* enforcement */
	bool enforce; /* load BPF at all; true */
	uint32_t event_rate_limit; /* deny events per second per tenant before sampling, 1000 */
	uint32_t enforce_max_entries; /* largest compiled policy (trie entries) accepted, 16777216 */
	uint32_t dns_learned_per_tenant; /* addresses a tenant may hold learned by name at once, 65536 */
	uint32_t dns_busy_poll_us; /* DNS forwarder: most a question busy-polls for its answer, 200 (0: never) */
	uint32_t dns_listen_poll_us; /* DNS forwarder: most an answer busy-polls for the next question, 0 (never) */
	uint32_t dns_cache_entries; /* DNS forwarder: answers cached at most, 10000 (0: no cache) */
	uint64_t dns_cache_bytes; /* DNS forwarder: bytes the cached answers take at most, 8 MiB (0: no cache) */
	/* elevation */
	char failmode[16]; /* informative default for PAM docs */
	/* metrics (docs/monitoring.md) */
	char metrics_textfile[256]; /* "" (off); the packaged vigild.conf sets node_exporter's textfile path */
	uint32_t metrics_interval_s; /* 15 */
	char metrics_listen[128]; /* "" ; loopback ADDRESS:PORT or unix:/PATH for GET /metrics */
};

void vg_config_defaults(struct vg_config *c);
/* Parse text (path is used in messages only). */
int vg_config_parse(struct vg_config *c, const char *text, const char *path, struct vg_err *err);
int vg_config_load(struct vg_config *c, const char *path, struct vg_err *err);

#endif
