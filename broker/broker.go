package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minikraft/minikraft/broker/config"
	"github.com/minikraft/minikraft/broker/controller"
	"github.com/minikraft/minikraft/broker/fetchsession"
	"github.com/minikraft/minikraft/broker/group"
	"github.com/minikraft/minikraft/broker/replica"
	"github.com/minikraft/minikraft/broker/security"
	"github.com/minikraft/minikraft/internal/uuid"
	"github.com/minikraft/minikraft/metrics"
	"github.com/minikraft/minikraft/raftmeta"
	"github.com/minikraft/minikraft/wire"
)

// Config is what a Broker is started with.
type Config struct {
	// Broker is the node's static configuration (server.properties and its overrides).
	Broker config.Broker
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// Listeners optionally supplies already-bound listeners by listener name; the others are bound
	// from Broker.Listeners. The test fixture binds port 0 itself so that it knows the ports
	// before it writes the voters.
	Listeners map[string]net.Listener
	// Raft tunes the metadata quorum's timeouts; zero values take raftmeta's defaults.
	Raft RaftTimeouts
	// Dial, if set, opens every connection to another node (Raft, control calls, replica
	// fetches); the test fixture passes one that can cut a node off. Nil dials directly.
	Dial raftmeta.Dialer
	// NoSync is the test fixture's durability: nothing the node writes is fsynced (partition
	// logs, indexes, checkpoints, directories: log.NoSyncFS; the Raft log: raftmeta's NoSync).
	// A node survives being killed, since the page cache keeps what it wrote, but a machine
	// crash may lose acknowledged records and metadata. A fixture cluster lives as long as a
	// test and only simulates crashes by killing nodes; on a virtual disk an fsync costs a
	// millisecond or more, and creating or deleting a partition took several. Never for a
	// broker that serves real data: the binary has no setting for it.
	NoSync bool
	// LinkedData says the node's data directory may hold hard links to files another
	// directory shares (the fixture's FromSnapshot seeds replicas by linking a snapshot's
	// files): the partition logs then copy a linked file before changing it
	// (log.CopyOnWriteFS), so the snapshot never changes.
	LinkedData bool
}

// RaftTimeouts are the metadata quorum's timing knobs.
type RaftTimeouts struct {
	Heartbeat, Election, LeaderLease, Commit time.Duration
	// CampaignOnStart has this voter stand for election as soon as it starts instead of a
	// heartbeat timeout later (raftmeta.Config.CampaignOnStart): the test fixture sets it on
	// one node of a new cluster.
	CampaignOnStart bool
	// SpreadCommits has every committed metadata change reach the followers at once
	// (raftmeta.Config.SpreadCommits): the test fixture sets it.
	SpreadCommits bool
}

