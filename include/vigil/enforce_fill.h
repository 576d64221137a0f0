/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy trie filled beside its compile (docs/enforcement.md, "Policy maps"):
 * the compiler hands over runs of entries (struct vg_enf_sink) and a thread of
 * its own puts each run into the kernel with one batch update while the
 * compile goes on.
 */
#ifndef VIGIL_ENFORCE_FILL_H
#define VIGIL_ENFORCE_FILL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/enforce.h"
#include "vigil/err.h"

struct vg_trie_fill;

/* Starts filling the trie map fd (the caller keeps it). Without a thread the runs go in inline. */
int vg_trie_fill_start(struct vg_trie_fill **out, int fd, struct vg_err *err);
/* What to hand vg_enf_compile_sink(). */
const struct vg_enf_sink *vg_trie_fill_sink(struct vg_trie_fill *f);
/*
 * Waits until every run handed over is in the kernel and frees f. 0, or the
 * kernel's refusal in err. cpu_ms: the filling thread's CPU time (may be NULL).
 */
int vg_trie_fill_end(struct vg_trie_fill *f, uint64_t *cpu_ms, struct vg_err *err);

#endif
