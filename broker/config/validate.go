package config

import (
	"slices"
	"strconv"
	"strings"
)

// Validate checks the node's configuration as Kafka's KafkaConfig.validateValues does for KRaft
// mode, plus minikraft's own limits (controller listeners are PLAINTEXT or SSL). It works on the typed fields, so a Broker
// built by hand (the embedded cluster) is checked the same way as one from FromProperties. The
// error is one line naming the property, and wraps ErrInvalidBroker.
func (b *Broker) Validate() error {
	if b.NodeID < 0 {
		return brokerErr("node.id", "must be set to a value >= 0 in KRaft mode (got %d)", b.NodeID)
	}
	if err := b.validateRoles(); err != nil {
		return err
	}
	if err := b.validateListeners(); err != nil {
		return err
	}
	if err := b.validateQuorum(); err != nil {
		return err
	}
	if b.IsBroker() {
		if err := b.validateAdvertised(); err != nil {
			return err
		}
	}
	if len(b.LogDirs) == 0 || slices.Contains(b.LogDirs, "") {
		return brokerErr("log.dirs", "at least one log directory must be defined via log.dirs or log.dir")
	}
	return b.validateNumbers()
}

func (b *Broker) validateRoles() error {
	if len(b.ProcessRoles) == 0 {
		return brokerErr("process.roles", "must contain broker, controller or both (minikraft runs only in KRaft mode)")
	}
	for i, r := range b.ProcessRoles {
		if r != "broker" && r != "controller" {
			return brokerErr("process.roles", "unknown process role '%s' (valid roles are broker and controller)", r)
		}
		if slices.Contains(b.ProcessRoles[:i], r) {
			return brokerErr("process.roles", "duplicate role names found in `process.roles`: %s", strings.Join(b.ProcessRoles, ","))
		}
	}
	return nil
}

func (b *Broker) validateListeners() error {
	if len(b.Listeners) == 0 {
		return brokerErr("listeners", "no listener is defined")
	}
	names := map[string]bool{}
	ports := map[int32]string{}
	for _, l := range b.Listeners {
		if l.Name == "" || l.Name != strings.ToUpper(l.Name) {
			return brokerErr("listeners", "listener name %q must be non-empty and upper case", l.Name)
		}
		if names[l.Name] {
			return brokerErr("listeners", "listener name %q appears more than once", l.Name)
		}
		names[l.Name] = true
		if l.Port < 0 || l.Port > 65535 {
			return brokerErr("listeners", "listener %s: port %d is out of range", l.Name, l.Port)
		}
		if l.Port != 0 {
			if other, dup := ports[l.Port]; dup {
				return brokerErr("listeners", "listeners %q and %q use the same port %d", other, l.Name, l.Port)
			}
			ports[l.Port] = l.Name
		}
		if err := b.checkProtocol("listeners", l.Name); err != nil {
			return err
		}
	}
	ctrl := 0
	for _, n := range b.ControllerListenerNames {
		if names[n] {
			ctrl++
		}
	}
	switch {
	case b.IsController() && ctrl == 0:
		return brokerErr("controller.listener.names", "must contain at least one value appearing in the 'listeners' configuration when running the KRaft controller role (controller.listener.names=%s)", strings.Join(b.ControllerListenerNames, ","))
	case b.IsController() && ctrl != len(b.ControllerListenerNames):
		return brokerErr("controller.listener.names", "must only contain values appearing in the 'listeners' configuration when running the KRaft controller role (controller.listener.names=%s)", strings.Join(b.ControllerListenerNames, ","))
	case !b.IsController() && len(b.ControllerListenerNames) == 0:
		return brokerErr("controller.listener.names", "must contain at least one value when running KRaft with just the broker role")
	case !b.IsController() && ctrl > 0:
		return brokerErr("controller.listener.names", "must not contain a value appearing in the 'listeners' configuration when running KRaft with just the broker role")
	case !b.IsBroker() && ctrl != len(b.Listeners):
		return brokerErr("listeners", "must only contain KRaft controller listeners from controller.listener.names when process.roles=controller")
	case !b.IsBroker() && len(b.AdvertisedListeners) > 0:
		return brokerErr("advertised.listeners", "must be empty when process.roles=controller")
	}
	return nil
}