// Broker is one minikraft node.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	dataDir string
	lock    *os.File

	meta     Metadata       // the metadata this node serves from: its Raft node, or an observer
	raft     *raftmeta.Node // nil on a broker-only node
	cmux     *raftmeta.Mux
	ctrl     *controller.Controller
	groups   *group.Coordinator
	txns     *txnCoordinator // the transaction coordinator (txn_glue.go)
	srv      *wire.Server
	srvMux   *wire.Mux
	ctlSrv   *wire.Server // the control APIs on the CONTROLLER listener (control_server.go)
	ctlMux   *wire.Mux    // ctlSrv's Mux; nil on a broker-only node
	ctlConns controlConns // idle connections to the controllers (control_client.go)

	metrics *metrics.Node // the node's Prometheus metrics (metrics_glue.go)

	listeners map[string]net.Listener // by listener name, controller listener included
	// late are the client listeners on fixed ports, by name: their address was checked free at
	// start, and they are bound only once the broker is ready to serve (startServing).
	late map[string]string

	replicas *replica.Manager // the local partitions (replica_glue.go)
	pids     pidAllocator
	sessions *fetchsession.Cache // Fetch sessions (KIP-227), see 01_fetch.go
	offsets  offsetsStore
	// ledOffsets are the __consumer_offsets partitions whose groups this node coordinates;
	// only syncGroupCoordinator uses it, under the replica manager's apply lock.
	ledOffsets map[int32]bool
	// ledOffsetsID is the topic id of the __consumer_offsets those partitions belong to: a
	// topic re-created under the same name (the fixture's Reset) is another topic.
	ledOffsetsID [16]byte
	groupRetry   atomic.Bool // a retry of a failed group load is pending (retryGroupLoad)
	// txnMarkerHook is told of markers written to __consumer_offsets (27_write_txn_markers.go).
	txnMarkerHook atomic.Pointer[TxnMarkerHook]

	incarnation [16]byte     // this process's registration identity
	registered  atomic.Bool  // the controller has accepted our registration
	brokerEpoch atomic.Int64 // the broker epoch of that registration, which heartbeats carry
	lastVoter   int          // broker-only: the voter that answered the last metadata fetch

	// applied is the metadata index the local partitions are reconciled with; appliedCh wakes the
	// heartbeat loop to report it (propagation.go).
	applied   atomic.Uint64
	appliedCh chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	security  map[string]wire.Security // by client listener name (security_glue.go)
	interDial raftmeta.Dialer          // to inter-broker listeners, with their TLS and SASL
	authz     authz                    // the authorizer, when authorizer.class.name is set (authz.go)
	scramBoot []security.ScramUser     // config.ScramBootstrapProp (scram_bootstrap.go)
	ctrlDial  raftmeta.Dialer          // to controller listeners, with their TLS (security_glue.go)
	ctrlTLS   *tls.Config              // this node's controller listener's TLS; nil: PLAINTEXT

	// ctrlAuth is the controller listener's SASL exchange (security_glue.go); nil: none.
	ctrlAuth func(net.Conn) (net.Conn, error)

	serveOnce sync.Once
	serving   atomic.Bool // startServing has opened the client listeners (Ready)
	failOnce  sync.Once
	// joined is set once a leader of this node's own cluster was seen (peerOfAnotherCluster).
	joined         atomic.Bool
	stopping       atomic.Bool   // controlled shutdown under way: no more heartbeats
	mismatchLogged sync.Map      // peer address → logged once
	failed         chan struct{} // closed by fatal
	failErr        error

	closeOnce sync.Once
	closeErr  error
}

