package node

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// Limits on what one peer may make the node do. An honest syncing peer
// asks one get_blocks at a time (about 15 a second on loopback), and sends
// a block the node already has at most once per block relayed.
const (
	getBlocksRate      = 50  // get_blocks served per second and peer
	getBlocksBurst     = 100 //
	floodRate          = 10  // requests over the rate tolerated per second...
	floodBurst         = 200 // ...and at once, before the peer is penalised
	uselessRate        = 5   // frames that bring nothing new, per second...
	uselessBurst       = 100 // ...and at once, before the peer is penalised
	servePerPeer       = 4   // get_blocks answers waiting per peer
	inboxPeerBytes     = 2 * netpeers.MaxFrameBytes
	inboxTotalBytes    = 64 << 20
	farAheadRemembered = 1024 // blocks refused as too far ahead, by hash
	seenBlocksKept     = 4096 // latest blocks taken in, known to the sessions by hash
)

// peerKey names a peer for the limits: its node id, or its address for a
// session that has none.
func peerKey(p netpeers.PeerRef) string {
	if p.ID != "" {
		return p.ID
	}
	return p.Addr
}

// frameSize estimates the memory a decoded frame holds, for the inbox's
// byte budget.
func frameSize(frame any) int64 {
	const blockBytes = 600 // a block's fields other than its message, as decoded
	switch f := frame.(type) {
	case netpeers.Blocks:
		var n int64 = 64
		for i := range f.Blocks {
			n += blockBytes + int64(len(f.Blocks[i].Message))
		}
		return n
	case netpeers.BlockMsg:
		return blockBytes + int64(len(f.Block.Message))
	case netpeers.GetBlocks:
		return 64 + 80*int64(len(f.Locator))
	}
	return 256
}

// intake holds the per-peer limits on what reaches the loop. Its methods
// are called from session goroutines and the loop.
type intake struct {
	mu    sync.Mutex
	peers map[string]*peerLimits
	used  int64         // bytes of frames in the inbox
	freed chan struct{} // closed (and replaced) when bytes are released
}

type peerLimits struct {
	getBlocks *rate.Limiter // get_blocks served
	excess    *rate.Limiter // get_blocks over the rate, tolerated
	useless   *rate.Limiter // frames that brought nothing new, tolerated
	used      int64         // bytes of this peer's frames in the inbox
	gone      bool          // offline: forget once used is back to 0
	penalised bool          // reported once
}

func newIntake() *intake {
	return &intake{peers: map[string]*peerLimits{}, freed: make(chan struct{})}
}

// limitsLocked returns the peer's limits, made on first use.
func (in *intake) limitsLocked(key string) *peerLimits {
	p := in.peers[key]
	if p == nil {
		p = &peerLimits{
			getBlocks: rate.NewLimiter(getBlocksRate, getBlocksBurst),
			excess:    rate.NewLimiter(floodRate, floodBurst),
			useless:   rate.NewLimiter(uselessRate, uselessBurst),
		}
		in.peers[key] = p
	}
	p.gone = false
	return p
}

// getBlocksVerdict says what to do with a get_blocks request.
type getBlocksVerdict int

const (
	serveRequest getBlocksVerdict = iota
	dropRequest
	penaliseFlood
)

func (in *intake) getBlocks(key string) getBlocksVerdict {
	in.mu.Lock()
	defer in.mu.Unlock()
	p := in.limitsLocked(key)
	if p.getBlocks.Allow() {
		return serveRequest
	}
	if p.excess.Allow() || p.penalised {
		return dropRequest
	}
	p.penalised = true
	return penaliseFlood
}

// uselessFrame counts a frame that brought nothing new, weighted; it
// reports whether the peer is past what it may send and should be
// penalised (once).
func (in *intake) uselessFrame(key string, weight int) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	p := in.limitsLocked(key)
	if p.useless.AllowN(time.Now(), min(weight, uselessBurst)) || p.penalised {
		return false
	}
	p.penalised = true
	return true
}

