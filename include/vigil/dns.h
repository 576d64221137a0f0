/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS for egress by name (issue 19, docs/dns.md): names as bundles write them, the
 * matching of names against fqdn/pattern rules, and a bounded parser of the DNS
 * messages vigild forwards, from which the addresses a name resolved to are taken
 * (through CNAME chains) with their TTL. Untrusted input: every length is checked,
 * compression pointers only point backwards, nothing is read beyond the message.
 */
#ifndef VIGIL_DNS_H
#define VIGIL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

#define VG_DNS_NAME_MAX 253   /* presentation form, without the trailing dot */
#define VG_DNS_MAX_RR 64      /* answer records kept from one message */
#define VG_DNS_CHAIN_MAX 8    /* CNAME hops followed from the question */
#define VG_DNS_MSG_MAX 65535  /* a DNS message over TCP at most */

enum { VG_DNS_A = 1, VG_DNS_CNAME = 5, VG_DNS_AAAA = 28 };

struct vg_dns_rr {
	char name[VG_DNS_NAME_MAX + 1]; /* owner, normalised */
	uint16_t type;                  /* VG_DNS_A, VG_DNS_AAAA or VG_DNS_CNAME */
	uint32_t ttl;
	uint8_t addr[16];                 /* A: 4 bytes, AAAA: 16 */
	char target[VG_DNS_NAME_MAX + 1]; /* CNAME */
};

struct vg_dns_msg {
	uint16_t id;
	bool response, truncated;
	uint8_t rcode;
	char qname[VG_DNS_NAME_MAX + 1]; /* normalised */
	uint16_t qtype, qclass;
	size_t nrr;
	struct vg_dns_rr rr[VG_DNS_MAX_RR];
	size_t skipped; /* answers not kept: other types or classes, unusable names, over the cap */
};

/*
 * A name as a bundle or a question writes it, into its one normalised form: ASCII lower
 * case, no trailing dot, labels of letters, digits, '-' and '_' (1-63 each, 253 in all).
 * Internationalised names are written in their A-label form (xn--...). 0, or -EINVAL with
 * err saying which label and why.
 */
int vg_dns_name_normalize(const char *in, char *out, size_t outlen, struct vg_err *err);

/*
 * A bundle pattern: a normalised name, or "*." followed by one (matching exactly one more
 * label: "*.example.com" matches "a.example.com", not "example.com" nor "a.b.example.com").
 * 0 or -EINVAL with err.
 */
int vg_dns_pattern_check(const char *pattern, struct vg_err *err);

/* Does the normalised NAME match PATTERN (vg_dns_pattern_check passed)? */
bool vg_dns_pattern_match(const char *pattern, const char *name);

/*
 * Parse one DNS message (query or response) of LEN bytes: header, exactly one question,
 * the answer section (A, AAAA, CNAME of class IN kept, others counted in skipped); the
 * authority and additional sections are not read, so nothing there can add an address.
 * 0, or -EINVAL / -EMSGSIZE with err naming the offset and what is wrong.
 */
int vg_dns_parse(const uint8_t *buf, size_t len, struct vg_dns_msg *m, struct vg_err *err);

/*
 * The addresses the question's name resolved to: A/AAAA records owned by the question's
 * name or by a name reached from it through CNAME records (at most VG_DNS_CHAIN_MAX hops,
 * in any order in the message). cb gets each with the smallest TTL along its chain;
 * records for names off the chain are ignored (an answer cannot vouch for other names).
 * Returns how many addresses were passed to cb.
 */
typedef void (*vg_dns_addr_cb)(void *arg, int family, const uint8_t *addr, uint32_t ttl);
size_t vg_dns_answer_addrs(const struct vg_dns_msg *m, vg_dns_addr_cb cb, void *arg);

/*
 * May an answer open ADDR (AF_INET: 4 bytes, AF_INET6: 16) for a tenant? No for the
 * special-purpose addresses a name must never open, whoever controls the name's records
 * (DNS rebinding): unspecified, loopback, link-local (the cloud metadata services
 * 169.254.169.254 and fd00:ec2::254 among them), multicast, IPv4 broadcast and reserved
 * 240/4, and IPv4-mapped/compatible IPv6 forms of those. A CIDR rule still allows them.
 * Returns NULL when learnable, else what the address is ("loopback", ...).
 */
