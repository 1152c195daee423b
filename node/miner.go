package node

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/chain/store"
)

// minerChunk is how many attempts a thread makes between looks at its
// cancel flag: small enough to drop a stale template within a millisecond
// (about 0.3 ms on the SHA-NI kernel), large enough that the look costs
// nothing. It does not bound how long a stop-the-world waits for a
// miner: the SHA-NI kernel runs detached (pow.Template.Detach), which no
// stop-the-world waits for, and the portable path is Go code that the
// runtime preempts between two hashes.
const minerChunk = 1 << 14

// minerYieldEvery is how often a mining goroutine yields to the Go
// scheduler: under sysmon's 10 ms preemption (see mine).
const minerYieldEvery = 5 * time.Millisecond

// progressEvery is how often the miner reports progress.
const progressEvery = 250 * time.Millisecond

// miner runs proof-of-work searches on several goroutines. The loop starts
// and stops jobs; a found nonce comes back on the found channel.
type miner struct {
	threads    int
	difficulty uint32
	found      chan<- foundBlock
	emit       func(Payload)

	mu  sync.Mutex
	cur *job
	wg  sync.WaitGroup

	// threadStarted, when set (by tests), is called by each search
	// goroutine once its OS thread's priority has been lowered, with the
	// thread id and the error from lowering it.
	threadStarted func(tid int, err error)
	// threadResting, when set (by tests), is called by a search goroutine
	// that starts (true) or ends (false) a rest for SpareCore, with its
	// thread number.
	threadResting func(first uint64, resting bool)
}

type job struct {
	msg      store.Pending
	parent   *chain.Node
	block    chain.Block // everything but nonce, proof_of_work and hash
	header   chain.Header
	queue    atomic.Int64 // own messages pending, kept current by the loop
	started  time.Time
	done     atomic.Bool
	abandon  chan struct{} // closed by stop: a find still in flight is stale
	attempts atomic.Uint64
}

type foundBlock struct {
	job   *job
	nonce uint64
	hash  chain.Hash
}

func newMiner(threads int, difficulty uint32, found chan<- foundBlock, emit func(Payload)) *miner {
	return &miner{threads: threads, difficulty: difficulty, found: found, emit: emit}
}

// current returns the job being mined, or nil.
func (m *miner) current() *job {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cur
}

// start abandons any job and mines j.
//
// The miner must not steal the machine from the dashboard, the network or
// other programs such as the terminal (the goal: keypress to screen within
// 25 ms at p90 while it uses every core). Go's scheduler has no
// priorities, and a miner holding every P leaves a goroutine woken by a
// keypress or a socket waiting for the 10 ms preemption tick (sysmon,
// which also polls the network only that often), at each hop from input
// to screen. So the process gets one more P per mining thread than it had
// (minerThreadsChanged): the rest of the program always finds an idle P,
// which waits in the network poller and runs woken goroutines at once.
// The mining threads are then more runnable threads than cores, so the OS
// arbitrates, and they run at a low priority (nice 10 on Linux) so that
// everything else, in this process and outside it, comes first.
//
// Measured on 2 busy cores with 2 mining threads, another process pinging
// a goroutine through a pipe for 4 s: p90 32 ms with neither; 10 to 24 ms
// with nice 19, with or without a Gosched between chunks; 4 ms with the
// extra Ps alone (p99 72 ms); 0.33 ms with both (p99 0.8 ms), which also
// mined fastest. A Gosched on a locked thread hands its P over and back,
// which cost throughput and bought nothing once the Ps were there. In
// tmux (send-keys, poll capture-pane) at load 12: p90 180-300 ms before,
// 35-80 ms after, against 26-29 ms with no mining at all.
func (m *miner) start(j *job) {
	m.stop()
	m.mu.Lock()
	m.cur = j
	m.mu.Unlock()
	j.started = time.Now()
	j.abandon = make(chan struct{})
	for i := 0; i < m.threads; i++ {
		m.wg.Add(1)
		go m.search(j, uint64(i))
	}
	m.wg.Add(1)
	go m.progress(j)
}

// stop abandons the current job and waits for its goroutines.
func (m *miner) stop() {
	m.mu.Lock()
	j := m.cur
	m.cur = nil
	m.mu.Unlock()
	if j != nil {
		j.done.Store(true)
		close(j.abandon)
	}
	m.wg.Wait()
}

// search mines j's nonces first, first+threads, ... on its own OS thread,
// at a low OS priority (see start).
func (m *miner) search(j *job, first uint64) {
	defer m.wg.Done()
	// Never unlocked: when this goroutine returns, the runtime ends the
	// thread rather than hand its lowered priority on to other goroutines.
	runtime.LockOSThread()
	if onMainThread() {
		// Except the main thread, which the runtime parks for good instead
		// of ending it: lowered, it would leave the whole process looking
		// niced. Hold it here, so that the goroutine that mines cannot run
		// on it, and give it back unchanged.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			m.mine(j, first)
		}()
		<-done
		runtime.UnlockOSThread()
		return
	}
	m.mine(j, first)
}

