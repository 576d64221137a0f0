/* SPDX-License-Identifier: Apache-2.0 */
/* DNS names, patterns and a bounded message parser (include/vigil/dns.h, docs/dns.md). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "vigil/bundle.h"
#include "vigil/dns.h"

#define HDR_LEN 12
#define LABEL_MAX 63
#define WIRE_NAME_MAX 255
#define CLASS_IN 1
#define NS_PER_S 1000000000ull

static bool label_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

int vg_dns_name_normalize(const char *in, char *out, size_t outlen, struct vg_err *err)
{
	size_t n = strlen(in), label = 0, labels = 0;

	if (n && in[n - 1] == '.')
		n--;
	if (n == 0)
		return vg_err_set(err, EINVAL, "dns_name_empty", in, "the name is empty");
	if (n > VG_DNS_NAME_MAX || n + 1 > outlen)
		return vg_err_set(err, EINVAL, "dns_name_too_long", in, "the name has %zu characters; at most %d", n,
				  VG_DNS_NAME_MAX);
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = i < n ? lower((unsigned char)in[i]) : '.';

		if (c == '.') {
			if (label == 0)
				return vg_err_set(err, EINVAL, "dns_label_empty", in, "label %zu is empty (\"..\" or a leading dot)",
						  labels + 1);
			if (label > LABEL_MAX)
				return vg_err_set(err, EINVAL, "dns_label_too_long", in,
						  "label %zu has %zu characters; at most %d", labels + 1, label, LABEL_MAX);
			labels++;
			label = 0;
		} else if (!label_char(c)) {
			return vg_err_set(err, EINVAL, "dns_label_invalid", in,
					  c >= 0x80 ? "label %zu is not ASCII: write an internationalised name in its "
						      "A-label form (xn--..., e.g. from `idn2 NAME`)"
						    : "label %zu has '%c': letters, digits, '-' and '_' only",
					  labels + 1, c);
		} else {
			label++;
		}
		if (i < n)
			out[i] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

int vg_dns_pattern_check(const char *pattern, struct vg_err *err)
{
	char norm[VG_DNS_NAME_MAX + 1];
	const char *name = pattern;
	int r;

	if (strncmp(pattern, "*.", 2) == 0)
		name = pattern + 2;
	if ((r = vg_dns_name_normalize(name, norm, sizeof(norm), err)) < 0)
		return r;
	if (strcmp(norm, name) != 0)
		return vg_err_set(err, EINVAL, "dns_pattern_not_canonical", pattern,
				  "write the name as \"%s%s\" (lower case, no trailing dot)", name == pattern ? "" : "*.", norm);
	if (name != pattern && !strchr(norm, '.'))
		return vg_err_set(err, EINVAL, "dns_pattern_too_wide", pattern,
				  "\"*.%s\" would match names under a top-level domain: name at least two labels after \"*.\"",
				  norm);
	return 0;
}

bool vg_dns_pattern_match(const char *pattern, const char *name)
{
	size_t pl, nl;

	if (strncmp(pattern, "*.", 2) != 0)
		return strcmp(pattern, name) == 0;
	pattern += 1; /* ".suffix" */
	pl = strlen(pattern);
	nl = strlen(name);
	/* one label, then exactly ".suffix" */
	if (nl <= pl || strcmp(name + nl - pl, pattern) != 0)
		return false;
	return memchr(name, '.', nl - pl) == NULL;
}

/* --- messages --- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * The name at *off into out (normalised presentation form); *off moves past it in the
 * message (past the first pointer when compressed). A pointer must point before the label
 * that holds it, so every jump goes backwards and the walk ends. -EINVAL with err when the
 * name is malformed; -EDOM when it is well formed but not a name vigil can match (a label
 * with other characters): the caller skips such a record.
 */
