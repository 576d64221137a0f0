// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * bench/enforce.sh baseline (compiled by the bench, not by make): the cheapest useful egress check, one LPM lookup
 * on connect4 and nothing else. vigil's BPF time per connect is reported as a
 * ratio to this program's, measured in the same run.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct bare_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct bare_key);
	__type(value, __u32);
} bare_lpm SEC(".maps");

SEC("cgroup/connect4")
int bare_connect4(struct bpf_sock_addr *ctx)
{
	struct bare_key k = { .prefixlen = 32, .addr = ctx->user_ip4 };

	/* allow either way: the lookup is what is measured */
	return bpf_map_lookup_elem(&bare_lpm, &k) ? 1 : 1;
}
