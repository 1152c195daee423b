package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/meshchain/meshchain/node"
	"github.com/meshchain/meshchain/ui"
)

// devnetCtl runs a devnet's nodes and lets the dashboard act on them
// (issue 12 §5): stop and restart a node, split the network into two
// halves and heal it, change a link's latency. It implements
// ui.DevnetControl. Node 1 is the dashboard's own node: it can be moved
// to a half and given other latencies, but not stopped.
type devnetCtl struct {
	log     *slog.Logger
	delays  *delayTable
	spreads spreadLog

	mu    sync.Mutex
	ctx   context.Context // the devnet's: set by start
	cfgs  []node.Config
	nodes []*node.Node
	runs  []*nodeRun // nil while a node is stopped
	split bool
}

// nodeRun is one run of a node: cancel stops it, done closes once Run
// returned and the store is closed.
type nodeRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// delayTable is the devnet's link latencies: linkDelay's spread, with the
// links the user changed.
type delayTable struct {
	mu   sync.Mutex
	over map[[2]string]time.Duration
}

func linkKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (t *delayTable) of(a, b string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.over[linkKey(a, b)]; ok {
		return d
	}
	return linkDelay(a, b)
}

func (t *delayTable) set(a, b string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over == nil {
		t.over = map[[2]string]time.Duration{}
	}
	t.over[linkKey(a, b)] = d
}

// newDevnetCtl opens n devnet nodes on free loopback ports, node k dialling
// nodes 1 to k-1, each link with its one-way delay.
func newDevnetCtl(root string, n int, difficulty uint32, threads int, log *slog.Logger) (*devnetCtl, error) {
	lns, addrs, err := openListeners(n)
	if err != nil {
		return nil, err
	}
	c := &devnetCtl{log: log, delays: &delayTable{}}
	for i := range n {
		self := addrs[i]
		c.cfgs = append(c.cfgs, node.Config{
			DataDir:      filepath.Join(root, fmt.Sprintf("node%d", i+1)),
			Listen:       self,
			Peers:        append([]string(nil), addrs[:i]...),
			Difficulty:   difficulty,
			Threads:      threads,
			PingInterval: 2 * time.Second,
			Name:         fmt.Sprintf("node%d", i+1),
			LinkDelay:    func(to string) time.Duration { return c.delays.of(self, to) },
			Logger:       log.With("node", i+1),
		})
	}
	for i := range c.cfgs {
		// The first run serves on the port held open since it was chosen;
		// a restart (Start) listens on it again.
		cfg := c.cfgs[i]
		cfg.Listener = lns[i]
		nd, err := node.Open(cfg)
		if err != nil {
			for _, opened := range c.nodes {
				opened.Close()
			}
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("devnet node %d: %w", i+1, err)
		}
		c.nodes = append(c.nodes, nd)
	}
	c.runs = make([]*nodeRun, n)
	return c, nil
}

// start runs every node but the first (the caller runs node 1, with its
// dashboard) until ctx ends.
func (c *devnetCtl) start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctx = ctx
	c.watch(ctx, 0, c.nodes[0])
	for i := 1; i < len(c.nodes); i++ {
		c.runLocked(i)
	}
}

func (c *devnetCtl) runLocked(i int) {
	ctx, cancel := context.WithCancel(c.ctx)
	r := &nodeRun{cancel: cancel, done: make(chan struct{})}
	c.runs[i] = r
	n := c.nodes[i]
	c.watch(ctx, i, n)
	go func() {
		defer close(r.done)
		if err := n.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			r.err = err
			c.log.Error("devnet node stopped", "node", i+1, "err", err)
		}
		n.Close()
	}()
}

// wait waits for every node run by start to stop.
func (c *devnetCtl) wait() {
	c.mu.Lock()
	runs := append([]*nodeRun(nil), c.runs...)
	c.mu.Unlock()
	for _, r := range runs {
		if r != nil {
			r.cancel()
			<-r.done
		}
	}
}

// node is node i (0-based) as it runs now; nil while stopped.
func (c *devnetCtl) node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.nodes) || (i > 0 && c.runs[i] == nil) {
		return nil
	}
	return c.nodes[i]
}

// running is every node that runs now.
func (c *devnetCtl) running() []*node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node.Node
	for i, n := range c.nodes {
		if i == 0 || c.runs[i] != nil {
			out = append(out, n)
		}
	}
	return out
}

// half is 0 for the first half of the nodes, 1 for the rest.
func (c *devnetCtl) half(i int) int {
	if i < (len(c.cfgs)+1)/2 {
		return 0
	}
	return 1
}

