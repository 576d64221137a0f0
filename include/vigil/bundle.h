/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parsed, validated policy bundle. Produced by vg_bundle_parse() from the
 * exact bytes a security team signed; consumed read-only by every subsystem
 * (enforcement, elevation, identity, audit). The format is docs/bundle.md.
 */
#ifndef VIGIL_BUNDLE_H
#define VIGIL_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "vigil/err.h"

enum vg_env { VG_ENV_DEV = 0, VG_ENV_STAGE = 1, VG_ENV_PROD = 2, VG_ENV__COUNT };
enum vg_mode { VG_MODE_ENFORCE = 0, VG_MODE_AUDIT = 1 };
enum vg_default { VG_DEFAULT_ALLOW = 0, VG_DEFAULT_DENY = 1 };

/* protocol numbers as the kernel knows them; ICMP covers ICMPv6 too */
enum vg_proto { VG_PROTO_ANY = 0, VG_PROTO_ICMP = 1, VG_PROTO_TCP = 6, VG_PROTO_UDP = 17 };

struct vg_cidr {
	uint8_t family;    /* AF_INET or AF_INET6 */
	uint8_t prefixlen; /* 0..32 or 0..128 */
	uint8_t addr[16];  /* network byte order; IPv4 uses the first 4 bytes; host bits are zero */
};

#define VG_MAX_PORTS 64 /* port entries per rule */

struct vg_portrange {
	uint16_t lo, hi; /* inclusive; lo <= hi */
};

/* One allow rule: destination CIDR + protocol + ports (nports == 0: every port). */
struct vg_rule {
	uint32_t id; /* unique across the whole bundle, > 0; reported in events and explain */
	struct vg_cidr cidr;
	uint8_t proto;
	uint8_t nports;		    /* at most VG_MAX_PORTS */
	struct vg_portrange *ports; /* rules with the same list may share it (read-only) */
};
_Static_assert(sizeof(struct vg_rule) <= 32, "a 1M-rule bundle keeps 1M of these: keep the rule small");

/*
 * An egress rule by DNS name (docs/dns.md): it allows the addresses that the tenant's own
 * lookups of a matching name, answered through vigild's DNS forwarder, returned, for their
 * TTL (clamped by vg_dns_policy) plus the grace. Issue 19.
 */
struct vg_name_rule {
	uint32_t id;   /* unique across the whole bundle, the same id space as vg_rule */
	char *pattern; /* normalised name or "*.<name>" (vg_dns_pattern_check) */
	uint8_t proto;
	uint8_t nports; /* at most VG_MAX_PORTS */
	struct vg_portrange *ports;
};

struct vg_shared_service {
	char *name;
	size_t nrules;
	struct vg_rule *rules;
	size_t nnames;
	struct vg_name_rule *names;
};

/* A tenant's "connect_rate": new connections per second and burst, one bucket for all its cgroups (docs/bundle.md) */
struct vg_connect_rate {
	uint32_t per_second; /* 0: unlimited */
	uint32_t burst;
};
#define VG_CONNECT_RATE_MAX 1000000u

struct vg_tenant {
	char *name;
	uint32_t id; /* 1..65535, unique */
	enum vg_mode mode;
	size_t ncgroups;
	char **cgroups; /* cgroup v2 paths relative to the cgroup2 mount, starting with '/' */
	size_t nsegments;
	struct vg_cidr *segments;
	size_t negress;
	struct vg_rule *egress;
	size_t nshared;
	size_t *shared; /* indexes into bundle->shared_services */
	unsigned sockets; /* VG_TENANT_SOCK_*: socket kinds beyond TCP, UDP and ping it may open */
	size_t nnames;
	struct vg_name_rule *names; /* egress by name; shared services' names come through shared[] */
	struct vg_connect_rate connect_rate; /* per_second 0: no limit */
};

/* "sockets" of a tenant (docs/bundle.md); the same bits as VG_ENF_SOCK_* in bpf/vigil_maps.h */
#define VG_TENANT_SOCK_RAW 0x1
#define VG_TENANT_SOCK_PACKET 0x2
#define VG_TENANT_SOCK_MPTCP 0x4

struct vg_host_policy {
	enum vg_mode mode;
	enum vg_default dflt; /* allow: unrestricted; deny: only egress[] */
	size_t negress;
	struct vg_rule *egress;
};

enum vg_cose_alg { VG_COSE_ES256 = -7, VG_COSE_EDDSA = -8, VG_COSE_RS256 = -257 };

struct vg_credential {
	char *id_b64;	  /* credential id, base64url as in the bundle */
	uint8_t *id;	  /* decoded */
	size_t id_len;
	int alg;	  /* enum vg_cose_alg */
	char *public_key; /* PEM (SubjectPublicKeyInfo) */
	bool uv;	  /* enrolled with user verification */
};

enum vg_user_state { VG_USER_ACTIVE = 0, VG_USER_DEPROVISIONED = 1 };

struct vg_user {
	char *name;
	uint32_t uid, gid;
	char *gecos, *home, *shell;
	enum vg_user_state state;
	time_t valid_until; /* 0: none; from then on NSS serves the user no more, vigild or not */
	size_t ncreds;
	struct vg_credential *creds;
};

struct vg_group {
	char *name;
	uint32_t gid;
	size_t nmembers;
	char **members;
};

struct vg_identity {
	uint32_t uid_min, uid_max, gid_min, gid_max;
	size_t nusers;
	struct vg_user *users;
	size_t ngroups;
	struct vg_group *groups;
};

enum vg_unknown_as { VG_UNKNOWN_FAIL = 0, VG_UNKNOWN_PASS = 1 };