static int get_name(const uint8_t *buf, size_t len, size_t *off, char *out, struct vg_err *err)
{
	size_t pos = *off, wire = 0, o = 0, end = 0;
	bool jumped = false, usable = true;

	for (;;) {
		uint8_t l;

		if (pos >= len)
			return vg_err_set(err, EINVAL, "dns_truncated", "dns", "name at offset %zu runs past the message",
					  *off);
		l = buf[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= len)
				return vg_err_set(err, EINVAL, "dns_truncated", "dns",
						  "compression pointer at offset %zu runs past the message", pos);
			to = (size_t)(get16(buf + pos) & 0x3fff);
			if (to >= pos)
				return vg_err_set(err, EINVAL, "dns_bad_pointer", "dns",
						  "compression pointer at offset %zu points forward (to %zu)", pos, to);
			if (!jumped)
				end = pos + 2;
			jumped = true;
			pos = to;
			continue;
		}
		if (l & 0xc0)
			return vg_err_set(err, EINVAL, "dns_bad_label", "dns", "label type 0x%02x at offset %zu", l & 0xc0,
					  pos);
		wire += (size_t)l + 1;
		if (wire > WIRE_NAME_MAX)
			return vg_err_set(err, EINVAL, "dns_name_too_long", "dns", "name at offset %zu is longer than %d",
					  *off, WIRE_NAME_MAX);
		if (l == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if (pos + 1 + l > len)
			return vg_err_set(err, EINVAL, "dns_truncated", "dns", "label at offset %zu runs past the message",
					  pos);
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = lower(buf[pos + 1 + i]);

			usable &= label_char(c);
			out[o++] = (char)c;
		}
		pos += 1 + (size_t)l;
	}
	out[o] = '\0';
	*off = end;
	if (o == 0)
		usable = false; /* the root: nothing vigil matches */
	return usable ? 0 : -EDOM;
}

static int parse_rr(const uint8_t *buf, size_t len, size_t *off, struct vg_dns_msg *m, struct vg_err *err)
{
	struct vg_dns_rr rr;
	uint16_t class, rdlen;
	size_t rdata;
	int owner = get_name(buf, len, off, rr.name, err);

	if (owner == -EINVAL)
		return owner;
	if (*off + 10 > len)
		return vg_err_set(err, EINVAL, "dns_truncated", "dns", "record at offset %zu runs past the message", *off);
	rr.type = get16(buf + *off);
	class = get16(buf + *off + 2);
	rr.ttl = get32(buf + *off + 4);
	rdlen = get16(buf + *off + 8);
	rdata = *off + 10;
	if (rdata + rdlen > len)
		return vg_err_set(err, EINVAL, "dns_truncated", "dns", "record data at offset %zu runs past the message",
				  rdata);
	*off = rdata + rdlen;
	/* RFC 2181 8: a TTL with the top bit set is read as zero */
	if (rr.ttl & 0x80000000u)
		rr.ttl = 0;
	if (owner < 0 || class != CLASS_IN || m->nrr == VG_DNS_MAX_RR)
		goto skip;
	switch (rr.type) {
	case VG_DNS_A:
	case VG_DNS_AAAA:
		if (rdlen != (rr.type == VG_DNS_A ? 4 : 16))
			return vg_err_set(err, EINVAL, "dns_bad_rdata", "dns", "%s record at offset %zu has %u bytes of data",
					  rr.type == VG_DNS_A ? "A" : "AAAA", rdata, rdlen);
		memcpy(rr.addr, buf + rdata, rdlen);
		rr.target[0] = '\0';
		break;
	case VG_DNS_CNAME: {
		size_t t = rdata;
		int r = get_name(buf, rdata + rdlen, &t, rr.target, err);

		if (r == -EINVAL)
			return r;
		if (t != rdata + rdlen)
			return vg_err_set(err, EINVAL, "dns_bad_rdata", "dns",
					  "CNAME record at offset %zu: the name does not fill its data", rdata);
		if (r < 0)
			goto skip;
		break;
	}
	default:
		goto skip;
	}
	m->rr[m->nrr++] = rr;
	return 0;
skip:
	m->skipped++;
	return 0;
}

