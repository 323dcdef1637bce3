#!/bin/sh
# hello: answers with its name, version and colour; /health answers "ok".
# SERVICE_NAME, SERVICE_VERSION, SERVICE_COLOR and SERVICE_ROUTE are given by the pipeline at deploy time.
set -eu
port="${PORT:-8080}"
root="${WWW_ROOT:-/www}"
# The proxy keeps the request path, so the service also answers under its route prefix.
for dir in "$root" "$root${SERVICE_ROUTE:-/}"; do
  mkdir -p "$dir"
  echo "hello from ${SERVICE_NAME:-hello} ${SERVICE_VERSION:-dev} (${SERVICE_COLOR:-none})" > "$dir/index.html"
  echo "ok" > "$dir/health"
done
# busybox httpd as PID 1 ignores SIGTERM; trap it so `docker stop` is quick.
trap 'kill "$server" 2>/dev/null; exit 0' TERM INT
if [ -n "${LISTEN_BACKLOG:-}" ]; then
  # httpd listens with a backlog of 9. With LISTEN_BACKLOG=N (the bench sets 128) busybox nc listens instead, with a
  # backlog of one per -l (-ll and more: it runs httpd per connection).
  nc -"$(printf "%0${LISTEN_BACKLOG}d" 0 | tr 0 l)" -p "$port" -e httpd -i -h "$root" &
else
  httpd -f -p "$port" -h "$root" &
fi
server=$!
wait "$server"
