package store

import (
	"errors"
	"testing"
)

// sideFixture stores a best chain of 5 blocks and a side branch of 3 from
// height 2, and returns their entries.
func sideFixture(t *testing.T, s *Store) (best, side []Entry) {
	t.Helper()
	bb, best := testChain("best", genesisHash(), 1, "b1", "b2", "b3", "b4", "b5")
	sb, side := testChain("side", best[0].Hash, 2, "s2", "s3", "s4")
	if err := s.Apply(Update{Blocks: append(bb, sb...), Connect: best}); err != nil {
		t.Fatal(err)
	}
	return best, side
}

func mustHave(t *testing.T, s *Store, es []Entry, want bool) {
	t.Helper()
	for _, e := range es {
		_, err := s.Block(e.Hash)
		if got := err == nil; got != want {
			t.Errorf("block at height %d stored: %v, want %v (%v)", e.Height, got, want, err)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("block at height %d: %v, want ErrNotFound", e.Height, err)
		}
	}
}

func TestDeleteSideBlocksKeepsTheBestChain(t *testing.T) {
	s := openTemp(t)
	best, side := sideFixture(t, s)
	// The caller names a best-chain block too, by mistake: it stays.
	n, err := s.DeleteSideBlocks(append(append([]Entry{}, side...), best[3]))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(side) {
		t.Errorf("deleted %d, want %d", n, len(side))
	}
	mustHave(t, s, side, false)
	s = reopen(t, s)
	mustHave(t, s, best, true)
	if got := bestHashes(t, s); len(got) != len(best) {
		t.Errorf("best chain has %d entries, want %d", len(got), len(best))
	}
	if n, err := s.DeleteSideBlocks(side); err != nil || n != 0 {
		t.Errorf("deleting again: %d, %v; want 0, nil", n, err)
	}
}

func TestDeleteOffBest(t *testing.T) {
	s := openTemp(t)
	best, side := sideFixture(t, s)
	n, err := s.DeleteOffBest()
	if err != nil {
		t.Fatal(err)
	}
	if n != len(side) {
		t.Errorf("deleted %d, want %d", n, len(side))
	}
	s = reopen(t, s)
	mustHave(t, s, side, false)
	mustHave(t, s, best, true)
	if n, err := s.DeleteOffBest(); err != nil || n != 0 {
		t.Errorf("deleting again: %d, %v; want 0, nil", n, err)
	}
}
