/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cutting a quarantined tenant's established flows at once (docs/enforcement.md,
 * "Quarantine"): the socket iterators of bpf/vigil.bpf.c run in every network
 * namespace where a process of the tenant's cgroups lives.
 */
#ifndef VIGIL_AGENT_ENFORCE_CUT_H
#define VIGIL_AGENT_ENFORCE_CUT_H

#include <stddef.h>

/*
 * Runs each iterator program (iter_fd[i] >= 0) in vigild's network namespace
 * and in the namespaces of the processes in the cgroup directories dirs[]
 * (and their descendants). Returns the number of sockets destroyed, or -errno
 * when none of it could run.
 */
long vg_enf_cut_flows(const int *iter_fd, size_t niter, const char *const *dirs, size_t ndirs);

#endif
