#!/usr/bin/env bash
# Runs Docker Compose whichever way this machine has it: the `docker compose` plugin (v2) when
# present, else the standalone `docker-compose` (v1, e.g. Debian's 1.29). Arguments pass through:
#   scripts/compose.sh -f docker-compose.single.yml up -d
set -euo pipefail
if docker compose version >/dev/null 2>&1; then
	exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
	exec docker-compose "$@"
fi
echo "compose.sh: neither \`docker compose\` nor \`docker-compose\` is installed" >&2
exit 127
