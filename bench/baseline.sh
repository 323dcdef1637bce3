#!/usr/bin/env bash
# The bench's baseline: one blue-green deploy of a service with nothing but the docker CLI, curl and the
# proxy's own reload, in the same order as the pipeline (pre-deployment tests, build, push, start the next
# colour, health, pre-integration tests, switch + confirm, post-integration tests, retire the old colour).
# No journal, no lock, no service registry, no rollback: the floor the pipeline's bookkeeping is measured against.
#
# Inputs (environment): SERVICE_DIR SERVICE VERSION NETWORK PROXY_CONTAINER PROXY_PORT PROXY_IMAGE (the bench passes
#   the pipeline's, ProxyOptions.DefaultImage unless set)
#   optional: PROXY_KIND (haproxy|nginx, default haproxy), IMAGE_REGISTRY (127.0.0.1:5000),
#   BENCH_LABEL (key=value put on everything it creates).
# Exit code 0 when the new colour answers through the proxy and passed its tests.
set -euo pipefail
: "${SERVICE_DIR:?}" "${SERVICE:?}" "${VERSION:?}" "${NETWORK:?}" "${PROXY_CONTAINER:?}" "${PROXY_PORT:?}" "${PROXY_IMAGE:?}"
kind=${PROXY_KIND:-haproxy}
registry=${IMAGE_REGISTRY:-127.0.0.1:5000}
proxy_image=$PROXY_IMAGE
label=${BENCH_LABEL:-pipeline.bench=baseline}
image="$registry/$SERVICE:$VERSION"
tests="$registry/$SERVICE/tests:$VERSION"
export DOCKER_BUILDKIT=0
step() { echo "baseline: $*" >&2; }

step "pre-deployment tests"
docker build -q -t "$tests" -f "$SERVICE_DIR/Dockerfile.tests" "$SERVICE_DIR" >/dev/null
docker run --rm --label "$label" -e TEST_TYPE=pre-deployment -e "SERVICE_NAME=$SERVICE" -e "SERVICE_VERSION=$VERSION" "$tests"

step "build and push"
docker build -q -t "$image" "$SERVICE_DIR" >/dev/null
docker push -q "$image" >/dev/null &
push_image=$!
docker push -q "$tests" >/dev/null
wait "$push_image"

step "release"
docker network inspect "$NETWORK" >/dev/null 2>&1 || docker network create --label "$label" "$NETWORK" >/dev/null
old=$(docker ps -aq --filter "label=pipeline.service=$SERVICE" --filter "label=pipeline.role=release")
live=$(docker ps --filter "label=pipeline.service=$SERVICE" --filter "label=pipeline.role=release" --format '{{.Label "pipeline.color"}}' | head -n 1)
color=blue
[ "$live" = blue ] && color=green
docker pull -q "$image" >/dev/null
name="$SERVICE-$color-$(date +%s%N | tail -c 7)"
docker run -d --name "$name" --network "$NETWORK" --restart unless-stopped \
  --label "$label" --label "pipeline.service=$SERVICE" --label "pipeline.role=release" --label "pipeline.color=$color" --label "pipeline.version=$VERSION" \
  -e "SERVICE_NAME=$SERVICE" -e "SERVICE_VERSION=$VERSION" -e "SERVICE_COLOR=$color" -e SERVICE_ROUTE=/ -e PORT=8080 "$image" >/dev/null
addr=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$name")
healthy=
for _ in $(seq 300); do
  if curl -fsS -m 2 -o /dev/null "http://$addr:8080/health"; then healthy=1; break; fi
  sleep 0.2
done
[ -n "$healthy" ] || { echo "baseline: $name never answered /health" >&2; exit 1; }

step "pre-integration tests"
docker run --rm --label "$label" --network "$NETWORK" -e TEST_TYPE=pre-integration -e "TARGET_URL=http://$addr:8080/" \
  -e "SERVICE_NAME=$SERVICE" -e "SERVICE_VERSION=$VERSION" -e "SERVICE_COLOR=$color" "$tests"