struct vg_posture_req {
	bool present; /* environment listed in the bundle */
	bool edr, disk_encryption, secure_boot;
	uint32_t patch_max_age_days; /* 0: not required */
	uint32_t max_age_s;	     /* a result older than this is stale */
	enum vg_unknown_as unknown_as;
	size_t nedr_agents;
	char **edr_agents; /* absolute executable paths of accepted EDR agents */
	size_t nexempt_mounts;
	char **exempt_mounts; /* mount points exempt from disk_encryption (e.g. /boot) */
};

struct vg_breakglass {
	char *id;
	char *user;	   /* account it unlocks */
	char *hash;	   /* "$pbkdf2-sha256$ITER$SALT_B64$HASH_B64" */
	time_t not_after;  /* credential unusable afterwards */
	uint32_t duration_s;
};

/* elevation.grant_reach: what a grant covers besides its user and requester (docs/bundle.md) */
enum vg_grant_reach { VG_REACH_SESSION = 0, VG_REACH_SERVICE = 1, VG_REACH_USER = 2 };

struct vg_elevation {
	bool present;
	char *group; /* elevation group name served by NSS while a grant lasts */
	uint32_t gid;
	size_t nallowed;
	char **allowed; /* user names, or "%group" */
	size_t nservices;
	char **services; /* PAM services the module protects (sudo, su, sshd, login) */
	uint32_t max_duration_s, default_duration_s;
	bool require_uv, require_reason;
	char *reason_pattern; /* POSIX ERE the reason must match, or NULL */
	bool touch_within_grant;
	enum vg_grant_reach grant_reach; /* how far a grant reaches beyond where it was earned */
	char *rp_id;
	size_t norigins;
	char **origins;
	struct vg_posture_req posture[VG_ENV__COUNT];
	size_t nbreakglass;
	struct vg_breakglass *breakglass;
};

enum vg_sink_type { VG_SINK_RELP = 0, VG_SINK_HTTPS = 1 };

struct vg_sink {
	char *name;
	enum vg_sink_type type;
	char *target; /* host:port for relp, URL for https */
	char *ca_file, *cert_file, *key_file;
	bool tls;
	uint32_t batch;
};

struct vg_audit_policy {
	size_t nsinks;
	struct vg_sink *sinks;
};

struct vg_change {
	char *id;
	size_t napproved;
	char **approved_by;
	char *reason;
};

struct vg_scope {
	size_t nhosts;
	char **hosts; /* fnmatch globs against the host name */
	size_t nlabels;
	char **label_keys, **label_values; /* every label must match the host's */
};

/* The bundle's "dns" object (docs/dns.md): how vigild's forwarder answers tenants. */
enum vg_dns_refuse { VG_DNS_REFUSE_NXDOMAIN = 0, VG_DNS_REFUSE_REFUSED = 1 };

struct vg_dns_resolver {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint16_t port; /* host byte order, 53 unless the bundle says otherwise */
};

struct vg_dns_policy {
	size_t nresolvers; /* 0: no name rule anywhere (the parser refuses name rules without one) */
	struct vg_dns_resolver *resolvers;
	uint32_t ttl_min, ttl_max; /* seconds; answer TTLs are clamped into [ttl_min, ttl_max] */
	uint32_t grace;		   /* seconds a learned address outlives its TTL */
	enum vg_dns_refuse refuse; /* the answer to a name no rule of the tenant matches */
};

struct vg_bundle {
	int64_t version;
	time_t issued_at, expires_at;
	enum vg_env environment;
	struct vg_change change;
	struct vg_scope scope;
	size_t ntenants;
	struct vg_tenant *tenants;
	size_t nshared_services;
	struct vg_shared_service *shared_services;
	struct vg_host_policy host;
	struct vg_elevation elevation;
	struct vg_identity identity;
	struct vg_audit_policy audit;
	struct vg_dns_policy dns;
	size_t nrules_total; /* all egress rules across tenants, shared services and host */
	char digest[65];     /* sha256 hex of the exact bytes */
	void *arena;	     /* every allocation above lives here; freed by vg_bundle_free */
};

/* Parse and strictly validate; on error fills err (message, JSON path, code) and returns -EINVAL. */
int vg_bundle_parse(const char *buf, size_t len, struct vg_bundle **out, struct vg_err *err);
/* The same, with the digest (hex SHA-256 of buf) already computed by the caller (vigild's loader
 * computes it beside the signature check: 80 ms for a 1M-rule bundle). */
int vg_bundle_parse_digested(const char *buf, size_t len, const char *digest, struct vg_bundle **out,
			     struct vg_err *err);
void vg_bundle_free(struct vg_bundle *b);

const char *vg_env_name(enum vg_env e);
const char *vg_mode_name(enum vg_mode m);
const char *vg_proto_name(uint8_t proto);
int vg_cidr_parse(const char *s, struct vg_cidr *out);
int vg_cidr_format(const struct vg_cidr *c, char *buf, size_t len);
bool vg_cidr_contains(const struct vg_cidr *c, int family, const uint8_t *addr);
/* One JSON value of a rule, checked as bundles check it (other signed documents reuse these):
 * errors name path. */
struct json_t;
/* "an object", "a string", ... for errors that say what a JSON value was (bundles, emergency documents) */
const char *vg_json_type_name(const struct json_t *v);
int vg_cidr_parse_json(struct json_t *v, const char *path, struct vg_cidr *out, struct vg_err *err);
int vg_port_parse_json(struct json_t *v, const char *path, struct vg_portrange *out, struct vg_err *err);

const struct vg_tenant *vg_bundle_tenant_by_name(const struct vg_bundle *b, const char *name);
const struct vg_user *vg_bundle_user_by_name(const struct vg_bundle *b, const char *name);

#endif
