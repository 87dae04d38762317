package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/minikraft/minikraft/broker/config"
)

// bitnami/kafka's security variables, read as its 3.4 image's libkafka.sh and kafka-env.sh do
// (kafka_validate, kafka_configure_ssl, kafka_configure_server_jaas,
// kafka_kraft_storage_initialize), turned into the Kafka properties that script would have
// written into server.properties. They apply when the environment configures the node the
// bitnami way (KAFKA_CFG_LISTENERS, or any of these variables is set) and a listener uses TLS or
// SASL; the properties they produce override the KAFKA_CFG_* ones, as the script's writes do, and
// flags override both.
//
//   - TLS (a listener mapped to SSL or SASL_SSL): KAFKA_TLS_TYPE (JKS, bitnami's default, or
//     PEM), KAFKA_TLS_CLIENT_AUTH (none, requested, required: bitnami's default) and
//     KAFKA_TLS_<LISTENER>_CLIENT_AUTH, KAFKA_CERTIFICATE_PASSWORD (the key's password) and
//     KAFKA_TLS_TRUSTSTORE_FILE. The certificates are the files bitnami mounts, in
//     /opt/bitnami/kafka/config/certs or else /bitnami/kafka/config/certs: kafka.keystore.pem (the
//     chain), kafka.keystore.key and kafka.truststore.pem, inlined into ssl.keystore.key,
//     ssl.keystore.certificate.chain and ssl.truststore.certificates as bitnami does. JKS stores
//     (kafka.keystore.jks) cannot be read without a Java keystore parser: they stop the start
//     with a message naming PEM and PKCS12, unless the keystore is configured by KAFKA_CFG_SSL_*
//     properties instead.
//   - SASL (a listener mapped to SASL_PLAINTEXT or SASL_SSL): KAFKA_CFG_SASL_ENABLED_MECHANISMS
//     (default PLAIN,SCRAM-SHA-256,SCRAM-SHA-512), KAFKA_CLIENT_USERS and KAFKA_CLIENT_PASSWORDS
//     (lists split at ',' or ';'; default user / bitnami), KAFKA_INTER_BROKER_USER and _PASSWORD
//     (default user / bitnami) with KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL, required when
//     the inter-broker listener (KAFKA_CFG_INTER_BROKER_LISTENER_NAME, bitnami's default INTERNAL)
//     uses SASL, and KAFKA_CONTROLLER_USER and _PASSWORD with
//     KAFKA_CFG_SASL_MECHANISM_CONTROLLER_PROTOCOL for a SASL controller listener (PLAIN only: a
//     SCRAM one stops the start, its credentials being in the metadata the controllers serve).
//     Each SASL listener gets bitnami's JAAS
//     configuration: PLAIN's user_<name> entries for every client user (and the inter-broker user
//     on the inter-broker listener, which logs in as it). With SCRAM enabled, the client users
//     (and the inter-broker and controller users whose mechanism is SCRAM) are created in the
//     metadata at start (config.ScramBootstrapProp), as bitnami's kafka-storage format
//     --add-scram does on its 3.5+ images; bitnami's 3.4 image turns SCRAM off in KRaft mode
//     instead, since Kafka 3.4 cannot store SCRAM credentials in KRaft.
//   - KAFKA_CLIENT_LISTENER_NAME only configures the command-line tools' producer.properties and
//     consumer.properties in bitnami's image, which minikraft's has no use for: it is accepted.
//   - Every variable above may be given as <NAME>_FILE, the path of a file holding its value
//     (kafka-env.sh), and KAFKA_BROKER_USER, KAFKA_BROKER_PASSWORD and KAFKA_CLIENT_LISTENER are
//     bitnami's old names of KAFKA_CLIENT_USERS, KAFKA_CLIENT_PASSWORDS and
//     KAFKA_CLIENT_LISTENER_NAME.