// acquire waits until the frame fits in the peer's share of the inbox and
// in the inbox as a whole; false when stop closed first. A frame alone in
// its peer's share always fits, so a large frame cannot wait for ever.
func (in *intake) acquire(key string, size int64, stop <-chan struct{}) bool {
	for {
		in.mu.Lock()
		p := in.limitsLocked(key)
		if (p.used == 0 || p.used+size <= inboxPeerBytes) && (in.used == 0 || in.used+size <= inboxTotalBytes) {
			p.used += size
			in.used += size
			in.mu.Unlock()
			return true
		}
		wait := in.freed
		in.mu.Unlock()
		select {
		case <-wait:
		case <-stop:
			return false
		}
	}
}

// release gives back what acquire took.
func (in *intake) release(key string, size int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if p := in.peers[key]; p != nil {
		p.used -= size
		if p.used <= 0 && p.gone {
			delete(in.peers, key)
		}
	}
	in.used -= size
	close(in.freed)
	in.freed = make(chan struct{})
}

// forget drops a peer's limits once it is offline and its frames are
// taken in; a peer that comes back starts afresh, as a new session would.
func (in *intake) forget(key string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if p := in.peers[key]; p != nil {
		if p.used <= 0 {
			delete(in.peers, key)
		} else {
			p.gone = true
		}
	}
}

// allowGetBlocks applies the peer's get_blocks rate: requests over it are
// dropped, and a peer that keeps flooding is penalised.
func (n *Node) allowGetBlocks(from netpeers.PeerRef) bool {
	switch n.intake.getBlocks(peerKey(from)) {
	case serveRequest:
		return true
	case penaliseFlood:
		n.penalise(from, fmt.Sprintf("Flood: more than %d get_blocks a second", getBlocksRate))
	}
	return false
}

// penalise reports a peer's offence to the network, which closes the
// session and refuses the peer for a while.
func (n *Node) penalise(from netpeers.PeerRef, reason string) {
	n.log.Info("peer penalised", "peer", from.Addr, "reason", reason)
	if n.net != nil && from.ID != "" {
		n.net.Penalize(from.ID, reason)
	}
}

// fairQueue holds get_blocks answers to send, a few per peer, and gives
// them out one peer after another.
type fairQueue struct {
	mu     sync.Mutex
	queues map[string][]serveJob
	order  []string // peers with answers waiting, next first
	ready  chan struct{}
}

func newFairQueue() *fairQueue {
	return &fairQueue{queues: map[string][]serveJob{}, ready: make(chan struct{}, 1)}
}

// push queues a job; false when the peer already has servePerPeer waiting.
func (q *fairQueue) push(key string, job serveJob) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting := q.queues[key]
	if len(waiting) >= servePerPeer {
		return false
	}
	if len(waiting) == 0 {
		q.order = append(q.order, key)
	}
	q.queues[key] = append(waiting, job)
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// drop forgets the jobs of a peer that went away.
func (q *fairQueue) drop(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.queues[key]; !ok {
		return
	}
	delete(q.queues, key)
	for i, k := range q.order {
		if k == key {
			q.order = append(q.order[:i], q.order[i+1:]...)
			break
		}
	}
}

// pop takes the next peer's oldest job; that peer goes to the back.
func (q *fairQueue) pop() (serveJob, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return serveJob{}, false
	}
	key := q.order[0]
	q.order = q.order[1:]
	waiting := q.queues[key]
	job := waiting[0]
	if len(waiting) == 1 {
		delete(q.queues, key)
	} else {
		q.queues[key] = waiting[1:]
		q.order = append(q.order, key)
	}
	return job, true
}

// farAhead remembers blocks refused only for a time too far ahead, by
// hash, until they may be valid: copies sent again before then are
// dropped without validating, logging or reporting them again. Owned by
// the loop.
type farAhead struct {
	until map[chain.Hash]time.Time
	order []chain.Hash // oldest first, for the bound
}

func newFarAhead() *farAhead { return &farAhead{until: map[chain.Hash]time.Time{}} }

func (f *farAhead) refused(h chain.Hash, now time.Time) bool {
	t, ok := f.until[h]
	return ok && now.Before(t)
}

