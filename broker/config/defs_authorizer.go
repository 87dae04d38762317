package config

import "strings"

// authorizerDefs is Kafka's authorizer properties (StandardAuthorizer's), read by the broker at
// start (broker/authz.go). Read-only, as in minikraft every static property is.
var authorizerDefs = []*Def{
	bdef("authorizer.class.name", TypeString, v(""), ReadOnly, authorizerClass,
		"The fully qualified name of a class that implements the Authorizer interface, which is used by the broker for authorization (minikraft: "+StandardAuthorizer+" or its ZooKeeper-era name "+AclAuthorizer+"; empty: no authorization)."),
	bdef("super.users", TypeString, v(""), ReadOnly, nil,
		"A semicolon-separated list of principals (User:admin;User:ops) allowed every operation on every resource."),
	bdef("allow.everyone.if.no.acl.found", TypeBoolean, v("false"), ReadOnly, nil,
		"If true, a resource without any ACL may be used by everyone; if false (the default), only super users may."),
}

// The authorizer class names minikraft accepts: KRaft's and the ZooKeeper-era one, an alias.
const (
	StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AclAuthorizer      = "kafka.security.authorizer.AclAuthorizer"
)

// authorizerClass accepts no authorizer or one of the two names.
func authorizerClass(v string) (string, string) {
	switch strings.TrimSpace(v) {
	case "", StandardAuthorizer, AclAuthorizer:
		return "", ""
	}
	return v, "minikraft's authorizer is " + StandardAuthorizer + " (or " + AclAuthorizer + ")"
}

// parseSuperUsers splits super.users: principals separated by semicolons, blanks ignored.
func parseSuperUsers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
