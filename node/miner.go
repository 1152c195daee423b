package node

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/chain/store"
)

// minerChunk is how many attempts a thread makes between looks at its
// cancel flag: small enough to drop a stale template within a millisecond or
// two, large enough that the look costs nothing.
const minerChunk = 1 << 14

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

func (m *miner) search(j *job, first uint64) {
	defer m.wg.Done()
	t := pow.NewTemplate(j.header, m.difficulty)
	step := uint64(m.threads)
	for start := first; start <= chain.MaxSafeInteger && !j.done.Load(); start += step * minerChunk {
		count := uint64(minerChunk)
		if last := start + step*(count-1); last > chain.MaxSafeInteger {
			count = (chain.MaxSafeInteger-start)/step + 1
		}
		nonce, hash, ok, tried := t.Search(start, step, count)
		j.attempts.Add(tried)
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