func (f *farAhead) remember(h chain.Hash, until time.Time) {
	if _, ok := f.until[h]; !ok {
		if len(f.order) >= farAheadRemembered {
			delete(f.until, f.order[0])
			f.order = f.order[1:]
		}
		f.order = append(f.order, h)
	}
	f.until[h] = until
}

// unseen returns the blocks of a frame worth validating: not already known
// to the index (valid, or held as an orphan), not sent twice in the frame,
// and not refused as too far ahead while that still holds. It runs before
// any signature is checked. known and refused count what it left out.
func (n *Node) unseen(blocks []chain.Block) (out []chain.Block, known, refused int) {
	now := n.cfg.Clock()
	var seen map[chain.Hash]bool
	for i := range blocks {
		h, err := chain.ParseHash(blocks[i].Hash)
		if err != nil {
			out = append(out, blocks[i]) // accept refuses it, with its reason
			continue
		}
		switch {
		case n.farAhead.refused(h, now):
			refused++
			continue
		case n.index.Has(h) || seen[h]:
			known++
			continue
		}
		if len(blocks) > 1 {
			if seen == nil {
				seen = map[chain.Hash]bool{}
			}
			seen[h] = true
		}
		out = append(out, blocks[i])
	}
	return out, known, refused
}

// useless counts a frame that brought nothing new against its sender, and
// penalises a peer that keeps sending them.
func (n *Node) useless(from netpeers.PeerRef, weight int, what string) {
	if from.ID == "" && from.Addr == "" {
		return
	}
	if n.intake.uselessFrame(peerKey(from), weight) {
		n.penalise(from, "UselessFrames: too many frames with nothing new, the last with "+what)
	}
}

// noteTooFarAhead remembers the block that accept refused only for its
// time, so that its copies are dropped until it may be valid. The refusal
// comes after its hash and signature were checked (chain.TooFarAhead), so
// the hash names this very block.
func (n *Node) noteTooFarAhead(blocks []chain.Block, err error) {
	if err == nil || !chain.TooFarAhead(err) {
		return
	}
	limit := n.cfg.Clock().Add(chain.MaxFutureDrift)
	for i := range blocks {
		ts, perr := chain.ParseTime(blocks[i].TimeStamp)
		if perr != nil || ts <= limit.UnixMilli() {
			continue
		}
		h, herr := chain.ParseHash(blocks[i].Hash)
		if herr != nil || n.index.Has(h) {
			continue
		}
		// Valid, at the earliest, once our clock is within the drift of it.
		n.farAhead.remember(h, time.UnixMilli(ts).Add(-chain.MaxFutureDrift))
		return
	}
}

// seenBlocks holds the hashes of the latest blocks the loop took in, with
// their first arrivals, for the session goroutines: a block frame carrying
// one of them (every peer relays each new block once, so a node receives
// each block once per peer) or a tip frame naming one is dropped on the
// session goroutine, without its bytes in the inbox or a turn of the loop.
// The loop adds a block before it relays it, so the copies the relay
// provokes find it. Bounded: a hash that fell out is still known to the
// index, and its copies take the loop's path as before.
type seenBlocks struct {
	mu   sync.Mutex
	has  map[chain.Hash]arrival // first arrival; zero for a block fetched
	ring []chain.Hash           // oldest at next once full
	next int
}

func newSeenBlocks(n int) *seenBlocks {
	return &seenBlocks{has: make(map[chain.Hash]arrival, n), ring: make([]chain.Hash, 0, n)}
}

func (r *seenBlocks) add(h chain.Hash, first arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.has[h]; ok {
		return
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, h)
	} else {
		delete(r.has, r.ring[r.next])
		r.ring[r.next] = h
		r.next = (r.next + 1) % len(r.ring)
	}
	r.has[h] = first
}

// first reports whether hex names a recent block, and its first arrival.
func (r *seenBlocks) first(hex string) (arrival, bool) {
	h, err := chain.ParseHash(hex)
	if err != nil {
		return arrival{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.has[h]
	return a, ok
}

// known reports whether hex names a recent block.
func (r *seenBlocks) known(hex string) bool {
	_, ok := r.first(hex)
	return ok
}