// mine is search on a thread that is not the main one, locked to it.
func (m *miner) mine(j *job, first uint64) {
	minerThreadsChanged(+1)
	defer minerThreadsChanged(-1)
	tid, err := lowerThreadPriority()
	if m.threadStarted != nil {
		m.threadStarted(tid, err)
	}
	// An error leaves the thread at normal priority: mining still works,
	// the Ps left to the rest of the process still keep it responsive.
	t := pow.NewTemplate(j.header, m.difficulty)
	// Hash outside the runtime's view, as in a system call: a garbage
	// collection's stop-the-world then never waits for this thread, which
	// at its low priority the OS may have set aside for many
	// milliseconds while other programs run (20-30 ms stops measured,
	// every goroutine stalled, keys in the dashboard too).
	t.Detach()
	step := uint64(m.threads)
	yielded := time.Now()
	for start := first; start <= chain.MaxSafeInteger && !j.done.Load(); start += step * minerChunk {
		count := uint64(minerChunk)
		if last := start + step*(count-1); last > chain.MaxSafeInteger {
			count = (chain.MaxSafeInteger-start)/step + 1
		}
		nonce, hash, ok, tried := t.Search(start, step, count)
		j.attempts.Add(tried)
		if first >= sparedFrom() && !m.rest(j, first) {
			return
		}
		if now := time.Now(); now.Sub(yielded) >= minerYieldEvery {
			// A goroutine that runs 10 ms without being scheduled is
			// preempted by sysmon; one in a system call (detached) has its
			// P taken away instead, which also sets sysmon back to polling
			// every 20 µs: thousands of wake-ups a second on the cores
			// the miners use (3 times the context switches, a fifth less
			// mined with 2 threads). Yielding first avoids both.
			runtime.Gosched()
			yielded = now
		}
		if ok {
			if j.done.CompareAndSwap(false, true) {
				select {
				case m.found <- foundBlock{job: j, nonce: nonce, hash: hash}:
				case <-j.abandon:
				}
			}
			return
		}
	}
}

// spareUntil is when mining may use every core again (UnixNano), after
// SpareCore; 0 or past while nothing asks for a spare core.
var spareUntil atomic.Int64

// SpareCore leaves one core's share of the machine free of mining for d
// from now (or longer, if an earlier call asked): the dashboard calls it
// at each key, so that while a person uses it the terminal, tmux and
// the dashboard itself find a core no miner holds (keypress to screen,
// issue 10.2: p90 17-21 ms against 37-64 ms with every core mining, at
// load 5 on 2 cores). Mining threads numbered NumCPU-1 and up rest,
// in every miner of the process; --threads still sets the most threads,
// which all mine again once d has passed with no call.
func SpareCore(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		cur := spareUntil.Load()
		if cur >= until || spareUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// sparedFrom is the first mining thread number that rests while a core
// is spared: all but NumCPU-1 threads (one core of two, two of three...).
func sparedFrom() uint64 { return uint64(max(1, runtime.NumCPU()-1)) }

// rest waits while a core is spared; false if j was abandoned meanwhile.
// first is the thread's number, for threadResting.
func (m *miner) rest(j *job, first uint64) bool {
	rested := false
	for {
		d := time.Until(time.Unix(0, spareUntil.Load()))
		if d <= 0 || j.done.Load() {
			if rested && m.threadResting != nil {
				m.threadResting(first, false)
			}
			return true
		}
		if !rested && m.threadResting != nil {
			m.threadResting(first, true)
		}
		rested = true
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-j.abandon:
			t.Stop()
			return false
		}
	}
}

// minerProcs is how GOMAXPROCS follows the mining threads of every miner
// in the process (devnet runs many nodes in one): base is what the
// process had before, active the threads mining now.
var minerProcs struct {
	sync.Mutex
	base, active int
}

// minerThreadsChanged counts delta mining threads in or out and keeps
// GOMAXPROCS at least base + active, so that mining threads cannot hold
// every P. It lowers GOMAXPROCS only once it exceeds what is needed by
// more than the cores, keeping that many spare: each change stops the
// world, and a node's miner stops and starts again at every block.
func minerThreadsChanged(delta int) {
	minerProcs.Lock()
	defer minerProcs.Unlock()
	if minerProcs.base == 0 {
		minerProcs.base = runtime.GOMAXPROCS(0)
	}
	minerProcs.active += delta
	want, cur := minerProcs.base+minerProcs.active, runtime.GOMAXPROCS(0)
	switch spare := runtime.NumCPU(); {
	case cur < want:
		runtime.GOMAXPROCS(want)
	case cur > want+spare:
		runtime.GOMAXPROCS(want + spare)
	}
}

func (m *miner) progress(j *job) {
	defer m.wg.Done()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for !j.done.Load() {
		select {
		case <-tick.C:
		case <-j.abandon:
			return
		}
		if j.done.Load() {
			return
		}
		m.emit(j.progress(m.threads))
	}
}

func (j *job) progress(threads int) MiningProgress {
	st := j.state(threads)
	return MiningProgress{
		MessageID: st.MessageID, Message: st.Message, Height: st.Height,
		Attempts: st.Attempts, Expected: st.Expected, HashRate: st.HashRate,
		ETASeconds: st.ETASeconds, Queue: int(j.queue.Load()), Threads: threads,
	}
}

func (j *job) state(threads int) *MiningState {
	attempts := j.attempts.Load()
	elapsed := time.Since(j.started).Seconds()
	expected := math.Ldexp(1, int(j.block.Difficulty))
	rate := 0.0
	if elapsed > 0 {
		rate = float64(attempts) / elapsed
	}
	eta := 0.0
	if rate > 0 {
		// Attempts are memoryless: the expected time left is always the
		// expected total over the rate, however long it has run.
		eta = expected / rate
	}
	return &MiningState{
		MessageID: j.msg.MessageID.String(), Message: j.msg.Message,
		Height: j.block.Number, Parent: j.parent.Hash.String(),
		Attempts: attempts, Expected: expected, HashRate: rate, ETASeconds: eta,
		Threads: threads, Started: j.started,
	}
}