// bitnamiVars are the security variables this file reads (kafka-env.sh's list, for _FILE).
var bitnamiVars = []string{
	"KAFKA_CLIENT_USERS", "KAFKA_CLIENT_PASSWORDS", "KAFKA_CLIENT_LISTENER_NAME",
	"KAFKA_INTER_BROKER_USER", "KAFKA_INTER_BROKER_PASSWORD",
	"KAFKA_CONTROLLER_USER", "KAFKA_CONTROLLER_PASSWORD",
	"KAFKA_CERTIFICATE_PASSWORD", "KAFKA_TLS_TRUSTSTORE_FILE", "KAFKA_TLS_TYPE", "KAFKA_TLS_CLIENT_AUTH",
	"KAFKA_CFG_SASL_ENABLED_MECHANISMS", "KAFKA_KRAFT_CLUSTER_ID",
}

// bitnamiAliases maps bitnami's old variable names to the current ones.
var bitnamiAliases = map[string]string{
	"KAFKA_BROKER_USER":     "KAFKA_CLIENT_USERS",
	"KAFKA_BROKER_PASSWORD": "KAFKA_CLIENT_PASSWORDS",
	"KAFKA_CLIENT_LISTENER": "KAFKA_CLIENT_LISTENER_NAME",
}

// bitnamiCertDirs are where bitnami finds kafka.keystore.pem and friends: KAFKA_CERTS_DIR, then
// the mounted configuration directory's certs (which its entrypoint copies into the first).
var bitnamiCertDirs = []string{"/opt/bitnami/kafka/config/certs", "/bitnami/kafka/config/certs"}

var perListenerClientAuth = regexp.MustCompile(`^KAFKA_TLS_(.+)_CLIENT_AUTH$`)

// isBitnamiVar reports whether fromEnv should take name as one of these variables rather than
// report it ignored.
func isBitnamiVar(name string) bool {
	is := func(n string) bool {
		_, alias := bitnamiAliases[n]
		return alias || slices.Contains(bitnamiVars, n) || perListenerClientAuth.MatchString(n)
	}
	return is(name) || (strings.HasSuffix(name, "_FILE") && slices.Contains(bitnamiVars, strings.TrimSuffix(name, "_FILE")))
}

// resolveBitnamiEnv applies kafka-env.sh's <NAME>_FILE variables (the file's content, without
// its trailing newlines, as $(< file) gives) and the old names, returning the environment as
// the rest of the start sees it.
func resolveBitnamiEnv(environ []string, readFile func(string) ([]byte, error)) ([]string, error) {
	set := map[string]string{}
	var order []string
	for _, e := range environ {
		name, value, ok := strings.Cut(e, "=")
		if !ok {
			continue
		}
		if _, dup := set[name]; !dup {
			order = append(order, name)
		}
		set[name] = value
	}
	for _, name := range bitnamiVars {
		path, ok := set[name+"_FILE"]
		if !ok {
			continue
		}
		data, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s_FILE: %w", name, err)
		}
		if _, had := set[name]; !had {
			order = append(order, name)
		}
		set[name] = strings.TrimRight(string(data), "\n")
		delete(set, name+"_FILE")
	}
	for old, cur := range bitnamiAliases {
		if v, ok := set[old]; ok {
			if _, had := set[cur]; !had {
				order = append(order, cur)
			}
			set[cur] = v
		}
	}
	out := make([]string, 0, len(order))
	for _, name := range order {
		if v, ok := set[name]; ok {
			out = append(out, name+"="+v)
		}
	}
	return out, nil
}

