/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory of 100k learned addresses (issue 19, docs/dns.md "The kernel side"): the kernel's
 * learned map (a hash like vigild's, BPF_F_NO_PREALLOC, same key and value) as the kernel
 * accounts it (fdinfo memlock, element memory for a non-preallocated hash), and vigild's copy
 * (lib/dns_learned.c, malloc'd bytes from mallinfo2), each per entry and as a ratio to the raw
 * key + value bytes the same run writes (the floor any store of these entries pays).
 * Needs root (BPF map creation).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "vigil/dns_learned.h"

#define N 100000

static int map_fd = -1;

static int put(void *arg, const struct vg_enf_learn_key *k, const struct vg_enf_learn_val *v)
{
	return bpf_map_update_elem(map_fd, k, v, BPF_ANY) < 0 ? -errno : 0;
}

static int del(void *arg, const struct vg_enf_learn_key *k)
{
	return bpf_map_delete_elem(map_fd, k) < 0 ? -errno : 0;
}

static long long memlock(int fd)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void result(const char *m, double v, const char *base)
{
	printf("bench-result: {\"measure\": \"%s\", \"value\": %.4f, \"better\": \"lower\", \"baseline\": \"%s\", "
	       "\"reproduce\": \"BENCH=dns_learned make bench\"}\n", m, v, base);
}

int main(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	const struct vg_learned_ops ops = { put, del, NULL };
	struct vg_learned *t;
	size_t raw = sizeof(struct vg_enf_learn_key) + sizeof(struct vg_enf_learn_val);
	long long k0, k1;
	size_t u0, u1;

	map_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "vg_learn_bench", sizeof(struct vg_enf_learn_key),
				sizeof(struct vg_enf_learn_val), VG_ENF_LEARN_MAX, &o);
	if (map_fd < 0) {
		printf("dns_learned: SKIPPED (cannot create a BPF map: %s)\n", strerror(errno));
		return 0;
	}
	k0 = memlock(map_fd);
	u0 = mallinfo2().uordblks;
	t = vg_learned_new(VG_ENF_LEARN_MAX, N, &ops);
	for (uint32_t i = 0; i < N; i++) {
		struct vg_enf_learn_key k = { .tenant = 1 + i % 8, .fam = 4 };
		uint32_t a = 0x0a000000u + i;

		memcpy(k.addr, &a, 4);
		if (vg_learned_learn(t, &k, 7, 7, UINT64_MAX / 2, 0) < 0) {
			printf("dns_learned: learn %u failed\n", i);
			return 1;
		}
	}
	k1 = memlock(map_fd);
	u1 = mallinfo2().uordblks;
	printf("dns_learned: %d learned addresses (%zu bytes of key + value each)\n", N, raw);
	printf("  kernel map:   %.1f MiB (%.0f bytes/entry, fdinfo memlock) over %.1f MiB fixed at creation (buckets for %u)\n",
	       (k1 - k0) / 1048576.0, (double)(k1 - k0) / N, k0 / 1048576.0, VG_ENF_LEARN_MAX);
	printf("  vigild copy:  %.1f MiB (%.0f bytes/entry, malloc)\n", (u1 - u0) / 1048576.0, (double)(u1 - u0) / N);
	result("dns_learned_kernel_bytes_per_raw", (double)(k1 - k0) / N / raw, "raw key+value bytes per entry");
	result("dns_learned_vigild_bytes_per_raw", (double)(u1 - u0) / N / raw, "raw key+value bytes per entry");
	vg_learned_free(t);
	close(map_fd);
	return 0;
}
