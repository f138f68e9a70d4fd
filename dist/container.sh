#!/usr/bin/env bash
# The container image (dist/container/Containerfile): FROM scratch with the static
# apns-lab that dist/static.sh built. Builds it with buildah (Debian's `buildah`; no
# daemon, no registry, no BuildKit: its own storage in a temporary directory, removed
# after) into a Docker archive, which is the artifact; then loads that into Docker
# (starting `dockerd --bridge=none --iptables=false` for the run when no engine is up,
# and stopping it after) and checks it as a CI service would use it, every container on
# the host's network with its listeners on 127.0.0.1 (given as arguments, which override
# the image's 0.0.0.0 defaults), so every byte stays on loopback:
#
#   - the image is under 20 MB and holds only the binary and the data dir;
#   - without APNS_LAB_ADMIN_TOKEN it refuses to start, saying why;
#   - it becomes healthy (the image's own health check, `apns-lab health`);
#   - GET /api/v1/ca.pem and /api/v1/ready answer with the token;
#   - the Python suites (dist/python.sh) pass against it;
#   - its data dir is a volume: a new container on it keeps the CA and the key;
#   - `docker stop` (SIGTERM to PID 1) ends it at once with status 0.
#
# Needs: buildah, a Docker engine (or docker.io, to start one; as root), python3 with
# venv and PyPI (the Python suites), and 127.0.0.1 ports 2195-2200, 8089 and 8091 free.
# Usage: dist/container.sh   (output: target/dist/apns-lab-image.tar.gz, `docker load`able)
# Publishing is a release step: `docker tag apns-lab:VERSION REGISTRY/apns-lab:VERSION`
# and `docker push`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/dist/apns-lab ] || { echo "dist/container.sh: run dist/static.sh first" >&2; exit 1; }
fail() { echo "dist/container.sh: $*" >&2; exit 1; }

