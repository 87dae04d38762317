package minikraft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minikraft/minikraft/broker"
	"github.com/minikraft/minikraft/broker/config"
)

// TB is the part of testing.TB the fixture uses, so that this package does not import testing.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Option configures a Cluster.
type Option func(*options)

type options struct {
	props   map[string]string
	logger  *slog.Logger
	quiet   bool
	dir     string
	history bool // WithHistory
	// snapshot is FromSnapshot's directory (snapshot.go), "" for an empty cluster.
	snapshot string
}

// WithConfig sets a broker property on every node (for example "num.partitions", "3").
func WithConfig(key, value string) Option {
	return func(o *options) { o.props[key] = value }
}

// WithLogger sends every node's logs to l instead of the test log.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Quiet discards the nodes' logs.
func Quiet() Option { return func(o *options) { o.quiet = true } }

// WithDir keeps the nodes' data under dir (node-0, node-1, ...) instead of a temporary directory
// (on Linux, in /dev/shm when it is a tmpfs with 1 GiB free; see newDataDir). WithDir(t.TempDir())
// keeps a test's data on disk.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// fixtureProps are the fixture's defaults: timeouts short enough for tests, and groups that
// rebalance at once, as Kafka's own test harness sets them. One __consumer_offsets partition,
// as many of Kafka's integration tests set it (GroupAuthorizerIntegrationTest, the tools'
// ConsumerGroupCommandTestUtils): a Reset empties every replica of it that holds a record, and
// with ten a package whose tests use five groups made each node empty five replicas per Reset
// (a 3-node Reset's median 2.9 ms against 1.9 ms with one).
var fixtureProps = map[string]string{
	"broker.heartbeat.interval.ms":          "100",
	"broker.session.timeout.ms":             "1500",
	"group.initial.rebalance.delay.ms":      "0",
	"offsets.topic.num.partitions":          "1",
	"replica.lag.time.max.ms":               "3000",
	"replica.fetch.backoff.ms":              "100",
	"controller.quorum.election.timeout.ms": "300",
}

// Cluster is a running in-process minikraft cluster.
type Cluster struct {
	opts  options
	nodes []*clusterNode
	net   *faultNet
	inj   injections
	lag   lagControls // ThrottleFollower (controls_lag.go)
	hist  *History    // nil unless WithHistory (history.go)
	log   *slog.Logger

	mu     sync.Mutex
	closed bool
	// resetHooks are run by Reset after the cluster is empty (reset.go).
	resetHooks []func(context.Context) error
}

type clusterNode struct {
	id       int32
	dir      string
	client   string // PLAINTEXT address
	ctrl     string // CONTROLLER address
	props    map[string]string
	b        *broker.Broker // nil while stopped
	firstLns map[string]net.Listener
}

