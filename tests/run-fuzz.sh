#!/bin/sh
# Run each libFuzzer target in build-fuzz/ for a bounded time on its seed corpus.
secs=${1:-20}
fail=0
for f in build-fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	corpus="fuzz/corpus/${name#fuzz_}"
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
	echo "== fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 "$work" >"$work.log" 2>&1; then
		echo "!! $name found a crash:"; tail -n 40 "$work.log"; fail=1
	else
		grep -E "^#[0-9]+.*(DONE|pulse)" "$work.log" | tail -n 1
	fi
	rm -rf "$work" "$work.log"
done
exit $fail