// Nodes is each node's state, for the devnet view.
func (c *devnetCtl) Nodes() []ui.DevnetNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ui.DevnetNode, len(c.nodes))
	for i, n := range c.nodes {
		d := ui.DevnetNode{Name: c.cfgs[i].Name, Addr: c.cfgs[i].Listen, Running: i == 0 || c.runs[i] != nil, Half: -1}
		if c.split {
			d.Half = c.half(i)
		}
		if i > 0 {
			d.Delay = c.delays.of(c.cfgs[0].Listen, c.cfgs[i].Listen)
		}
		if d.Running {
			d.Height, d.Tip = n.Tip()
			for _, p := range n.Peers() {
				if p.Status == node.PeerOnlineStatus {
					d.Online++
				}
			}
		}
		out[i] = d
	}
	return out
}

// Stop stops node i (0-based; not node 1, the dashboard's) and closes its
// store; its peers see it go offline.
func (c *devnetCtl) Stop(ctx context.Context, i int) error {
	c.mu.Lock()
	if i == 0 {
		c.mu.Unlock()
		return errors.New("node 1 is this dashboard's node: quit to stop it")
	}
	if i < 0 || i >= len(c.nodes) {
		c.mu.Unlock()
		return fmt.Errorf("no node %d", i+1)
	}
	r := c.runs[i]
	c.runs[i] = nil
	c.mu.Unlock()
	if r == nil {
		return fmt.Errorf("node %d is already stopped", i+1)
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.log.Warn("devnet: node stopped by the user", "node", i+1)
	return nil
}

// Start opens node i's data dir again and runs it; it dials its peers and
// syncs what it missed. While the network is split it stays in its half.
func (c *devnetCtl) Start(ctx context.Context, i int) error {
	c.mu.Lock()
	if i <= 0 || i >= len(c.nodes) {
		c.mu.Unlock()
		return fmt.Errorf("node %d cannot be started here", i+1)
	}
	if c.runs[i] != nil {
		c.mu.Unlock()
		return fmt.Errorf("node %d is running", i+1)
	}
	nd, err := node.Open(c.cfgs[i])
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("node %d: %w", i+1, err)
	}
	c.nodes[i] = nd
	split := c.split
	c.runLocked(i)
	c.mu.Unlock()
	// Its bans were stored: make them agree with the split as it is now.
	c.applySplit(ctx, []int{i}, split)
	c.log.Warn("devnet: node started by the user", "node", i+1)
	return nil
}

// splitBan is how long a split lasts at most if never healed.
const splitBan = 24 * time.Hour

// Split cuts every link between the two halves: each node bans the other
// half's nodes (their sessions close, their dials are refused).
func (c *devnetCtl) Split(ctx context.Context) error { return c.setSplit(ctx, true) }

// Heal lifts the split: the halves reconnect, and the heavier chain wins.
func (c *devnetCtl) Heal(ctx context.Context) error { return c.setSplit(ctx, false) }

func (c *devnetCtl) setSplit(ctx context.Context, split bool) error {
	c.mu.Lock()
	if c.split == split {
		c.mu.Unlock()
		if split {
			return errors.New("the network is already split")
		}
		return errors.New("the network is not split")
	}
	c.split = split
	all := c.indexes()
	c.mu.Unlock()
	if split {
		c.log.Warn("devnet: network split by the user")
	} else {
		c.log.Warn("devnet: network healed by the user")
	}
	return c.applySplit(ctx, all, split)
}

func (c *devnetCtl) indexes() []int {
	out := make([]int, len(c.nodes))
	for i := range out {
		out[i] = i
	}
	return out
}

