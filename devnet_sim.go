package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshchain/meshchain/node"
)

// The simulation (`meshchain devnet -n N --simulate`) measures the seeds'
// graph model: a block spreads like a level-order traversal of the peer
// graph weighted by latency, so node i cannot have it before the
// shortest-path latency from the miner. Each node's arrival time is divided
// by that bound, computed by Dijkstra over the links online when the block
// was posted. docs/simulation.md has the method and the figures.

// simConfig is one simulation run.
type simConfig struct {
	Nodes      int
	MaxPeers   int    // each node's dialer fills up to this many sessions
	SeedPeers  int    // addresses each node is given at start (earlier nodes)
	Blocks     int    // blocks measured, one at a time
	Seed       uint64 // the delay model and the graph's seeds
	Difficulty uint32
	Root       string        // data dirs; "" = a temp dir on tmpfs when there is one
	Gap        time.Duration // pause after each block, so its last relays drain
	SettleMax  time.Duration // longest wait for the peer graph to settle
	Progress   io.Writer     // one line per step; nil for none
	// CPUProfile, when set, is written with the CPU profile of the blocks'
	// part of the run (not the start or the settling).
	CPUProfile string
}

func (c *simConfig) setDefaults() {
	if c.MaxPeers <= 0 {
		c.MaxPeers = 8
	}
	if c.SeedPeers <= 0 {
		c.SeedPeers = 2
	}
	if c.Blocks <= 0 {
		c.Blocks = 20
	}
	if c.Difficulty == 0 {
		c.Difficulty = 8
	}
	if c.Gap <= 0 {
		c.Gap = time.Second
	}
	if c.SettleMax <= 0 {
		c.SettleMax = 30*time.Second + time.Duration(c.Nodes)*250*time.Millisecond
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// simRegion is a place nodes live in, with its share of the nodes.
type simRegion struct {
	Name  string
	Share float64
}

// simRegions and simRegionDelay are a coarse internet: one-way delays in
// ms between region centres (about half the usual round trips between
// these continents). A link adds a route stretch of 1 to 1.5 and each
// end's access delay (1 to 15 ms); inside a region the base is 2 to 20 ms.
// Every link ends between 5 and 300 ms.
var simRegions = []simRegion{
	{"us-west", 0.15}, {"us-east", 0.20}, {"europe", 0.30},
	{"asia", 0.20}, {"south-america", 0.08}, {"oceania", 0.07},
}

var simRegionDelay = [6][6]float64{
	{0, 35, 70, 60, 90, 75},
	{35, 0, 40, 100, 60, 100},
	{70, 40, 0, 110, 100, 140},
	{60, 100, 110, 0, 150, 60},
	{90, 60, 100, 150, 0, 140},
	{75, 100, 140, 60, 140, 0},
}

// simDelays is the seeded delay model of one run: node i's region and
// access delay, and the one-way delay of every pair.
type simDelays struct {
	region []int
	delay  [][]time.Duration // symmetric
}

func newSimDelays(n int, seed uint64) *simDelays {
	rng := rand.New(rand.NewPCG(seed, 0x6d657368))
	d := &simDelays{region: make([]int, n), delay: make([][]time.Duration, n)}
	access := make([]float64, n)
	for i := range n {
		x, r := rng.Float64(), 0
		for r < len(simRegions)-1 && x >= simRegions[r].Share {
			x -= simRegions[r].Share
			r++
		}
		d.region[i] = r
		access[i] = 1 + 14*rng.Float64()
		d.delay[i] = make([]time.Duration, n)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			base := simRegionDelay[d.region[i]][d.region[j]]
			if base == 0 {
				base = 2 + 18*rng.Float64()
			} else {
				base *= 1 + 0.5*rng.Float64()
			}
			ms := min(max(base+access[i]+access[j], 5), 300)
			v := time.Duration(ms * float64(time.Millisecond)).Round(100 * time.Microsecond)
			d.delay[i][j], d.delay[j][i] = v, v
		}
	}
	return d
}

// simGraph is the live peer graph: adj[i] lists the nodes i has an online
// session with (either side saying so is enough).
type simGraph struct {
	adj [][]int
}

func (g simGraph) edges() map[[2]int]bool {
	e := map[[2]int]bool{}
	for i, ns := range g.adj {
		for _, j := range ns {
			e[[2]int{min(i, j), max(i, j)}] = true
		}
	}
	return e
}

func (g simGraph) sameAs(h simGraph) bool {
	a, b := g.edges(), h.edges()
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// connected says whether every node is reachable from node 0.
func (g simGraph) connected() bool {
	if len(g.adj) == 0 {
		return true
	}
	seen := make([]bool, len(g.adj))
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range g.adj[i] {
			if !seen[j] {
				seen[j] = true
				count++
				stack = append(stack, j)
			}
		}
	}
	return count == len(g.adj)
}

// shortest is Dijkstra from src over the graph, weighted by the one-way
// delays: the earliest each node can learn of a block src sends at time 0.
// Unreachable nodes get -1. hops is the edge count of that path.
func (g simGraph) shortest(src int, d *simDelays) (dist []time.Duration, hops []int) {
	n := len(g.adj)
	dist = make([]time.Duration, n)
	hops = make([]int, n)
	done := make([]bool, n)
	for i := range dist {
		dist[i] = -1
	}
	dist[src] = 0
	for {
		u := -1
		for i := range n {
			if !done[i] && dist[i] >= 0 && (u < 0 || dist[i] < dist[u]) {
				u = i
			}
		}
		if u < 0 {
			return dist, hops
		}
		done[u] = true
		for _, v := range g.adj[u] {
			if nd := dist[u] + d.delay[u][v]; dist[v] < 0 || nd < dist[v] {
				dist[v], hops[v] = nd, hops[u]+1
			}
		}
	}
}

// simNet is the running devnet of a simulation.
type simNet struct {
	cfg    simConfig
	nodes  []*node.Node
	ids    map[string]int // node id -> index
	addrs  map[string]int // listen address -> index
	delays *simDelays
	events chan simArrival
	cancel context.CancelFunc
	wg     sync.WaitGroup
	runErr chan error
}

// simArrival is a block_accepted seen at one node.
type simArrival struct {
	node    int
	message string
	hash    string
	peer    string // "" where it was mined
	at      time.Time
}

// tmpfsDir is a directory in memory when the machine has one: 256 stores
// with an fsync per block would otherwise measure the disk.
func tmpfsDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", ".meshchain-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return ""
}

