// Package e2e holds the end-to-end tests: they build the minikraft binary, run it as a real
// process (and, where Docker is present, as a container), and drive it with real Kafka clients
// over real sockets: franz-go in process, kafka-python 2.0.2 and kcat as subprocesses.
//
// The tests need kcat and python3-kafka from Debian (`apt-get install -y kcat python3-kafka`);
// ./test.sh installs them. A test whose client is missing fails and says what to install.
// Nothing imports this package.
package e2e
