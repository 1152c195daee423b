package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/netpeers"
	"github.com/meshchain/meshchain/wallet"
)

const testDifficulty = 8

// testNode is a node running on loopback with its events recorded.
type testNode struct {
	*Node
	t      testing.TB
	name   string
	cancel context.CancelFunc
	done   chan error
	events chan Event
	mu     sync.Mutex
	log    []Event
}

type nodeOpt func(*Config)

func withPeers(addrs ...string) nodeOpt {
	return func(c *Config) { c.Peers = append(c.Peers, addrs...) }
}

func withDelay(f func(string) time.Duration) nodeOpt {
	return func(c *Config) { c.LinkDelay = f }
}

func withDataDir(dir string) nodeOpt { return func(c *Config) { c.DataDir = dir } }

func withoutListen() nodeOpt { return func(c *Config) { c.Listen = "" } }

func startNode(t *testing.T, name string, opts ...nodeOpt) *testNode {
	t.Helper()
	cfg := Config{
		DataDir:      t.TempDir(),
		Listen:       "127.0.0.1:0",
		Difficulty:   testDifficulty,
		Threads:      1,
		PingInterval: 200 * time.Millisecond,
		SyncTimeout:  3 * time.Second,
		Name:         name,
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, t: t, name: name, cancel: cancel, done: make(chan error, 1), events: make(chan Event, 100000)}
	sub := n.Subscribe(ctx)
	go func() {
		for ev := range sub {
			tn.events <- ev
		}
	}()
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Started():
	case err := <-tn.done:
		t.Fatalf("%s stopped at start: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start", name)
	}
	t.Cleanup(tn.stop)
	return tn
}

// stop ends the node and waits for Run to return.
func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	tn.cancel = nil
	select {
	case err := <-tn.done:
		if err != nil {
			tn.t.Errorf("%s: Run: %v", tn.name, err)
		}
	case <-time.After(15 * time.Second):
		tn.t.Errorf("%s: Run did not return", tn.name)
	}
}

// waitFor returns the first event (recorded since the last call) for which
// match is true.
func (tn *testNode) waitFor(what string, d time.Duration, match func(Payload) bool) Payload {
	tn.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-tn.events:
			tn.mu.Lock()
			tn.log = append(tn.log, ev)
			tn.mu.Unlock()
			if match(ev.Payload) {
				return ev.Payload
			}
		case <-deadline:
			// What the node said last, to tell a stall from a refusal.
			tn.mu.Lock()
			tail := tn.log[max(0, len(tn.log)-40):]
			for _, ev := range tail {
				tn.t.Logf("%s: %s %s %+v", tn.name, ev.Time.Format("15:04:05.000"), ev.Payload.Kind(), ev.Payload)
			}
			tn.mu.Unlock()
			tn.t.Fatalf("%s: no %s within %v (height %d)", tn.name, what, d, tn.height())
			return nil
		}
	}
}

func (tn *testNode) height() uint64 {
	h, _ := tn.Tip()
	return h
}

// waitTip waits until the node's tip is hash.
func (tn *testNode) waitTip(hash string, d time.Duration) {
	tn.t.Helper()
	if _, tip := tn.Tip(); tip == hash {
		return
	}
	tn.waitFor("tip "+hash[:8], d, func(p Payload) bool {
		_, tip := tn.Tip()
		return tip == hash
	})
}

func (tn *testNode) post(text string) {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.Post(ctx, text); err != nil {
		tn.t.Fatalf("%s: post %q: %v", tn.name, text, err)
	}
}

func isKind(kind string) func(Payload) bool {
	return func(p Payload) bool { return p.Kind() == kind }
}

func minedMessage(msg string) func(Payload) bool {
	return func(p Payload) bool {
		m, ok := p.(BlockMined)
		return ok && m.Message == msg
	}
}

func bestMessages(t testing.TB, n *Node) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bs, err := n.BestChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range bs[1:] {
		out = append(out, b.Message)
	}
	return out
}

// mineChain builds n valid blocks on parent with another wallet, without a node.
func mineChain(t testing.TB, parent chain.Block, n int, prefix string, d uint32) []chain.Block {
	t.Helper()
	w, err := wallet.New()
	if err != nil {
		t.Fatal(err)
	}
	var out []chain.Block
	ts := time.Now().Add(-time.Hour).UnixMilli()
	for i := 0; i < n; i++ {
		sender, stamp, sig := w.SignMessage(fmt.Sprintf("%s %d", prefix, i+1), ts+int64(i))
		b := chain.Block{Number: parent.Number + 1, PrevHash: parent.Hash, Message: fmt.Sprintf("%s %d", prefix, i+1),
			Sender: sender, TimeStamp: stamp, Difficulty: d, Signature: sig}
		p, err := b.Parse()
		if err != nil {
			t.Fatal(err)
		}
		nonce, h, ok, tried := pow.NewTemplate(p.Header, d).Search(0, 1, 1<<30)
		if !ok {
			t.Fatal("no nonce")
		}
		b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
		out = append(out, b)
		parent = b
	}
	return out
}

func TestPostMinesInOrderAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, "a", withDataDir(dir), withoutListen())
	msgs := []string{"one", "two ✓", "three"}
	for _, m := range msgs {
		a.post(m)
	}
	for _, m := range msgs {
		a.waitFor("mined "+m, 20*time.Second, minedMessage(m))
	}
	if got := bestMessages(t, a.Node); strings.Join(got, "|") != strings.Join(msgs, "|") {
		t.Fatalf("best chain %q, want %q", got, msgs)
	}
	a.waitFor("mining idle", 5*time.Second, isKind("mining_idle"))
	a.stop()

	b := startNode(t, "a again", withDataDir(dir), withoutListen())
	if b.height() != 3 {
		t.Fatalf("after restart height %d, want 3", b.height())
	}
	if got := bestMessages(t, b.Node); strings.Join(got, "|") != strings.Join(msgs, "|") {
		t.Fatalf("after restart %q", got)
	}
}

func TestPostRefusesBadMessages(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	ctx := context.Background()
	for _, m := range []string{"", strings.Repeat("x", 4097), "bad \xff utf8"} {
		if err := a.Post(ctx, m); chain.CodeOf(err) != chain.InvalidMessage {
			t.Errorf("Post(%.20q) = %v, want InvalidMessage", m, err)
		}
	}
}

func TestSyncFromScratchAndRelayAcrossALine(t *testing.T) {
	a := startNode(t, "a")
	for i := 0; i < 5; i++ {
		a.post(fmt.Sprintf("a%d", i))
	}
	a.waitFor("a4 mined", 30*time.Second, minedMessage("a4"))
	_, tipA := a.Tip()

	// B syncs A's chain from scratch; C only knows B (a line A-B-C).
	b := startNode(t, "b", withPeers(a.Addr()))
	b.waitTip(tipA, 20*time.Second)
	c := startNode(t, "c", withPeers(b.Addr()))
	c.waitTip(tipA, 20*time.Second)

	// A new block on A crosses B to C.
	a.post("across the line")
	mined := a.waitFor("mined", 20*time.Second, minedMessage("across the line")).(BlockMined)
	c.waitTip(mined.Hash, 20*time.Second)
	if got := bestMessages(t, c.Node); got[len(got)-1] != "across the line" {
		t.Fatalf("c's chain ends with %q", got[len(got)-1])
	}
}

func TestReorgReturnsOwnMessageAndRemines(t *testing.T) {
	a := startNode(t, "a")
	a.post("mine, keep me")
	first := a.waitFor("mined", 20*time.Second, minedMessage("mine, keep me")).(BlockMined)

	// A heavier competing chain from genesis, mined elsewhere, served by B.
	g := chain.Genesis(testDifficulty)
	heavy := mineChain(t, g, 3, "heavy", testDifficulty)
	b := startNode(t, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.do(ctx, func() { _, _ = b.accept(heavy, netpeers.PeerRef{}, fromMiner) }); err != nil {
		t.Fatal(err)
	}
	if b.height() != 3 {
		t.Fatalf("b height %d", b.height())
	}
	if err := a.Connect(ctx, b.Addr()); err != nil {
		t.Fatal(err)
	}
	reorg := a.waitFor("reorg", 20*time.Second, isKind("reorg")).(Reorg)
	if reorg.Depth != 1 || reorg.OldTip != first.Hash || reorg.Returned != 1 {
		t.Errorf("reorg %+v, want depth 1 from %s returning 1 message", reorg, first.Hash[:8])
	}
	again := a.waitFor("re-mined", 20*time.Second, minedMessage("mine, keep me")).(BlockMined)
	if again.Height != 4 {
		t.Errorf("re-mined at height %d, want 4 (on top of the heavy chain)", again.Height)
	}
	// B receives it too, and both agree.
	b.waitTip(again.Hash, 20*time.Second)
	got := bestMessages(t, a.Node)
	want := []string{"heavy 1", "heavy 2", "heavy 3", "mine, keep me"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("a's chain %q, want %q", got, want)
	}
}

func TestLateSubscriberSeesStart(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	late := a.Subscribe(ctx)
	select {
	case ev := <-late:
		if ev.Payload.Kind() != "started" {
			t.Fatalf("first event for a late subscriber is %s, want started", ev.Payload.Kind())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("late subscriber got nothing")
	}
}
