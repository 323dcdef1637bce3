#!/bin/sh
# hello's tests. TEST_TYPE says which; TARGET_URL says where the service under test answers.
set -u
fail() { echo "FAIL: $*"; exit 1; }
get() { timeout 5 wget -q -O - "$1"; }
# The proxy adds X-Pipeline-Color to every answer; the release itself never does.
served_color() { timeout 5 wget -S -q -O /dev/null "$1" 2>&1 | sed -n 's/^ *[Xx]-[Pp]ipeline-[Cc]olor: *\([a-z]*\).*/\1/p'; }

case "${TEST_TYPE:-}" in
  pre-deployment)
    # The service's own code, run inside this container: it must start and answer.
    sh -n /serve.sh || fail "serve.sh has a syntax error"
    PORT=18080 WWW_ROOT=/tmp/www SERVICE_VERSION=test SERVICE_COLOR=none sh /serve.sh &
    for i in 1 2 3 4 5 6 7 8 9 10; do get http://127.0.0.1:18080/health >/dev/null 2>&1 && break; sleep 0.2; done
    body=$(get http://127.0.0.1:18080/) || fail "the service did not answer on :18080"
    echo "$body" | grep -q "hello from .* test (none)" || fail "unexpected answer: $body"
    ;;
  pre-integration|post-integration)
    [ -n "${TARGET_URL:-}" ] || fail "TARGET_URL is not set"
    case "$TARGET_URL" in
      https://*)
        # busybox wget neither checks certificates (TARGET_CA) nor offers the signatures a TLS 1.2 server asks for today:
        # through the proxy's plain HTTP port instead (the bench's HTTPS clients check TLS for real).
        [ -n "${TARGET_HTTP_URL:-}" ] || fail "TARGET_URL is https:// and TARGET_HTTP_URL is not set"
        echo "busybox wget cannot check $TARGET_URL: testing $TARGET_HTTP_URL"
        TARGET_URL=$TARGET_HTTP_URL ;;
    esac
    via_proxy=$(served_color "$TARGET_URL")
    if [ "$TEST_TYPE" = pre-integration ]; then
      [ -z "$via_proxy" ] || fail "pre-integration must reach the release directly, but $TARGET_URL answered through the proxy ($via_proxy)"
      echo "direct: $TARGET_URL answered without the proxy's header"
    else
      [ "$via_proxy" = "${SERVICE_COLOR:-}" ] || fail "the proxy at $TARGET_URL serves '$via_proxy', not ${SERVICE_COLOR:-}"
      echo "through the proxy: $TARGET_URL serves ${SERVICE_COLOR:-}"
    fi
    body=$(get "$TARGET_URL") || fail "no answer from $TARGET_URL"
    echo "answer: $body"
    echo "$body" | grep -q "${SERVICE_VERSION:-}" || fail "answer does not carry version ${SERVICE_VERSION:-}"
    echo "$body" | grep -q "(${SERVICE_COLOR:-})" || fail "answer does not come from colour ${SERVICE_COLOR:-}"
    health=$(get "${TARGET_URL%/}/health") || fail "no answer from ${TARGET_URL%/}/health"
    [ "$health" = "ok" ] || fail "health answered '$health'"
    ;;
  *)
    fail "unknown TEST_TYPE '${TEST_TYPE:-}' (expected pre-deployment, pre-integration or post-integration)"
    ;;
esac
echo "PASS: ${TEST_TYPE}"