// checkProtocol: a listener needs a protocol (see SecurityProtocol), any of Kafka's four. (A
// controller listener's SASL exchange runs before raftmeta.Mux splits its connections by their
// first byte, under the TLS layer; broker/security_glue.go.)
func (b *Broker) checkProtocol(prop, name string) error {
	if _, ok := b.SecurityProtocol(name); !ok {
		return brokerErr(prop, "listener %q has no entry in listener.security.protocol.map", name)
	}
	return nil
}

func (b *Broker) validateAdvertised() error {
	if len(b.AdvertisedListeners) == 0 {
		return brokerErr("advertised.listeners", "there must be at least one advertised listener; perhaps all listeners appear in controller.listener.names?")
	}
	seen := map[string]bool{}
	for _, l := range b.AdvertisedListeners {
		switch {
		case seen[l.Name]:
			return brokerErr("advertised.listeners", "listener name %q appears more than once", l.Name)
		case slices.Contains(b.ControllerListenerNames, l.Name):
			return brokerErr("advertised.listeners", "must not contain KRaft controller listeners from controller.listener.names (%s) when process.roles contains the broker role", l.Name)
		case !hasListener(b.Listeners, l.Name):
			return brokerErr("advertised.listeners", "listener %s is not in listeners: advertised listener names must be equal to or a subset of the ones defined in listeners", l.Name)
		case l.Host == "":
			return brokerErr("advertised.listeners", "listener %s has no host", l.Name)
		case l.Host == "0.0.0.0" || l.Host == "::":
			return brokerErr("advertised.listeners", "listener %s cannot use the nonroutable meta-address %s; use a routable IP address", l.Name, l.Host)
		case l.Port < 0 || l.Port > 65535:
			return brokerErr("advertised.listeners", "listener %s: port %d is out of range", l.Name, l.Port)
		}
		seen[l.Name] = true
	}
	if !hasListener(b.AdvertisedListeners, b.InterBrokerListenerName) {
		var names []string
		for _, l := range b.AdvertisedListeners {
			names = append(names, l.Name)
		}
		return brokerErr("inter.broker.listener.name", "%q must be a listener name defined in advertised.listeners; the valid options are %s", b.InterBrokerListenerName, strings.Join(names, ","))
	}
	return nil
}

func (b *Broker) validateQuorum() error {
	if len(b.Voters) == 0 {
		return brokerErr("controller.quorum.voters", "must contain a parseable set of voters (`{id}@{host}:{port}`, ...)")
	}
	ids := map[int32]bool{}
	for _, v := range b.Voters {
		switch {
		case ids[v.ID]:
			return brokerErr("controller.quorum.voters", "voter id %d appears more than once", v.ID)
		case v.ID < 0:
			return brokerErr("controller.quorum.voters", "voter id %d is negative", v.ID)
		case v.Host == "":
			return brokerErr("controller.quorum.voters", "voter %d has no host", v.ID)
		case v.Port < 0 || v.Port > 65535:
			return brokerErr("controller.quorum.voters", "voter %d: port %d is out of range", v.ID, v.Port)
		}
		ids[v.ID] = true
	}
	var all []string
	for _, v := range b.Voters {
		all = append(all, strconv.Itoa(int(v.ID)))
	}
	switch {
	case b.IsController() && !ids[b.NodeID]:
		return brokerErr("controller.quorum.voters", "if process.roles contains the 'controller' role, the node id %d must be included in the set of voters (ids %s)", b.NodeID, strings.Join(all, ","))
	case !b.IsController() && ids[b.NodeID]:
		return brokerErr("controller.quorum.voters", "if process.roles contains just the 'broker' role, the node id %d must not be included in the set of voters (ids %s)", b.NodeID, strings.Join(all, ","))
	}
	return nil
}