version=$(target/dist/apns-lab --version | cut -d' ' -f2)
image="apns-lab:$version"
name="apns-lab-check-$$"
volume="apns-lab-check-$$"
token="check-$$-$RANDOM"
work=$(mktemp -d)
dockerd_pid=""
command -v buildah >/dev/null || fail "no buildah (apt-get install buildah)"
buildah=(buildah --root "$work/storage/root" --runroot "$work/storage/run" --storage-driver vfs)
cleanup() {
  docker rm -f "$name" "$name-2" "$name-3" "$name-open" "$name-files" >/dev/null 2>&1 || true
  docker volume rm -f "$volume" >/dev/null 2>&1 || true
  if [ -n "$dockerd_pid" ]; then kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true; fi
  # buildah's storage holds read-only and mount-point files: its own rm first.
  [ -d "$work/storage" ] && "${buildah[@]}" rm --all >/dev/null 2>&1
  rm -rf "$work" 2>/dev/null || { chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"; }
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || fail "no Docker engine running and no dockerd to start (apt-get install docker.io)"
  dockerd --bridge=none --iptables=false >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || fail "dockerd did not start: $(tail -5 "$work/dockerd.log")"
fi

for port in 2195 2196 2197 2198 2199 2200 8089 8091; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "127.0.0.1:$port is in use; the check runs the image on its usual ports"; fi
done

mkdir -p "$work/context/data" "$work/context/licenses"
cp target/dist/apns-lab "$work/context/apns-lab"
cp target/dist/LICENSE-MIT target/dist/LICENSE-APACHE target/dist/THIRD-PARTY-NOTICES.txt "$work/context/licenses/"
# Docker's format, for HEALTHCHECK; chroot isolation, since a FROM scratch build runs
# nothing. The archive is what `docker load` (and `podman load`) take.
"${buildah[@]}" build -q --isolation chroot --format docker -t "docker.io/library/$image" \
  --label "org.opencontainers.image.version=$version" -f dist/container/Containerfile "$work/context" >/dev/null
rm -f target/dist/apns-lab-image.tar target/dist/apns-lab-image.tar.gz
"${buildah[@]}" push -q "docker.io/library/$image" "docker-archive:target/dist/apns-lab-image.tar:$image"
gzip -1 target/dist/apns-lab-image.tar
docker load -q -i target/dist/apns-lab-image.tar.gz >/dev/null
docker tag "$image" apns-lab:latest
# The licences are in the image, under /licenses.
docker create --name "$name-files" "$image" >/dev/null
for f in LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.txt; do
  docker cp "$name-files:/licenses/$f" "$work/$f" >/dev/null && cmp -s "$work/$f" "target/dist/$f" ||
    { docker rm -f "$name-files" >/dev/null; fail "the image lacks /licenses/$f"; }
done
docker rm -f "$name-files" >/dev/null
[ "$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$image")" = "$version" ] ||
  fail "the image's version label is not $version"
size=$(docker image inspect -f '{{.Size}}' "$image")
[ "$size" -lt $((20 * 1000 * 1000)) ] || fail "the image is $size bytes, over 20 MB"
[ "$(docker history -q "$image" | wc -l)" -le 12 ] || fail "unexpected layers: $(docker history "$image")"

loopback=(--sandbox-addr 127.0.0.1:2197 --production-addr 127.0.0.1:2198 --channels-sandbox-addr 127.0.0.1:2195
  --channels-production-addr 127.0.0.1:2196 --gateway-addr 127.0.0.1:2199 --webpush-addr 127.0.0.1:2200
  --admin-addr 127.0.0.1:8089)

# No token: refused, with the reason (the image's own 0.0.0.0 admin address).
if out=$(timeout 20 docker run --rm --network host --name "$name-open" "$image" --sandbox-addr 127.0.0.1:0 \
    --production-addr 127.0.0.1:0 --channels-sandbox-addr 127.0.0.1:0 --channels-production-addr 127.0.0.1:0 \
    --gateway-addr 127.0.0.1:0 --webpush-addr 127.0.0.1:0 2>&1); then
  fail "started without an admin token: $out"
fi
grep -q "admin token" <<<"$out" || fail "no admin token, but not said: $out"

start() {  # start NAME [SERVE ARGS...]: a container on the check's volume, healthy
  docker run -d --name "$1" --network host -e APNS_LAB_ADMIN_TOKEN="$token" -v "$volume:/data" \
    --health-interval 1s --health-start-period 1s "$image" "${loopback[@]}" "${@:2}" >/dev/null
  for _ in $(seq 60); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$1")" = healthy ] && return 0
    [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || break
    sleep 0.5
  done
  docker logs "$1" >&2
  fail "$1 did not become healthy: $(docker inspect -f '{{json .State.Health}}' "$1")"
}
admin() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:8089$1"; }

start "$name"
admin /api/v1/ca.pem | grep -q "BEGIN CERTIFICATE" || fail "GET /api/v1/ca.pem"
key_id=$(admin /api/v1/ready | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_id"])')
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8089/api/v1/health)" = 401 ] || fail "the admin API answered without its token"

APNS_LAB_ADMIN_TOKEN="$token" dist/python.sh http://127.0.0.1:8089

started=$(date +%s%N)
docker stop -t 20 "$name" >/dev/null
took_ms=$(( ($(date +%s%N) - started) / 1000000 ))
status=$(docker inspect -f '{{.State.ExitCode}}' "$name")
[ "$status" = 0 ] || fail "exit status $status after docker stop"
[ "$took_ms" -lt 5000 ] || fail "docker stop took $took_ms ms: SIGTERM not acted on as PID 1"

start "$name-2"
[ "$(admin /api/v1/ready | python3 -c 'import json,sys; print(json.load(sys.stdin)["key_id"])')" = "$key_id" ] ||
  fail "the data volume did not keep the key"
docker stop -t 20 "$name-2" >/dev/null

# The admin API moved: the health check finds it through the ready line serve keeps in
# /data, so the container still becomes healthy.
start "$name-3" --admin-addr 127.0.0.1:8091
docker stop -t 20 "$name-3" >/dev/null

echo "container: $image ($((size / 1000000)) MB; target/dist/apns-lab-image.tar.gz), healthy, Python suites passed against it, data kept on its volume, healthy with its admin API moved, docker stop in ${took_ms} ms with status 0"