// applySplit makes the running nodes among which ban (split) or unban
// (heal) the other half's nodes.
func (c *devnetCtl) applySplit(ctx context.Context, which []int, split bool) error {
	var errs []error
	for _, i := range which {
		n := c.node(i)
		if n == nil {
			continue
		}
		for j, cfg := range c.cfgs {
			if c.half(j) == c.half(i) {
				continue
			}
			var err error
			if split {
				err = n.Ban(ctx, cfg.Listen, splitBan, "devnet split")
			} else if err = n.Unban(ctx, cfg.Listen); err != nil && ctx.Err() == nil {
				err = nil // nothing to lift: it was never banned
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("node %d, %s: %w", i+1, cfg.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// SetDelay sets the one-way latency of the link between nodes i and j and
// closes their session, so that it comes back with the new latency.
func (c *devnetCtl) SetDelay(ctx context.Context, i, j int, d time.Duration) error {
	if i == j || i < 0 || j < 0 || i >= len(c.cfgs) || j >= len(c.cfgs) {
		return fmt.Errorf("no link between node %d and node %d", i+1, j+1)
	}
	if d < 0 || d > 5*time.Second {
		return fmt.Errorf("latency %v is not between 0 and 5s", d)
	}
	c.delays.set(c.cfgs[i].Listen, c.cfgs[j].Listen, d)
	c.log.Warn("devnet: link latency set by the user", "from", i+1, "to", j+1, "delay", d)
	for _, pair := range [][2]int{{i, j}, {j, i}} {
		if n := c.node(pair[0]); n != nil {
			// Not connected is fine: the next dial uses the new latency.
			_ = n.Disconnect(ctx, c.cfgs[pair[1]].Listen)
		}
	}
	return nil
}

// spreadsKept is how many blocks' ways across the devnet are remembered.
const spreadsKept = 512

// spreadLog is how the newest blocks reached each devnet node, from the
// nodes' own events (issue 12 §1: the network view replays it).
type spreadLog struct {
	mu     sync.Mutex
	byHash map[string]*devSpread
	order  []string // oldest first
}

// devSpread is one block at every node that reported it.
type devSpread struct {
	height uint64
	at     map[int]devArrival
}

type devArrival struct {
	at      time.Time
	from    int // -1: mined there, fetched, or from an address not in the devnet
	mined   bool
	fetched bool
}

// note records block hash reaching node i; its first report is kept.
func (l *spreadLog) note(hash string, height uint64, i int, a devArrival) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byHash == nil {
		l.byHash = map[string]*devSpread{}
	}
	s := l.byHash[hash]
	if s == nil {
		s = &devSpread{height: height, at: map[int]devArrival{}}
		l.byHash[hash] = s
		l.order = append(l.order, hash)
		if len(l.order) > spreadsKept {
			delete(l.byHash, l.order[0])
			l.order = append(l.order[:0:0], l.order[1:]...)
		}
	}
	if _, ok := s.at[i]; !ok {
		s.at[i] = a
	}
}

// spread is block hash's way across n nodes, times after the node that
// mined it (or, when that is not known, the first node that had it).
func (l *spreadLog) spread(hash string, n int) (ui.DevnetSpread, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.byHash[hash]
	if s == nil {
		return ui.DevnetSpread{}, false
	}
	out := ui.DevnetSpread{Hash: hash, Height: s.height, Origin: -1, Reached: make([]ui.DevnetArrival, n)}
	var t0 time.Time
	for i, a := range s.at {
		if a.mined {
			out.Origin, t0 = i, a.at
		}
	}
	if out.Origin < 0 {
		for _, a := range s.at {
			if t0.IsZero() || a.at.Before(t0) {
				t0 = a.at
			}
		}
	}
	for i, a := range s.at {
		if i < 0 || i >= n {
			continue
		}
		out.Reached[i] = ui.DevnetArrival{Reached: true, At: max(0, a.at.Sub(t0)), From: a.from, Fetched: a.fetched}
	}
	for i := range out.Reached {
		if !out.Reached[i].Reached {
			out.Reached[i].From = -1
		}
	}
	return out, true
}

// watch records the blocks node i takes in, from its events, until ctx
// ends (a restarted node is watched again).
func (c *devnetCtl) watch(ctx context.Context, i int, n *node.Node) {
	byAddr := map[string]int{}
	for j, cfg := range c.cfgs {
		byAddr[cfg.Listen] = j
	}
	events := n.Subscribe(ctx)
	go func() {
		for ev := range events {
			e, ok := ev.Payload.(node.BlockAccepted)
			if !ok {
				continue
			}
			// Timed from the arrival (or the find) where the node knows it,
			// not the event, which waits for the checks and the store.
			at := e.Arrived
			if at.IsZero() {
				at = ev.Time
			}
			a := devArrival{at: at, from: -1, mined: e.Peer == "", fetched: e.Fetched}
			if j, ok := byAddr[e.Peer]; ok && !e.Fetched {
				a.from = j
			}
			c.spreads.note(e.Hash, e.Height, i, a)
		}
	}()
}

// Links is every pair of nodes with its latency, up when either has the
// other online.
func (c *devnetCtl) Links() []ui.DevnetLink {
	c.mu.Lock()
	cfgs := c.cfgs
	running := make([]*node.Node, len(c.nodes))
	for i, n := range c.nodes {
		if i == 0 || c.runs[i] != nil {
			running[i] = n
		}
	}
	c.mu.Unlock()
	index := map[string]int{}
	for j, cfg := range cfgs {
		index[cfg.Listen] = j
	}
	up := map[[2]int]bool{}
	for i, n := range running {
		if n == nil {
			continue
		}
		for _, p := range n.Peers() {
			if j, ok := index[p.Addr]; ok && p.Status == node.PeerOnlineStatus && running[j] != nil {
				up[[2]int{min(i, j), max(i, j)}] = true
			}
		}
	}
	var out []ui.DevnetLink
	for a := range cfgs {
		for b := a + 1; b < len(cfgs); b++ {
			out = append(out, ui.DevnetLink{A: a, B: b, Delay: c.delays.of(cfgs[a].Listen, cfgs[b].Listen), Up: up[[2]int{a, b}]})
		}
	}
	return out
}

// Spread is how block hash reached each node.
func (c *devnetCtl) Spread(hash string) (ui.DevnetSpread, bool) {
	return c.spreads.spread(hash, len(c.cfgs))
}