// New opens the data directory, binds the listeners and starts the metadata quorum and the
// protocol servers. It returns once the node is serving; the metadata may still be catching up.
func New(cfg Config) (_ *Broker, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	bc := &cfg.Broker
	b := &Broker{
		cfg:         cfg,
		log:         cfg.Logger.With("node", bc.NodeID),
		listeners:   make(map[string]net.Listener),
		late:        make(map[string]string),
		incarnation: uuid.New(),
		failed:      make(chan struct{}),
		appliedCh:   make(chan struct{}, 1),
		sessions:    fetchsession.NewCache(bc.FetchSessionCacheSlots, fetchsession.MinEvictionAge),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if len(bc.LogDirs) == 0 {
		return nil, errors.New("broker: no log.dirs configured")
	}
	b.dataDir = bc.LogDirs[0]
	if err := b.openDataDir(); err != nil {
		return nil, err
	}
	if err := b.setupSecurity(); err != nil {
		return nil, err
	}
	if err := b.setupAuthorizer(); err != nil {
		return nil, err
	}
	if err := b.bindListeners(); err != nil {
		return nil, err
	}
	b.ledOffsets = make(map[int32]bool)
	b.pids.b = b
	if err := b.startMeta(); err != nil {
		return nil, err
	}
	b.replicas = b.newReplicaManager()
	b.offsets.b = b
	b.groups = group.NewCoordinator(b.groupConfig(), &b.offsets)
	// A marker on a __consumer_offsets partition settles the producer's pending transactional
	// offset commits there (Kafka's GroupCoordinator.scheduleHandleTxnCompletion).
	b.SetTxnMarkerHook(func(_ string, part int32, pid int64, commit bool) error {
		b.groups.CompleteTxn(part, pid, commit)
		return nil
	})
	b.txns = b.newTxnCoordinator()

	b.srvMux = b.newMux()
	b.metrics = metrics.NewNode(b.metricsSnapshot)
	b.srv = wire.NewServer(b.srvMux, wire.ServerConfig{
		MaxRequestBytes: int32(bc.SocketRequestMaxBytes),
		AuthTimeout:     connectionsMaxIdle(bc.Props),
		MaxAuthBytes:    saslServerMaxReceive(bc.Props),
		Logger:          b.log,
		Observer:        b.metrics.Requests,
	})
	b.run()
	b.log.Info("minikraft node started", "cluster", b.clusterID(), "data", b.dataDir, "listeners", b.listenerSummary())
	return b, nil
}

// startServing starts answering clients on every client listener, once the broker is registered
// (which unfences it) and its metadata has caught up with its registration. Kafka enables request
// processing at the same point, so a client never sees a cluster whose brokers have not all
// registered: a client port that accepts is a registered broker's, and once every node's does,
// every node is listed (an RF 3 topic can be created on three nodes that all accept).
//
// A client listener on a fixed port is therefore bound only now: its port was checked free at
// start (a taken port fails the start), and connections until now are refused, so that
// "the port accepts" means "ready" to clients and health checks. One on port 0 (tests) or
// handed over in Config.Listeners is bound from the start, since its port must be known to
// register; its connections wait in the accept backlog until now. A node that is not a broker
// never serves clients.
func (b *Broker) startServing() {
	b.serveOnce.Do(func() {
		// Caught up: the local partitions are reconciled with the metadata that registered us.
		b.applyMetadata(b.meta.State())
		serve := func(ln net.Listener, name string) {
			b.goBackground(func() {
				if err := b.srv.ServeSecure(ln, name, b.security[name]); err != nil && b.ctx.Err() == nil {
					b.log.Error("listener stopped", "listener", name, "err", err)
				}
			})
		}
		for name, ln := range b.listeners {
			if !slices.Contains(b.cfg.Broker.ControllerListenerNames, name) {
				serve(ln, name)
			}
		}
		for name, addr := range b.late {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				b.fatal(fmt.Errorf("broker: listener %s on %s: %w", name, addr, err))
				return
			}
			serve(ln, name) // the server closes it when it stops
		}
		b.serving.Store(true)
		b.log.Info("serving clients", "listeners", b.listenerSummary())
	})
}

// bindListeners opens every configured listener not supplied in Config.Listeners.
func (b *Broker) bindListeners() error {
	for _, l := range b.cfg.Broker.Listeners {
		if ln, ok := b.cfg.Listeners[l.Name]; ok {
			b.listeners[l.Name] = ln
			continue
		}
		addr := net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("broker: listener %s on %s: %w", l.Name, addr, err)
		}
		if l.Port != 0 && b.cfg.Broker.IsBroker() && !slices.Contains(b.cfg.Broker.ControllerListenerNames, l.Name) {
			// Checked free; bound again once the broker is ready (startServing).
			ln.Close()
			b.late[l.Name] = addr
			continue
		}
		b.listeners[l.Name] = ln
	}
	return nil
}

func (b *Broker) listenerSummary() string {
	var s string
	for _, l := range b.cfg.Broker.Listeners {
		addr, ok := b.ListenerAddr(l.Name)
		if !ok {
			continue
		}
		if s != "" {
			s += ","
		}
		s += l.Name + "://" + addr.String()
		if _, late := b.late[l.Name]; late && !b.registered.Load() {
			s += " (once registered)"
		}
	}
	return s
}

// ListenerAddr is the bound address of the named listener (useful with port 0); for a client
// listener on a fixed port, the address it is bound to once the broker serves.
func (b *Broker) ListenerAddr(name string) (net.Addr, bool) {
	if ln, ok := b.listeners[name]; ok {
		return ln.Addr(), true
	}
	if addr, ok := b.late[name]; ok {
		if ta, err := net.ResolveTCPAddr("tcp", addr); err == nil {
			return ta, true
		}
	}
	return nil, false
}

// NodeID is this node's id.
func (b *Broker) NodeID() int32 { return b.cfg.Broker.NodeID }

// Meta is the node's metadata quorum member (for tests and tools).
func (b *Broker) Meta() Metadata { return b.meta }

