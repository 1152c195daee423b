package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

// blockLeafPages finds the live leaf pages of the blocks bucket in the file
// at path, each with the hashes it holds: the pages whose entries all have
// 32-byte keys and block records (JSON objects) as values.
func blockLeafPages(t testing.TB, path string) (pageSize int, pages map[int][]chain.Hash) {
	t.Helper()
	pages = map[int][]chain.Hash{}
	pageSize = liveLeaves(t, path, func(id int, entries []leafEntry) {
		var hs []chain.Hash
		for _, e := range entries {
			if e.flags != 0 || len(e.key) != 32 || len(e.value) < 100 || e.value[0] != '{' {
				return
			}
			hs = append(hs, chain.Hash(e.key))
		}
		pages[id] = hs
	})
	if len(pages) < 3 {
		t.Fatalf("found %d block leaf pages, want a few", len(pages))
	}
	return pageSize, pages
}

// TestDamagedBlockPagesStopTheWalk damages one leaf page of the blocks
// bucket of a real file: the walk's scan of that bucket fails, and the
// walk still hands fn every height below the first block on the damaged
// page and then stops with ErrDamagedPage, as lookups by hash would.
func TestDamagedBlockPagesStopTheWalk(t *testing.T) {
	const n = 1500
	tests := []struct {
		name   string
		damage func(raw []byte, pageSize, id int)
	}{
		{"garbage page", func(raw []byte, ps, id int) { copy(raw[id*ps:(id+1)*ps], randomBytes(11, ps)) }},
		{"zeroed page", func(raw []byte, ps, id int) { clear(raw[id*ps : (id+1)*ps]) }},
	}
	for _, tc := range tests {
		for _, parsed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/parsed=%v", tc.name, parsed), func(t *testing.T) {
				s := openTemp(t)
				a, ae := testChain("a", genesisHash(), 1, msgList("a", n)...)
				if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
					t.Fatal(err)
				}
				path := s.Path()
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				height := map[chain.Hash]uint64{}
				for _, e := range ae {
					height[e.Hash] = e.Height
				}
				ps, pages := blockLeafPages(t, path)
				// The page whose lowest height is nearest the middle.
				lowest := map[int]uint64{}
				for pid, hs := range pages {
					low := ^uint64(0)
					for _, h := range hs {
						low = min(low, height[h])
					}
					lowest[pid] = low
				}
				id, first := middlePage(lowest, n/2)
				damagePage(t, path, ps, id, tc.damage)
				s, err := Open(path)
				if err != nil {
					t.Fatalf("open: %v (the damage is in the blocks bucket only)", err)
				}
				defer s.Close()
				var seen uint64
				visit := func(h uint64) error {
					if h != seen+1 {
						return fmt.Errorf("height %d after %d", h, seen)
					}
					seen = h
					return nil
				}
				if parsed {
					err = s.ForEachBestParsed(func(h uint64, _ *chain.Block, _ *chain.Parsed) error { return visit(h) })
				} else {
					err = s.ForEachBest(func(h uint64, _ *chain.Block) error { return visit(h) })
				}
				// A damaged page, not a missing block: the node salvages
				// the file rather than cut the chain back in place.
				if !errors.Is(err, ErrDamagedPage) {
					t.Fatalf("walk: %v, want ErrDamagedPage", err)
				}
				if seen != first-1 {
					t.Errorf("walk gave heights up to %d, want every height before %d, the first on the damaged page (%v)", seen, first, err)
				}
			})
		}
	}
}
