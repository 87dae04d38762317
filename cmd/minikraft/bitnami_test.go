package main

import (
	"strings"
	"testing"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/security"
)

// saslSSLEnv is a bitnami compose node with a SASL_SSL client listener and a SASL_SSL
// inter-broker listener using SCRAM.
func saslSSLEnv(extra ...string) []string {
	return append([]string{
		"KAFKA_CFG_NODE_ID=0",
		"KAFKA_CFG_PROCESS_ROLES=broker,controller",
		"KAFKA_CFG_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_CFG_CONTROLLER_QUORUM_VOTERS=0@kafka-0:9093",
		"KAFKA_CFG_LISTENERS=CLIENT://:9092,INTERNAL://:9091,CONTROLLER://:9093",
		"KAFKA_CFG_ADVERTISED_LISTENERS=CLIENT://kafka-0:9092,INTERNAL://kafka-0:9091",
		"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=CLIENT:SASL_SSL,INTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT",
		"KAFKA_CFG_INTER_BROKER_LISTENER_NAME=INTERNAL",
		"KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL=SCRAM-SHA-512",
		"KAFKA_CLIENT_USERS=alice,bob",
		"KAFKA_CLIENT_PASSWORDS=alice-secret,bob-secret",
		"KAFKA_INTER_BROKER_USER=broker",
		"KAFKA_INTER_BROKER_PASSWORD=broker-secret",
		"KAFKA_TLS_TYPE=PEM",
	}, extra...)
}

var bitnamiCerts = map[string]string{
	"/bitnami/kafka/config/certs/kafka.keystore.pem":   "CHAIN",
	"/bitnami/kafka/config/certs/kafka.keystore.key":   "KEY",
	"/bitnami/kafka/config/certs/kafka.truststore.pem": "CA",
}

func bitnamiProps(t *testing.T, env []string, fs map[string]string) (map[string]string, error) {
	t.Helper()
	props, _, _, err := loadProperties(nil, env, files(fs))
	return props, err
}

// TestBitnamiSASLSSL: what libkafka.sh writes for a SASL_SSL node with PEM certificates mounted
// in /bitnami/kafka/config/certs: the inlined PEM stores, ssl.client.auth=required (bitnami's
// default), each listener's JAAS configuration, and the SCRAM users to create (both mechanisms
// for the client users, the inter-broker user for its mechanism).
func TestBitnamiSASLSSL(t *testing.T) {
	props, err := bitnamiProps(t, saslSSLEnv("KAFKA_CERTIFICATE_PASSWORD=kp"), bitnamiCerts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ssl.keystore.type":                                     "PEM",
		"ssl.truststore.type":                                   "PEM",
		"ssl.keystore.key":                                      "KEY",
		"ssl.keystore.certificate.chain":                        "CHAIN",
		"ssl.truststore.certificates":                           "CA",
		"ssl.key.password":                                      "kp",
		"ssl.client.auth":                                       "required",
		"sasl.enabled.mechanisms":                               "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol":                  "SCRAM-SHA-512",
		"listener.name.client.plain.sasl.jaas.config":           `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";`,
		"listener.name.client.scram-sha-256.sasl.jaas.config":   `org.apache.kafka.common.security.scram.ScramLoginModule required;`,
		"listener.name.internal.plain.sasl.jaas.config":         `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_alice="alice-secret" user_bob="bob-secret" user_broker="broker-secret";`,
		"listener.name.internal.scram-sha-512.sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="broker-secret";`,
	}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	users, err := security.ParseAddScram(props[config.ScramBootstrapProp])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.Mechanism+":"+u.Name+":"+u.Password)
	}
	if s := strings.Join(got, " "); s != "SCRAM-SHA-256:alice:alice-secret SCRAM-SHA-256:bob:bob-secret SCRAM-SHA-512:alice:alice-secret SCRAM-SHA-512:bob:bob-secret SCRAM-SHA-512:broker:broker-secret" {
		t.Errorf("SCRAM users: %s", s)
	}
	// The node's own login on the inter-broker listener reads back the bitnami JAAS.
	c, err := security.ClientFor(props, "INTERNAL", "SASL_SSL")
	if err == nil || c != nil {
		// TLS fails on the fake PEM; check the JAAS side alone on SASL_PLAINTEXT.
		t.Fatalf("fake PEM accepted: %v", err)
	}
	c, err = security.ClientFor(props, "INTERNAL", "SASL_PLAINTEXT")
	if err != nil || c.Mechanism != "SCRAM-SHA-512" || c.User != "broker" || c.Password != "broker-secret" {
		t.Fatalf("inter-broker login %+v %v", c, err)
	}
	if _, err := security.ServerSASL(props, "CLIENT", func(string, string) (security.ScramCredential, bool) { return security.ScramCredential{}, false }); err != nil {
		t.Fatalf("client listener SASL: %v", err)
	}
}

