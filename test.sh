#!/usr/bin/env bash
# The project's test command: installs the real Kafka clients the end-to-end tests drive
# (kcat, kafka-python 2.0.2 and confluent-kafka-python for /usr/bin/python3) and Chromium (the
# console's browser test) when they are missing,
# then runs every test.
# Extra arguments go to `go test` (e.g. ./test.sh -run Seed ./e2e/).
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
# The console's browser test (console/browser_test.go) drives headless Chromium.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || missing+=(python3-kafka)
/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || missing+=(python3-confluent-kafka)
if ((${#missing[@]})); then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing ${missing[*]}" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "test.sh: MISSING ${missing[*]}: install them (sudo apt-get install -y ${missing[*]}); the e2e tests that need them will fail" >&2
	fi
fi

if (($#)); then
	exec go test "$@"
fi
exec go test -count=1 -timeout 30m ./...