int vg_dns_parse(const uint8_t *buf, size_t len, struct vg_dns_msg *m, struct vg_err *err)
{
	uint16_t flags, qd, an;
	size_t off = HDR_LEN;
	int r;

	/* the header fields only: records are written as they are kept (the array is 33 KB) */
	memset(m, 0, offsetof(struct vg_dns_msg, rr));
	m->skipped = 0;
	if (len > VG_DNS_MSG_MAX)
		return vg_err_set(err, EMSGSIZE, "dns_too_large", "dns", "message of %zu bytes; at most %d", len,
				  VG_DNS_MSG_MAX);
	if (len < HDR_LEN)
		return vg_err_set(err, EINVAL, "dns_truncated", "dns", "message of %zu bytes has no complete header", len);
	m->id = get16(buf);
	flags = get16(buf + 2);
	m->response = flags & 0x8000;
	m->truncated = flags & 0x0200;
	m->rcode = flags & 0x000f;
	qd = get16(buf + 4);
	an = get16(buf + 6);
	if (qd != 1)
		return vg_err_set(err, EINVAL, "dns_questions", "dns", "%u questions; exactly one is supported", qd);
	r = get_name(buf, len, &off, m->qname, err);
	if (r == -EDOM)
		return vg_err_set(err, EINVAL, "dns_qname_unusable", "dns",
				  "the question's name has characters outside letters, digits, '-' and '_'");
	if (r < 0)
		return r;
	if (off + 4 > len)
		return vg_err_set(err, EINVAL, "dns_truncated", "dns", "question runs past the message");
	m->qtype = get16(buf + off);
	m->qclass = get16(buf + off + 2);
	off += 4;
	for (uint16_t i = 0; i < an; i++)
		if ((r = parse_rr(buf, len, &off, m, err)) < 0)
			return r;
	return 0;
}

/* the index of NAME in chain[0..n), or -1 */
static int chain_find(const char (*chain)[VG_DNS_NAME_MAX + 1], size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(chain[i], name) == 0)
			return (int)i;
	return -1;
}

size_t vg_dns_answer_addrs(const struct vg_dns_msg *m, vg_dns_addr_cb cb, void *arg)
{
	char chain[VG_DNS_CHAIN_MAX + 1][VG_DNS_NAME_MAX + 1];
	uint32_t ttl[VG_DNS_CHAIN_MAX + 1];
	size_t n = 1, found = 0;
	bool grew = true;

	snprintf(chain[0], sizeof(chain[0]), "%s", m->qname);
	ttl[0] = UINT32_MAX;
	/* CNAMEs may come in any order: extend the chain until nothing new joins it */
	while (grew && n <= VG_DNS_CHAIN_MAX) {
		grew = false;
		for (size_t i = 0; i < m->nrr && n <= VG_DNS_CHAIN_MAX; i++) {
			const struct vg_dns_rr *rr = &m->rr[i];
			int from;

			if (rr->type != VG_DNS_CNAME || (from = chain_find(chain, n, rr->name)) < 0 ||
			    chain_find(chain, n, rr->target) >= 0)
				continue;
			snprintf(chain[n], sizeof(chain[n]), "%s", rr->target);
			ttl[n] = rr->ttl < ttl[from] ? rr->ttl : ttl[from];
			n++;
			grew = true;
		}
	}
	for (size_t i = 0; i < m->nrr; i++) {
		const struct vg_dns_rr *rr = &m->rr[i];
		int at;

		if (rr->type == VG_DNS_CNAME || (at = chain_find(chain, n, rr->name)) < 0)
			continue;
		cb(arg, rr->type == VG_DNS_A ? AF_INET : AF_INET6, rr->addr,
		   rr->ttl < ttl[at] ? rr->ttl : ttl[at]);
		found++;
	}
	return found;
}

static const char *v4_unlearnable(const uint8_t a[4])
{
	if (a[0] == 0)
		return "unspecified (0.0.0.0/8)";
	if (a[0] == 127)
		return "loopback";
	if (a[0] == 169 && a[1] == 254)
		return "link-local (169.254.0.0/16: cloud metadata)";
	if (a[0] >= 224 && a[0] <= 239)
		return "multicast";
	if (a[0] >= 240)
		return "reserved or broadcast (240.0.0.0/4)";
	return NULL;
}

