package node

import (
	"context"
	"errors"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/netpeers"
)

// rawPeer is a bare netpeers server: it says it holds only genesis, sends
// what a test tells it to and records the block frames it receives.
type rawPeer struct {
	srv    *netpeers.Server
	blocks chan chain.Block
}

func (r *rawPeer) Status() netpeers.Status {
	g := chain.Genesis(testDifficulty)
	return netpeers.Status{Height: 0, Tip: g.Hash, Work: "0"}
}
func (r *rawPeer) HandleFrame(_ netpeers.PeerRef, f any) {
	if m, ok := f.(netpeers.BlockMsg); ok {
		select {
		case r.blocks <- m.Block:
		default: // the test has what it needs by then
		}
	}
}
func (r *rawPeer) PeerEvent(netpeers.PeerEvent)                    {}
func (r *rawPeer) WriteChainData(context.Context, io.Writer) error { return nil }

// dialRaw starts a raw peer connected to the node at addr.
func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	r := &rawPeer{blocks: make(chan chain.Block, 4096)}
	srv, err := netpeers.New(netpeers.Config{Genesis: chain.Genesis(testDifficulty).Hash, NodeID: netpeers.NewNodeID(),
		Agent: "raw/1", PingInterval: 200 * time.Millisecond, SendQueue: 4096}, r)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if err := srv.Connect(cctx, addr); err != nil {
		t.Fatalf("raw peer: connect %s: %v", addr, err)
	}
	return r
}

// inject takes blocks in on the node's loop as if it had mined them.
func (tn *testNode) inject(blocks []chain.Block) {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if derr := tn.do(ctx, func() { _, err = tn.accept(blocks, netpeers.PeerRef{}, fromMiner) }); derr != nil || err != nil {
		tn.t.Fatalf("%s: inject %d blocks: %v %v", tn.name, len(blocks), derr, err)
	}
}

// onLoop runs f on the node's loop.
func (tn *testNode) onLoop(f func()) {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.do(ctx, f); err != nil {
		tn.t.Fatal(err)
	}
}

// stored counts how many of blocks the node's store holds.
func (tn *testNode) stored(blocks []chain.Block) int {
	tn.t.Helper()
	n := 0
	for _, b := range blocks {
		h, _ := chain.ParseHash(b.Hash)
		switch _, err := tn.store.Block(h); {
		case err == nil:
			n++
		case !errors.Is(err, store.ErrNotFound):
			tn.t.Fatalf("read block %s: %v", b.Hash[:8], err)
		}
	}
	return n
}

func TestDeepLowWorkForkIsNeitherKeptNorRelayed(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, "a", withDataDir(dir))
	g := chain.Genesis(testDifficulty)
	best := mineChain(t, g, 300, "best", testDifficulty)
	a.inject(best)

	attacker := dialRaw(t, a.Addr())
	a.waitFor("attacker online", 10*time.Second, isKind("peer_online"))
	watcher := dialRaw(t, a.Addr())
	a.waitFor("watcher online", 10*time.Second, isKind("peer_online"))

	junk := mineChain(t, g, 300, "junk from genesis", testDifficulty)
	far := mineChain(t, best[249], 1, "kept, not relayed", testDifficulty)    // 50 below the tip
	rival := mineChain(t, best[298], 1, "a rival of the tip", testDifficulty) // equal work
	honest := mineChain(t, best[299], 1, "honest", testDifficulty)
	var frames []chain.Block
	frames = append(frames, junk...)
	frames = append(frames, far[0], rival[0], honest[0])
	start := time.Now()
	for _, b := range frames {
		attacker.srv.Broadcast(netpeers.BlockMsg{Block: b}, "")
	}
	a.waitFor("honest block accepted", 30*time.Second, func(p Payload) bool {
		acc, ok := p.(BlockAccepted)
		return ok && acc.Hash == honest[0].Hash
	})
	took := time.Since(start)

	// The watcher gets the rival and the honest block, in order, and
	// nothing of the junk or of the far side block before them.
	var relayed []string
	deadline := time.After(10 * time.Second)
	for len(relayed) == 0 || relayed[len(relayed)-1] != honest[0].Hash {
		select {
		case b := <-watcher.blocks:
			relayed = append(relayed, b.Hash)
		case <-deadline:
			t.Fatalf("the watcher got %d blocks and never the honest one", len(relayed))
		}
	}
	if len(relayed) != 2 || relayed[0] != rival[0].Hash {
		t.Errorf("relayed %d blocks %v; want the rival then the honest block", len(relayed), relayed)
	}

	var side, orphans int
	var ignored uint64
	a.onLoop(func() { side, orphans, ignored = a.index.SideBlocks(), a.index.Orphans(), a.side.ignored })
	t.Logf("%d frames in %v: %d deep blocks ignored, %d side blocks kept, %d orphans held", len(frames), took, ignored, side, orphans)
	if got := a.stored(junk); got != 0 {
		t.Errorf("%d of %d junk blocks stored", got, len(junk))
	}
	if got := a.stored(far); got != 1 {
		t.Error("the side block 50 below the tip was not kept")
	}
	if side > 2 || orphans > chain.MaxOrphans {
		t.Errorf("index holds %d side blocks and %d orphans", side, orphans)
	}

	a.stop()
	a2 := startNode(t, "a again", withDataDir(dir), withoutListen())
	if got := a2.stored(junk) + a2.stored(far) + a2.stored(rival); got != 0 {
		t.Errorf("after restart %d side blocks are still stored", got)
	}
	if h := a2.height(); h != 301 {
		t.Errorf("after restart height %d, want 301", h)
	}
}

