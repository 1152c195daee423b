package node

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// TestBlockIsRelayedBeforeItIsStored: a valid block from a peer goes on to
// the other peers before the node writes it. The node's store is closed
// under it, so the write fails and the node stops; the block must still
// reach the other peer, and the node must not report it as accepted
// (what is acknowledged as stored is stored). Relaying after the store
// write, the block went nowhere.
func TestBlockIsRelayedBeforeItIsStored(t *testing.T) {
	b := startNode(t, "b")
	r := dialRaw(t, b.Addr())
	b.waitFor("raw peer online", 10*time.Second, isKind("peer_online"))
	block := mineChain(t, chain.Genesis(testDifficulty), 1, "relayed first", testDifficulty)[0]

	b.onLoop(func() {
		if err := b.store.Close(); err != nil {
			t.Fatal(err)
		}
	})
	(*handler)(b.Node).HandleFrame(netpeers.PeerRef{ID: "miner", Addr: "192.0.2.1:8333"}, netpeers.BlockMsg{Block: block})

	select {
	case got := <-r.blocks:
		if got.Hash != block.Hash {
			t.Fatalf("relayed %s, want %s", got.Hash, block.Hash)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the block was not relayed: the failed store write kept it from the other peer")
	}
	// The write failed: the node says so and never reports the block as
	// accepted.
	b.waitFor("store failure", 20*time.Second, func(p Payload) bool {
		if a, ok := p.(BlockAccepted); ok && a.Hash == block.Hash {
			t.Fatalf("block reported accepted although its write failed")
		}
		w, ok := p.(Warning)
		return ok && strings.HasPrefix(w.Message, "stopping: ")
	})
	select {
	case err := <-b.done:
		if err == nil || !strings.Contains(err.Error(), "could not save blocks") {
			t.Fatalf("Run returned %v, want the failed store write", err)
		}
		b.cancel()
		b.cancel = nil // Run has returned: nothing left for stop to wait for
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not stop after its store write failed")
	}
}

// TestKnownBlockCopiesSkipTheLoop: every peer relays each new block once,
// so a node gets each block once per peer. The copies of a block it has
// taken in, and the tip frames naming it, are dropped on the session
// goroutine: with the loop busy, they neither wait for it nor fill its
// inbox (before, each took a place in the inbox and a turn of the loop,
// and the 257th waited for the loop). A copy is not counted against its
// sender, as before (the sender is not penalised), and is reported as
// block_seen_again, as before.
func TestKnownBlockCopiesSkipTheLoop(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	block := mineChain(t, chain.Genesis(testDifficulty), 1, "copied", testDifficulty)[0]
	h := (*handler)(a.Node)
	h.HandleFrame(netpeers.PeerRef{ID: "first", Addr: "192.0.2.1:8333"}, netpeers.BlockMsg{Block: block})
	a.waitTip(block.Hash, 20*time.Second)

	blocked, release := make(chan struct{}), make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = a.do(ctx, func() { close(blocked); <-release })
	}()
	<-blocked
	unblock := sync.OnceFunc(func() { close(release) })
	defer unblock()

	copies := 2 * cap(a.inbox)
	done := make(chan struct{})
	go func() {
		defer close(done)
		peer := netpeers.PeerRef{ID: "relayer", Addr: "192.0.2.2:8333"}
		for range copies {
			h.HandleFrame(peer, netpeers.BlockMsg{Block: block})
			h.HandleFrame(peer, netpeers.Tip{Height: block.Number, Tip: block.Hash, Work: "1"})
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("copies of a known block waited for the busy loop (%d in its inbox)", len(a.inbox))
	}
	if n := len(a.inbox); n != 0 {
		t.Fatalf("%d copies of a known block in the inbox", n)
	}
	unblock()
	// Each copy is still reported, as the loop reports one, with the peer
	// that was first and the lag behind it.
	again := a.waitFor("a copy reported", 20*time.Second, isKind("block_seen_again")).(BlockSeenAgain)
	if again.Hash != block.Hash || again.Peer != "192.0.2.2:8333" || again.First != "192.0.2.1:8333" || again.LagMS == nil {
		t.Fatalf("copy reported as %+v", again)
	}
	// A new block from the same peer still goes through, and the copies
	// cost the peer nothing.
	next := mineChain(t, block, 1, "after the copies", testDifficulty)[0]
	h.HandleFrame(netpeers.PeerRef{ID: "relayer", Addr: "192.0.2.2:8333"}, netpeers.BlockMsg{Block: next})
	a.waitFor("the next block", 20*time.Second, func(p Payload) bool {
		if pen, ok := p.(PeerPenalized); ok {
			t.Fatalf("the relayer was penalised for copies: %s", pen.Reason)
		}
		acc, ok := p.(BlockAccepted)
		return ok && acc.Hash == next.Hash
	})
}
