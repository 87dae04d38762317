#!/usr/bin/env bash
# Builds the minikraft container image without touching a registry.
#
#   scripts/build-image.sh [tag]        # default tag: $MINIKRAFT_IMAGE or minikraft:dev
#
# The image is FROM scratch, so nothing can be compiled inside `docker build`: this script builds
# the static binary with the local Go toolchain (CGO_ENABLED=0, for the engine's architecture),
# lays out the few files the image needs in a temporary build context (a passwd entry for uid
# 1001, /tmp, the data directory, the default properties file), and runs `docker build` on that
# context with the repository's Dockerfile. The repository itself is never the context, so its
# data directories and .git are not sent to the engine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tag=${1:-${MINIKRAFT_IMAGE:-minikraft:dev}}

command -v docker >/dev/null || { echo "build-image.sh: docker is not installed" >&2; exit 1; }
# Build for the engine, not for this shell: they differ on a Mac or with a remote DOCKER_HOST.
arch=$(docker version --format '{{.Server.Arch}}') || {
	echo "build-image.sh: no Docker engine answers (is the daemon running? DOCKER_HOST=${DOCKER_HOST:-unset})" >&2
	exit 1
}

# Every file in the image must be readable by uid 1001 whatever this shell's umask is.
umask 022
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
# Seconds with a fraction: bash 5's EPOCHREALTIME, whole seconds elsewhere.
now() { echo "${EPOCHREALTIME:-$(date +%s)}"; }

mkdir -p "$ctx/bin"
t0=$(now)
(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" \
	go build -trimpath -ldflags='-s -w' -o "$ctx/bin/minikraft" ./cmd/minikraft)
t1=$(now)

# Kafka's tools are the same binary under their script names (package kafkatools): relative
# links, with and without .sh, next to it in /usr/local/bin (on the image's PATH). COPY keeps a
# directory's symlinks as symlinks, the legacy builder of Docker 20.10 included.
while read -r tool; do
	[ -n "$tool" ] || continue
	ln -s minikraft "$ctx/bin/$tool"
	ln -s minikraft "$ctx/bin/$tool.sh"
done <"$root/scripts/image/kafka-tools.txt"

# The root filesystem, owned by root. uid 1001 with primary group 0 is bitnami's user, so a
# volume written by bitnami/kafka (files 1001:root) stays readable and writable.
mkdir -p "$ctx/rootfs/etc/minikraft" "$ctx/rootfs/tmp" "$ctx/bitnami/kafka/data"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
	'minikraft:x:1001:0:minikraft:/bitnami/kafka:/sbin/nologin' >"$ctx/rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' >"$ctx/rootfs/etc/group"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0775 "$ctx/bitnami" "$ctx/bitnami/kafka" "$ctx/bitnami/kafka/data"
# The properties file is a checked-in file so that cmd/minikraft's tests read exactly what ships.
cp "$root/scripts/image/server.properties" "$ctx/rootfs/etc/minikraft/server.properties"

old=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
t2=$(now)
docker build --quiet --tag "$tag" --file "$root/Dockerfile" "$ctx" >/dev/null
t3=$(now)
new=$(docker image inspect --format '{{.Id}}' "$tag")
# A rebuild moves the tag; drop the image it left behind (it fails harmlessly while a container
# still uses it).
if [ -n "$old" ] && [ "$old" != "$new" ]; then
	docker image rm "$old" >/dev/null 2>&1 || true
fi

size=$(docker image inspect --format '{{.Size}}' "$tag")
awk -v tag="$tag" -v size="$size" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" \
	'BEGIN { printf "built %s: %.1f MB (go build %.1fs, docker build %.1fs)\n", tag, size/1e6, t1-t0, t3-t2 }'
