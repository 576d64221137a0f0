# Helpers for the audit integration tests (sourced after lib.sh).

# make_pki: a CA, a server certificate for localhost/127.0.0.1 and a client
# certificate (CN client.vigil.test) under $T/pki
make_pki() {
	P="$T/pki"
	mkdir -p "$P"
	(
		cd "$P"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
			-subj "/CN=vigil test CA" -keyout ca.key -out ca.pem 2>/dev/null
		for who in server client; do
			if [ $who = server ]; then cn=localhost; san="DNS:localhost,IP:127.0.0.1"; else cn=client.vigil.test; san="DNS:client.vigil.test"; fi
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
				-keyout $who.key -out $who.csr 2>/dev/null
			printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" >$who.ext
			openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
				-extfile $who.ext -out $who.pem 2>/dev/null
		done
		chmod 600 ./*.key
	) || fail "cannot make test certificates"
}

# start_https_peer: the CloudEvents receiver; sets HTTPS_PORT, HTTPS_OUT, HTTPS_CONTROL
start_https_peer() {
	HTTPS_OUT="$T/https.jsonl"
	HTTPS_CONTROL="$T/https.control"
	echo ok >"$HTTPS_CONTROL"
	python3 "$ROOT/tests/integration/audit_https_peer.py" "$T/https.port" "$HTTPS_OUT" "$HTTPS_CONTROL" \
		"$T/pki/ca.pem" "$T/pki/server.pem" "$T/pki/server.key" >"$T/https.log" 2>&1 &
	HTTPS_PID=$!
	on_exit "kill $HTTPS_PID"
	i=0
	while [ ! -s "$T/https.port" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { cat "$T/https.log" >&2; fail "https peer did not start"; }
		sleep 0.1
	done
	HTTPS_PORT=$(cat "$T/https.port")
}

# push_sinks VERSION SINKS_JSON: sign and apply a bundle whose audit.sinks is SINKS_JSON
push_sinks() {
	make_bundle "$T/b$1.json" "$1" --set "audit.sinks=$2"
	ctl policy push "$T/b$1.json" >/dev/null || fail "bundle with sinks rejected"
}

# audit_field EXPR: a python expression over s = `vigilctl --json audit status`
audit_field() {
	ctl --json audit status | python3 -c "import json,sys; s=json.load(sys.stdin); print($1)"
}

# wait_drained [SECONDS]: every sink has acknowledged everything durable
wait_drained() {
	n=$((${1:-60} * 10)); i=0
	while [ "$(audit_field 'all(k["lag_events"] == 0 and k["cursor"] >= s["durable_seq"] for k in s["sinks"])')" != True ]; do
		i=$((i + 1)); [ $i -gt $n ] && { ctl audit status >&2; fail "sinks did not catch up"; }
		sleep 0.1
	done
}

# assert_all_seqs FILE UPTO: every seq 1..UPTO is in the collector's file at least once
assert_all_seqs() {
	missing=$(python3 "$ROOT/tests/integration/audit_tool.py" seqs "$1" | python3 -c "
import sys
have = set(int(x) for x in sys.stdin if x.strip())
miss = [s for s in range(1, $2 + 1) if s not in have]
print(len(miss), miss[:10])")
	assert_eq "$missing" "0 []" "every seq 1..$2 reached the collector"
}

# verifiers_agree WHAT ARGS... : vigilctl audit verify and the independent verifier written
# from docs/audit.md (tools/vigil-audit-verify.py) reach the same verdict on every log:
# intact or not, the first bad seq and the reason. Prints the verdict; fails on any difference.
verifiers_agree() {
	what=$1; shift
	"$VIGILCTL" --json audit verify "$@" >"$T/agree.c" 2>"$T/agree.c.err" || true
	python3 "$ROOT/tools/vigil-audit-verify.py" --json "$@" >"$T/agree.py" 2>"$T/agree.py.err" || true
	python3 - "$T/agree.c" "$T/agree.py" "$what" <<'PY' || fail "$what: the two verifiers disagree"
import json, sys
c, p = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
logs = c["logs"] if "logs" in c else [c]
key = lambda r: (r["ok"], r.get("bad_seq") if not r["ok"] else None, r.get("reason"))
a, b = sorted(map(key, logs)), sorted(map(key, p))
if a != b:
    print("vigilctl:", json.dumps(logs), "\nindependent:", json.dumps(p), file=sys.stderr)
    sys.exit(1)
print("  ok: %s: both verifiers say %s" % (sys.argv[3], "; ".join(
    "intact" if r[0] else "FAILED at seq %s: %s" % (r[1], r[2]) for r in a)))
PY
}
