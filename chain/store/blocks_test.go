package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// TestBlocksReadsManyAtOnce: Blocks gives each stored block back at its
// place, says which are missing or do not decode, and agrees with Block.
func TestBlocksReadsManyAtOnce(t *testing.T) {
	s := openTemp(t)
	msgs := make([]string, 300) // enough for the parallel decode
	for i := range msgs {
		msgs[i] = fmt.Sprintf("message %d", i)
	}
	blocks, entries := testChain("many", genesisHash(), 1, msgs...)
	if err := s.Apply(Update{Blocks: blocks, Connect: entries}); err != nil {
		t.Fatal(err)
	}
	// A record that does not decode, in place of block 7.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).Put(entries[7].Hash[:], []byte(`{"number_of_block":`))
	}); err != nil {
		t.Fatal(err)
	}
	missing := chain.Hash{0xab}
	var hs []chain.Hash
	for _, e := range entries {
		hs = append(hs, e.Hash)
	}
	hs = append(hs[:100], append([]chain.Hash{missing}, hs[100:]...)...)
	got, errs := s.Blocks(hs)
	if len(got) != len(hs) || len(errs) != len(hs) {
		t.Fatalf("%d blocks and %d errors for %d hashes", len(got), len(errs), len(hs))
	}
	for i, h := range hs {
		switch {
		case h == missing:
			if got[i] != nil || !errors.Is(errs[i], ErrNotFound) {
				t.Errorf("missing block: %v, %v; want ErrNotFound", got[i], errs[i])
			}
		case h == entries[7].Hash:
			if got[i] != nil || !errors.Is(errs[i], ErrCorrupt) {
				t.Errorf("damaged record: %v, %v; want ErrCorrupt", got[i], errs[i])
			}
		default:
			one, err := s.Block(h)
			if err != nil || errs[i] != nil || got[i] == nil || *got[i] != *one {
				t.Fatalf("block %d: %+v, %v; Block gives %+v, %v", i, got[i], errs[i], one, err)
			}
		}
	}
	if got, errs := s.Blocks(nil); len(got) != 0 || len(errs) != 0 {
		t.Errorf("Blocks(nil) = %v, %v", got, errs)
	}
}

// BenchmarkBlocks10k reads back 10,000 stored blocks (what a 10,000-block
// reorganisation reads), in one call and, as the baseline, one by one.
//
//	go test -run '^$' -bench Blocks10k -count 6 ./chain/store/
func BenchmarkBlocks10k(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "chain.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillChain(b, s, 10000)
	var hs []chain.Hash
	if err := s.ForEachBest(func(_ uint64, blk *chain.Block) error {
		h, _ := chain.ParseHash(blk.Hash)
		hs = append(hs, h)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.Run("Blocks", func(b *testing.B) {
		for b.Loop() {
			if _, errs := s.Blocks(hs); errs[len(errs)-1] != nil {
				b.Fatal(errs[len(errs)-1])
			}
		}
	})
	b.Run("Block each", func(b *testing.B) {
		for b.Loop() {
			for _, h := range hs {
				if _, err := s.Block(h); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkApplyReorg10k is the store's part of a 10,000-block
// reorganisation: one transaction disconnects 10,000 blocks above height
// 100, connects a branch of 10,001 in their place (the blocks stored
// already, as a sync stores them batch by batch) and returns 10,000
// messages to the pool.
//
//	go test -run '^$' -bench ApplyReorg10k -count 6 ./chain/store/
func BenchmarkApplyReorg10k(b *testing.B) {
	const n = 10000
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "chain.db"))
		if err != nil {
			b.Fatal(err)
		}
		common, ce := testChain("c", genesisHash(), 1, msgList("c", 100)...)
		light, le := testChain("l", ce[99].Hash, 101, msgList("l", n)...)
		heavy, he := testChain("h", ce[99].Hash, 101, msgList("h", n+1)...)
		if err := s.Apply(Update{Blocks: append(common, light...), Connect: append(ce, le...)}); err != nil {
			b.Fatal(err)
		}
		if err := s.Apply(Update{Blocks: heavy}); err != nil {
			b.Fatal(err)
		}
		u := Update{Connect: he}
		for i := range le {
			e := le[len(le)-1-i]
			u.Disconnect = append(u.Disconnect, e)
			blk := light[len(le)-1-i]
			u.AddPending = append(u.AddPending, Pending{MessageID: e.MessageID, Message: blk.Message,
				Sender: "03bb", TimeStamp: blk.TimeStamp, Signature: "00", AddedAt: 1, AddedHeight: 10101})
		}
		b.StartTimer()
		if err := s.Apply(u); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

func msgList(tag string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s message %d", tag, i)
	}
	return out
}