func TestStaleSideBranchIsPrunedAtRuntimeAndOnOpen(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, "a", withDataDir(dir), withoutListen())
	g := chain.Genesis(testDifficulty)
	best := mineChain(t, g, 150, "best", testDifficulty)
	a.inject(best)
	peer := netpeers.PeerRef{ID: "peer", Addr: "192.0.2.9:8333"}
	side := mineChain(t, best[119], 3, "side", testDifficulty) // forks 30 below the tip: kept
	(*handler)(a.Node).HandleFrame(peer, netpeers.Blocks{Blocks: side})
	a.eventually("side branch stored", 10*time.Second, func() bool { return a.stored(side) == len(side) })

	// On open: the last run left side blocks on disk.
	a.stop()
	a = startNode(t, "a again", withDataDir(dir), withoutListen())
	if got := a.stored(side); got != 0 {
		t.Fatalf("after restart %d of %d side blocks still stored", got, len(side))
	}

	// At runtime: the branch comes again and the tip leaves it behind.
	(*handler)(a.Node).HandleFrame(peer, netpeers.Blocks{Blocks: side})
	a.eventually("side branch stored again", 10*time.Second, func() bool { return a.stored(side) == len(side) })
	more := mineChain(t, best[149], chain.MaxForkDepth-30+1, "more", testDifficulty) // floor passes 120
	a.inject(more)
	var held, sideBlocks int
	a.onLoop(func() {
		sideBlocks = a.index.SideBlocks()
		for _, b := range side {
			h, _ := chain.ParseHash(b.Hash)
			if a.index.Has(h) {
				held++
			}
		}
	})
	if held != 0 || sideBlocks != 0 {
		t.Errorf("index still holds %d of the pruned blocks (%d side blocks in all)", held, sideBlocks)
	}
	if got := a.stored(side); got != 0 {
		t.Errorf("store still holds %d pruned blocks", got)
	}
}

// smallServer serves a fixed chain to get_blocks in answers of at most
// `per` blocks (PROTOCOL.md allows fewer than 500), so a test can have a
// chain arrive in many answers without mining thousands of blocks.
type smallServer struct {
	srv    *netpeers.Server
	chain  []chain.Block // genesis first
	per    int
	status netpeers.Status
	asked  chan struct{} // when set, get_blocks is not answered but signalled here
}

func (s *smallServer) Status() netpeers.Status { return s.status }
func (s *smallServer) HandleFrame(from netpeers.PeerRef, f any) {
	req, ok := f.(netpeers.GetBlocks)
	if !ok {
		return
	}
	if s.asked != nil {
		select {
		case s.asked <- struct{}{}:
		default:
		}
		return
	}
	start := 0
find:
	for _, h := range req.Locator {
		for i, b := range s.chain {
			if b.Hash == h {
				start = i
				break find
			}
		}
	}
	end := min(start+1+s.per, len(s.chain))
	_ = s.srv.Send(from.ID, netpeers.Blocks{Blocks: s.chain[start+1 : end]})
}
func (s *smallServer) PeerEvent(netpeers.PeerEvent)                    {}
func (s *smallServer) WriteChainData(context.Context, io.Writer) error { return nil }

