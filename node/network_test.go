package node

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/netpeers"
)

// eventually waits until cond holds, checking after each event.
func (tn *testNode) eventually(what string, d time.Duration, cond func() bool) {
	tn.t.Helper()
	if cond() {
		return
	}
	tn.waitFor(what, d, func(Payload) bool { return cond() })
}

func TestForkConvergesAndNoMessageIsLost(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b", withPeers(a.Addr()))
	a.waitFor("b online", 10*time.Second, isKind("peer_online"))
	b.waitFor("a online", 10*time.Second, isKind("peer_online"))
	// Both mine a block at height 1 at once, more than once: forks happen.
	var want []string
	for round := 0; round < 3; round++ {
		ma, mb := fmt.Sprintf("from a, round %d", round), fmt.Sprintf("from b, round %d", round)
		want = append(want, ma, mb)
		a.post(ma)
		b.post(mb)
	}
	holdsAll := func(n *testNode) func() bool {
		return func() bool {
			got := bestMessages(t, n.Node)
			for _, m := range want {
				if !slices.Contains(got, m) {
					return false
				}
			}
			return true
		}
	}
	a.eventually("all messages on a", 60*time.Second, holdsAll(a))
	b.eventually("all messages on b", 60*time.Second, holdsAll(b))
	_, tipA := a.Tip()
	b.waitTip(tipA, 30*time.Second)
	_, tipA = a.Tip()
	_, tipB := b.Tip()
	if tipA != tipB {
		t.Fatalf("tips differ: %s vs %s", tipA, tipB)
	}
	forks := 0
	for _, n := range []*testNode{a, b} {
		n.mu.Lock()
		for _, ev := range n.log {
			if k := ev.Payload.Kind(); k == "fork" || k == "reorg" {
				forks++
			}
		}
		n.mu.Unlock()
	}
	t.Logf("%d fork and reorg events on the way", forks)
	got := bestMessages(t, a.Node)
	if len(got) != len(want) {
		t.Fatalf("chain holds %d messages %q, want each of %d once", len(got), got, len(want))
	}
}

func TestReconnectAfterPeerRestart(t *testing.T) {
	dirA := t.TempDir()
	a := startNode(t, "a", withDataDir(dirA))
	addr := a.Addr()
	b := startNode(t, "b", withPeers(addr))
	b.waitFor("a online", 10*time.Second, isKind("peer_online"))
	a.stop()
	b.waitFor("a offline", 10*time.Second, isKind("peer_offline"))

	a2 := startNode(t, "a again", withDataDir(dirA), func(c *Config) { c.Listen = addr })
	b.waitFor("a online again", 30*time.Second, isKind("peer_online"))
	a2.post("after the restart")
	mined := a2.waitFor("mined", 20*time.Second, minedMessage("after the restart")).(BlockMined)
	b.waitTip(mined.Hash, 20*time.Second)
}

// hostile is a real peer (our own netpeers server) that announces a chain
// with more work than anyone's and serves it with a forged block inside.
type hostile struct {
	srv    *netpeers.Server
	blocks []chain.Block
	status netpeers.Status
}

func (h *hostile) Status() netpeers.Status { return h.status }
func (h *hostile) HandleFrame(from netpeers.PeerRef, f any) {
	if _, ok := f.(netpeers.GetBlocks); ok {
		_ = h.srv.Send(from.ID, netpeers.Blocks{Blocks: h.blocks})
	}
}
func (h *hostile) PeerEvent(netpeers.PeerEvent)                    {}
func (h *hostile) WriteChainData(context.Context, io.Writer) error { return nil }

func startHostile(t *testing.T, blocks []chain.Block) *hostile {
	t.Helper()
	g := chain.Genesis(testDifficulty)
	work := chain.BlockWork(testDifficulty)
	work.Mul(work, chain.BlockWork(5)) // claims far more work than it has
	last := blocks[len(blocks)-1]
	h := &hostile{blocks: blocks, status: netpeers.Status{Height: last.Number, Tip: last.Hash, Work: work.String()}}
	srv, err := netpeers.New(netpeers.Config{
		Listen: "127.0.0.1:0", Genesis: g.Hash, NodeID: fmt.Sprintf("%064x", 0xbad),
		Agent: "hostile/1", PingInterval: 200 * time.Millisecond,
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func TestHostileNearestPeerServingForgedChainIsBacktracked(t *testing.T) {
	g := chain.Genesis(testDifficulty)
	// The hostile chain: a valid block, then one whose message was changed
	// after signing and re-mined, then more on top.
	forged := mineChain(t, g, 6, "hostile", testDifficulty)
	forged[1].Message = "forged!"
	p, _ := forged[1].Parse()
	nonce, hash, _, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<30)
	forged[1].Nonce, forged[1].ProofOfWork, forged[1].Hash = nonce, tried, hash.String()
	for i := 2; i < len(forged); i++ {
		forged[i].PrevHash = forged[i-1].Hash
		p, _ := forged[i].Parse()
		nonce, hash, _, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<30)
		forged[i].Nonce, forged[i].ProofOfWork, forged[i].Hash = nonce, tried, hash.String()
	}
	bad := startHostile(t, forged)

	honest := startNode(t, "honest")
	for i := 0; i < 4; i++ {
		honest.post(fmt.Sprintf("honest %d", i))
	}
	honest.waitFor("honest 3", 30*time.Second, minedMessage("honest 3"))
	_, honestTip := honest.Tip()

	// The hostile peer is nearest: the honest one sits behind 40 ms each way.
	honestAddr := honest.Addr()
	a := startNode(t, "a", withPeers(bad.srv.Addr(), honestAddr), withDelay(func(addr string) time.Duration {
		if addr == honestAddr {
			return 40 * time.Millisecond
		}
		return 0
	}))
	a.waitFor("backtrack", 30*time.Second, func(p Payload) bool {
		bt, ok := p.(SyncBacktrack)
		return ok && bt.Peer == bad.srv.Addr()
	})
	a.waitTip(honestTip, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var held bool
	for _, f := range forged[1:] {
		h, _ := chain.ParseHash(f.Hash)
		if err := a.do(ctx, func() { held = held || a.index.Node(h) != nil }); err != nil {
			t.Fatal(err)
		}
	}
	if held {
		t.Fatal("the node holds a block of the forged chain")
	}
	if got := bestMessages(t, a.Node); len(got) != 4 || got[3] != "honest 3" {
		t.Fatalf("a's chain %q, want the honest one", got)
	}
}

func TestAddressBookSurvivesRestart(t *testing.T) {
	a := startNode(t, "a")
	dirB := t.TempDir()
	b := startNode(t, "b", withDataDir(dirB), withPeers(a.Addr()))
	b.waitFor("a online", 10*time.Second, isKind("peer_online"))
	b.stop()
	// No --peer this time: b dials what its address book remembers.
	b2 := startNode(t, "b again", withDataDir(dirB))
	online := b2.waitFor("a online from the book", 20*time.Second, isKind("peer_online")).(PeerOnline)
	if online.NodeID != a.NodeID() {
		t.Errorf("b came back online with %s, want a (%s)", online.NodeID, a.NodeID())
	}
}