// bitnamiSecurity returns the properties bitnami's scripts derive from env (the resolved
// environment) given props (the properties file's and the KAFKA_CFG_* ones merged).
func bitnamiSecurity(environ []string, props map[string]string, readFile func(string) ([]byte, error)) (map[string]string, error) {
	env := map[string]string{}
	active := false
	for _, e := range environ {
		name, value, _ := strings.Cut(e, "=")
		env[name] = value
		if name == "KAFKA_CFG_LISTENERS" || (isBitnamiVar(name) && name != "KAFKA_KRAFT_CLUSTER_ID") {
			active = true
		}
	}
	if !active {
		return nil, nil
	}
	get := func(name, def string) string {
		if v, ok := env[name]; ok {
			return v
		}
		return def
	}
	listeners, err := config.ParseListeners(props["listeners"])
	if err != nil {
		return nil, nil // config.FromProperties reports it
	}
	var protoMap map[string]string
	if s := strings.TrimSpace(props["listener.security.protocol.map"]); s != "" {
		if protoMap, err = config.ParseProtocolMap(s); err != nil {
			return nil, nil
		}
	}
	interBroker := strings.TrimSpace(props["inter.broker.listener.name"])
	if interBroker == "" {
		interBroker = "INTERNAL" // bitnami's default for the match, not Kafka's
	}
	controllers := strings.Split(props["controller.listener.names"], ",")
	if strings.TrimSpace(props["controller.listener.names"]) == "" {
		controllers = []string{"CONTROLLER"}
	}
	protocol := func(name string) string {
		if p, ok := protoMap[name]; ok {
			return p
		}
		if protoMap == nil {
			return name // Kafka's default map: SSL, SASL_SSL... map to themselves
		}
		return ""
	}
	var hasSSL, hasSASL bool
	for _, l := range listeners {
		switch protocol(l.Name) {
		case "SSL":
			hasSSL = true
		case "SASL_SSL":
			hasSSL, hasSASL = true, true
		case "SASL_PLAINTEXT":
			hasSASL = true
		}
	}
	if !hasSSL && !hasSASL {
		return nil, nil
	}

	out := map[string]string{}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bitnami: "+format, args...)) }

	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' })
	}
	users, passwords := split(get("KAFKA_CLIENT_USERS", "user")), split(get("KAFKA_CLIENT_PASSWORDS", "bitnami"))
	if len(users) != len(passwords) {
		fail("Specify the same number of passwords on KAFKA_CLIENT_PASSWORDS as the number of users on KAFKA_CLIENT_USERS!")
	}
	ibUser, ibPass := get("KAFKA_INTER_BROKER_USER", "user"), get("KAFKA_INTER_BROKER_PASSWORD", "bitnami")
	ctlUser, ctlPass := get("KAFKA_CONTROLLER_USER", "controller_user"), get("KAFKA_CONTROLLER_PASSWORD", "bitnami")
	clientAuth := get("KAFKA_TLS_CLIENT_AUTH", "required")
	if !slices.Contains([]string{"none", "requested", "required"}, clientAuth) {
		fail("The allowed values for KAFKA_TLS_CLIENT_AUTH are: none requested required")
	}
	tlsType := get("KAFKA_TLS_TYPE", "JKS")
	if tlsType != "JKS" && tlsType != "PEM" {
		fail("The allowed values for KAFKA_TLS_TYPE are: JKS PEM")
	}

	if hasSSL && (tlsType == "PEM" || tlsType == "JKS") {
		bitnamiTLS(out, env, props, tlsType, clientAuth, readFile, fail)
		for _, l := range listeners {
			if p := protocol(l.Name); p == "SSL" || p == "SASL_SSL" {
				if v, ok := env["KAFKA_TLS_"+strings.ToUpper(l.Name)+"_CLIENT_AUTH"]; ok && v != "" {
					out["listener.name."+strings.ToLower(l.Name)+".ssl.client.auth"] = v
				}
			}
		}
	}

	if hasSASL {
		mechs := strings.TrimSpace(get("KAFKA_CFG_SASL_ENABLED_MECHANISMS", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"))
		if mechs == "" {
			fail("Specified SASL protocol but no SASL mechanisms provided in KAFKA_CFG_SASL_ENABLED_MECHANISMS")
		}
		out["sasl.enabled.mechanisms"] = mechs
		mechList := strings.Split(strings.ReplaceAll(mechs, " ", ""), ",")
		ibMech := strings.TrimSpace(props["sasl.mechanism.inter.broker.protocol"])
		ctlMech := strings.TrimSpace(props["sasl.mechanism.controller.protocol"])
		for _, l := range listeners {
			p := protocol(l.Name)
			if p != "SASL_PLAINTEXT" && p != "SASL_SSL" {
				continue
			}
			lower := strings.ToLower(l.Name)
			switch {
			case l.Name == interBroker:
				if ibMech == "" {
					fail("When using SASL for inter broker comunication the mechanism should be provided using KAFKA_CFG_SASL_MECHANISM_INTER_BROKER_PROTOCOL")
				}
				if ibUser == "" || ibPass == "" {
					fail("In order to configure SASL authentication for Kafka inter-broker communications, you must provide the SASL credentials. Set the environment variables KAFKA_INTER_BROKER_USER and KAFKA_INTER_BROKER_PASSWORD to configure the credentials for SASL authentication with between brokers.")
				}
				for _, m := range mechList {
					out["listener.name."+lower+"."+strings.ToLower(m)+".sasl.jaas.config"] = bitnamiJAAS(m, ibUser, ibPass, append(slices.Clone(users), ibUser), append(slices.Clone(passwords), ibPass), true)
				}
			case slices.Contains(controllers, l.Name):
				if ctlMech == "" {
					fail("When using SASL for controller comunication the mechanism should be provided at KAFKA_CFG_SASL_MECHANISM_CONTROLLER_PROTOCOL")
				}
				if ctlUser == "" || ctlPass == "" {
					fail("In order to configure SASL authentication for Kafka control plane communications, you must provide the SASL credentials. Set the environment variables KAFKA_CONTROLLER_USER and KAFKA_CONTROLLER_PASSWORD to configure the credentials for SASL authentication with between controllers.")
				}
				out["listener.name."+lower+".sasl.enabled.mechanisms"] = ctlMech
				out["listener.name."+lower+"."+strings.ToLower(ctlMech)+".sasl.jaas.config"] = bitnamiJAAS(ctlMech, ctlUser, ctlPass, []string{ctlUser}, []string{ctlPass}, true)
			default:
				if len(users) == 0 || len(passwords) == 0 {
					fail("In order to configure SASL authentication for Kafka, you must provide the SASL credentials. Set the environment variables KAFKA_CLIENT_USERS and KAFKA_CLIENT_PASSWORDS to configure the credentials for SASL authentication with clients.")
				}
				for _, m := range mechList {
					out["listener.name."+lower+"."+strings.ToLower(m)+".sasl.jaas.config"] = bitnamiJAAS(m, "", "", users, passwords, false)
				}
			}
		}
		// kafka_kraft_storage_initialize's --add-scram arguments.
		var scram []string
		add := func(mech, user, pass string) {
			scram = append(scram, fmt.Sprintf("%s=[name=%s,password=%s]", mech, quoteScramArg(user), quoteScramArg(pass)))
		}
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			if slices.Contains(mechList, m) && len(users) == len(passwords) {
				for i := range users {
					add(m, users[i], passwords[i])
				}
			}
		}
		if strings.HasPrefix(ibMech, "SCRAM-SHA-") && ibUser != "" {
			add(ibMech, ibUser, ibPass)
		}
		if strings.HasPrefix(ctlMech, "SCRAM-SHA-") && ctlUser != "" {
			add(ctlMech, ctlUser, ctlPass)
		}
		if len(scram) > 0 {
			out[config.ScramBootstrapProp] = strings.Join(scram, " ")
		}
	}
	return out, errors.Join(errs...)
}