// NewCluster starts a cluster of n nodes, each a broker and a Raft voter, for the duration of
// the test: data in a temporary directory removed by t.Cleanup (in memory, /dev/shm, where
// Linux has room there: see WithDir), logs to t.Logf, closed by t.Cleanup. It fails the test if
// the cluster does not start.
func NewCluster(t TB, n int, opts ...Option) *Cluster {
	t.Helper()
	o := options{props: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.dir == "" {
		dir, err := newDataDir()
		if err != nil {
			t.Fatalf("minikraft: a data directory: %v", err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) }) // registered first, so it runs after Close
		o.dir = dir
	}
	if o.logger == nil && !o.quiet {
		o.logger = slog.New(slog.NewTextHandler(tbWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c, err := start(n, o)
	if err != nil {
		t.Fatalf("minikraft: starting a %d-node cluster: %v", n, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// StartCluster starts a cluster of n nodes outside a test. Its data is in a temporary
// directory (removed by Close) unless WithDir says otherwise.
func StartCluster(n int, opts ...Option) (*Cluster, error) {
	o := options{props: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	tmp := ""
	if o.dir == "" {
		var err error
		tmp, err = newDataDir()
		if err != nil {
			return nil, err
		}
		o.dir = tmp
	}
	c, err := start(n, o)
	if err != nil {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, err
	}
	if tmp != "" {
		c.opts.dir = tmp
	}
	return c, nil
}

func start(n int, o options) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("minikraft: a cluster needs at least one node, not %d", n)
	}
	c := &Cluster{opts: o, net: newFaultNet(), log: o.logger}
	if o.history {
		c.hist = newHistory(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	// Bind every node's listeners first: the voters list needs every controller port.
	voters := make([]string, n)
	for i := 0; i < n; i++ {
		cn := &clusterNode{id: int32(i), dir: filepath.Join(o.dir, "node-"+strconv.Itoa(i)), firstLns: map[string]net.Listener{}}
		for _, name := range []string{"PLAINTEXT", "CONTROLLER"} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				c.closeListeners()
				return nil, err
			}
			cn.firstLns[name] = ln
		}
		cn.client = cn.firstLns["PLAINTEXT"].Addr().String()
		cn.ctrl = cn.firstLns["CONTROLLER"].Addr().String()
		c.net.addNode(cn.id, cn.client, cn.ctrl)
		voters[i] = fmt.Sprintf("%d@%s", i, cn.ctrl)
		c.nodes = append(c.nodes, cn)
	}
	for _, cn := range c.nodes {
		cn.props = map[string]string{}
		for k, v := range fixtureProps {
			cn.props[k] = v
		}
		for k, v := range o.props {
			cn.props[k] = v
		}
		cn.props["node.id"] = strconv.Itoa(int(cn.id))
		cn.props["process.roles"] = "broker,controller"
		cn.props["listeners"] = "PLAINTEXT://" + cn.client + ",CONTROLLER://" + cn.ctrl
		cn.props["controller.listener.names"] = "CONTROLLER"
		cn.props["controller.quorum.voters"] = strings.Join(voters, ",")
		cn.props["log.dirs"] = cn.dir
		cn.props[config.ClusterIDProp] = fixtureClusterID
	}
	var snap *loadedSnapshot
	if o.snapshot != "" {
		var err error
		if snap, err = c.seedSnapshot(o.snapshot); err != nil {
			c.closeListeners()
			return nil, err
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, cn := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.startNode(cn, cn.firstLns, i == 0)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		snap.waitSeeded()
		c.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.waitRegistered(ctx); err != nil {
		snap.waitSeeded()
		c.Close()
		return nil, err
	}
	if snap != nil {
		if err := c.restoreSnapshot(ctx, snap); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// startNode starts (or restarts) one node; lns are pre-bound listeners, or nil to bind the
// node's fixed ports again. campaign has the node stand for election at once: start sets it on
// node 0 of a new cluster, so that the quorum elects in milliseconds instead of after a
// heartbeat timeout (one node only: several candidates at once could split the vote).
func (c *Cluster) startNode(cn *clusterNode, lns map[string]net.Listener, campaign bool) error {
	bc, _, err := config.FromProperties(cn.props)
	if err != nil {
		return err
	}
	b, err := broker.New(broker.Config{
		Broker:    bc,
		Logger:    c.log,
		Listeners: lns,
		Raft: broker.RaftTimeouts{
			// A new cluster elects at once (CampaignOnStart), so these only decide how fast a
			// failed leader is replaced (300-600 ms) and how long a leader may go without
			// hearing a quorum before it steps down. At 100 ms a two-core machine at load 20
			// made leaders step down mid-test (stalls of 100-165 ms), and admin requests in
			// flight then answered NOT_CONTROLLER or, retried, TOPIC_ALREADY_EXISTS.
			Heartbeat:   300 * time.Millisecond,
			Election:    300 * time.Millisecond,
			LeaderLease: 300 * time.Millisecond,
			// Every committed proposal reaches the followers at once (SpreadCommits), so the
			// commit timeout only paces the leader's idle rounds to each follower: at 5 ms
			// they cost an idle three-node cluster 7.6% of a core, CPU a test's requests need.
			Commit:          50 * time.Millisecond,
			SpreadCommits:   true,
			CampaignOnStart: campaign,
		},
		Dial: c.net.dialer(cn.id),
		// A fixture cluster does not survive a machine crash, only the process-level kills it
		// simulates anyway (KillNode): the page cache keeps what a killed node wrote.
		NoSync: true,
		// FromSnapshot links the snapshot's segment files into the nodes' directories
		// (snapshot.go's copyDir): the logs copy a linked file before changing it.
		LinkedData: c.opts.snapshot != "",
	})
	if err != nil {
		return fmt.Errorf("node %d: %w", cn.id, err)
	}
	c.mu.Lock()
	cn.b = b
	c.mu.Unlock()
	c.reinstall(int(cn.id), b)
	c.restoreLag(int(cn.id), b)
	c.hist.attach(int(cn.id), b)
	return nil
}

func (c *Cluster) closeListeners() {
	for _, cn := range c.nodes {
		for _, ln := range cn.firstLns {
			ln.Close()
		}
	}
}

// waitRegistered waits until every running node sees every running broker registered.
func (c *Cluster) waitRegistered(ctx context.Context) error {
	for {
		ok := true
		c.mu.Lock()
		var live []*clusterNode
		for _, cn := range c.nodes {
			if cn.b != nil {
				live = append(live, cn)
			}
		}
		c.mu.Unlock()
		for _, cn := range live {
			st := cn.b.Meta().State()
			for _, other := range live {
				if br := st.Brokers[other.id]; br == nil || br.Fenced {
					ok = false
				}
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("minikraft: brokers did not all register: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Addrs are the nodes' client (PLAINTEXT) addresses, for kgo.SeedBrokers and the like.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, cn := range c.nodes {
		out[i] = cn.client
	}
	return out
}

// Node is node i's broker, nil while it is stopped.
func (c *Cluster) Node(i int) *broker.Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].b
}

// StopNode shuts node i down cleanly (controlled shutdown, logs closed).
func (c *Cluster) StopNode(i int) error {
	b, err := c.takeNode(i)
	if err != nil {
		return err
	}
	return b.Close()
}

// KillNode stops node i without a controlled shutdown, as a crash would: the controller moves
// its leaderships only when its session lapses (broker.session.timeout.ms).
func (c *Cluster) KillNode(i int) error {
	b, err := c.takeNode(i)
	if err != nil {
		return err
	}
	return b.Abort()
}

// takeNode marks node i stopped and returns its broker for the caller to close.
func (c *Cluster) takeNode(i int) (*broker.Broker, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.nodes[i].b
	if b == nil {
		return nil, fmt.Errorf("minikraft: node %d is not running", i)
	}
	c.nodes[i].b = nil
	return b, nil
}

// RestartNode starts a stopped node again on its data and ports and waits until the cluster sees
// it registered.
func (c *Cluster) RestartNode(i int) error {
	c.mu.Lock()
	running := c.nodes[i].b != nil
	c.mu.Unlock()
	if running {
		return fmt.Errorf("minikraft: node %d is running", i)
	}
	if err := c.startNode(c.nodes[i], nil, false); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.waitRegistered(ctx)
}

// Isolate cuts node i off from the other nodes: its connections to them are closed and new ones
// fail, in both directions, as in a network partition. Clients can still reach it.
func (c *Cluster) Isolate(i int) {
	c.checkNode(i)
	c.net.isolate(int32(i))
}

// Partition cuts every node of a off from every node of b, both ways, as Isolate does: their
// Raft, control and replication connections are closed and new ones fail. Links within a, within
// b, and to nodes in neither stay up; clients still reach every node.
func (c *Cluster) Partition(a, b []int) {
	c.net.cut(c.ids(a), c.ids(b), true)
}

// PartitionOneWay drops everything the nodes of from send to the nodes of to, on connections
// dialled either way, while what to sends still reaches from: from's requests to to are lost,
// to's requests reach from (which acts on them) but its answers are lost. Connections are not
// closed and new ones are made, so both ends see only timeouts, as behind a firewall that drops
// one direction's packets. A connection that lost bytes is closed when the cut is healed.
func (c *Cluster) PartitionOneWay(from, to []int) {
	c.net.cut(c.ids(from), c.ids(to), false)
}

// Heal ends every cut to or from node i: Isolate(i) and every Partition or PartitionOneWay that
// involves it.
func (c *Cluster) Heal(i int) {
	c.checkNode(i)
	c.net.heal(int32(i))
}

// HealAll ends every cut between nodes.
func (c *Cluster) HealAll() { c.net.healAll() }

func (c *Cluster) ids(nodes []int) []int32 {
	out := make([]int32, len(nodes))
	for i, n := range nodes {
		c.checkNode(n)
		out[i] = int32(n)
	}
	return out
}

// WaitForLeaders waits until every partition of topic has a leader that every running node
// agrees on.
func (c *Cluster) WaitForLeaders(ctx context.Context, topic string) error {
	for {
		if c.leadersAgree(topic) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("minikraft: partitions of %q have no agreed leader: %w", topic, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *Cluster) leadersAgree(topic string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var want []int32
	for _, cn := range c.nodes {
		if cn.b == nil {
			continue
		}
		t := cn.b.Meta().State().Topics[topic]
		if t == nil {
			return false
		}
		var leaders []int32
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				return false
			}
			leaders = append(leaders, p.Leader)
		}
		if want == nil {
			want = leaders
		} else if fmt.Sprint(want) != fmt.Sprint(leaders) {
			return false
		}
	}
	return want != nil
}

// Close stops every node; a cluster from StartCluster also removes its temporary data.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var bs []*broker.Broker
	for _, cn := range c.nodes {
		if cn.b != nil {
			bs = append(bs, cn.b)
			cn.b = nil
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The whole cluster goes down: there is nowhere to move leaderships to.
			errs[i] = b.Abort()
		}()
	}
	wg.Wait()
	c.net.closeAll()
	return errors.Join(errs...)
}

// tbWriter sends log lines to the test's log.
type tbWriter struct{ t TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
