#!/usr/bin/env bash
# Smoke check of the two loopback OIDC providers used by the interop tests.
#
#   interop/smoke.sh [hydra|oidc-provider|all]      (default: all)
#
# Needs: curl, jq, node (>= 20), go + gcc for the Hydra build (interop/hydra/build).
# Runs `npm ci` in interop/oidc-provider when node_modules is missing.
# Every server it starts listens on 127.0.0.1 only and is stopped on exit.
# Prints "N passed, N failed" at the end; exits non-zero on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
what="${1:-all}"
work="$(mktemp -d)"
pids=()
passed=0
failed=0

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

ok()   { echo "ok   - $*"; passed=$((passed + 1)); }
bad()  { echo "FAIL - $*"; failed=$((failed + 1)); }
# check DESCRIPTION JQ_FILTER JSON : passes when the filter yields true
check() {
  if jq -e "$2" >/dev/null 2>&1 <<<"$3"; then ok "$1"; else bad "$1: $2 on $3"; fi
}

b64url_json() {
  local p="${1//-/+}"; p="${p//_//}"
  while (( ${#p} % 4 )); do p="$p="; done
  base64 -d <<<"$p" | jq -c .
}
jwt_header()  { b64url_json "$(cut -d. -f1 <<<"$1")"; }
jwt_payload() { b64url_json "$(cut -d. -f2 <<<"$1")"; }

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_http_ok() { # URL TIMEOUT_TENTHS
  local i
  for ((i = 0; i < $2; i++)); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

smoke_hydra() {
  echo "# Ory Hydra"
  local bin pub adm P A log="$work/hydra.log"
  bin="$("$here/hydra/build" | tail -n 1)"
  pub="$(free_port)"; adm="$(free_port)"
  P="http://127.0.0.1:$pub"; A="http://127.0.0.1:$adm"

  env DSN=memory \
      SECRETS_SYSTEM=grpcjwt-interop-system-secret \
      STRATEGIES_ACCESS_TOKEN=jwt \
      URLS_SELF_ISSUER="$P" \
      SERVE_PUBLIC_HOST=127.0.0.1 SERVE_PUBLIC_PORT="$pub" \
      SERVE_ADMIN_HOST=127.0.0.1 SERVE_ADMIN_PORT="$adm" \
      LOG_LEVEL=warn \
      "$bin" serve all --dev --sqa-opt-out >"$log" 2>&1 &
  pids+=($!)
  if wait_http_ok "$P/health/ready" 300 && wait_http_ok "$A/health/ready" 300; then ok "hydra ready"; else bad "hydra not ready"; cat "$log"; return; fi

  # Hydra creates its RSA-4096 key sets lazily on first use (seconds on a busy machine, and the
  # first token's exp is counted from before that); fetching the JWKS creates both sets up front.
  curl -s -o /dev/null "$P/.well-known/jwks.json"
  local disc; disc="$(curl -s "$P/.well-known/openid-configuration")"
  check "hydra discovery issuer" ".issuer == \"$P\" and .jwks_uri == \"$P/.well-known/jwks.json\"" "$disc"

  local client; client="$(curl -s -X POST "$A/admin/clients" -H 'Content-Type: application/json' -d '{
      "client_id": "grpcjwt-client",
      "client_secret": "grpcjwt-secret",
      "grant_types": ["client_credentials"],
      "scope": "greet:read greet:write",
      "audience": ["https://api.example.com"],
      "token_endpoint_auth_method": "client_secret_basic"}')"
  check "hydra client created" '.client_id == "grpcjwt-client"' "$client"

  local resp tok h p
  resp="$(curl -s -u grpcjwt-client:grpcjwt-secret -d grant_type=client_credentials \
            -d audience=https://api.example.com --data-urlencode 'scope=greet:read greet:write' "$P/oauth2/token")"
  tok="$(jq -r .access_token <<<"$resp")"
  h="$(jwt_header "$tok")"; p="$(jwt_payload "$tok")"
  echo "  header:  $h"; echo "  payload: $p"
  check "hydra header typ JWT, RS256, kid" '.typ == "JWT" and .alg == "RS256" and (.kid | length > 0)' "$h"
  check "hydra payload iss/aud/scp/sub/client_id" \
    ".iss == \"$P\" and .aud == [\"https://api.example.com\"] and .scp == [\"greet:read\",\"greet:write\"] and .sub == \"grpcjwt-client\" and .client_id == \"grpcjwt-client\" and .nbf == .iat and (.exp - .iat | . >= 3599 and . <= 3600)" "$p"
  check "hydra JWKS has the token kid" "any(.keys[]; .kid == $(jq .kid <<<"$h"))" "$(curl -s "$P/.well-known/jwks.json")"

  # key rotation: a new key in the access-token set signs the next token at once
  local kid="rotated-$RANDOM" nh
  curl -s -o /dev/null -X POST "$A/admin/keys/hydra.jwt.access-token" -H 'Content-Type: application/json' \
       -d "{\"alg\":\"ES256\",\"kid\":\"$kid\",\"use\":\"sig\"}"
  tok="$(curl -s -u grpcjwt-client:grpcjwt-secret -d grant_type=client_credentials -d audience=https://api.example.com "$P/oauth2/token" | jq -r .access_token)"
  nh="$(jwt_header "$tok")"; echo "  rotated header: $nh"
  check "hydra rotated kid signs" ".kid == \"$kid\" and .alg == \"ES256\"" "$nh"
  check "hydra JWKS lists old and new kid" "any(.keys[]; .kid == \"$kid\") and any(.keys[]; .kid == $(jq .kid <<<"$h"))" "$(curl -s "$P/.well-known/jwks.json")"

  # short TTL per client, no restart
  curl -s -o /dev/null -X PUT "$A/admin/clients/grpcjwt-client/lifespans" -H 'Content-Type: application/json' \
       -d '{"client_credentials_grant_access_token_lifespan":"2s"}'
  tok="$(curl -s -u grpcjwt-client:grpcjwt-secret -d grant_type=client_credentials -d audience=https://api.example.com "$P/oauth2/token" | jq -r .access_token)"
  check "hydra 2s lifespan" '.exp - .iat | . >= 1 and . <= 2' "$(jwt_payload "$tok")"
}

smoke_oidc_provider() {
  echo "# node-oidc-provider"
  local dir="$here/oidc-provider"
  [[ -d "$dir/node_modules/oidc-provider" ]] || (cd "$dir" && npm ci --no-audit --no-fund >&2)
  local alg
  for alg in RS256 ES256; do
    node "$dir/genkey.mjs" "$alg" "key-$alg" >"$work/jwks-$alg.json"
    local out="$work/op-$alg.out" iss="" i
    JWKS_FILE="$work/jwks-$alg.json" ACCESS_TOKEN_TTL=2 PORT=0 \
      node "$dir/provider.mjs" >"$out" 2>"$work/op-$alg.err" &
    pids+=($!)
    for ((i = 0; i < 300; i++)); do
      iss="$(sed -n 's/^listening //p' "$out")"; [[ -n "$iss" ]] && break; sleep 0.1
    done
    if [[ -n "$iss" ]]; then ok "oidc-provider $alg ready at $iss"; else bad "oidc-provider $alg not ready"; cat "$work/op-$alg.err"; continue; fi

    local disc; disc="$(curl -s "$iss/.well-known/openid-configuration")"
    check "oidc-provider $alg discovery" ".issuer == \"$iss\" and .jwks_uri == \"$iss/jwks\" and .token_endpoint == \"$iss/token\"" "$disc"

    local resp tok h p
    resp="$(curl -s -u grpcjwt-client:grpcjwt-secret -d grant_type=client_credentials \
              -d resource=https://api.example.com -d scope=greet:read "$iss/token")"
    tok="$(jq -r .access_token <<<"$resp")"
    h="$(jwt_header "$tok")"; p="$(jwt_payload "$tok")"
    echo "  header:  $h"; echo "  payload: $p"
    check "oidc-provider $alg header" ".typ == \"at+jwt\" and .alg == \"$alg\" and .kid == \"key-$alg\"" "$h"
    check "oidc-provider $alg payload" \
      ".iss == \"$iss\" and .aud == \"https://api.example.com\" and .scope == \"greet:read\" and .client_id == \"grpcjwt-client\" and .sub == \"grpcjwt-client\" and .exp - .iat == 2" "$p"
    check "oidc-provider $alg JWKS public only" "[.keys[].kid] == [\"key-$alg\"] and all(.keys[]; has(\"d\") | not)" "$(curl -s "$iss/jwks")"
  done
}

case "$what" in
  hydra) smoke_hydra ;;
  oidc-provider) smoke_oidc_provider ;;
  all) smoke_oidc_provider; smoke_hydra ;;
  *) echo "usage: $0 [hydra|oidc-provider|all]" >&2; exit 2 ;;
esac

echo "smoke: $passed passed, $failed failed"
(( failed == 0 ))
