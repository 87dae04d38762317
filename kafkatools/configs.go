package kafkatools

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(&tool{
		name:    "kafka-configs",
		summary: "This tool helps to manipulate and describe entity config for a topic, client, user, broker or ip",
		options: []option{
			{name: "bootstrap-server", arg: "String: server to connect to", help: "The Kafka server to connect to."},
			{name: "command-config", arg: "String: command config property file", help: "Property file containing configs to be passed to Admin Client."},
			{name: "describe", help: "List configs for the given entity."},
			{name: "alter", help: "Alter the configuration for the entity."},
			{name: "all", help: "List all configs for the given topic, broker, or broker-logger entity (includes static configuration when the entity type is brokers)"},
			{name: "entity-type", arg: "String", help: "Type of entity (topics/brokers/users)"},
			{name: "entity-name", arg: "String", help: "Name of entity (topic name/broker id/user principal name)"},
			{name: "entity-default", help: "Default entity name for clients/users/brokers (applies to corresponding entity type)"},
			{name: "topic", arg: "String", help: "The topic's name."},
			{name: "broker", arg: "String", help: "The broker's ID."},
			{name: "broker-defaults", help: "The config defaults for all brokers."},
			{name: "user", arg: "String", help: "The user's principal name."},
			{name: "add-config", arg: "String", help: "Key Value pairs of configs to add. Square brackets can be used to group values which contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'. SCRAM credentials: 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]'"},
			{name: "add-config-file", arg: "String", help: "Path to a properties file with configs to add."},
			{name: "delete-config", arg: "String", help: "config keys to remove 'k1,k2'"},
		},
		run: runConfigs,
		report: func(e *env, args []string, err error) {
			fmt.Fprintf(e.stderr, "Error while executing config command with args '%s'\n%s\n", strings.Join(args, " "), err)
		},
	})
}

// splitConfigs splits 'k1=v1,k2=[a,b],k3=v3' at the commas outside square brackets.
func splitConfigs(s string) ([][2]string, error) {
	var out [][2]string
	depth, start := 0, 0
	flush := func(part string) error {
		if strings.TrimSpace(part) == "" {
			return nil
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("Invalid entity config: all configs to be added must be in the format \"key=val\".")
		}
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1]
		}
		out = append(out, [2]string{strings.TrimSpace(k), v})
		return nil
	}
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				if err := flush(s[start:i]); err != nil {
					return nil, err
				}
				start = i + 1
			}
		}
	}
	return out, flush(s[start:])
}

// configEntity resolves --entity-type/--entity-name and the shortcuts (--topic, --broker,
// --broker-defaults, --user) to a type and a name ("" for the default entity).
func configEntity(p *parsed) (typ, name string, err error) {
	typ, name = p.str("entity-type", ""), p.str("entity-name", "")
	switch {
	case p.has("topic"):
		typ, name = "topics", p.str("topic", "")
	case p.has("broker"):
		typ, name = "brokers", p.str("broker", "")
	case p.has("broker-defaults"):
		typ, name = "brokers", ""
	case p.has("user"):
		typ, name = "users", p.str("user", "")
	}
	if typ == "" {
		return "", "", usagef("At least one of --entity-type, --topic, --broker, --broker-defaults or --user must be specified")
	}
	switch typ {
	case "topics", "brokers", "users":
	case "clients", "ips", "broker-loggers", "client-metrics", "groups":
		return "", "", fmt.Errorf("Entity type %s is not supported by minikraft's kafka-configs: topics, brokers and users' SCRAM credentials are", typ)
	default:
		return "", "", usagef("Invalid entity type %s, the entity type must be one of topics, clients, users, brokers, ips, broker-loggers, client-metrics, groups", typ)
	}
	if name == "" && !p.has("entity-default") && !p.has("broker-defaults") && (p.has("alter") || typ == "users") {
		return "", "", usagef("An entity name must be specified with --alter of %s", typ)
	}
	if typ == "brokers" && name != "" {
		if _, err := strconv.Atoi(name); err != nil {
			return "", "", usagef("The entity name for brokers must be a valid integer broker id, but it is: %s", name)
		}
	}
	return typ, name, nil
}

