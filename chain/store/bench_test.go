package store

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// benchMessage is about the size of a short post.
const benchMessage = "the quick brown fox jumps over the lazy dog, message number %d"

// fillChain stores a best chain of n cheap blocks, in Apply batches of 5000.
func fillChain(tb testing.TB, s *Store, n int) {
	tb.Helper()
	prev := genesisHash()
	for from := 1; from <= n; from += 5000 {
		var u Update
		for h := from; h < from+5000 && h <= n; h++ {
			b, e := testBlock(uint64(h), prev, "bench", fmt.Sprintf(benchMessage, h))
			u.Blocks = append(u.Blocks, b)
			u.Connect = append(u.Connect, e)
			prev = e.Hash
		}
		if err := s.Apply(u); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkOpenAndWalk100k is a node start: open the file and read the
// whole best chain of 100,000 blocks back (page cache warm).
func BenchmarkOpenAndWalk100k(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "chain.db")
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	fillChain(b, s, n)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		var count int
		if err := s.ForEachBest(func(h uint64, blk *chain.Block) error {
			count++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if count != n {
			b.Fatalf("walked %d blocks, want %d", count, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/block")
}

// tip reads the top of the stored best chain.
func tip(tb testing.TB, s *Store) (uint64, chain.Hash) {
	tb.Helper()
	top, _, err := s.BestHeight()
	if err != nil {
		tb.Fatal(err)
	}
	var h chain.Hash
	if err := s.db.View(func(tx *bolt.Tx) error {
		copy(h[:], tx.Bucket(bucketBest).Get(heightKey(top)))
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return top, h
}

// BenchmarkApply is the node extending its chain: each op is one fsynced
// Apply of k new blocks connected on the tip, each block with a pending
// message removed, on a store that already holds 10,000 blocks.
func BenchmarkApply(b *testing.B) {
	for _, k := range []int{1, 500} {
		b.Run(fmt.Sprintf("blocks=%d", k), func(b *testing.B) {
			s := openTemp(b)
			fillChain(b, s, 10_000)
			height, prev := tip(b, s)
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				var u Update
				for range k {
					height++
					blk, e := testBlock(height, prev, "apply", fmt.Sprintf(benchMessage, height))
					u.Blocks = append(u.Blocks, blk)
					u.Connect = append(u.Connect, e)
					u.RemovePending = append(u.RemovePending, e.MessageID)
					prev = e.Hash
				}
				b.StartTimer()
				if err := s.Apply(u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
