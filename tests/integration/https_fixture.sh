# An HTTPS server for the pull tests and bench/fleet.sh (sourced after lib.sh, or by a caller
# with its own T, fail and on_exit): a CA made here, nginx on loopback requiring a client
# certificate, serving $T/www with ETags, for up to $HTTPS_CONNECTIONS clients at once
# (default 64). After https_start: $port, $NGINX_PID, $T/pki/{ca,cli}.{crt,key} (vigild's
# pull_ca_file, pull_cert_file, pull_key_file), the requests in $T/nginx/access.log (nginx's
# combined format) and $T/nginx/timed.log ("msec status bytes_sent uri"); publish FILE NAME puts
# FILE.sig then FILE there.
command -v nginx >/dev/null || skip "nginx not installed (make deps)"
https_start() {
	mkdir -p "$T/pki" "$T/www" "$T/nginx"
	(
		cd "$T/pki"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=vigil test CA" \
			-keyout ca.key -out ca.crt 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout srv.key -out srv.csr 2>/dev/null
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >srv.ext
		openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.crt 2>/dev/null
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=testhost" -keyout cli.key -out cli.csr 2>/dev/null
		openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out cli.crt 2>/dev/null
	)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$T/nginx/nginx.conf" <<EOC
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections ${HTTPS_CONNECTIONS:-64}; }
http {
	log_format timed '\$msec \$status \$bytes_sent \$request_uri';
	access_log $T/nginx/access.log;
	access_log $T/nginx/timed.log timed;
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
	chmod 755 "$T" "$T/www"
	# nginx's ETag is mtime-size: every published file gets its own mtime, so a change within
	# the same second is still a new ETag
	stamp=$(( $(date +%s) + 100 ))
}
publish() { # publish FILE NAME: NAME.sig first so the pair is never half-new
	stamp=$((stamp + 10))
	cp "$1.sig" "$T/www/$2.sig"; cp "$1" "$T/www/$2"
	touch -d "@$stamp" "$T/www/$2" "$T/www/$2.sig"
	chmod 644 "$T/www/"*
}