const char *vg_dns_addr_unlearnable(int family, const uint8_t *addr)
{
	static const uint8_t ec2_meta[16] = { 0xfd, 0x00, 0x0e, 0xc2, [14] = 0x02, [15] = 0x54 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t zero[12];

	if (family == AF_INET)
		return v4_unlearnable(addr);
	if (family != AF_INET6)
		return "not an IP address";
	/* ::ffff:a.b.c.d and ::a.b.c.d reach a.b.c.d; ::, ::1 are judged here as themselves */
	if (!memcmp(addr, mapped, 12) || (!memcmp(addr, zero, 12) && (addr[12] | addr[13] | addr[14])))
		return v4_unlearnable(addr + 12);
	if (!memcmp(addr, zero, 12) && !addr[12] && !addr[13] && !addr[14])
		return addr[15] == 1 ? "loopback" : addr[15] == 0 ? "unspecified" : "IPv4-compatible";
	if (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80)
		return "link-local (fe80::/10)";
	if (addr[0] == 0xff)
		return "multicast";
	if (!memcmp(addr, ec2_meta, 16))
		return "cloud metadata (fd00:ec2::254)";
	return NULL;
}

/* --- the forwarder's decisions --- */

static size_t match_list(const struct vg_name_rule *r, size_t n, const char *name, const struct vg_name_rule **out,
			 size_t max, size_t found)
{
	for (size_t i = 0; i < n && found < max; i++)
		if (vg_dns_pattern_match(r[i].pattern, name))
			out[found++] = &r[i];
	return found;
}

size_t vg_dns_rules_match(const struct vg_bundle *b, const struct vg_tenant *t, const char *name,
			  const struct vg_name_rule **out, size_t max)
{
	size_t found = match_list(t->names, t->nnames, name, out, max, 0);

	for (size_t s = 0; s < t->nshared; s++) {
		const struct vg_shared_service *ss = &b->shared_services[t->shared[s]];

		found = match_list(ss->names, ss->nnames, name, out, max, found);
	}
	return found;
}

bool vg_dns_tenant_has_names(const struct vg_bundle *b, const struct vg_tenant *t)
{
	if (t->nnames)
		return true;
	for (size_t s = 0; s < t->nshared; s++)
		if (b->shared_services[t->shared[s]].nnames)
			return true;
	return false;
}

/* the end of the question section of a query (its name is not compressed: nothing precedes it) */
static int question_end(const uint8_t *q, size_t qlen, size_t *end)
{
	size_t off = HDR_LEN;

	while (off < qlen && q[off]) {
		if (q[off] & 0xc0)
			return -EINVAL;
		off += 1 + (size_t)q[off];
	}
	if (off + 1 + 4 > qlen)
		return -EINVAL;
	*end = off + 1 + 4;
	return 0;
}

/* the offset of a plain query's OPT record (its first additional record), or 0 */
static size_t opt_offset(const uint8_t *q, size_t qlen)
{
	size_t end;

	if (qlen < HDR_LEN || question_end(q, qlen, &end) < 0)
		return 0;
	if (get16(q + 6) || get16(q + 8) || !get16(q + 10) || end + 11 > qlen || q[end] || get16(q + end + 1) != 41)
		return 0;
	return end;
}

size_t vg_dns_udp_size(const uint8_t *q, size_t qlen)
{
	size_t opt = opt_offset(q, qlen);
	size_t size = opt ? get16(q + opt + 3) : 512;

	return size < 512 ? 512 : size;
}

int vg_dns_synth(const uint8_t *q, size_t qlen, uint8_t rcode, uint8_t *out, size_t outlen)
{
	/* OPT: root name, type 41, our UDP size 1232, no extended rcode, version 0, no flags, no data */
	static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
	size_t end, len;
	bool has_opt = opt_offset(q, qlen) != 0;

	if (qlen < HDR_LEN || question_end(q, qlen, &end) < 0)
		return -EINVAL;
	len = end + (has_opt ? sizeof(opt) : 0);
	if (len > outlen)
		return -ENOSPC;
	memcpy(out, q, end);
	out[2] = (uint8_t)(0x80 | (q[2] & 0x79)); /* QR, the opcode and RD of the query */
	out[3] = (uint8_t)(0x80 | (rcode & 0x0f)); /* RA */
	memset(out + 6, 0, 6);
	if (has_opt) {
		memcpy(out + end, opt, sizeof(opt));
		out[11] = 1;
	}
	return (int)len;
}

int vg_dns_query_flags(const uint8_t *q, size_t qlen)
{
	size_t end;
	int f;

	if (qlen < HDR_LEN || question_end(q, qlen, &end) < 0 || get16(q + 6) || get16(q + 8) || get16(q + 10) > 1)
		return -EINVAL;
	f = (q[2] & 0x01 ? VG_DNS_QF_RD : 0) | (q[3] & 0x10 ? VG_DNS_QF_CD : 0) | (q[3] & 0x20 ? VG_DNS_QF_AD : 0);
	if (!get16(q + 10))
		return end == qlen ? f : -EINVAL;
	/* the one additional record: an OPT (root name, type 41) of version 0 with no options, ending the message */
	if (end + 11 != qlen || q[end] || get16(q + end + 1) != 41 || q[end + 6] || get16(q + end + 9))
		return -EINVAL;
	return f | VG_DNS_QF_OPT | (q[end + 7] & 0x80 ? VG_DNS_QF_DO : 0);
}

/* past the name at OFF (labels, ending in a root label or a pointer; not followed) */
static int skip_name(const uint8_t *m, size_t len, size_t *off)
{
	size_t pos = *off;

	for (size_t wire = 0;;) {
		if (pos >= len)
			return -EINVAL;
		if ((m[pos] & 0xc0) == 0xc0) {
			*off = pos + 2;
			return pos + 2 <= len ? 0 : -EINVAL;
		}
		if (m[pos] & 0xc0)
			return -EINVAL;
		wire += (size_t)m[pos] + 1;
		if (wire > WIRE_NAME_MAX)
			return -EINVAL;
		if (!m[pos]) {
			*off = pos + 1;
			return 0;
		}
		pos += 1 + (size_t)m[pos];
	}
}

int vg_dns_ttl_fields(const uint8_t *m, size_t len, uint16_t *off, size_t max, uint32_t *min_ttl, size_t *qend)
{
	size_t pos, n = 0, nrr;

	*min_ttl = UINT32_MAX;
	if (len < HDR_LEN || len > VG_DNS_MSG_MAX || get16(m + 4) != 1 || question_end(m, len, &pos) < 0)
		return -EINVAL;
	*qend = pos;
	nrr = (size_t)get16(m + 6) + get16(m + 8) + get16(m + 10);
	for (size_t i = 0; i < nrr; i++) {
		uint32_t ttl;

		if (skip_name(m, len, &pos) < 0 || pos + 10 > len || pos + 10 + get16(m + pos + 8) > len)
			return -EINVAL;
		if (get16(m + pos) != 41) {
			if (n == max)
				return -E2BIG;
			ttl = get32(m + pos + 4);
			if (ttl & 0x80000000u)
				ttl = 0;
			if (ttl < *min_ttl)
				*min_ttl = ttl;
			off[n++] = (uint16_t)(pos + 4);
		}
		pos += 10 + (size_t)get16(m + pos + 8);
	}
	return pos == len ? (int)n : -EINVAL;
}

uint64_t vg_dns_learn_ns(const struct vg_dns_policy *p, uint32_t ttl, uint64_t age_ns)
{
	uint64_t left = (uint64_t)ttl * NS_PER_S;

	left = left > age_ns ? left - age_ns : 0;
	if (left < (uint64_t)p->ttl_min * NS_PER_S)
		left = (uint64_t)p->ttl_min * NS_PER_S;
	if (left > (uint64_t)p->ttl_max * NS_PER_S)
		left = (uint64_t)p->ttl_max * NS_PER_S;
	return left + (uint64_t)p->grace * NS_PER_S;
}
