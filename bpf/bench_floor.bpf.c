// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * bench/enforce.sh floor (compiled by the bench, not by make): programs that
 * only return "allow", at the hooks every TCP connect runs vigil's programs at
 * (socket creation, connect, each packet). What bpf_stats reports for them per
 * connect is the cost of having a program at those hooks at all.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("cgroup/sock_create")
int floor_sock_create(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb)
{
	return 1;
}