// validateNumbers runs the Kafka validators of the numeric properties over the typed fields, so a
// hand-built Broker gets Kafka's messages too. Fields without a Kafka validator get the bounds
// minikraft needs to work (a replication factor of at least 1, positive timeouts).
func (b *Broker) validateNumbers() error {
	ms := func(d interface{ Milliseconds() int64 }) int64 { return d.Milliseconds() }
	for _, c := range []struct {
		prop string
		val  int64
		min  int64 // minikraft's own lower bound, checked after Kafka's validator
	}{
		{"num.partitions", int64(b.NumPartitions), 1},
		{"default.replication.factor", int64(b.DefaultReplicationFactor), 1},
		{"min.insync.replicas", int64(b.MinInsyncReplicas), 1},
		{"message.max.bytes", int64(b.MessageMaxBytes), 0},
		{"socket.request.max.bytes", int64(b.SocketRequestMaxBytes), 1},
		{"fetch.max.bytes", int64(b.FetchMaxBytes), 1024},
		{"log.retention.check.interval.ms", ms(b.LogRetentionCheckInterval), 1},
		{"log.cleaner.backoff.ms", ms(b.LogCleanerBackoff), 0},
		{"replica.lag.time.max.ms", ms(b.ReplicaLagTimeMax), 1},
		{"replica.fetch.max.bytes", int64(b.ReplicaFetchMaxBytes), 0},
		{"replica.fetch.response.max.bytes", int64(b.ReplicaFetchResponseMaxBytes), 0},
		{"replica.fetch.wait.max.ms", ms(b.ReplicaFetchWaitMax), 0},
		{"replica.fetch.backoff.ms", ms(b.ReplicaFetchBackoff), 0},
		{"offsets.topic.num.partitions", int64(b.OffsetsTopicPartitions), 1},
		{"offsets.topic.replication.factor", int64(b.OffsetsTopicReplicationFactor), 1},
		{"offsets.topic.segment.bytes", int64(b.OffsetsTopicSegmentBytes), 1},
		{"offsets.commit.timeout.ms", ms(b.OffsetsCommitTimeout), 1},
		{"offsets.retention.check.interval.ms", ms(b.OffsetsRetentionCheckInterval), 1},
		{"group.initial.rebalance.delay.ms", ms(b.GroupInitialRebalanceDelay), 0},
		{"group.min.session.timeout.ms", ms(b.GroupMinSessionTimeout), 0},
		{"group.max.session.timeout.ms", ms(b.GroupMaxSessionTimeout), 0},
		{"group.max.size", int64(b.GroupMaxSize), 1},
		{"transactional.id.expiration.ms", ms(b.TransactionalIDExpiration), 1},
		{"transaction.max.timeout.ms", ms(b.TransactionMaxTimeout), 1},
		{"transaction.state.log.num.partitions", int64(b.TransactionStateLogPartitions), 1},
		{"transaction.state.log.replication.factor", int64(b.TransactionStateLogReplicationFactor), 1},
		{"transaction.state.log.min.isr", int64(b.TransactionStateLogMinISR), 1},
		{"transaction.state.log.segment.bytes", int64(b.TransactionStateLogSegmentBytes), 1},
		{"producer.id.expiration.ms", ms(b.ProducerIDExpiration), 1},
		{"broker.session.timeout.ms", ms(b.BrokerSessionTimeout), 1},
		{"broker.heartbeat.interval.ms", ms(b.BrokerHeartbeatInterval), 1},
		{"controller.quorum.election.timeout.ms", ms(b.QuorumElectionTimeout), 1},
		{"controller.quorum.fetch.timeout.ms", ms(b.QuorumFetchTimeout), 1},
	} {
		s := strconv.FormatInt(c.val, 10)
		if _, err := brokerByName[c.prop].Parse(s); err != nil {
			return &BrokerError{Prop: c.prop, Msg: err.Error()}
		}
		if c.val < c.min {
			return &BrokerError{Prop: c.prop, Msg: (&ValueError{Name: c.prop, Value: s, Msg: "Value must be at least " + strconv.FormatInt(c.min, 10)}).Error()}
		}
	}
	for _, rf := range []struct {
		prop string
		val  int
	}{
		{"default.replication.factor", b.DefaultReplicationFactor},
		{"offsets.topic.replication.factor", b.OffsetsTopicReplicationFactor},
		{"transaction.state.log.replication.factor", b.TransactionStateLogReplicationFactor},
	} {
		if rf.val > 1<<15-1 {
			return brokerErr(rf.prop, "%d is more than a replication factor can be (32767)", rf.val)
		}
	}
	// Kafka's check: a follower's fetch waiting longer than replica.lag.time.max.ms would drop it
	// from the ISR while it waits.
	if b.ReplicaFetchWaitMax > b.ReplicaLagTimeMax {
		return brokerErr("replica.fetch.wait.max.ms", "should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR")
	}
	if b.LeaderImbalanceCheckInterval.Seconds() < 1 {
		return brokerErr("leader.imbalance.check.interval.seconds", "must be at least 1 second")
	}
	if b.OffsetsRetention.Minutes() < 1 {
		return brokerErr("offsets.retention.minutes", "must be at least 1 minute")
	}
	return nil
}

func hasListener(ls []Listener, name string) bool {
	_, ok := findListener(ls, name)
	return ok
}
