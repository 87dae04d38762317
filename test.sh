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
		# Another apt-get (a package manager run, a second checkout's test.sh) may hold apt's
		# locks for a while: wait for it rather than fail.
		installed=
		for attempt in 1 2 3 4 5 6 7 8 9 10; do
			if apt-get -o DPkg::Lock::Timeout=60 update -qq >/dev/null &&
				DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 install -y -qq "${missing[@]}" >/dev/null; then
				installed=1
				break
			fi
			echo "test.sh: apt-get failed (attempt $attempt); retrying in 10 s" >&2
			sleep 10
		done
		[ -n "$installed" ] || echo "test.sh: could NOT install ${missing[*]}: the e2e tests that need them will fail" >&2
	else
		echo "test.sh: MISSING ${missing[*]}: install them (sudo apt-get install -y ${missing[*]}); the e2e tests that need them will fail" >&2
	fi
fi

if (($#)); then
	exec go test "$@"
fi
exec go test -count=1 -timeout 30m ./...