step "switch the proxy"
config=$(mktemp)
trap 'rm -f "$config"' EXIT
if [ "$kind" = haproxy ]; then
  live_path=/etc/haproxy/baseline.cfg
  render() { # $1 = upstream or empty, $2 = colour
    printf 'global\n    maxconn 4096\n    hard-stop-after 30s\ndefaults\n    mode http\n    option http-keep-alive\n    option idle-close-on-response\n'
    printf '    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout http-keep-alive 10s\nfrontend fe\n    bind :80\n'
    if [ -n "$1" ]; then
      printf '    default_backend be\nbackend be\n    http-response set-header X-Pipeline-Color %s\n    server s1 %s\n' "$2" "$1"
    else
      printf '    http-request return status 503\n'
    fi
  }
  check() { docker exec "$PROXY_CONTAINER" /usr/sbin/haproxy -c -q -f "$1"; }
  reload() { docker exec "$PROXY_CONTAINER" /bin/sh -c "echo reload | /usr/bin/socat -t 5 stdio unix-connect:/run/haproxy-master.sock" >/dev/null; }
  command=(/usr/sbin/haproxy -W -db -S /run/haproxy-master.sock,mode,600 -f "$live_path")
else
  live_path=/etc/nginx/baseline.conf
  render() {
    printf 'worker_processes 1;\npid /run/nginx.pid;\nerror_log stderr warn;\nevents { worker_connections 1024; }\n'
    printf 'http {\n    access_log off;\n    keepalive_timeout 65s;\n    proxy_http_version 1.1;\n    proxy_set_header Connection "";\n'
    if [ -n "$1" ]; then
      printf '    upstream be { server %s; keepalive 16; }\n    server { listen 80; location / { proxy_pass http://be; add_header X-Pipeline-Color %s always; } }\n}\n' "$1" "$2"
    else
      printf '    server { listen 80; return 503; }\n}\n'
    fi
  }
  check() { docker exec "$PROXY_CONTAINER" /usr/sbin/nginx -t -q -c "$1" -g 'daemon off;'; }
  reload() { docker exec "$PROXY_CONTAINER" /usr/sbin/nginx -c "$live_path" -g 'daemon off;' -s reload; }
  command=(/usr/sbin/nginx -c "$live_path" -g 'daemon off;')
fi
if ! docker inspect "$PROXY_CONTAINER" >/dev/null 2>&1; then
  docker create --name "$PROXY_CONTAINER" --network "$NETWORK" -p "127.0.0.1:$PROXY_PORT:80" --label "$label" --label pipeline.role=proxy \
    "$proxy_image" "${command[@]}" >/dev/null
  render "" "" >"$config"
  docker cp "$config" "$PROXY_CONTAINER:$live_path"
  docker start "$PROXY_CONTAINER" >/dev/null
  sleep 0.3
fi
render "$addr:8080" "$color" >"$config"
docker cp "$config" "$PROXY_CONTAINER:$live_path.candidate"
check "$live_path.candidate"
docker exec "$PROXY_CONTAINER" /bin/mv -f "$live_path.candidate" "$live_path"
reload
confirmed=
for _ in $(seq 1500); do
  if curl -s -m 2 -o /dev/null -D - -H 'Connection: close' "http://127.0.0.1:$PROXY_PORT/" | grep -qi "^X-Pipeline-Color: $color"; then confirmed=1; break; fi
  sleep 0.02
done
[ -n "$confirmed" ] || { echo "baseline: the proxy never answered from $color" >&2; exit 1; }

step "post-integration tests"
docker run --rm --label "$label" --network host -e TEST_TYPE=post-integration -e "TARGET_URL=http://127.0.0.1:$PROXY_PORT/" \
  -e "SERVICE_NAME=$SERVICE" -e "SERVICE_VERSION=$VERSION" -e "SERVICE_COLOR=$color" "$tests"

step "retire the old colour"
if [ -n "$old" ]; then
  # shellcheck disable=SC2086
  docker stop -t 10 $old >/dev/null
  # shellcheck disable=SC2086
  docker rm $old >/dev/null
fi
step "$SERVICE $VERSION live as $color"