const char *vg_dns_addr_unlearnable(int family, const uint8_t *addr);

/* --- vigild's forwarder: its pure decisions (agent/dnsfwd.c, docs/dns.md) --- */

struct vg_bundle;
struct vg_tenant;
struct vg_name_rule;
struct vg_dns_policy;

enum { VG_DNS_RCODE_OK = 0, VG_DNS_RCODE_FORMERR = 1, VG_DNS_RCODE_SERVFAIL = 2, VG_DNS_RCODE_NXDOMAIN = 3,
       VG_DNS_RCODE_NOTIMP = 4, VG_DNS_RCODE_REFUSED = 5 };

/*
 * The rules by name of tenant T whose pattern matches the normalised NAME: its own, then
 * those of the shared services it lists, in bundle order; at most MAX into OUT. Returns how
 * many matched (0: the name is not allowed to T).
 */
size_t vg_dns_rules_match(const struct vg_bundle *b, const struct vg_tenant *t, const char *name,
			  const struct vg_name_rule **out, size_t max);
/* Has T any rule by name, its own or through a shared service? */
bool vg_dns_tenant_has_names(const struct vg_bundle *b, const struct vg_tenant *t);

/*
 * A local answer to the query Q (QLEN bytes, which vg_dns_parse accepted as a query): its
 * id, opcode, RD and question, QR and RA set, RCODE, no records; an OPT record when the
 * query had one (RFC 6891). The length written to OUT, or -EINVAL / -ENOSPC.
 */
int vg_dns_synth(const uint8_t *q, size_t qlen, uint8_t rcode, uint8_t *out, size_t outlen);

/* The UDP payload size the query Q accepts in answers: 512, or its OPT record's (RFC 6891). */
size_t vg_dns_udp_size(const uint8_t *q, size_t qlen);

/*
 * Nanoseconds from now an address answered with TTL stays learned, the answer AGE_NS old
 * (0: fetched now; a cached answer: since it was fetched): what is left of the TTL,
 * clamped into [ttl_min, ttl_max], plus grace. A cached answer's address thus stays learned
 * until the same moment as when it was fetched, unless ttl_min lifts it.
 */
uint64_t vg_dns_learn_ns(const struct vg_dns_policy *p, uint32_t ttl, uint64_t age_ns);

/*
 * What of a question (QLEN bytes, accepted by vg_dns_parse as a query) changes the answer a
 * resolver gives, for keying a cache of answers: RD, CD and AD of its header, whether it
 * carries an OPT record and that record's DO bit (VG_DNS_QF_*). -EINVAL when no cached
 * answer may answer it: records in its answer or authority section, additional records
 * other than one OPT record of EDNS version 0 without options (a cookie or a client subnet
 * makes the answer the client's own).
 */
enum { VG_DNS_QF_RD = 1, VG_DNS_QF_CD = 2, VG_DNS_QF_AD = 4, VG_DNS_QF_OPT = 8, VG_DNS_QF_DO = 16 };
int vg_dns_query_flags(const uint8_t *q, size_t qlen);

/*
 * The TTL fields of every record of the message M (LEN bytes, exactly one question) in its
 * answer, authority and additional sections, OPT records left out (their TTL field holds
 * EDNS flags): the offset of each into OFF (at most MAX), the smallest TTL into *MIN_TTL
 * (UINT32_MAX when none; a TTL with the top bit set counts as 0). The question's end into
 * *QEND (its name uncompressed). The number of fields, or -EINVAL (malformed, a compressed
 * question, bytes after the last record) / -E2BIG (more than MAX records).
 */
int vg_dns_ttl_fields(const uint8_t *m, size_t len, uint16_t *off, size_t max, uint32_t *min_ttl, size_t *qend);

/* The opcode of a message of at least a header's length (0: a standard query). */
static inline unsigned vg_dns_opcode(const uint8_t *buf)
{
	return (buf[2] >> 3) & 0x0f;
}

#endif
