package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// leafEntry is one element of a bbolt leaf page.
type leafEntry struct {
	flags      uint32
	key, value []byte
}

// liveLeaves hands fn the entries of each live leaf page of the file at
// path, in file order. bbolt says which pages are live leaves (Tx.Page);
// the entries are read from the page bytes: after the 16-byte page header,
// flags, pos, ksize, vsize (u32 each) per element, pos counting from it.
func liveLeaves(t testing.TB, path string, fn func(id int, entries []leafEntry)) (pageSize int) {
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
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type != "leaf" || info.Count == 0 {
				continue
			}
			p := raw[id*pageSize:]
			entries := make([]leafEntry, info.Count)
			for i := range entries {
				el := p[16+16*i:]
				pos, ks, vs := binary.LittleEndian.Uint32(el[4:]), binary.LittleEndian.Uint32(el[8:]), binary.LittleEndian.Uint32(el[12:])
				entries[i] = leafEntry{flags: binary.LittleEndian.Uint32(el), key: el[pos : pos+ks], value: el[pos+ks : pos+ks+vs]}
			}
			fn(id, entries)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return pageSize
}

// bestLeafPages finds the live leaf pages of the best-chain bucket in the
// file at path and the first height each holds: the pages whose entries
// all have 8-byte keys and 32-byte values.
func bestLeafPages(t testing.TB, path string) (pageSize int, pages map[int]uint64) {
	t.Helper()
	pages = map[int]uint64{}
	pageSize = liveLeaves(t, path, func(id int, entries []leafEntry) {
		for _, e := range entries {
			if e.flags != 0 || len(e.key) != 8 || len(e.value) != 32 {
				return
			}
		}
		pages[id] = binary.BigEndian.Uint64(entries[0].key)
	})
	if len(pages) == 0 {
		t.Fatal("no best-chain leaf pages found")
	}
	return pageSize, pages
}

// damagePage applies damage to page id of the file at path.
func damagePage(t testing.TB, path string, pageSize, id int, damage func(raw []byte, pageSize, id int)) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage(raw, pageSize, id)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// middlePage is the best-chain leaf page whose first height is nearest mid.
func middlePage(pages map[int]uint64, mid uint64) (id int, first uint64) {
	best := ^uint64(0)
	for pid, h := range pages {
		d := max(h, mid) - min(h, mid)
		if d < best {
			best, id, first = d, pid, h
		}
	}
	return id, first
}

// TestDamagedBestPagesAreSalvaged damages the best-chain bucket's pages of a
// real file in the middle of the chain: the walk stops with ErrCorrupt
// after giving every height before the damaged page, CheckPages names the
// file's own damage, and CopyInto carries the readable prefix, the pool,
// the peers and the settings into a new store.
func TestDamagedBestPagesAreSalvaged(t *testing.T) {
	const n = 1500
	tests := []struct {
		name   string
		damage func(raw []byte, pageSize, id int)
	}{
		{"garbage page", func(raw []byte, ps, id int) { copy(raw[id*ps:(id+1)*ps], randomBytes(7, ps)) }},
		{"zeroed page", func(raw []byte, ps, id int) { clear(raw[id*ps : (id+1)*ps]) }},
		{"garbage elements", func(raw []byte, ps, id int) { copy(raw[id*ps+16:(id+1)*ps], randomBytes(8, ps-16)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			msgs := make([]string, n)
			for i := range msgs {
				msgs[i] = fmt.Sprintf("message %d", i)
			}
			a, ae := testChain("a", genesisHash(), 1, msgs...)
			if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
				t.Fatal(err)
			}
			var pool []Pending
			var peers []PeerRecord
			for i := range 20 {
				pool = append(pool, pendingAt(fmt.Sprint("p", i), int64(i), i%2 == 0))
				peers = append(peers, PeerRecord{Addr: fmt.Sprintf("10.0.0.%d:8333", i)})
			}
			if err := s.Apply(Update{AddPending: pool}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutPeers(peers...); err != nil {
				t.Fatal(err)
			}
			if err := s.SetMeta("difficulty", []byte("8")); err != nil {
				t.Fatal(err)
			}
			path := s.Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			ps, pages := bestLeafPages(t, path)
			id, first := middlePage(pages, n/2)
			damagePage(t, path, ps, id, tc.damage)

			s, err := Open(path)
			if err != nil {
				t.Fatalf("open: %v (the damage is in the best chain's pages only)", err)
			}
			defer s.Close()
			var seen uint64
			err = s.ForEachBest(func(h uint64, _ *chain.Block) error { seen = h; return nil })
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("walk: %v, want ErrCorrupt", err)
			}
			if seen < first-1 {
				t.Errorf("walk gave heights up to %d, want every height before the damaged page (%d)", seen, first-1)
			}
			if err := s.CheckPages(); !errors.Is(err, ErrDamagedPage) {
				t.Errorf("CheckPages: %v, want ErrDamagedPage", err)
			}
			dst, err := Open(filepath.Join(t.TempDir(), "new.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			sv, err := s.CopyInto(dst, ^uint64(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("damaged page %d (first height %d); walk reached %d; salvaged %s", id, first, seen, sv)
			if sv.Blocks != seen || sv.Pending != 20 || sv.Peers != 20 || sv.Settings != 1 || len(sv.Lost) != 1 {
				t.Errorf("salvaged %+v, want %d blocks, 20 pending, 20 peers, 1 setting, the chain's end lost", sv, seen)
			}
			if got := bestHashes(t, dst); len(got) != int(seen) || got[len(got)-1] != ae[seen-1].Hash {
				t.Errorf("new store's best chain has %d blocks, want the %d read", len(got), seen)
			}
			if err := dst.CheckPages(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEmptyFile: a chain.db cut to 0 bytes is not taken silently for a new
// store.
func TestEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("OpenReadOnly of an empty file: %v, want ErrCorrupt", err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s.WasEmpty() {
		t.Error("WasEmpty is false for a 0-byte file")
	}
	s = reopen(t, s)
	if s.WasEmpty() {
		t.Error("WasEmpty is true for a store made on the previous open")
	}
	_ = s.Close()
}
