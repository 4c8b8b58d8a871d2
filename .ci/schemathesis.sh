#!/usr/bin/env bash
# Schema-driven API fuzzing: Schemathesis (PyPI `schemathesis`) reads the OpenAPI document a
# real `phivault serve --dev` publishes and drives every operation with generated valid
# and invalid requests, all checks on, with the development token. Any failure fails CI.
#
#   .ci/schemathesis.sh            # builds target/debug/phivault if needed
#   ST_MAX_EXAMPLES=100 .ci/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"
SEED="${ST_SEED:-1}"
BIN="${PHIVAULT_BIN:-target/debug/phivault}"

if ! command -v st >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check schemathesis \
    || python3 -m pip install --quiet --break-system-packages schemathesis
fi
[ -x "$BIN" ] || cargo build --locked -p phivault

DATA="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "${ST_KEEP_LOG:-}" ]; then cp "$DATA/stdout" "$ST_KEEP_LOG"; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

# `--json` makes the development banner one JSON line on stdout (token, certificate path),
# so nothing scrapes the human banner. Log lines go to the same stream; only the first
# line is the banner.
# The fuzzer sends thousands of requests from one address with one token as fast as it
# can: the rate limits would answer most of them 429, which says nothing about the
# contract. They are turned off here; each limit has tests of its own
# (crates/phivault-server/tests/it/limits.rs).
PHIVAULT_LIMITS_PER_TOKEN_PER_SECOND=0 \
PHIVAULT_LIMITS_PER_ADDRESS_PER_SECOND=0 \
PHIVAULT_LIMITS_LOGIN_PER_ADDRESS_PER_MINUTE=0 \
"$BIN" --json --data-dir "$DATA/vault" serve --dev --listen "127.0.0.1:$PORT" \
  >"$DATA/stdout" 2>"$DATA/stderr" &
SERVER_PID=$!

BASE="https://127.0.0.1:$PORT"
for _ in $(seq 1 300); do
  if [ -s "$DATA/stdout" ] && [ -f "$DATA/vault/tls/cert.pem" ] \
    && curl -fsS --cacert "$DATA/vault/tls/cert.pem" "$BASE/readyz" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    cat "$DATA/stderr" >&2
    echo "schemathesis: phivault serve --dev exited early" >&2
    exit 1
  fi
  sleep 0.2
done
TOKEN="$(head -n 1 "$DATA/stdout" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
CA="$(head -n 1 "$DATA/stdout" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ca_cert"])')"

echo "schemathesis: $BASE, $MAX_EXAMPLES examples per operation, seed $SEED"
run_st() {
  st --no-color --config-file .ci/schemathesis.toml run "$BASE/v1/openapi.json" \
    --checks all \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --tls-verify "$CA" \
    --header "Authorization: Bearer $TOKEN" \
    --request-timeout 30 \
    --suppress-health-check all \
    --generation-database none \
    "$@"
}
# Revoking or rotating a token ends it at once, the caller's own included: Schemathesis
# learns ids from `GET /v1/tokens` and would revoke the token it runs with, leaving every
# later request a 401. Those two operations run on their own, after everything else.
TOKEN_ENDERS='^/v1/tokens/\{id\}(/rotate)?$'
status=0
run_st --exclude-path-regex "$TOKEN_ENDERS" || status=1
run_st --include-path-regex "$TOKEN_ENDERS" || status=1
exit "$status"
