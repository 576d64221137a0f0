#!/bin/sh
# HTTPS pull against a real nginx on loopback with a CA made here: ETag /
# If-None-Match (304), a new bundle picked up, a bad one refused, ETag
# persisted across restarts, client certificates, failures back off.
. "$(dirname "$0")/lib.sh"
need_root
command -v nginx >/dev/null || skip "nginx not installed (make deps)"
make_keys
mkdir -p "$T/pki" "$T/www" "$T/nginx"
cd "$T/pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=vigil test CA" \
	-keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout srv.key -out srv.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=testhost" -keyout cli.key -out cli.csr 2>/dev/null
openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out cli.crt 2>/dev/null
cd - >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$T/nginx/nginx.conf" <<EOC
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 64; }
http {
	access_log $T/nginx/access.log;
	client_body_temp_path $T/nginx;
	proxy_temp_path $T/nginx; fastcgi_temp_path $T/nginx; uwsgi_temp_path $T/nginx; scgi_temp_path $T/nginx;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_certificate $T/pki/srv.crt;
		ssl_certificate_key $T/pki/srv.key;
		ssl_client_certificate $T/pki/ca.crt;
		ssl_verify_client on;
		root $T/www;
		etag on;
	}
}
EOC
nginx -c "$T/nginx/nginx.conf" &
NGINX_PID=$!
on_exit "kill $NGINX_PID"
i=0; until curl -s --cacert "$T/pki/ca.crt" --cert "$T/pki/cli.crt" --key "$T/pki/cli.key" -o /dev/null "https://127.0.0.1:$port/"; do
	i=$((i+1)); [ $i -gt 50 ] && fail "nginx did not start: $(cat "$T/nginx/error.log")"; sleep 0.1; done

make_bundle "$T/www/bundle.json" 1
chmod 755 "$T" "$T/www"; chmod 644 "$T/www/"*
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

# nginx's ETag is mtime-size: give every published file its own mtime so a change
# within the same second is still a new ETag
stamp=$(( $(date +%s) + 100 ))
publish() { # publish FILE: its .sig first so the pair is never half-new
	stamp=$((stamp + 10))
	cp "$1.sig" "$T/www/bundle.json.sig"; cp "$1" "$T/www/bundle.json"
	touch -d "@$stamp" "$T/www/bundle.json" "$T/www/bundle.json.sig"
	chmod 644 "$T/www/"*
}
make_bundle "$T/new.json" 2
publish "$T/new.json"
wait_version 2 "new version pulled"
# a tampered one is refused and version 2 keeps running
sed 's/"payments"/"paymentz"/' "$T/new.json" >"$T/tampered.json"
cp "$T/new.json.sig" "$T/tampered.json.sig"
publish "$T/tampered.json"
i=0; until ctl --json status | grep -q '"rejected: '; do i=$((i+1)); [ $i -gt 100 ] && fail "tampered pull not reported"; sleep 0.1; done
ok "tampered pulled bundle rejected"
assert_eq "$(version)" 2 "version 2 still running"

# restart: the first request carries the persisted ETag
make_bundle "$T/v3.json" 3
publish "$T/v3.json"
wait_version 3 "version 3 pulled"
stop_vigild
: >"$T/nginx/access.log"
kill -USR1 "$NGINX_PID" 2>/dev/null || true
start_vigild
i=0; until grep -q 'bundle.json HTTP' "$T/nginx/access.log" 2>/dev/null; do i=$((i+1)); [ $i -gt 100 ] && fail "no pull after restart"; sleep 0.1; done
first=$(grep -m1 'bundle.json HTTP' "$T/nginx/access.log")
assert_contains "$first" '" 304 ' "first pull after restart is conditional (persisted ETag)"

# server gone: failures are reported and retried with backoff, policy stays
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true
i=0; until ctl --json status | grep -q '"last_result": "failed'; do i=$((i+1)); [ $i -gt 100 ] && fail "failure not reported"; sleep 0.1; done
ok "unreachable server reported"
out=$(ctl --json status)
assert_contains "$out" '"backoff_s": ' "backoff reported"
assert_eq "$(version)" 3 "policy unchanged while the server is down"
