/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bundle load cost: signature verify + parse + strict validation of one
 * bundle, against a baseline measured in the same run (plain jansson parse of
 * the same bytes). Prints a table row and the peak RSS of each phase.
 * Usage: bundle_load BUNDLE SIG TRUST [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <jansson.h>

#include "vigil/bundle.h"
#include "vigil/trust.h"
#include "vigil/util.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	char *buf, *sig;
	size_t len, siglen;
	struct vg_trust *t;
	struct vg_err err;
	int rounds = argc > 4 ? atoi(argv[4]) : 3;
	double best_base = 1e9, best_vigil = 1e9;
	long rss_base, rss_vigil;

	if (argc < 4) {
		fprintf(stderr, "usage: bundle_load BUNDLE SIG TRUST [ROUNDS]\n");
		return 2;
	}
	if (vg_read_file(argv[1], 1u << 30, &buf, &len) < 0 || vg_read_file(argv[2], 1 << 20, &sig, &siglen) < 0 ||
	    vg_trust_load(argv[3], &t, &err) < 0) {
		fprintf(stderr, "cannot read inputs\n");
		return 1;
	}
	for (int i = 0; i < rounds; i++) {
		double t0 = now_s();
		json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
		double dt = now_s() - t0;

		if (!j)
			return 1;
		json_decref(j);
		if (dt < best_base)
			best_base = dt;
	}
	rss_base = peak_kb();
	for (int i = 0; i < rounds; i++) {
		struct vg_bundle *b = NULL;
		double t0 = now_s(), dt;

		if (vg_sig_verify(t, VG_SIG_DOMAIN_BUNDLE, buf, len, sig, siglen, &err) < 0 ||
		    vg_bundle_parse(buf, len, &b, &err) < 0) {
			fprintf(stderr, "load failed: %s %s\n", err.path, err.msg);
			return 1;
		}
		dt = now_s() - t0;
		if (i == 0)
			printf("bundle: %zu bytes, %zu rules, %zu users, %zu tenants\n", len, b->nrules_total,
			       b->identity.nusers, b->ntenants);
		vg_bundle_free(b);
		if (dt < best_vigil)
			best_vigil = dt;
	}
	rss_vigil = peak_kb();
	printf("%-44s %10.3f s\n", "baseline: jansson parse only (best of N)", best_base);
	printf("%-44s %10.3f s  (%.2fx baseline)  target < 1 s\n", "vigil: verify + parse + validate (best of N)",
	       best_vigil, best_vigil / best_base);
	printf("bench-result: {\"measure\": \"bundle.load_vs_json_parse\", \"value\": %.4f, \"better\": \"lower\", "
	       "\"baseline\": \"jansson parse only\", \"reproduce\": \"make bench BENCH=bundle\"}\n",
	       best_vigil / best_base);
	printf("%-44s %10.1f MB (incl. the %.1f MB input)\n", "peak RSS after baseline", rss_base / 1024.0,
	       len / 1048576.0);
	printf("%-44s %10.1f MB  target < 200 MB\n", "peak RSS after vigil load", rss_vigil / 1024.0);
	free(buf);
	free(sig);
	vg_trust_free(t);
	return 0;
}