// Metadata is the read side of the cluster metadata a broker serves from: a *raftmeta.Node on
// a controller, a *raftmeta.Observer on a broker-only node.
type Metadata interface {
	State() *raftmeta.State
	Changed() <-chan struct{}
	IsLeader() bool
	Leader() (id int32, addr string, ok bool)
	WaitForLeader(ctx context.Context) error
	WaitForIndex(ctx context.Context, idx uint64) error
	Resign() error
	MetadataOffset() (offset uint64, raftLog bool)
	Close() error
}

// startMeta starts the Raft node on the controller listener, or, on a broker-only node, an
// observer that pulls the metadata from the controllers.
func (b *Broker) startMeta() error {
	bc := &b.cfg.Broker
	if !slices.Contains(bc.ProcessRoles, "controller") {
		b.meta = raftmeta.NewObserver(b.fetchMetadata, b.log.With("component", "metadata"))
		return nil
	}
	var ctrlLn net.Listener
	for _, name := range bc.ControllerListenerNames {
		if ln, ok := b.listeners[name]; ok {
			ctrlLn = ln
			break
		}
	}
	if ctrlLn == nil {
		return fmt.Errorf("broker: no controller listener (controller.listener.names=%v) is in listeners", bc.ControllerListenerNames)
	}
	if b.ctrlTLS != nil {
		ctrlLn = tls.NewListener(ctrlLn, b.ctrlTLS) // the handshake runs on the Mux's first read
	}
	if b.ctrlAuth != nil {
		ctrlLn = &saslListener{Listener: ctrlLn, auth: b.ctrlAuth} // so does the SASL exchange
	}
	b.cmux = raftmeta.NewMux(ctrlLn, b.clusterID(), b.log)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.cmux.Serve()
	}()
	voters := make([]raftmeta.Voter, 0, len(bc.Voters))
	for _, v := range bc.Voters {
		voters = append(voters, raftmeta.Voter{ID: v.ID, Addr: net.JoinHostPort(v.Host, strconv.Itoa(int(v.Port)))})
	}
	rt := b.cfg.Raft
	if rt.Heartbeat == 0 && bc.QuorumElectionTimeout > 0 && len(bc.Voters) > 1 {
		// controller.quorum.election.timeout.ms: how long a follower waits for the leader
		// before it stands for election. hashicorp/raft has two knobs for that; both take it.
		rt.Heartbeat = bc.QuorumElectionTimeout
		rt.Election = bc.QuorumElectionTimeout
		rt.LeaderLease = bc.QuorumElectionTimeout / 2
	}
	rc := raftmeta.Config{
		NodeID:    bc.NodeID,
		ClusterID: b.clusterID(),
		Dir:       filepath.Join(b.dataDir, "raft"),
		Voters:    voters,
		Voter:     slices.Contains(bc.ProcessRoles, "controller"),
		Listener:  b.cmux.Listener(raftmeta.TagRaft),
		Dial: func(addr string, timeout time.Duration) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(b.ctx, timeout)
			defer cancel()
			c, err := raftmeta.DialTag(ctx, b.ctrlDial, addr, raftmeta.TagRaft, b.clusterID())
			b.peerOfAnotherCluster(err)
			return c, err
		},
		HeartbeatTimeout:   rt.Heartbeat,
		ElectionTimeout:    rt.Election,
		LeaderLeaseTimeout: rt.LeaderLease,
		CommitTimeout:      rt.Commit,
		CampaignOnStart:    rt.CampaignOnStart,
		SpreadCommits:      rt.SpreadCommits,
		NoSync:             b.cfg.NoSync,
		Logger:             b.log.With("component", "raft"),
	}
	m, err := raftmeta.Start(rc)
	if err != nil {
		return fmt.Errorf("broker: metadata quorum: %w", err)
	}
	b.meta, b.raft = m, m
	b.ctrl = controller.New(m, b.log)
	// The control APIs, once the controller they call exists.
	ctrlCalls := b.cmux.Listener(raftmeta.TagControl)
	b.ctlMux = b.newControlMux()
	b.ctlSrv = wire.NewServer(b.ctlMux, wire.ServerConfig{
		MaxRequestBytes: int32(bc.SocketRequestMaxBytes), Logger: b.log.With("component", "control"),
	})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.ctlSrv.Serve(ctrlCalls, "CONTROLLER")
	}()
	return nil
}

