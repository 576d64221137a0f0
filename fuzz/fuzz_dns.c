/* SPDX-License-Identifier: Apache-2.0 */
/* DNS messages as a resolver (or anyone on the path) sends them (lib/dns.c): parse, then
 * walk the question's CNAME chain; every address given must be owned by a name on it.
 * As a tenant sends them to vigild's forwarder: the local answer to a question stays within
 * its buffer, keeps the question and parses back as a response. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(void *arg, int family, const uint8_t *addr, uint32_t ttl)
{
	size_t *n = arg;

	if ((family != 2 && family != 10) || ttl > 0x7fffffffu)
		abort();
	(void)addr;
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vg_dns_msg m;
	size_t n = 0;

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