func runConfigs(ctx context.Context, e *env, p *parsed) error {
	if err := needOne(p, "Command must include exactly one action: --describe, --alter", "describe", "alter"); err != nil {
		return err
	}
	if err := required(p, "bootstrap-server"); err != nil {
		return err
	}
	typ, name, err := configEntity(p)
	if err != nil {
		return err
	}
	if p.has("alter") && !p.has("add-config") && !p.has("add-config-file") && !p.has("delete-config") {
		return usagef("At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter")
	}
	c, err := connectAdmin(p)
	if err != nil {
		return err
	}
	defer c.close()
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if p.has("describe") {
		return describeConfigs(ctx, e, c, p, typ, name)
	}
	var add [][2]string
	for _, a := range p.all("add-config") {
		kv, err := splitConfigs(a)
		if err != nil {
			return err
		}
		add = append(add, kv...)
	}
	if f := p.str("add-config-file", ""); f != "" {
		fp, err := readProperties(f)
		if err != nil {
			return err
		}
		for k, v := range fp {
			add = append(add, [2]string{k, v})
		}
	}
	var del []string
	for _, d := range p.all("delete-config") {
		for _, k := range strings.Split(d, ",") {
			if k = strings.TrimSpace(k); k != "" {
				del = append(del, k)
			}
		}
	}
	if typ == "users" {
		err = alterSCRAM(ctx, c, name, add, del)
	} else {
		err = alterResourceConfig(ctx, c, typ, name, add, del)
	}
	if err != nil {
		return err
	}
	if name != "" {
		fmt.Fprintf(e.stdout, "Completed updating config for %s %s.\n", strings.TrimSuffix(typ, "s"), name)
	} else {
		fmt.Fprintf(e.stdout, "Completed updating default config for %s in the cluster.\n", typ)
	}
	return nil
}

func alterResourceConfig(ctx context.Context, c *connection, typ, name string, add [][2]string, del []string) error {
	var alters []kadm.AlterConfig
	for _, kv := range add {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: kmsg.StringPtr(kv[1])})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	var resps kadm.AlterConfigsResponses
	var err error
	if typ == "topics" {
		resps, err = c.adm.AlterTopicConfigs(ctx, alters, name)
	} else {
		var ids []int32
		if name != "" {
			id, _ := strconv.Atoi(name)
			ids = append(ids, int32(id))
		}
		resps, err = c.adm.AlterBrokerConfigs(ctx, alters, ids...)
	}
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil {
			return kafkaError(r.Err, r.ErrMessage, name)
		}
	}
	return nil
}

// alterSCRAM adds or deletes a user's SCRAM credentials (AlterUserScramCredentials):
// SCRAM-SHA-256=[iterations=8192,password=x] adds, --delete-config SCRAM-SHA-256 deletes.
func alterSCRAM(ctx context.Context, c *connection, user string, add [][2]string, del []string) error {
	mech := func(s string) (kadm.ScramMechanism, bool) {
		switch strings.ToUpper(s) {
		case "SCRAM-SHA-256":
			return kadm.ScramSha256, true
		case "SCRAM-SHA-512":
			return kadm.ScramSha512, true
		}
		return 0, false
	}
	var upserts []kadm.UpsertSCRAM
	var deletes []kadm.DeleteSCRAM
	for _, kv := range add {
		m, ok := mech(kv[0])
		if !ok {
			return fmt.Errorf("Only quota and SCRAM credential configs can be added for 'users' using --bootstrap-server; minikraft's kafka-configs supports SCRAM credentials only. Unexpected config names: %s", kv[0])
		}
		u := kadm.UpsertSCRAM{User: user, Mechanism: m, Iterations: 4096}
		for _, part := range strings.Split(kv[1], ",") {
			k, v, _ := strings.Cut(part, "=")
			switch strings.TrimSpace(k) {
			case "iterations":
				n, err := strconv.Atoi(strings.TrimSpace(v))
				if err != nil {
					return fmt.Errorf("Invalid iterations %q for %s", v, kv[0])
				}
				u.Iterations = int32(n)
			case "password":
				u.Password = v
			default:
				return fmt.Errorf("Invalid credential property %s=%s for %s: iterations and password are the keys", k, v, kv[0])
			}
		}
		if u.Password == "" {
			return fmt.Errorf("SCRAM credential %s for user %s has no password", kv[0], user)
		}
		upserts = append(upserts, u)
	}
	for _, k := range del {
		m, ok := mech(k)
		if !ok {
			return fmt.Errorf("Only quota and SCRAM credential configs can be deleted for 'users' using --bootstrap-server; minikraft's kafka-configs supports SCRAM credentials only. Unexpected config names: %s", k)
		}
		deletes = append(deletes, kadm.DeleteSCRAM{User: user, Mechanism: m})
	}
	resps, err := c.adm.AlterUserSCRAMs(ctx, deletes, upserts)
	if err != nil {
		return err
	}
	for _, r := range resps {
		if r.Err != nil {
			return kafkaError(r.Err, r.ErrMessage, "")
		}
	}
	return nil
}