// bitnamiTLS is kafka_configure_ssl (with kafka_configure_default_truststore_locations).
func bitnamiTLS(out, env, props map[string]string, tlsType, clientAuth string, readFile func(string) ([]byte, error), fail func(string, ...any)) {
	out["ssl.client.auth"] = clientAuth
	find := func(name string) (string, []byte) {
		for _, dir := range bitnamiCertDirs {
			p := filepath.Join(dir, name)
			if data, err := readFile(p); err == nil {
				return p, data
			}
		}
		return "", nil
	}
	if tlsType == "JKS" {
		if path, _ := find("kafka.keystore.jks"); path != "" {
			fail("%s is a JKS keystore (KAFKA_TLS_TYPE=JKS, bitnami's default), which minikraft cannot read: "+
				"set KAFKA_TLS_TYPE=PEM and mount kafka.keystore.pem, kafka.keystore.key and kafka.truststore.pem, "+
				"or convert it to PKCS12 (keytool -importkeystore -deststoretype PKCS12) and set KAFKA_CFG_SSL_KEYSTORE_TYPE=PKCS12 and KAFKA_CFG_SSL_KEYSTORE_LOCATION", path)
			return
		}
		if props["ssl.keystore.location"] != "" || props["ssl.keystore.key"] != "" {
			// No JKS mounted and the keystore configured with KAFKA_CFG_SSL_* (PEM or PKCS12):
			// that configuration stands, ssl.client.auth included unless the variable is set.
			if _, set := env["KAFKA_TLS_CLIENT_AUTH"]; !set {
				delete(out, "ssl.client.auth")
			}
			return
		}
		fail("In order to configure the TLS encryption for Kafka you must mount your certificates to the /bitnami/kafka/config/certs directory: " +
			"minikraft reads PEM (KAFKA_TLS_TYPE=PEM with kafka.keystore.pem, kafka.keystore.key and kafka.truststore.pem), not JKS")
		return
	}
	chainPath, chain := find("kafka.keystore.pem")
	keyPath, key := find("kafka.keystore.key")
	trustPath := env["KAFKA_TLS_TRUSTSTORE_FILE"]
	var trust []byte
	if trustPath != "" {
		var err error
		if trust, err = readFile(trustPath); err != nil {
			trustPath = ""
		}
	} else {
		trustPath, trust = find("kafka.truststore.pem")
	}
	if chainPath == "" || keyPath == "" || trustPath == "" {
		fail("In order to configure the TLS encryption for Kafka with PEM certs you must mount your kafka.keystore.pem, kafka.keystore.key and kafka.truststore.pem certs to the /bitnami/kafka/config/certs directory.")
		return
	}
	out["ssl.keystore.type"], out["ssl.truststore.type"] = "PEM", "PEM"
	out["ssl.keystore.key"] = string(key)
	out["ssl.keystore.certificate.chain"] = string(chain)
	out["ssl.truststore.certificates"] = string(trust)
	if p := env["KAFKA_CERTIFICATE_PASSWORD"]; p != "" {
		out["ssl.key.password"] = p
	}
}

// bitnamiJAAS is kafka_configure_server_jaas's login module entry for one mechanism: PLAIN with
// the node's own login (self) and a user_<name> entry per user; SCRAM with the node's own login
// or none (its users are in the metadata).
func bitnamiJAAS(mechanism, user, pass string, users, passwords []string, self bool) string {
	q := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
	var parts []string
	if mechanism == "PLAIN" {
		parts = append(parts, "org.apache.kafka.common.security.plain.PlainLoginModule required")
		if self {
			parts = append(parts, "username="+q(user), "password="+q(pass))
		}
		for i := range min(len(users), len(passwords)) {
			parts = append(parts, "user_"+users[i]+"="+q(passwords[i]))
		}
	} else {
		parts = append(parts, "org.apache.kafka.common.security.scram.ScramLoginModule required")
		if self {
			parts = append(parts, "username="+q(user), "password="+q(pass))
		}
	}
	return strings.Join(parts, " ") + ";"
}

// quoteScramArg quotes a value for config.ScramBootstrapProp when it holds its separators.
func quoteScramArg(s string) string {
	if !strings.ContainsAny(s, `,]" ;\`) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
