/* SPDX-License-Identifier: Apache-2.0 */
/* DNS messages as a resolver (or anyone on the path) sends them (lib/dns.c): parse, then
 * walk the question's CNAME chain; every address given must be owned by a name on it.
 * As a tenant sends them to vigild's forwarder: the local answer to a question stays within
 * its buffer, keeps the question and parses back as a response. As the cache of answers
 * takes them (lib/dns_cache.c): every TTL field found lies within the records, and a stored
 * message is served back to its own question byte for byte but for its TTLs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/dns.h"
#include "vigil/dns_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(void *arg, int family, const uint8_t *addr, uint32_t ttl)
{
	size_t *n = arg;

	if ((family != 2 && family != 10) || ttl > 0x7fffffffu)
		abort();
	(void)addr;
	(*n)++;
}

/* the TTL fields and the cache: stored, then served to its own question half a second later */
static void check_cache(const uint8_t *data, size_t size)
{
	static struct vg_dns_cache *c;
	static uint8_t out[VG_DNS_CACHE_MSG_MAX], in[VG_DNS_CACHE_MSG_MAX];
	const struct vg_dns_cache_entry *e;
	uint16_t off[VG_DNS_CACHE_RR_MAX];
	uint32_t min;
	size_t qend;
	int n = vg_dns_ttl_fields(data, size, off, VG_DNS_CACHE_RR_MAX, &min, &qend), len;

	(void)vg_dns_query_flags(data, size);
	for (int i = 0; i < n; i++)
		if (off[i] < qend || (size_t)off[i] + 4 > size)
			abort();
	if (!c && !(c = vg_dns_cache_new(8, 1 << 16)))
		abort();
	if (vg_dns_cache_put(c, "x", 1, 0, data, size, NULL, 0, 0, 600, 1) < 0)
		return;
	if (n < 0 || !min || size > VG_DNS_CACHE_MSG_MAX || !(e = vg_dns_cache_get(c, "x", 1, 0, 500000001)))
		abort();
	len = vg_dns_cache_answer(e, data, size, 500000001, out, sizeof(out));
	if (len != (int)size)
		abort();
	memcpy(in, data, size);
	for (int i = 0; i < n; i++) {
		memset(out + off[i], 0, 4);
		memset(in + off[i], 0, 4);
	}
	if (memcmp(out, in, size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vg_dns_msg m;
	size_t n = 0;

	check_cache(data, size);

	if (vg_dns_parse(data, size, &m, NULL) < 0)
		return 0;
	if (m.nrr > VG_DNS_MAX_RR || strlen(m.qname) > VG_DNS_NAME_MAX)
		abort();
	if (vg_dns_answer_addrs(&m, check, &n) != n || n > m.nrr)
		abort();
	if (!m.response) {
		static uint8_t out[VG_DNS_MSG_MAX];
		static struct vg_dns_msg a;
		int len = vg_dns_synth(data, size, VG_DNS_RCODE_REFUSED, out, sizeof(out));

		if (vg_dns_udp_size(data, size) < 512)
			abort();
		if (len >= 0 && (len > (int)size || vg_dns_parse(out, (size_t)len, &a, NULL) < 0 || !a.response ||
				 a.rcode != VG_DNS_RCODE_REFUSED || strcmp(a.qname, m.qname) || a.nrr))
			abort();
	}
	return 0;
}