func describeConfigs(ctx context.Context, e *env, c *connection, p *parsed, typ, name string) error {
	if typ == "users" {
		var users []string
		if name != "" {
			users = append(users, name)
		}
		described, err := c.adm.DescribeUserSCRAMs(ctx, users...)
		if err != nil {
			return err
		}
		for _, u := range described.Sorted() {
			if u.Err != nil {
				fmt.Fprintf(e.stdout, "Error retrieving SCRAM credential configs for user-principal '%s': %v\n", u.User, kafkaError(u.Err, u.ErrMessage, ""))
				continue
			}
			var infos []string
			for _, ci := range u.CredInfos {
				infos = append(infos, fmt.Sprintf("%s=iterations=%d", ci.Mechanism, ci.Iterations))
			}
			fmt.Fprintf(e.stdout, "SCRAM credential configs for user-principal '%s' are %s\n", u.User, strings.Join(infos, ", "))
		}
		return nil
	}
	var entities []string
	switch {
	case name != "" || p.has("entity-default") || p.has("broker-defaults"):
		entities = []string{name}
	case typ == "topics":
		td, err := c.adm.ListTopicsWithInternal(ctx)
		if err != nil {
			return err
		}
		entities = td.Names()
	default:
		bs, err := c.adm.ListBrokers(ctx)
		if err != nil {
			return err
		}
		for _, id := range bs.NodeIDs() {
			entities = append(entities, strconv.Itoa(int(id)))
		}
		entities = append(entities, "")
	}
	all := p.has("all")
	for _, ent := range entities {
		var rcs kadm.ResourceConfigs
		var err error
		want := kmsg.ConfigSourceDynamicTopicConfig
		switch {
		case typ == "topics":
			rcs, err = c.adm.DescribeTopicConfigs(ctx, ent)
			fmt.Fprintf(e.stdout, "%s configs for topic %s are:\n", map[bool]string{true: "All", false: "Dynamic"}[all], ent)
		case ent == "":
			rcs, err = c.adm.DescribeBrokerConfigs(ctx)
			want = kmsg.ConfigSourceDynamicDefaultBrokerConfig
			fmt.Fprintf(e.stdout, "Default configs for brokers in the cluster are:\n")
		default:
			id, _ := strconv.Atoi(ent)
			rcs, err = c.adm.DescribeBrokerConfigs(ctx, int32(id))
			want = kmsg.ConfigSourceDynamicBrokerConfig
			fmt.Fprintf(e.stdout, "%s configs for broker %s are:\n", map[bool]string{true: "All", false: "Dynamic"}[all], ent)
		}
		if err != nil {
			return err
		}
		for _, rc := range rcs {
			if rc.Err != nil {
				return kafkaError(rc.Err, rc.ErrMessage, ent)
			}
			for _, cf := range rc.Configs {
				if !all && cf.Source != want {
					continue
				}
				var syn []string
				for _, s := range cf.Synonyms {
					syn = append(syn, fmt.Sprintf("%s:%s=%s", s.Source, s.Key, nullable(s.Value)))
				}
				fmt.Fprintf(e.stdout, "  %s=%s sensitive=%t synonyms={%s}\n", cf.Key, nullable(cf.Value), cf.Sensitive, strings.Join(syn, ", "))
			}
		}
	}
	return nil
}

func nullable(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
