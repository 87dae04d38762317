// Package security turns Kafka's security properties into what a listener and the node's own
// links need: TLS configurations (ssl.keystore.*, ssl.truststore.*, ssl.client.auth,
// ssl.enabled.protocols) and SASL authenticators (sasl.enabled.mechanisms, the JAAS
// configuration's PLAIN users, SCRAM), as wire.Security for a listener (ForListener) and as a dialer for
// the inter-broker listener (Client).
//
// # Properties
//
// Every ssl.* property may be given for one listener as listener.name.<listener>.ssl.* (the
// listener name lower-cased), which wins over the plain name, as in Kafka. A SASL mechanism's JAAS
// configuration is listener.name.<listener>.<mechanism>.sasl.jaas.config, else
// sasl.jaas.config. PLAIN's users are the JAAS options user_<name>="<password>"; the username and
// password options are what this node sends when it dials the listener itself (inter-broker).
//
// SCRAM-SHA-256 and SCRAM-SHA-512 (scram.go) look the user's credential up at each login through
// a ScramLookup the broker gives (the metadata's AlterUserScramCredentials entries); ScramKeys
// derives the stored keys from the salted password that request carries.
//
// # Keystores
//
//   - PEM (ssl.keystore.type=PEM): the private key (PKCS#8, encrypted with PBES2 when
//     ssl.key.password is set, as Kafka requires; unencrypted PKCS#1 and SEC 1 keys are accepted
//     too) and the certificate chain, in one file at ssl.keystore.location or inline in
//     ssl.keystore.key and ssl.keystore.certificate.chain (KIP-651). A PEM truststore is
//     ssl.truststore.location or ssl.truststore.certificates.
//   - PKCS12: decoded with golang.org/x/crypto/pkcs12, which knows the legacy algorithms only
//     (3DES or RC2 with a SHA-1 MAC: `openssl pkcs12 -export -legacy`, keytool before Java
//     11.0.12). A store made with PBES2/AES (OpenSSL 3's and newer keytools' default) is refused
//     with a message saying so.
//   - JKS is not read: the error says to convert it to PKCS12 or PEM. When ssl.keystore.type is
//     not set (Kafka's default is JKS) the file's content decides: PEM text or PKCS12.
//
// The principal of a connection (wire.ConnInfo.Principal) is the SASL authorization id on SASL
// listeners, else the client certificate's subject mapped by ssl.principal.mapping.rules
// (principal.go: Kafka's SslPrincipalMapper, with RE2 patterns). On SASL_SSL listeners only the
// listener-prefixed ssl.client.auth asks for client certificates (KIP-684, ServerTLSFor).
//
// # The node's own logins
//
// Client dials a listener of this cluster as the node: TLS with the listener's stores, then
// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (scram_client.go) as sasl.mechanism.inter.broker.protocol
// says, with the JAAS username and password of that mechanism. ParseAddScram reads the SCRAM
// users a node creates at start (kafka-storage format's --add-scram syntax), and
// NewScramCredential / SaltedPassword derive credentials from passwords.
package security
