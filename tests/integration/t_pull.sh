#!/bin/sh
# HTTPS pull against a real nginx on loopback with a CA made here: ETag /
# If-None-Match (304), a new bundle picked up, a bad one refused, ETag
# persisted across restarts, client certificates, failures back off.
. "$(dirname "$0")/lib.sh"
need_root
. "$(dirname "$0")/https_fixture.sh"
make_keys
https_start

make_bundle "$T/www/bundle.json" 1
chmod 644 "$T/www/"*
write_config "pull_url = https://127.0.0.1:$port/bundle.json" "pull_interval_s = 1" "pull_jitter_s = 0" \
	"pull_ca_file = $T/pki/ca.crt" "pull_cert_file = $T/pki/cli.crt" "pull_key_file = $T/pki/cli.key"
start_vigild
version() { ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy"].get("version", 0))'; }
wait_version() { i=0; while [ "$(version)" != "$1" ]; do i=$((i+1)); [ $i -gt 100 ] && fail "$2"; sleep 0.1; done; ok "$2"; }
wait_version 1 "bundle pulled over HTTPS with a client certificate"
out=$(ctl --json status)
assert_contains "$out" '"source": "pull"' "status names the pull as source"
# the next pulls are conditional: nginx answers 304
i=0; until grep -q '" 304 ' "$T/nginx/access.log"; do i=$((i+1)); [ $i -gt 100 ] && fail "no 304 seen"; sleep 0.1; done
ok "If-None-Match answered 304 Not Modified"
etag=$(python3 -c "import json; print(json.load(open('$T/state/pull.json'))['etag'])")
[ -n "$etag" ] || fail "ETag not persisted"
ok "ETag persisted: $etag"

make_bundle "$T/new.json" 2
publish "$T/new.json" bundle.json
wait_version 2 "new version pulled"
# a tampered one is refused and version 2 keeps running
sed 's/"payments"/"paymentz"/' "$T/new.json" >"$T/tampered.json"
cp "$T/new.json.sig" "$T/tampered.json.sig"
publish "$T/tampered.json" bundle.json
i=0; until ctl --json status | grep -q '"rejected: '; do i=$((i+1)); [ $i -gt 100 ] && fail "tampered pull not reported"; sleep 0.1; done
ok "tampered pulled bundle rejected"
assert_eq "$(version)" 2 "version 2 still running"

# restart: the first request carries the persisted ETag
make_bundle "$T/v3.json" 3
publish "$T/v3.json" bundle.json
wait_version 3 "version 3 pulled"
stop_vigild
: >"$T/nginx/access.log"
kill -USR1 "$NGINX_PID" 2>/dev/null || true
start_vigild
i=0; until grep -q 'bundle.json HTTP' "$T/nginx/access.log" 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && fail "no pull after restart"; sleep 0.1; done
first=$(grep -m1 'bundle.json HTTP' "$T/nginx/access.log")
assert_contains "$first" '" 304 ' "first pull after restart is conditional (persisted ETag)"

# the TLS files libcurl opens are trusted like every file vigild reads: a client key others can
# write is refused, saying which file and the fix, and pulling resumes once it is root's alone
chmod 0666 "$T/pki/cli.key"
i=0; until ctl --json status | grep -q 'cli.key is writable by group or others'; do i=$((i+1)); [ $i -gt 100 ] && fail "a world-writable client key was used: $(ctl --json status)"; sleep 0.1; done
ok "a world-writable pull_key_file is refused, naming the file"
chmod 0600 "$T/pki/cli.key"
make_bundle "$T/v4.json" 4
publish "$T/v4.json" bundle.json
wait_version 4 "pulling resumes once the key is root's alone"

# server gone: failures are reported and retried with backoff, policy stays
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true
i=0; until ctl --json status | grep -q '"last_result": "failed'; do i=$((i+1)); [ $i -gt 100 ] && fail "failure not reported"; sleep 0.1; done
ok "unreachable server reported"
out=$(ctl --json status)
assert_contains "$out" '"backoff_s": ' "backoff reported"
assert_eq "$(version)" 4 "policy unchanged while the server is down"
