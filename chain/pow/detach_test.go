package pow

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestDetachedSearchDoesNotHoldUpGC: a garbage collection, whose
// stop-the-world phases wait for every goroutine running Go code or
// assembly, completes while a detached search is still in its kernel.
// Not detached, the same collection waits for the whole batch, which the
// assembly runs without a preemption point (and the test fails).
func TestDetachedSearchDoesNotHoldUpGC(t *testing.T) {
	requireSHANI(t)
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs 2 Ps: one searching, one collecting")
	}
	tp := NewTemplate(benchHeader(), 256) // never met: the batch runs whole
	tp.Detach()
	var started, finished atomic.Bool
	done := make(chan uint64)
	go func() {
		started.Store(true)
		// 2^26 attempts: a second or more of hashing, one kernel call.
		_, _, _, tried := tp.Search(0, 1, 1<<26)
		finished.Store(true)
		done <- tried
	}()
	for !started.Load() {
		runtime.Gosched()
	}
	runtime.GC()
	if finished.Load() {
		t.Errorf("runtime.GC returned only after the search ended: the collection waited for the kernel")
	}
	if tried := <-done; tried != 1<<26 {
		t.Errorf("tried %d, want %d", tried, 1<<26)
	}
}

// BenchmarkSearchChunks is a miner's loop: Search in batches of 2^14
// attempts (node.minerChunk), run in the goroutine (plain) or as a system
// call (detached); the two rates should be the same.
func BenchmarkSearchChunks(b *testing.B) {
	requireSHANI(b)
	for _, detached := range []bool{false, true} {
		name := "plain"
		if detached {
			name = "detached"
		}
		b.Run(name, func(b *testing.B) {
			t := NewTemplate(benchHeader(), 256)
			if detached {
				t.Detach()
			}
			const chunk = 1 << 14
			n := uint64(0)
			for b.Loop() {
				_, _, _, tried := t.Search(n, 1, chunk)
				n += tried
			}
			reportRate(b, float64(n), "attempts/s")
		})
	}
}