// TestBitnamiVariants: defaults, _FILE variables, old names, per-listener client auth, the
// KAFKA_CFG_ exception for sasl_ssl, and flags winning over what the variables derive.
func TestBitnamiVariants(t *testing.T) {
	certs := map[string]string{
		"/opt/bitnami/kafka/config/certs/kafka.keystore.pem": "CHAIN2",
		"/opt/bitnami/kafka/config/certs/kafka.keystore.key": "KEY2",
		"/elsewhere/ca.pem": "CA2",
		"/run/secrets/pass": "from-file\n",
	}
	env := []string{
		"KAFKA_CFG_LISTENERS=SASL_SSL://:9092,CONTROLLER://:9093",
		"KAFKA_CFG_CONTROLLER_LISTENER_NAMES=CONTROLLER",
		"KAFKA_CFG_LISTENER_SECURITY_PROTOCOL_MAP=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
		"KAFKA_CFG_INTER_BROKER_LISTENER_NAME=SASL_SSL",
		"KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL=PLAIN",
		"KAFKA_CFG_SASL_ENABLED_MECHANISMS=PLAIN",
		"KAFKA_CFG_LISTENER_NAME_SASL_SSL_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=",
		"KAFKA_TLS_TYPE=PEM",
		"KAFKA_TLS_TRUSTSTORE_FILE=/elsewhere/ca.pem",
		"KAFKA_TLS_SASL_SSL_CLIENT_AUTH=none",
		"KAFKA_BROKER_USER=carol", // the old name of KAFKA_CLIENT_USERS
		"KAFKA_CLIENT_PASSWORDS_FILE=/run/secrets/pass",
		"KAFKA_CLIENT_LISTENER_NAME=SASL_SSL",
	}
	props, ignored, _, err := loadProperties([]string{"--config", "ssl.client.auth=requested"}, env, files(certs))
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) != 0 {
		t.Errorf("ignored %v: bitnami's security variables are read", ignored)
	}
	for k, v := range map[string]string{
		"ssl.keystore.key":                                             "KEY2",
		"ssl.keystore.certificate.chain":                               "CHAIN2",
		"ssl.truststore.certificates":                                  "CA2",
		"ssl.client.auth":                                              "requested", // the flag wins
		"listener.name.sasl_ssl.ssl.client.auth":                       "none",
		"listener.name.sasl_ssl.ssl.endpoint.identification.algorithm": "",
		"listener.name.sasl_ssl.plain.sasl.jaas.config":                `org.apache.kafka.common.security.plain.PlainLoginModule required username="user" password="bitnami" user_carol="from-file" user_user="bitnami";`,
	} {
		if got, ok := props[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := props[config.ScramBootstrapProp]; ok {
		t.Errorf("SCRAM users without SCRAM enabled: %q", props[config.ScramBootstrapProp])
	}
	if _, ok := props["ssl.key.password"]; ok {
		t.Error("ssl.key.password without KAFKA_CERTIFICATE_PASSWORD")
	}

	// A PLAINTEXT-only compose file (the seed's) derives nothing.
	plain, err := bitnamiProps(t, []string{"KAFKA_CFG_LISTENERS=PLAINTEXT://:9092,CONTROLLER://:9093", "KAFKA_CLIENT_USERS=x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range plain {
		if strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.") || strings.Contains(k, "jaas") {
			t.Errorf("PLAINTEXT node got %s", k)
		}
	}
	// Without bitnami's variables and KAFKA_CFG_LISTENERS (a server.properties user), nothing
	// is derived even for SASL listeners: their JAAS is theirs.
	own, err := loadPropertiesFile(t, "listeners=SASL_PLAINTEXT://:9092,CONTROLLER://:9093\nsasl.jaas.config=mine\n")
	if err != nil {
		t.Fatal(err)
	}
	if own["sasl.enabled.mechanisms"] != "" || own["sasl.jaas.config"] != "mine" {
		t.Errorf("server.properties user: %v", own)
	}
}

func loadPropertiesFile(t *testing.T, text string) (map[string]string, error) {
	t.Helper()
	props, _, _, err := loadProperties([]string{"/etc/server.properties"}, nil, files(map[string]string{"/etc/server.properties": text}))
	return props, err
}

// TestBitnamiRefusals: bitnami's validation messages, and JKS refused naming PEM and PKCS12.
func TestBitnamiRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		env   []string
		files map[string]string
		want  string
	}{
		"JKS mounted": {
			env:   append(saslSSLEnv(), "KAFKA_TLS_TYPE=JKS"),
			files: map[string]string{"/bitnami/kafka/config/certs/kafka.keystore.jks": "\xfe\xed\xfe\xed"},
			want:  "KAFKA_TLS_TYPE=PEM",
		},
		"JKS default, nothing mounted": {
			env:  saslSSLEnv("KAFKA_TLS_TYPE=JKS"),
			want: "not JKS",
		},
		"PEM missing key": {
			env:   saslSSLEnv(),
			files: map[string]string{"/bitnami/kafka/config/certs/kafka.keystore.pem": "x", "/bitnami/kafka/config/certs/kafka.truststore.pem": "x"},
			want:  "kafka.keystore.key",
		},
		"bad TLS type": {
			env:   saslSSLEnv("KAFKA_TLS_TYPE=P12"),
			files: bitnamiCerts,
			want:  "KAFKA_TLS_TYPE are: JKS PEM",
		},
		"bad client auth": {
			env:   saslSSLEnv("KAFKA_TLS_CLIENT_AUTH=yes"),
			files: bitnamiCerts,
			want:  "KAFKA_TLS_CLIENT_AUTH",
		},
		"users and passwords": {
			env:   saslSSLEnv("KAFKA_CLIENT_PASSWORDS=only-one"),
			files: bitnamiCerts,
			want:  "same number of passwords",
		},
		"inter-broker mechanism": {
			env:   append(saslSSLEnv(), "KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL="),
			files: bitnamiCerts,
			want:  "KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL",
		},
		"unreadable _FILE": {
			env:  saslSSLEnv("KAFKA_CLIENT_PASSWORDS_FILE=/nope"),
			want: "KAFKA_CLIENT_PASSWORDS_FILE",
		},
	} {
		_, err := bitnamiProps(t, c.env, c.files)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
	// JKS not mounted but the keystore configured by hand: that configuration stands.
	props, err := bitnamiProps(t, saslSSLEnv("KAFKA_TLS_TYPE=JKS", "KAFKA_CFG_SSL_KEYSTORE_LOCATION=/x.p12", "KAFKA_CFG_SSL_CLIENT_AUTH=none"), nil)
	if err != nil || props["ssl.keystore.location"] != "/x.p12" || props["ssl.client.auth"] != "none" {
		t.Fatalf("hand-configured keystore: %v %v", err, props["ssl.client.auth"])
	}
}