// startSim opens and runs the nodes: node i is given SeedPeers earlier
// nodes, drawn with the seed, and finds the rest through peer gossip up to
// MaxPeers sessions; every link it dials gets the model's delay.
func startSim(cfg simConfig) (*simNet, error) {
	lns, addrs, err := openListeners(cfg.Nodes)
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(addrs))
	for i, a := range addrs {
		index[a] = i
	}
	s := &simNet{cfg: cfg, ids: map[string]int{}, addrs: index, delays: newSimDelays(cfg.Nodes, cfg.Seed),
		events: make(chan simArrival, 1<<16), runErr: make(chan error, cfg.Nodes)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7065657273))
	log := slog.New(slog.DiscardHandler)
	for i := range cfg.Nodes {
		var seeds []string
		for _, k := range rng.Perm(i)[:min(i, cfg.SeedPeers)] {
			seeds = append(seeds, addrs[k])
		}
		self := i
		nd, err := node.Open(node.Config{
			DataDir:    filepath.Join(cfg.Root, fmt.Sprintf("node%d", i+1)),
			Listen:     addrs[i],
			Listener:   lns[i],
			Peers:      seeds,
			Difficulty: cfg.Difficulty,
			Threads:    1,
			MaxPeers:   cfg.MaxPeers,
			Name:       fmt.Sprintf("node%d", i+1),
			LinkDelay: func(to string) time.Duration {
				if j, ok := index[to]; ok {
					return s.delays.delay[self][j]
				}
				return linkDelay(addrs[self], to)
			},
			Logger: log,
		})
		if err != nil {
			for _, opened := range s.nodes {
				opened.Close()
			}
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("simulation node %d: %w", i+1, err)
		}
		s.nodes = append(s.nodes, nd)
		s.ids[nd.NodeID()] = i
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	for i, nd := range s.nodes {
		evs := nd.Subscribe(ctx)
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			for ev := range evs {
				if p, ok := ev.Payload.(node.BlockAccepted); ok {
					// Arrived is when the copy came off its session (at the
					// miner: when it was found, before its relay); the event's
					// own time is later by the node's work in between, and at
					// the miner that put t0 after the relay had begun.
					at := p.Arrived
					if at.IsZero() {
						at = ev.Time
					}
					select {
					case s.events <- simArrival{node: i, message: p.Message, hash: p.Hash, peer: p.Peer, at: at}:
					default: // the measurement loop reads as fast as events come; a block without an arrival times out and says so
					}
				}
			}
		}()
		go func() {
			defer s.wg.Done()
			// The label marks every goroutine the node starts, so the
			// leak check counts them node by node.
			pprof.Do(ctx, pprof.Labels("simnode", strconv.Itoa(i)), func(ctx context.Context) {
				if err := nd.Run(ctx); err != nil {
					s.runErr <- fmt.Errorf("node%d: %w", i+1, err)
				}
			})
		}()
	}
	for _, nd := range s.nodes {
		<-nd.Started()
	}
	return s, nil
}

