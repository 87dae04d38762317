package config

// securityDefs is Kafka's SSL and SASL broker properties that broker/security reads. Kafka lets a
// listener override each (listener.name.<listener>.ssl.keystore.location...); those prefixed
// names stay unknown here, as Kafka's DescribeConfigs also does not list them. They are
// read-only: minikraft reads them at start and does not reload a keystore (Kafka updates them
// per broker). Where minikraft's default differs from Kafka's the doc says so.
var securityDefs = []*Def{
	bdef("ssl.keystore.type", TypeString, v("JKS"), ReadOnly, nil,
		"The file format of the key store file: PEM or PKCS12 (JKS, Kafka's default, is not read: minikraft then tells PEM and PKCS12 files apart by their content)."),
	bdef("ssl.keystore.location", TypeString, nil, ReadOnly, nil,
		"The location of the key store file."),
	bdef("ssl.keystore.password", TypePassword, nil, ReadOnly, nil,
		"The store password for the key store file."),
	bdef("ssl.key.password", TypePassword, nil, ReadOnly, nil,
		"The password of the private key in the key store file or the PEM key specified in `ssl.keystore.key`."),
	bdef("ssl.keystore.key", TypePassword, nil, ReadOnly, nil,
		"Private key in the format specified by 'ssl.keystore.type' (PEM: PKCS#8, encrypted if ssl.key.password is set)."),
	bdef("ssl.keystore.certificate.chain", TypePassword, nil, ReadOnly, nil,
		"Certificate chain in the format specified by 'ssl.keystore.type' (PEM: a list of X.509 certificates)."),
	bdef("ssl.truststore.type", TypeString, v("JKS"), ReadOnly, nil,
		"The file format of the trust store file: PEM or PKCS12."),
	bdef("ssl.truststore.location", TypeString, nil, ReadOnly, nil,
		"The location of the trust store file."),
	bdef("ssl.truststore.password", TypePassword, nil, ReadOnly, nil,
		"The password for the trust store file."),
	bdef("ssl.truststore.certificates", TypePassword, nil, ReadOnly, nil,
		"Trusted certificates in the format specified by 'ssl.truststore.type' (PEM)."),
	bdef("ssl.client.auth", TypeString, v("none"), ReadOnly, oneOf("required", "requested", "none"),
		"Configures the broker to request client authentication: required, requested or none."),
	bdef("ssl.enabled.protocols", TypeList, v("TLSv1.2,TLSv1.3"), ReadOnly, nil,
		"The list of protocols enabled for SSL connections (minikraft serves TLSv1.2 and TLSv1.3)."),
	bdef("ssl.endpoint.identification.algorithm", TypeString, v("https"), ReadOnly, nil,
		"The endpoint identification algorithm to validate server hostname using server certificate (empty: not validated), for this node's own inter-broker connections."),
	bdef("sasl.enabled.mechanisms", TypeList, v("PLAIN"), ReadOnly, nil,
		"The list of SASL mechanisms enabled in the Kafka server (minikraft serves PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; Kafka's default is GSSAPI, which it does not)."),
	bdef("sasl.mechanism.inter.broker.protocol", TypeString, v("PLAIN"), ReadOnly, nil,
		"SASL mechanism used for inter-broker communication (minikraft: PLAIN; Kafka's default is GSSAPI)."),
	bdef("sasl.mechanism.controller.protocol", TypeString, v("PLAIN"), ReadOnly, nil,
		"SASL mechanism used for communication with controllers (a SASL controller listener takes PLAIN only, its users from the listener's JAAS configuration: SCRAM credentials are in the metadata the controllers serve; Kafka's default is GSSAPI)."),
	bdef("ssl.principal.mapping.rules", TypeString, v("DEFAULT"), ReadOnly, nil,
		"A list of rules for mapping from distinguished name from the client certificate to short name (RULE:pattern/replacement/[LU] or DEFAULT, first match wins; patterns are RE2 regular expressions)."),
	bdef("sasl.server.max.receive.size", TypeInt, v("524288"), ReadOnly, atLeast(1),
		"The maximum receive size allowed before and during initial SASL authentication: a larger frame closes the connection without being read."),
	bdef("sasl.jaas.config", TypePassword, nil, ReadOnly, nil,
		"JAAS login context parameters for SASL connections in the format used by JAAS configuration files; listener.name.<listener>.<mechanism>.sasl.jaas.config takes precedence."),
}
