package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// blockLeafPages finds the live leaf pages of the blocks bucket in the file
// at path, each with the hashes it holds (32-byte keys whose values are
// block records).
func blockLeafPages(t testing.TB, path string) (pageSize int, pages map[int][]chain.Hash) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.Info().PageSize
	pages = map[int][]chain.Hash{}
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				return nil
			}
			if info.Type != "leaf" || info.Count == 0 {
				continue
			}
			p := raw[id*pageSize:]
			var hs []chain.Hash
			for i := range info.Count {
				el := p[16+16*i:]
				pos, ks, vs := binary.LittleEndian.Uint32(el[4:]), binary.LittleEndian.Uint32(el[8:]), binary.LittleEndian.Uint32(el[12:])
				if binary.LittleEndian.Uint32(el) != 0 || ks != 32 || vs < 100 {
					hs = nil
					break
				}
				k := el[pos : pos+ks]
				if string(el[pos+ks:pos+ks+1]) != "{" {
					hs = nil
					break
				}
				hs = append(hs, chain.Hash(k))
			}
			if len(hs) > 0 {
				pages[id] = hs
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
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
				msgs := make([]string, n)
				for i := range msgs {
					msgs[i] = fmt.Sprintf("message %d", i)
				}
				a, ae := testChain("a", genesisHash(), 1, msgs...)
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
				id, first := 0, uint64(0)
				for pid, hs := range pages {
					low := ^uint64(0)
					for _, h := range hs {
						low = min(low, height[h])
					}
					if id == 0 || max(low, n/2)-min(low, n/2) < max(first, n/2)-min(first, n/2) {
						id, first = pid, low
					}
				}
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				tc.damage(raw, ps, id)
				if err := os.WriteFile(path, raw, 0o600); err != nil {
					t.Fatal(err)
				}
				s, err = Open(path)
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
