#!/bin/sh
# hello's tests. TEST_TYPE says which; TARGET_URL says where the service under test answers.
set -u
fail() { echo "FAIL: $*"; exit 1; }
get() { timeout 5 wget -q -O - "$1"; }

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
