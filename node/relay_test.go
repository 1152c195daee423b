package node

import (
	"strings"
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
