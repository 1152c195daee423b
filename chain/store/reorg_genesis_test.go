package store

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestApplyReorgFromGenesis disconnects the whole stored best chain in one
// update and connects a heavier branch from genesis. bbolt's Cursor.Last
// looped for good after every key of the best bucket was deleted in one
// transaction (from about 100 blocks on), so Apply runs under a deadline:
// a hang fails the test instead of stalling the suite.
func TestApplyReorgFromGenesis(t *testing.T) {
	for _, n := range []int{100, 500, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			// Not openTemp: a hung Apply holds the write lock, and closing
			// the store in the cleanup would then hang too.
			s, err := Open(filepath.Join(t.TempDir(), "chain.db"))
			if err != nil {
				t.Fatal(err)
			}
			am := make([]string, n)
			bm := make([]string, n+1)
			for i := range am {
				am[i] = fmt.Sprintf("a%d", i)
			}
			for i := range bm {
				bm[i] = fmt.Sprintf("b%d", i)
			}
			a, ae := testChain("a", genesisHash(), 1, am...)
			applyWithin(t, s, Update{Blocks: a, Connect: ae})
			b, be := testChain("b", genesisHash(), 1, bm...)
			dis := make([]Entry, len(ae))
			for i := range ae {
				dis[i] = ae[len(ae)-1-i] // tip first, as the index lists them
			}
			start := time.Now()
			applyWithin(t, s, Update{Blocks: b, Disconnect: dis, Connect: be})
			t.Logf("reorg of %d blocks to %d: %v", n, n+1, time.Since(start))
			check := func(s *Store) {
				t.Helper()
				if h, ok, err := s.BestHeight(); err != nil || !ok || h != uint64(n+1) {
					t.Errorf("BestHeight = %d, %v, %v; want %d", h, ok, err, n+1)
				}
				if got, want := bestHashes(t, s), hashes(be); !reflect.DeepEqual(got, want) {
					t.Errorf("best chain is not the new branch (%d entries, want %d)", len(got), len(want))
				}
				if st := readState(t, s); len(st.Msgs) != n+1 {
					t.Errorf("message index has %d entries, want %d", len(st.Msgs), n+1)
				}
			}
			check(s)
			if n > 500 {
				// The way back is the same code; spare CI the time.
				if err := s.Close(); err != nil {
					t.Error(err)
				}
				return
			}
			// And back again: the old branch, one block longer.
			more, me := testChain("a", ae[n-1].Hash, uint64(n+1), "a-more", "a-more2")
			dis = dis[:0]
			for i := len(be) - 1; i >= 0; i-- {
				dis = append(dis, be[i])
			}
			applyWithin(t, s, Update{Blocks: more, Disconnect: dis, Connect: append(append([]Entry{}, ae...), me...)})
			if h, ok, err := s.BestHeight(); err != nil || !ok || h != uint64(n+2) {
				t.Errorf("BestHeight after reorg back = %d, %v, %v; want %d", h, ok, err, n+2)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(s.Path()); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if h, ok, err := s.BestHeight(); err != nil || !ok || h != uint64(n+2) {
				t.Errorf("BestHeight after reopen = %d, %v, %v; want %d", h, ok, err, n+2)
			}
		})
	}
}

// applyWithin applies u, failing the test if Apply has not returned in 20 s.
// The stuck goroutine is then left spinning, holding the store, which the
// test does not close; the test binary ends soon after.
func applyWithin(t *testing.T, s *Store, u Update) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Apply(u) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Apply did not return within 20 s")
	}
}

// TestOpenMigratesVersion1 opens a file as the previous build left it (no
// recorded top height): Open records the top from the best bucket once, and
// a reorganisation from genesis then works on it.
func TestOpenMigratesVersion1(t *testing.T) {
	s := openTemp(t)
	a, ae := testChain("a", genesisHash(), 1, "m1", "m2", "m3")
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Delete([]byte(topKey)); err != nil {
			return err
		}
		return meta.Put([]byte(versionKey), []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	if h, ok, err := s.BestHeight(); err != nil || !ok || h != 3 {
		t.Errorf("BestHeight after migration = %d, %v, %v; want 3", h, ok, err)
	}
	if v, err := s.Meta(versionKey); err != nil || string(v) != formatVersion {
		t.Errorf("version after migration = %q, %v; want %q", v, err, formatVersion)
	}
	if err := s.SetMeta(topKey, heightKey(9)); err == nil {
		t.Errorf("SetMeta(%q) succeeded; the key is the store's own", topKey)
	}
	b, be := testChain("b", genesisHash(), 1, "n1", "n2", "n3", "n4")
	applyWithin(t, s, Update{Blocks: b, Disconnect: []Entry{ae[2], ae[1], ae[0]}, Connect: be})
	if h, ok, err := s.BestHeight(); err != nil || !ok || h != 4 {
		t.Errorf("BestHeight after reorg = %d, %v, %v; want 4", h, ok, err)
	}
	// Down to nothing and back: the recorded top follows.
	if err := s.TruncateBest(0); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := s.BestHeight(); err != nil || ok {
		t.Errorf("BestHeight after truncating to 0 = %d, %v, %v; want empty", h, ok, err)
	}
	if err := s.Apply(Update{Connect: be[:2]}); err != nil {
		t.Fatal(err)
	}
	if err := s.TruncateBest(1); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := s.BestHeight(); err != nil || !ok || h != 1 {
		t.Errorf("BestHeight after truncating to 1 = %d, %v, %v; want 1", h, ok, err)
	}
}
