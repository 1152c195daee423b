package pow

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The figure: mining attempts per second on all cores divided by
// the bulk SHA-256 compression rate on all cores (crypto/sha256 over
// 64 KiB buffers, bytes/s / 64). BenchmarkAllCores/bulk and /mine measure
// each on its own; /ratio alternates short phases of both inside one
// benchmark, so load from other processes falls on both sides alike, and
// reports the ratio itself.

const bulkBuf = 64 << 10 // bytes per crypto/sha256 call in the bulk baseline

// phaseBlocks is how many 64-byte blocks (bulk) or attempts (mining) each
// goroutine does in one phase of the ratio benchmark: a few milliseconds.
const phaseBlocks = 1 << 16

// onAllCores runs f(i) on GOMAXPROCS goroutines and returns the wall time.
func onAllCores(f func(i int)) time.Duration {
	g := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	startAt := time.Now()
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(i)
		}()
	}
	wg.Wait()
	return time.Since(startAt)
}

// bulkHashers gives each core its own buffer, hashed blocks times over
// per call.
type bulkHashers [][]byte

func newBulkHashers() bulkHashers {
	bufs := make(bulkHashers, runtime.GOMAXPROCS(0))
	for i := range bufs {
		bufs[i] = make([]byte, bulkBuf)
		for j := range bufs[i] {
			bufs[i][j] = byte(i + j)
		}
	}
	return bufs
}

// hash runs blocks compressions of buffer i, in 64 KiB calls.
func (bh bulkHashers) hash(i, blocks int) {
	for n := 0; n < blocks; n += bulkBuf / 64 {
		sink = sha256.Sum256(bh[i])
	}
}

// miners gives each core its own clone, on its own nonce sequence.
type miners struct {
	clones []*Template
	next   []uint64
}

func newMiners(m mode) *miners {
	g := runtime.GOMAXPROCS(0)
	base := newTemplate(benchHeader(), benchDifficulty, m)
	ms := &miners{clones: make([]*Template, g), next: make([]uint64, g)}
	for i := range ms.clones {
		ms.clones[i] = base.Clone()
		ms.next[i] = uint64(i)
	}
	return ms
}

// mine makes attempts attempts on core i, in the node's chunk size.
func (ms *miners) mine(i, attempts int) {
	step := uint64(len(ms.clones))
	for left := uint64(attempts); left > 0; {
		n := min(left, 1<<14)
		searchN(ms.clones[i], ms.next[i], step, n)
		ms.next[i] += n * step
		left -= n
	}
}

func BenchmarkAllCores(b *testing.B) {
	g := runtime.GOMAXPROCS(0)
	b.Run("bulk", func(b *testing.B) {
		bh := newBulkHashers()
		b.SetBytes(int64(phaseBlocks * 64 * g))
		b.ResetTimer()
		for b.Loop() {
			onAllCores(func(i int) { bh.hash(i, phaseBlocks) })
		}
		reportRate(b, float64(b.N*phaseBlocks*g), "blocks/s")
	})
	b.Run("mine", func(b *testing.B) {
		ms := newMiners(bestMode)
		b.ResetTimer()
		for b.Loop() {
			onAllCores(func(i int) { ms.mine(i, phaseBlocks) })
		}
		reportRate(b, float64(b.N*phaseBlocks*g), "attempts/s")
	})
	for _, m := range []namedMode{{"best", bestMode}, {"portable", portableMode}} {
		b.Run("ratio/"+m.name, func(b *testing.B) { benchRatio(b, m.mode) })
	}
}

// benchRatio alternates a bulk phase and a mining phase per op and reports
// attempts/s ÷ blocks/s over the whole run.
func benchRatio(b *testing.B, m mode) {
	bh := newBulkHashers()
	ms := newMiners(m)
	var bulk, mine time.Duration
	for b.Loop() {
		bulk += onAllCores(func(i int) { bh.hash(i, phaseBlocks) })
		mine += onAllCores(func(i int) { ms.mine(i, phaseBlocks) })
	}
	work := float64(b.N * phaseBlocks * runtime.GOMAXPROCS(0))
	blockRate, attemptRate := work/bulk.Seconds(), work/mine.Seconds()
	b.ReportMetric(blockRate, "blocks/s")
	b.ReportMetric(attemptRate, "attempts/s")
	b.ReportMetric(attemptRate/blockRate, "ratio")
}

// BenchmarkThreadScaling alternates phases of mining on one goroutine and
// on two (each with its own clone and nonce sequence) and reports the
// two-goroutine rate over the one-goroutine rate; linear is 2.
func BenchmarkThreadScaling(b *testing.B) {
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs 2 Ps")
	}
	ms := newMiners(bestMode)
	run := func(g int) time.Duration {
		var wg sync.WaitGroup
		startAt := time.Now()
		for i := range g {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ms.mine(i, phaseBlocks)
			}()
		}
		wg.Wait()
		return time.Since(startAt)
	}
	var one, two time.Duration
	for b.Loop() {
		one += run(1)
		two += run(2)
	}
	r1 := float64(b.N*phaseBlocks) / one.Seconds()
	r2 := float64(2*b.N*phaseBlocks) / two.Seconds()
	b.ReportMetric(r1, "attempts/s@1")
	b.ReportMetric(r2, "attempts/s@2")
	b.ReportMetric(r2/r1, "speedup")
}

// BenchmarkPortableVsSum256 alternates phases of the portable path (the
// fallback without SHA extensions) and of sha256.Sum256 over a 55-byte
// message, one compression, on one goroutine, and reports the portable
// attempt rate over the Sum256 rate; the fallback must stay at 0.9 or
// more.
func BenchmarkPortableVsSum256(b *testing.B) {
	tmpl := newTemplate(benchHeader(), benchDifficulty, portableMode)
	var msg [55]byte
	var sums, attempts time.Duration
	next := uint64(0)
	for b.Loop() {
		t0 := time.Now()
		for i := range phaseBlocks {
			msg[0] = byte(i)
			sink = sha256.Sum256(msg[:])
		}
		t1 := time.Now()
		searchN(tmpl, next, 1, phaseBlocks)
		next += phaseBlocks
		sums, attempts = sums+t1.Sub(t0), attempts+time.Since(t1)
	}
	n := float64(b.N * phaseBlocks)
	b.ReportMetric(n/sums.Seconds(), "hashes/s")
	b.ReportMetric(n/attempts.Seconds(), "attempts/s")
	b.ReportMetric(sums.Seconds()/attempts.Seconds(), "ratio")
}
