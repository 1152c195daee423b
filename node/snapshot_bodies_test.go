package node

import (
	"context"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// TestSnapshotCarriesBlockBodies: a snapshot's recent blocks, read from
// the store in one batch, carry each block's message, sender, timeStamp
// and parent as stored, genesis included, newest first.
func TestSnapshotCarriesBlockBodies(t *testing.T) {
	const n = 150 // more than Blocks reads before it lets its pages go
	a := startNode(t, "a")
	blocks := mineChain(t, chain.Genesis(testDifficulty), n, "body", testDifficulty)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	if derr := a.do(ctx, func() { _, err = a.accept(blocks, netpeers.PeerRef{}, fromMiner) }); derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	s, err := a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Recent) != n+1 {
		t.Fatalf("snapshot has %d recent blocks, want %d", len(s.Recent), n+1)
	}
	g := chain.Genesis(testDifficulty)
	for i, bs := range s.Recent {
		want := g
		if h := n - i; h > 0 {
			want = blocks[h-1]
		}
		if bs.Height != want.Number || bs.Hash != want.Hash || bs.Message != want.Message || bs.Sender != want.Sender ||
			bs.TimeStamp != want.TimeStamp || bs.PrevHash != want.PrevHash {
			t.Fatalf("recent[%d] = %+v, want block %d %q", i, bs, want.Number, want.Message)
		}
	}
	for _, tn := range s.Tree {
		if tn.Message == "" {
			t.Errorf("tree block %d has no body", tn.Height)
		}
	}
}