// TestHeavierChainForkingDeepArrivesInSyncAnswers: a heavier chain forking
// deep below our tip comes in answers whose first ones are lighter than our
// chain (as a 10,000-block chain does in 500-block answers): sync must keep
// them until the branch overtakes. (Nodes that mined 120 and 130 apart from
// genesis, each dialling, are TestNodesThatMinedApartMeet.)
func TestHeavierChainForkingDeepArrivesInSyncAnswers(t *testing.T) {
	g := chain.Genesis(testDifficulty)
	shared := mineChain(t, g, 10, "shared", testDifficulty)
	light := mineChain(t, shared[9], 120, "light", testDifficulty) // forks 120 below its tip
	heavy := mineChain(t, shared[9], 130, "heavy", testDifficulty)
	l := startNode(t, "light")
	l.inject(append(append([]chain.Block{}, shared...), light...))

	full := append(append([]chain.Block{g}, shared...), heavy...)
	s := &smallServer{chain: full, per: 25, status: chainStatus(full)}
	startSmall(t, s)

	start := time.Now()
	connect(t, l, s.srv.Addr())
	l.waitTip(full[len(full)-1].Hash, 30*time.Second)
	t.Logf("the lighter node adopted %d blocks in answers of %d in %v", len(heavy), s.per, time.Since(start))
}

// TestSyncAnswerOfASecondPeerIsKept: the round's peer stalls, a second
// peer asked meanwhile answers first and serves the rest. Its answers are
// the round's too, though the round still names the first peer.
func TestSyncAnswerOfASecondPeerIsKept(t *testing.T) {
	g := chain.Genesis(testDifficulty)
	shared := mineChain(t, g, 10, "shared", testDifficulty)
	light := mineChain(t, shared[9], 120, "light", testDifficulty)
	heavy := mineChain(t, shared[9], 130, "heavy", testDifficulty)
	l := startNode(t, "light")
	l.inject(append(append([]chain.Block{}, shared...), light...))
	full := append(append([]chain.Block{g}, shared...), heavy...)

	// The server announces nothing better at first, so the round starts
	// with the staller.
	server := &smallServer{chain: full, per: 25, status: chainStatus([]chain.Block{g})}
	staller := &smallServer{status: chainStatus(full), asked: make(chan struct{}, 1)}
	startSmall(t, server)
	startSmall(t, staller)
	connect(t, l, server.srv.Addr())
	connect(t, l, staller.srv.Addr())
	select {
	case <-staller.asked:
	case <-time.After(20 * time.Second):
		t.Fatal("the round never asked the staller")
	}
	// Now the server announces the heavier chain: the round's hedge asks it.
	// Its session with the node must be in its set first, or Broadcast
	// sends to nobody (the node sees it online a little earlier).
	waitServing(t, server.srv, 1)
	tip := full[len(full)-1]
	server.srv.Broadcast(netpeers.Tip{Height: tip.Number, Tip: tip.Hash, Work: chainStatus(full).Work}, "")
	l.waitTip(tip.Hash, 30*time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.log {
		if bt, ok := ev.Payload.(SyncBacktrack); ok {
			t.Logf("backtrack from %s: %s", bt.Peer, bt.Reason)
		}
	}
}

// waitServing waits until srv has n sessions online: Broadcast reaches
// only those.
func waitServing(t *testing.T, srv *netpeers.Server, n int) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); ; <-tick.C {
		online := 0
		for _, p := range srv.Peers() {
			if p.Status == string(PeerOnlineStatus) {
				online++
			}
		}
		if online >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has %d sessions online after 10 s, want %d", online, n)
		}
	}
}

// chainStatus is the status of a chain given genesis first.
func chainStatus(blocks []chain.Block) netpeers.Status {
	tip := blocks[len(blocks)-1]
	work := new(big.Int).Mul(chain.BlockWork(testDifficulty), big.NewInt(int64(len(blocks)-1)))
	return netpeers.Status{Height: tip.Number, Tip: tip.Hash, Work: work.String()}
}

// startSmall runs s on a loopback port until the test ends.
func startSmall(t *testing.T, s *smallServer) {
	t.Helper()
	srv, err := netpeers.New(netpeers.Config{Listen: "127.0.0.1:0", Genesis: chain.Genesis(testDifficulty).Hash,
		NodeID: netpeers.NewNodeID(), Agent: "small/1", PingInterval: 200 * time.Millisecond}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	s.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func connect(t *testing.T, tn *testNode, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.Connect(ctx, addr); err != nil {
		t.Fatal(err)
	}
}
