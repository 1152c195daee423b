package node

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
)

// unsolvableJob is a job at difficulty 255 that no miner finishes: it mines
// until stopped.
func unsolvableJob() *job {
	g := chain.Genesis(255)
	gh, _ := chain.ParseHash(g.Hash)
	hdr := chain.NewHeader(1, gh, chain.Hash{}, 0, 255, 0)
	return &job{parent: &chain.Node{Hash: gh}, block: chain.Block{Difficulty: 255}, header: hdr}
}

// startMining runs an unsolvable job on threads threads and returns once
// every thread has started (and lowered its priority), with each thread's
// id and error from lowering it. The miner stops at the end of the test.
func startMining(t testing.TB, threads int) (tids []int, errs []error) {
	t.Helper()
	type started struct {
		tid int
		err error
	}
	ch := make(chan started, threads)
	m := newMiner(threads, 255, make(chan foundBlock, 1), func(Payload) {})
	m.threadStarted = func(tid int, err error) { ch <- started{tid, err} }
	m.start(unsolvableJob())
	t.Cleanup(m.stop)
	deadline := time.After(10 * time.Second)
	for range threads {
		select {
		case s := <-ch:
			tids, errs = append(tids, s.tid), append(errs, s.err)
		case <-deadline:
			t.Fatalf("only %d of %d mining threads started", len(tids), threads)
		}
	}
	return tids, errs
}

func TestMinerLeavesPsToTheRest(t *testing.T) {
	// With every core mining, the rest of the process must still have Ps
	// of its own, or it waits for the scheduler's 10 ms preemption.
	threads := runtime.NumCPU()
	startMining(t, threads)
	if got, want := runtime.GOMAXPROCS(0), threads+1; got < want {
		t.Fatalf("GOMAXPROCS = %d while %d threads mine, want at least %d", got, threads, want)
	}
}

func TestMinerProcsFollowEveryMiner(t *testing.T) {
	// Several miners in one process (devnet) each get their Ps; when they
	// stop, the Ps fall back to at most a core's worth of spare ones, not
	// further: a node's miner stops and starts at every block, and each
	// change of GOMAXPROCS stops the world.
	cpus := runtime.NumCPU()
	base := runtime.GOMAXPROCS(0)
	minerProcs.Lock()
	if minerProcs.base != 0 {
		base = minerProcs.base
	}
	minerProcs.Unlock()
	m1 := newMiner(cpus, 255, make(chan foundBlock, 1), func(Payload) {})
	m2 := newMiner(2*cpus, 255, make(chan foundBlock, 1), func(Payload) {})
	started := make(chan struct{}, 3*cpus)
	m1.threadStarted = func(int, error) { started <- struct{}{} }
	m2.threadStarted = m1.threadStarted
	m1.start(unsolvableJob())
	m2.start(unsolvableJob())
	for range 3 * cpus {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			m1.stop()
			m2.stop()
			t.Fatal("mining threads did not start")
		}
	}
	during := runtime.GOMAXPROCS(0)
	m1.stop()
	m2.stop()
	after := runtime.GOMAXPROCS(0)
	if want := base + 3*cpus; during < want {
		t.Errorf("GOMAXPROCS = %d with %d threads mining, want at least %d", during, 3*cpus, want)
	}
	if after > base+cpus {
		t.Errorf("GOMAXPROCS = %d after every miner stopped, want at most %d (base %d + %d spare)", after, base+cpus, base, cpus)
	}
	// A single miner stopping and starting again does not move it.
	m1.start(unsolvableJob())
	m1.stop()
	if again := runtime.GOMAXPROCS(0); again != after {
		t.Errorf("GOMAXPROCS went from %d to %d over one miner's stop and start", after, again)
	}
}

// BenchmarkTimerWakeWhileMining measures how late a goroutine woken by a
// timer (as one woken by a keypress or a socket) runs while every core
// mines: without Ps left over it waits for a miner to be preempted, up to
// 10 ms (median 4 to 10 ms before the miner reserved Ps, well under 1 ms
// after). It reports the median and worst lateness of a 2 ms sleep.
func BenchmarkTimerWakeWhileMining(b *testing.B) {
	startMining(b, runtime.NumCPU())
	const sleep = 2 * time.Millisecond
	late := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		time.Sleep(sleep) // the thing measured
		late = append(late, time.Since(t0)-sleep)
	}
	b.StopTimer()
	slices.Sort(late)
	b.ReportMetric(float64(late[len(late)/2].Microseconds()), "median-late-µs")
	b.ReportMetric(float64(late[len(late)-1].Microseconds()), "worst-late-µs")
}

func TestSpareCoreRestsAThreadThenMinesAgain(t *testing.T) {
	// While a core is spared (the dashboard's keys), mining threads from
	// NumCPU-1 on rest and the others mine; afterwards all mine again.
	threads := runtime.NumCPU()
	if threads < 2 {
		t.Skip("one core: no thread to rest while another mines")
	}
	t.Cleanup(func() { spareUntil.Store(0) })
	type ev struct {
		first   uint64
		resting bool
	}
	evs := make(chan ev, 4*threads)
	m := newMiner(threads, 255, make(chan foundBlock, 1), func(Payload) {})
	m.threadResting = func(first uint64, resting bool) { evs <- ev{first, resting} }
	j := unsolvableJob()
	SpareCore(time.Second)
	m.start(j)
	t.Cleanup(m.stop)
	want := threads - int(sparedFrom()) // threads that rest
	next := func(resting bool) {
		t.Helper()
		seen := map[uint64]bool{}
		for len(seen) < want {
			select {
			case e := <-evs:
				if e.first < sparedFrom() {
					t.Fatalf("thread %d rested; only threads from %d on should", e.first, sparedFrom())
				}
				if e.resting != resting {
					t.Fatalf("thread %d: resting %v, want %v", e.first, e.resting, resting)
				}
				seen[e.first] = true
			case <-time.After(10 * time.Second):
				t.Fatalf("%d of %d threads reported resting=%v", len(seen), want, resting)
			}
		}
	}
	next(true)
	// The threads that do not rest still mine.
	before := j.attempts.Load()
	deadline := time.Now().Add(10 * time.Second)
	for j.attempts.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no attempts while a core was spared: every thread rested")
		}
		runtime.Gosched()
	}
	next(false)
}