// stop ends every node and waits for them.
func (s *simNet) stop() error {
	s.cancel()
	s.wg.Wait()
	close(s.runErr)
	var errs []error
	for err := range s.runErr {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// graph is the live peer graph now.
func (s *simNet) graph() simGraph {
	n := len(s.nodes)
	set := make([]map[int]bool, n)
	for i := range set {
		set[i] = map[int]bool{}
	}
	for i, nd := range s.nodes {
		for _, p := range nd.Peers() {
			if p.Status != node.PeerOnlineStatus {
				continue
			}
			if j, ok := s.ids[p.NodeID]; ok && j != i {
				set[i][j], set[j][i] = true, true
			}
		}
	}
	g := simGraph{adj: make([][]int, n)}
	for i, m := range set {
		for j := range m {
			g.adj[i] = append(g.adj[i], j)
		}
		slices.Sort(g.adj[i])
	}
	return g
}

// settle waits until the peer graph is connected and has not changed for
// three polls a second apart, or SettleMax passes (then a connected graph
// is still measured: links online at each block are what the bound uses).
func (s *simNet) settle(ctx context.Context) (simGraph, bool, error) {
	deadline := time.Now().Add(s.cfg.SettleMax)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last simGraph
	same := 0
	for {
		g := s.graph()
		if g.connected() && g.sameAs(last) {
			same++
		} else {
			same = 0
		}
		last = g
		if same >= 3 {
			return g, true, nil
		}
		if time.Now().After(deadline) {
			if g.connected() {
				return g, false, nil
			}
			return g, false, fmt.Errorf("the peer graph is not connected after %s", s.cfg.SettleMax)
		}
		select {
		case <-ctx.Done():
			return g, false, ctx.Err()
		case <-tick.C:
		}
	}
}

// simBlock is one measured block.
type simBlock struct {
	Miner        int       `json:"miner"`
	Hash         string    `json:"hash"`
	GraphChanged bool      `json:"graph_changed"` // links went on or off while it spread
	Ratios       []float64 `json:"-"`             // per node, arrival ÷ bound; NaN at the miner
	Arrival      []float64 `json:"-"`             // ms after the miner accepted it
	Bound        []float64 `json:"-"`             // ms, shortest path
	Hops         []int     `json:"-"`
	// LastHop is, per node, its arrival minus the arrival at the
	// neighbour it got the block from plus their link's delay: the cost
	// of the last hop beyond the wire (NaN when the sender is unknown).
	LastHop []float64 `json:"-"`
	Via     []int     `json:"-"`         // the neighbour each node got it from; -1 unknown
	Spread  float64   `json:"spread_ms"` // last arrival
	Median  float64   `json:"median_ratio"`
	Worst   float64   `json:"worst_ratio"`
}

// measureBlock posts one message on the miner and waits until every other
// node accepted its block.
func (s *simNet) measureBlock(ctx context.Context, miner int, msg string) (simBlock, error) {
	before := s.graph()
	if err := s.nodes[miner].Post(ctx, msg); err != nil {
		return simBlock{}, err
	}
	n := len(s.nodes)
	got := make([]time.Time, n)
	via := make([]string, n)
	count := 0
	hash := ""
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	for count < n {
		select {
		case a := <-s.events:
			if a.message != msg || !got[a.node].IsZero() {
				continue
			}
			if a.node == miner && a.peer == "" {
				hash = a.hash
			}
			got[a.node], via[a.node] = a.at, a.peer
			count++
		case <-timeout.C:
			return simBlock{}, fmt.Errorf("block from node%d reached %d of %d nodes in 60 s", miner+1, count, n)
		case <-ctx.Done():
			return simBlock{}, ctx.Err()
		}
	}
	after := s.graph()
	b := simBlock{Miner: miner, Hash: hash, GraphChanged: !before.sameAs(after)}
	d0, h0 := before.shortest(miner, s.delays)
	d1, _ := after.shortest(miner, s.delays)
	t0 := got[miner]
	var ratios []float64
	for i := range n {
		bound := d0[i]
		if d1[i] >= 0 && (bound < 0 || d1[i] < bound) {
			bound = d1[i] // the smaller bound: a link that came up may have carried it
		}
		arr := ms(got[i].Sub(t0))
		b.Arrival = append(b.Arrival, arr)
		b.Bound = append(b.Bound, ms(bound))
		b.Hops = append(b.Hops, h0[i])
		r := math.NaN()
		if i != miner && bound > 0 {
			r = arr / ms(bound)
			ratios = append(ratios, r)
		}
		b.Ratios = append(b.Ratios, r)
		b.Spread = max(b.Spread, arr)
	}
	for i := range n {
		hop, from := math.NaN(), -1
		if j, ok := s.addrs[via[i]]; ok && i != miner {
			hop, from = b.Arrival[i]-b.Arrival[j]-ms(s.delays.delay[i][j]), j
		}
		b.Via = append(b.Via, from)
		b.LastHop = append(b.LastHop, hop)
	}
	slices.Sort(ratios)
	b.Median, b.Worst = quantile(ratios, 0.5), quantile(ratios, 1)
	return b, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile of sorted xs (nearest rank); 0 when empty (JSON has no NaN).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// simUsage is the process's goroutines by node (from the pprof labels) and
// its live heap after a collection.
type simUsage struct {
	Goroutines []int  `json:"-"`
	Total      int    `json:"goroutines"`
	Heap       uint64 `json:"heap_bytes"`
}

var labelRE = regexp.MustCompile(`"simnode":"(\d+)"`)

func measureUsage(n int) simUsage {
	u := simUsage{Goroutines: make([]int, n), Total: runtime.NumGoroutine()}
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err == nil {
		// debug=1: "<count> @ <pcs>" then "# labels: {...}" for each stack.
		count := 0
		for _, line := range strings.Split(buf.String(), "\n") {
			if c, _, ok := strings.Cut(line, " @ "); ok {
				count, _ = strconv.Atoi(c)
				continue
			}
			if m := labelRE.FindStringSubmatch(line); m != nil {
				if i, err := strconv.Atoi(m[1]); err == nil && i < n {
					u.Goroutines[i] += count
				}
			}
		}
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	u.Heap = m.HeapAlloc
	return u
}

// simReport is a whole run's result.
type simReport struct {
	Nodes      int        `json:"nodes"`
	MaxPeers   int        `json:"max_peers"`
	Seed       uint64     `json:"seed"`
	Settled    bool       `json:"graph_settled"`
	SettleSecs float64    `json:"settle_seconds"`
	Edges      int        `json:"links"`
	DegreeMin  int        `json:"degree_min"`
	DegreeMed  int        `json:"degree_median"`
	DegreeMax  int        `json:"degree_max"`
	DelayMed   float64    `json:"link_delay_median_ms"` // over the live links
	Blocks     []simBlock `json:"blocks"`

	// Over every (block, node) pair but the miners.
	RatioMedian float64 `json:"ratio_median"`
	RatioP90    float64 `json:"ratio_p90"`
	RatioP99    float64 `json:"ratio_p99"`
	RatioMax    float64 `json:"ratio_max"`
	BoundMedian float64 `json:"bound_median_ms"`
	ArrMedian   float64 `json:"arrival_median_ms"`
	ExtraMedian float64 `json:"extra_median_ms"` // arrival - bound
	ExtraP99    float64 `json:"extra_p99_ms"`
	HopsMedian  int     `json:"hops_median"`
	// The last hop's cost beyond the link's delay, over the arrivals
	// whose sender is known by its listen address (outbound sessions).
	LastHopMedian float64 `json:"last_hop_extra_median_ms"`
	LastHopP99    float64 `json:"last_hop_extra_p99_ms"`
	LastHopKnown  int     `json:"last_hop_known"`
	HopsMax       int     `json:"hops_max"`
	ratios        []float64

	PerNode []simNodeFigure `json:"per_node"`

	// Where the time beyond the bound goes, over the blocks' part of the
	// run: CPU the process used, time its threads waited in the kernel's
	// run queue for a core (the machine's other work), and how long
	// runnable goroutines waited for a thread (Go's scheduler).
	BlocksSeconds   float64 `json:"blocks_seconds"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	RunQueueSeconds float64 `json:"run_queue_seconds"`
	WaveSeconds     float64 `json:"wave_seconds"` // from each post to the last arrival, summed
	WaveCPU         float64 `json:"wave_cpu_seconds"`
	SchedP50        float64 `json:"goroutine_wait_p50_ms"`
	SchedP99        float64 `json:"goroutine_wait_p99_ms"`

	Converged bool     `json:"converged"` // one tip everywhere
	Tip       string   `json:"tip"`
	Height    uint64   `json:"height"`
	Before    simUsage `json:"usage_before"` // settled, before the first block
	After     simUsage `json:"usage_after"`  // after the last block and a pause
	// GrewNodes are nodes with more goroutines after the run than before
	// while holding no more sessions (sessions bring their goroutines).
	GrewNodes      []int `json:"goroutines_grew_nodes"`
	GoroutinesLeft int   `json:"goroutines_left_after_stop"` // the nodes' own, by their label
}

// simNodeFigure is one node's figures over the blocks it did not mine.
type simNodeFigure struct {
	Node         int     `json:"node"`
	Region       string  `json:"region"`
	Degree       int     `json:"degree"`
	MedianRatio  float64 `json:"median_ratio"`
	WorstRatio   float64 `json:"worst_ratio"`
	MedianArrive float64 `json:"median_arrival_ms"`
	MedianBound  float64 `json:"median_bound_ms"`
}

// runSim runs a whole simulation: start, settle, measure each block, check
// convergence and usage, stop.
func runSim(ctx context.Context, cfg simConfig) (*simReport, error) {
	cfg.setDefaults()
	if cfg.Root == "" {
		dir, err := os.MkdirTemp(tmpfsDir(), "meshchain-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Root = dir
	}
	fmt.Fprintf(cfg.Progress, "starting %d nodes (at most %d dialled peers each, seed %d) in %s\n", cfg.Nodes, cfg.MaxPeers, cfg.Seed, cfg.Root)
	s, err := startSim(cfg)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			s.stop()
		}
	}()
	rep := &simReport{Nodes: cfg.Nodes, MaxPeers: cfg.MaxPeers, Seed: cfg.Seed}
	start := time.Now()
	g, settled, err := s.settle(ctx)
	if err != nil {
		return nil, err
	}
	rep.Settled, rep.SettleSecs = settled, time.Since(start).Seconds()
	rep.describeGraph(g, s.delays)
	fmt.Fprintf(cfg.Progress, "peer graph: %d links, degree %d/%d/%d (min/median/max), settled %v after %.1f s\n",
		rep.Edges, rep.DegreeMin, rep.DegreeMed, rep.DegreeMax, settled, rep.SettleSecs)
	rep.Before = measureUsage(cfg.Nodes)
	cpu0 := readCPUWait()
	sched0 := readSchedLatencies()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile() // when an error ends the run early
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6d696e6572))
	var extra, lastHop []float64
	var waveCPU, waveWall float64
	var hops []int
	var bounds, arrivals []float64
	perRatio := make([][]float64, cfg.Nodes)
	perArr := make([][]float64, cfg.Nodes)
	perBound := make([][]float64, cfg.Nodes)
	for k := range cfg.Blocks {
		miner := rng.IntN(cfg.Nodes)
		w0 := readCPUWait()
		b, err := s.measureBlock(ctx, miner, fmt.Sprintf("simulated block %d from node%d", k+1, miner+1))
		if err != nil {
			return nil, err
		}
		w1 := readCPUWait()
		used, _ := w1.since(w0)
		waveCPU += used
		waveWall += w1.at.Sub(w0.at).Seconds()
		rep.Blocks = append(rep.Blocks, b)
		for i, r := range b.Ratios {
			if math.IsNaN(r) {
				continue
			}
			rep.ratios = append(rep.ratios, r)
			extra = append(extra, b.Arrival[i]-b.Bound[i])
			if h := b.LastHop[i]; !math.IsNaN(h) {
				lastHop = append(lastHop, h)
			}
			hops = append(hops, b.Hops[i])
			bounds = append(bounds, b.Bound[i])
			arrivals = append(arrivals, b.Arrival[i])
			perRatio[i] = append(perRatio[i], r)
			perArr[i] = append(perArr[i], b.Arrival[i])
			perBound[i] = append(perBound[i], b.Bound[i])
		}
		changed := ""
		if b.GraphChanged {
			changed = " (links changed while it spread)"
		}
		fmt.Fprintf(cfg.Progress, "block %d/%d from node%d: spread %.0f ms, ratio median %.3f worst %.3f%s\n",
			k+1, cfg.Blocks, miner+1, b.Spread, b.Median, b.Worst, changed)
		select { // its last relays drain before the next block
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(cfg.Gap):
		}
	}
	cpu1 := readCPUWait()
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile() // its goroutine ends before the leak check
	}
	rep.WaveCPU = waveCPU
	rep.WaveSeconds = waveWall
	rep.CPUSeconds, rep.RunQueueSeconds = cpu1.since(cpu0)
	rep.BlocksSeconds = cpu1.at.Sub(cpu0.at).Seconds()
	rep.SchedP50, rep.SchedP99 = schedQuantiles(sched0, readSchedLatencies())
	slices.Sort(rep.ratios)
	slices.Sort(extra)
	slices.Sort(lastHop)
	rep.LastHopMedian, rep.LastHopP99, rep.LastHopKnown = quantile(lastHop, 0.5), quantile(lastHop, 0.99), len(lastHop)
	slices.Sort(hops)
	slices.Sort(bounds)
	slices.Sort(arrivals)
	rep.RatioMedian, rep.RatioP90 = quantile(rep.ratios, 0.5), quantile(rep.ratios, 0.9)
	rep.RatioP99, rep.RatioMax = quantile(rep.ratios, 0.99), quantile(rep.ratios, 1)
	rep.ExtraMedian, rep.ExtraP99 = quantile(extra, 0.5), quantile(extra, 0.99)
	rep.BoundMedian, rep.ArrMedian = quantile(bounds, 0.5), quantile(arrivals, 0.5)
	if len(hops) > 0 {
		rep.HopsMedian, rep.HopsMax = hops[(len(hops)-1)/2], hops[len(hops)-1]
	}
	final := s.graph()
	for i := range cfg.Nodes {
		f := simNodeFigure{Node: i + 1, Region: simRegions[s.delays.region[i]].Name, Degree: len(final.adj[i])}
		slices.Sort(perRatio[i])
		slices.Sort(perArr[i])
		slices.Sort(perBound[i])
		f.MedianRatio, f.WorstRatio = quantile(perRatio[i], 0.5), quantile(perRatio[i], 1)
		f.MedianArrive, f.MedianBound = quantile(perArr[i], 0.5), quantile(perBound[i], 0.5)
		rep.PerNode = append(rep.PerNode, f)
	}

	rep.Converged = true
	for i, nd := range s.nodes {
		h, tip := nd.Tip()
		if i == 0 {
			rep.Height, rep.Tip = h, tip
		} else if tip != rep.Tip {
			rep.Converged = false
		}
	}
	rep.After = measureUsage(cfg.Nodes)
	for i := range cfg.Nodes {
		if rep.After.Goroutines[i] > rep.Before.Goroutines[i] && len(final.adj[i]) <= len(g.adj[i]) {
			rep.GrewNodes = append(rep.GrewNodes, i+1)
		}
	}
	fmt.Fprintf(cfg.Progress, "stopping\n")
	stopped = true
	if err := s.stop(); err != nil {
		return rep, err
	}
	// Goroutines end shortly after Run returns (closing sockets): wait for
	// the nodes' (labelled) goroutines to end, with a deadline.
	left := func() int {
		n := 0
		for _, c := range measureUsage(cfg.Nodes).Goroutines {
			n += c
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for rep.GoroutinesLeft = left(); rep.GoroutinesLeft > 0 && time.Now().Before(deadline); rep.GoroutinesLeft = left() {
		time.Sleep(50 * time.Millisecond) // polling a condition, with a deadline
	}
	return rep, nil
}

func (r *simReport) describeGraph(g simGraph, d *simDelays) {
	var degs []int
	var delays []float64
	for i, ns := range g.adj {
		degs = append(degs, len(ns))
		for _, j := range ns {
			if i < j {
				r.Edges++
				delays = append(delays, ms(d.delay[i][j]))
			}
		}
	}
	slices.Sort(degs)
	slices.Sort(delays)
	if len(degs) > 0 {
		r.DegreeMin, r.DegreeMed, r.DegreeMax = degs[0], degs[(len(degs)-1)/2], degs[len(degs)-1]
	}
	r.DelayMed = quantile(delays, 0.5)
}

// writeText prints the report: the summary table, the distribution of
// ratios as a text plot, and the per-node table.
func (r *simReport) writeText(w io.Writer) {
	pass := func(ok bool) string {
		if ok {
			return "pass"
		}
		return "FAIL"
	}
	blocksChanged := 0
	for _, b := range r.Blocks {
		if b.GraphChanged {
			blocksChanged++
		}
	}
	fmt.Fprintf(w, "\nsimulation: %d nodes, at most %d dialled peers each, seed %d, %d blocks\n", r.Nodes, r.MaxPeers, r.Seed, len(r.Blocks))
	fmt.Fprintf(w, "peer graph: %d links, degree min %d median %d max %d, link delay median %.1f ms, settled %v (%.1f s)\n",
		r.Edges, r.DegreeMin, r.DegreeMed, r.DegreeMax, r.DelayMed, r.Settled, r.SettleSecs)
	fmt.Fprintf(w, "blocks whose links changed while they spread: %d of %d\n\n", blocksChanged, len(r.Blocks))
	fmt.Fprintf(w, "| figure | value | target | |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| arrival ÷ shortest-path bound, median | %.3f | ≤ 1.1 | %s |\n", r.RatioMedian, pass(r.RatioMedian <= 1.1))
	fmt.Fprintf(w, "| arrival ÷ shortest-path bound, p90 | %.3f | | |\n", r.RatioP90)
	fmt.Fprintf(w, "| arrival ÷ shortest-path bound, p99 | %.3f | ≤ 1.5 | %s |\n", r.RatioP99, pass(r.RatioP99 <= 1.5))
	fmt.Fprintf(w, "| arrival ÷ shortest-path bound, worst | %.3f | | |\n", r.RatioMax)
	fmt.Fprintf(w, "| bound, median | %.1f ms | | |\n", r.BoundMedian)
	fmt.Fprintf(w, "| arrival, median | %.1f ms | | |\n", r.ArrMedian)
	fmt.Fprintf(w, "| arrival − bound, median / p99 | %.1f / %.1f ms | | |\n", r.ExtraMedian, r.ExtraP99)
	fmt.Fprintf(w, "| last hop beyond its link's delay, median / p99 (%d arrivals) | %.1f / %.1f ms | | |\n", r.LastHopKnown, r.LastHopMedian, r.LastHopP99)
	fmt.Fprintf(w, "| hops on the shortest path, median / max | %d / %d | | |\n", r.HopsMedian, r.HopsMax)
	fmt.Fprintf(w, "| CPU used / waited for a core, during the blocks (%.0f s) | %.1f / %.1f core-s | | |\n", r.BlocksSeconds, r.CPUSeconds, r.RunQueueSeconds)
	fmt.Fprintf(w, "| CPU used while blocks spread (post to last arrival, %.1f s) | %.2f cores of %d | | |\n", r.WaveSeconds, r.WaveCPU/max(r.WaveSeconds, 1e-9), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "| runnable goroutine's wait for a thread, p50 / p99 | %.2f / %.2f ms | | |\n", r.SchedP50, r.SchedP99)
	fmt.Fprintf(w, "| every node on one tip | %v (height %d) | yes | %s |\n", r.Converged, r.Height, pass(r.Converged))
	fmt.Fprintf(w, "| goroutines, before → after the blocks | %d → %d | | |\n", r.Before.Total, r.After.Total)
	fmt.Fprintf(w, "| nodes whose goroutines grew (same or fewer links) | %d | 0 | %s |\n", len(r.GrewNodes), pass(len(r.GrewNodes) == 0))
	fmt.Fprintf(w, "| heap per node after GC, before → after | %.1f → %.1f KiB | | |\n",
		float64(r.Before.Heap)/1024/float64(r.Nodes), float64(r.After.Heap)/1024/float64(r.Nodes))
	fmt.Fprintf(w, "| goroutines left after stop | %d | 0 | %s |\n\n", r.GoroutinesLeft, pass(r.GoroutinesLeft == 0))
	writeRatioPlot(w, r.ratios)
	fmt.Fprintf(w, "\nper node (blocks it did not mine):\n%5s %-14s %6s %8s %8s %11s %9s\n", "node", "region", "degree", "median", "worst", "arrival ms", "bound ms")
	for _, f := range r.PerNode {
		fmt.Fprintf(w, "%5d %-14s %6d %8.3f %8.3f %11.1f %9.1f\n", f.Node, f.Region, f.Degree, f.MedianRatio, f.WorstRatio, f.MedianArrive, f.MedianBound)
	}
}

// writeRatioPlot draws the distribution of ratios as a text histogram.
func writeRatioPlot(w io.Writer, sorted []float64) {
	if len(sorted) == 0 {
		return
	}
	edges := []float64{1.00, 1.02, 1.05, 1.10, 1.20, 1.30, 1.50, 2.00, math.Inf(1)}
	counts := make([]int, len(edges))
	below := 0
	for _, r := range sorted {
		if r < edges[0] {
			below++
			continue
		}
		for k := 1; k < len(edges); k++ {
			if r < edges[k] {
				counts[k]++
				break
			}
		}
	}
	most := below
	for _, c := range counts {
		most = max(most, c)
	}
	bar := func(c int) string { return strings.Repeat("#", (c*50+most-1)/max(most, 1)) }
	fmt.Fprintf(w, "arrival ÷ bound, %d node-blocks (cumulative share on the right):\n", len(sorted))
	cum := below
	fmt.Fprintf(w, "  %-11s %6d %-50s %6.1f%%\n", "< 1.00", below, bar(below), 100*float64(cum)/float64(len(sorted)))
	for k := 1; k < len(edges); k++ {
		cum += counts[k]
		label := fmt.Sprintf("%.2f–%.2f", edges[k-1], edges[k])
		if math.IsInf(edges[k], 1) {
			label = fmt.Sprintf("≥ %.2f", edges[k-1])
		}
		fmt.Fprintf(w, "  %-11s %6d %-50s %6.1f%%\n", label, counts[k], bar(counts[k]), 100*float64(cum)/float64(len(sorted)))
	}
}

// runSimulate is `devnet -n N --simulate`.
func runSimulate(o options, stdout, stderr io.Writer) error {
	if o.nodes < 2 || o.nodes > 1024 {
		return &exitError{2, fmt.Errorf("-n %d: a simulation has 2 to 1024 nodes", o.nodes)}
	}
	cfg := simConfig{Nodes: o.nodes, MaxPeers: o.maxPeers, Blocks: o.blocks, Seed: o.seed, Root: o.dataDir, Progress: stderr}
	if o.set["difficulty"] {
		if o.difficulty < 1 || o.difficulty > 255 {
			return &exitError{2, fmt.Errorf("--difficulty %d is not between 1 and 255", o.difficulty)}
		}
		cfg.Difficulty = uint32(o.difficulty)
	}
	if cfg.Root != "" {
		if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		}
	}
	ctx, cancel := signalContext()
	defer cancel()
	rep, err := runSim(ctx, cfg)
	if rep == nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
	} else {
		rep.writeText(stdout)
	}
	return err
}

// cpuWait is the process's CPU time and its threads' wait in the kernel's
// run queue for a core, by thread (Linux only: readCPUWait; threads that
// end between two readings drop out).
type cpuWait struct {
	used   float64 // seconds
	waited map[string]float64
	at     time.Time
}

// since is the CPU used and the run-queue wait between c0 and c.
func (c cpuWait) since(c0 cpuWait) (used, waited float64) {
	for tid, w := range c.waited {
		waited += w - c0.waited[tid]
	}
	return c.used - c0.used, waited
}

const schedMetric = "/sched/latencies:seconds"

func readSchedLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedQuantiles is the median and p99 in ms of the goroutine scheduling
// latencies recorded between two readings.
func schedQuantiles(a, b *metrics.Float64Histogram) (p50, p99 float64) {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return 0, 0
	}
	diff := make([]uint64, len(b.Counts))
	var total uint64
	for i := range diff {
		diff[i] = b.Counts[i] - a.Counts[i]
		total += diff[i]
	}
	at := func(q float64) float64 {
		want := uint64(math.Ceil(q * float64(total)))
		var sum uint64
		for i, c := range diff {
			sum += c
			if sum >= want && c > 0 {
				hi := b.Buckets[i+1]
				if math.IsInf(hi, 1) {
					hi = b.Buckets[i]
				}
				return hi * 1000 // the bucket's upper edge
			}
		}
		return 0
	}
	if total == 0 {
		return 0, 0
	}
	return at(0.5), at(0.99)
}