// peerOfAnotherCluster reports whether err is a peer's refusal because it belongs to another
// cluster. A node that has not yet found a leader of its own cluster cannot join its quorum and
// stops (fatal); a node that has, keeps serving and logs the misconfigured peer once: it is the
// peer that is wrong, and the majority must not stop because one voter was started with another
// cluster id (Kafka answers INCONSISTENT_CLUSTER_ID and goes on, too).
func (b *Broker) peerOfAnotherCluster(err error) bool {
	var mismatch *raftmeta.ClusterIDMismatchError
	if !errors.As(err, &mismatch) {
		return false
	}
	if !b.joined.Load() {
		b.fatal(err)
		return true
	}
	if _, seen := b.mismatchLogged.LoadOrStore(mismatch.Addr, true); !seen {
		b.log.Error("a peer belongs to another cluster; it is left out until it is restarted with ours",
			"peer", mismatch.Addr, "their_cluster", mismatch.Theirs, "our_cluster", mismatch.Ours)
	}
	return true
}

// fatal records an error the node cannot run with (its cluster id is not its peers') and stops
// serving; Failed reports it.
func (b *Broker) fatal(err error) {
	b.failOnce.Do(func() {
		b.failErr = err
		b.log.Error("node cannot continue", "err", err)
		close(b.failed)
	})
}

// Failed is closed when the node hits an error it cannot run with; Err then returns it. The
// command exits on it; Close is still needed.
func (b *Broker) Failed() <-chan struct{} { return b.failed }

// Err is the error that closed Failed, or nil.
func (b *Broker) Err() error {
	select {
	case <-b.failed:
		return b.failErr
	default:
		return nil
	}
}

// Close shuts the node down: listeners first (no new requests), then the coordinators, the
// partitions (each log writes its clean-shutdown marker) and the metadata quorum.
func (b *Broker) Close() error {
	return b.close(true)
}

// Abort stops the node without a controlled shutdown: its partitions move only when the
// controller notices the lapsed session, as after a crash. Files are still closed properly.
func (b *Broker) Abort() error {
	return b.close(false)
}

func (b *Broker) close(controlled bool) error {
	b.closeOnce.Do(func() {
		if controlled {
			b.controlledShutdown()
			if b.meta != nil {
				// After the partitions moved: the controller's duties go with the Raft
				// leadership, to a node that stays.
				if err := b.meta.Resign(); err != nil {
					b.log.Warn("could not hand the metadata leadership over before stopping", "err", err)
				}
			}
		}
		b.cancel()
		var errs []error
		// Clients first: no new requests.
		if b.srv != nil {
			errs = append(errs, b.srv.Close())
		}
		if b.ctlSrv != nil {
			errs = append(errs, b.ctlSrv.Close())
		}
		b.ctlConns.close()
		for name, ln := range b.listeners {
			if slices.Contains(b.cfg.Broker.ControllerListenerNames, name) && b.cmux != nil {
				continue // the Mux closes it, after Raft
			}
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("closing listener %s: %w", name, err))
			}
		}
		// Then the quorum, before its listener, so Raft does not report its own shutdown
		// as accept errors.
		if b.meta != nil {
			errs = append(errs, b.meta.Close())
		}
		if b.cmux != nil {
			b.cmux.Close()
		}
		// The background loops end with the context and the closed listeners; only then are
		// the partitions closed, so no reconciliation reopens one behind us.
		b.wg.Wait()
		if b.replicas != nil {
			b.replicas.Stop() // its fetchers and periodic duties, which also end with b.ctx
		}
		if b.groups != nil {
			b.groups.Close()
		}
		if b.txns != nil {
			b.txns.close()
		}
		if b.replicas != nil {
			errs = append(errs, b.replicas.Close())
		}
		if b.lock != nil {
			b.lock.Close()
		}
		b.closeErr = errors.Join(errs...)
		b.log.Info("minikraft node stopped")
	})
	return b.closeErr
}
