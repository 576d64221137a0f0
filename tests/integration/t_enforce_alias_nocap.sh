#!/bin/sh
# t_enforce_alias again with vigild as the shipped unit runs it: without CAP_DAC_READ_SEARCH
# (docs/packaging.md), so the kernel opens no cgroup by id and vigild tells a bind-mount alias
# by its mount instead. Every alias is still refused and the enforced tenant stays blocked.
command -v capsh >/dev/null || { echo "SKIPPED: capsh (libcap2-bin) missing"; exit 77; }
exec capsh --drop=cap_dac_read_search -- -c "sh '$(dirname "$0")/t_enforce_alias.sh'"
