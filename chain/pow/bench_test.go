package pow

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

// benchDifficulty is the default network's: candidates are rare but real.
const benchDifficulty = 24

func benchHeader() chain.Header {
	return chain.NewHeader(42, chain.Hash{0xaa, 0xbb}, chain.Hash{0xcc, 31: 0xdd}, 1_790_000_000_000, benchDifficulty, 0)
}

var sink [32]byte

// BenchmarkSum256_55 is the baseline: sha256.Sum256 of a 55-byte message,
// the longest that fits one compression.
func BenchmarkSum256_55(b *testing.B) {
	var msg [55]byte
	for i := 0; b.Loop(); i++ {
		msg[0] = byte(i)
		sink = sha256.Sum256(msg[:])
	}
	reportRate(b, float64(b.N), "hashes/s")
}

// searchN makes n attempts on t from nonce start, carrying on after wins.
func searchN(t *Template, start, step, n uint64) {
	for n > 0 {
		_, _, _, tried := t.Search(start, step, n)
		n -= tried
		start += tried * step
	}
}

// BenchmarkSearch is one attempt per op on one goroutine, for each mode;
// "best" is what NewTemplate uses.
func BenchmarkSearch(b *testing.B) {
	b.Run("best", func(b *testing.B) { benchSearch(b, bestMode) })
	for _, m := range allModes {
		b.Run(m.name, func(b *testing.B) { benchSearch(b, m.mode) })
	}
}

func benchSearch(b *testing.B, m mode) {
	t := newTemplate(benchHeader(), benchDifficulty, m)
	b.ReportAllocs()
	b.ResetTimer()
	searchN(t, 0, 1, uint64(b.N))
	reportRate(b, float64(b.N), "attempts/s")
}

// BenchmarkSearchParallel splits b.N attempts over g goroutines, each with
// its own Clone and interleaved nonces, as the node mines. ns/op is wall
// time per attempt; attempts/s is the total, attempts/s/goroutine the share.
func BenchmarkSearchParallel(b *testing.B) {
	gs := []int{1, 2}
	if p := runtime.GOMAXPROCS(0); p > 2 {
		gs = append(gs, p)
	}
	for _, g := range gs {
		b.Run(fmt.Sprintf("g=%d", g), func(b *testing.B) {
			base := NewTemplate(benchHeader(), benchDifficulty)
			clones := make([]*Template, g)
			for i := range clones {
				clones[i] = base.Clone()
			}
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, c := range clones {
				n := uint64(b.N / g)
				if i < b.N%g {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					searchN(c, uint64(i), uint64(g), n)
				}()
			}
			wg.Wait()
			reportRate(b, float64(b.N), "attempts/s")
			reportRate(b, float64(b.N)/float64(g), "attempts/s/goroutine")
		})
	}
}

func reportRate(b *testing.B, n float64, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(n/s, unit)
	}
}
