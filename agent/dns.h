/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Egress by name (issue 19, docs/dns.md): the contract between vigild's DNS forwarder
 * (agent/dnsfwd.c) and the kernel side (agent/enforce.c, bpf/vigil.bpf.c).
 *
 * - The forwarder listens, per tenant that has name rules (its own or through a shared
 *   service), on a loopback UDP and TCP socket of its own choosing (IPv4 and IPv6), and tells
 *   the kernel side where: vg_enforce_dns_forwarders(). From then on the tenant's port-53
 *   traffic (connect and sendmsg, UDP and TCP, to any address) goes there; replies carry the
 *   address the process named as their source (recvmsg/getpeername rewritten back), and a
 *   tenant naming a forwarder's address itself is denied.
 * - For every answer it forwards, the forwarder first calls vg_enforce_dns_learn() for each
 *   address allowed by a matching name rule, and only then returns the answer: the first
 *   connect after a lookup is already allowed.
 * - A learned address allows (tenant, address) on the rule's protocol and ports until
 *   expires (CLOCK_MONOTONIC, as bpf_ktime_get_ns), for as long as the policy in force gives
 *   the tenant that rule id with the same name (pattern); it comes after every deny (other
 *   tenants' segments and ports). The map is a plain hash bounded per tenant (vigild.conf
 *   dns_learned_per_tenant) and on the host (VG_ENF_LEARN_MAX): at a bound the tenant's
 *   least recently learned address goes, counted as an eviction when it was still live.
 *   Up to VG_ENF_LEARN_SLOTS rules per (tenant, address).
 * - Call these from vigild's event loop (they share enforce.c's state, not thread-safe).
 *   Errors: -ENODEV (enforce_off) when enforcement is not running; vg_enforce_dns_learn
 *   -ENOENT (unknown_name_rule) when the tenant has no such name rule in the policy in force.
 */
#ifndef VIGIL_AGENT_DNS_H
#define VIGIL_AGENT_DNS_H

#include <netinet/in.h>
#include <stdint.h>

#include "vigil/err.h"

struct vg_dns_forwarder_addr {
	uint32_t tenant;	 /* bundle tenant id */
	struct sockaddr_in v4;	 /* 127.x.y.z:port, UDP and TCP */
	struct sockaddr_in6 v6;	 /* [::1]:port, UDP and TCP; sin6_family 0: none */
};

/* Replace the forwarder table (n 0: no redirect at all). 0 or -errno with err. */
int vg_enforce_dns_forwarders(const struct vg_dns_forwarder_addr *f, size_t n, struct vg_err *err);

/* Allow TENANT to reach ADDR (4 or 16 bytes by family) under name rule RULE_ID until
 * EXPIRES_NS (CLOCK_MONOTONIC). An existing entry is extended, never shortened. */
int vg_enforce_dns_learn(uint32_t tenant, uint32_t rule_id, int family, const uint8_t *addr,
			 uint64_t expires_ns, struct vg_err *err);

struct vg_dns_learned_stats {
	uint64_t entries;   /* learned (tenant, address) entries held (expired ones go within a second) */
	uint64_t evictions; /* live (tenant, address, rule) slots pushed out by a bound before they expired */
};
int vg_enforce_dns_stats(uint32_t tenant, struct vg_dns_learned_stats *out);

/* For explain: is (tenant, address) learned now, by which rule, until when (0: not learned).
 * Of several live rules, the one living longest. 0 or -errno. */
int vg_enforce_dns_lookup(uint32_t tenant, int family, const uint8_t *addr, uint32_t *rule_id,
			  uint64_t *expires_ns);

#endif
