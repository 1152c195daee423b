package node

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// Sync runs a nearest-neighbour sync round now and returns when it ends.
func (n *Node) Sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case n.syncReq <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// triggerSync asks for a round without waiting; requests pile into one.
func (n *Node) triggerSync() {
	select {
	case n.syncReq <- nil:
	default:
	}
}

// syncMemory is what sync rounds remember about peers from one round to
// the next. Owned by syncLoop's goroutine.
type syncMemory struct {
	mu        sync.Mutex           // the fetch and store stages of a sync run both use it
	delivered map[string]time.Time // peers (by id) whose blocks took us further
	stalled   map[string]time.Time // peers (by id and by address) that left a request unanswered
}

// syncMemoryLimit bounds each map: ids are cheap to make, so an attacker
// could otherwise grow them without end.
const syncMemoryLimit = 1024

// stallMemory is how long a peer that stalled goes last.
const stallMemory = 10 * time.Minute

func (m *syncMemory) note(set map[string]time.Time, keys ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(set) >= syncMemoryLimit {
		clear(set)
	}
	for _, k := range keys {
		if k != "" {
			set[k] = time.Now()
		}
	}
}

func (m *syncMemory) hasDelivered(p netpeers.PeerInfo) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.delivered[p.NodeID]
	return ok
}

func (m *syncMemory) hasStalled(p netpeers.PeerInfo) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range []string{p.NodeID, p.Addr} {
		if t, ok := m.stalled[k]; ok && time.Since(t) < stallMemory {
			return true
		}
	}
	return false
}

func (n *Node) syncLoop(ctx context.Context) {
	mem := &syncMemory{delivered: map[string]time.Time{}, stalled: map[string]time.Time{}}
	for {
		var first chan struct{}
		select {
		case <-ctx.Done():
			return
		case first = <-n.syncReq:
		}
		waiters := []chan struct{}{first}
	drain:
		for {
			select {
			case w := <-n.syncReq:
				waiters = append(waiters, w)
			default:
				break drain
			}
		}
		manual := false
		for _, w := range waiters {
			manual = manual || w != nil
		}
		n.syncRound(ctx, manual, mem)
		for _, w := range waiters {
			if w != nil {
				close(w)
			}
		}
	}
}

// round is one sync round's state, owned by the sync goroutine.
type round struct {
	mem     *syncMemory
	tried   map[string]bool
	recent  []string // /24 (or /64) prefixes of the peers tried, in order
	started time.Time
	stalled bool // a peer stalled this round: rank by trust, not by latency
}

// syncRound asks the nearest online peer that announces more work for
// blocks, verifies them, and backtracks to the next nearest when a peer
// serves an invalid chain or stalls. It ends when no valid peer announces
// more work than we hold. A peer that is slow to answer gets a second peer
// asked the same in parallel; a stall costs the peer its turn in this
// round, not a penalty: the answer may have been lost on our side.
func (n *Node) syncRound(ctx context.Context, manual bool, mem *syncMemory) {
	r := &round{mem: mem, tried: map[string]bool{}, started: time.Now()}
	total := 0
	var last netpeers.PeerInfo
	started := false
	for ctx.Err() == nil {
		p, ok := n.pickSyncPeer(r, r.stalled)
		if !ok {
			break
		}
		ourHeight, _ := n.Tip()
		if !started {
			started = true
			behind := uint64(0)
			if p.Height > ourHeight {
				behind = p.Height - ourHeight
			}
			n.emit(SyncStarted{Peer: p.Addr, Latency: p.SmoothRTT.String(), Height: ourHeight, Behind: behind})
		}
		n.setSyncing(&SyncState{Syncing: true, Peer: p.Addr, Behind: sat(p.Height, ourHeight)})
		r.use(p)
		got, err := n.syncFrom(ctx, r, &p)
		total += got
		if err == nil {
			last = p
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errStore) {
			break // the node is stopping; no peer is to blame
		}
		next, _ := n.pickSyncPeer(r, true)
		n.emit(SyncBacktrack{Peer: p.Addr, Reason: err.Error(), Next: next.Addr})
		n.log.Warn("sync: backtracking", "peer", p.Addr, "reason", err)
		var fault *peerFault
		if errors.As(err, &fault) {
			// Invalid blocks were penalised when refused; answers that
			// lead nowhere are penalised here. A stall is not: our side
			// may have lost the answer, so it only costs the peer its turn.
			n.net.Penalize(p.NodeID, err.Error())
		}
	}
	n.setSyncing(nil)
	if !started && !manual {
		return
	}
	if !started {
		h, _ := n.Tip()
		n.emit(SyncStarted{Height: h, Note: "no online peer announces more work"})
	}
	h, tip := n.Tip()
	note := ""
	if !started {
		note = "in sync: no online peer announces more work"
	}
	n.emit(SyncFinished{Peer: last.Addr, Blocks: total, Height: h, Tip: tip, Note: note})
}

// use marks a peer as asked in this round.
func (r *round) use(p netpeers.PeerInfo) {
	r.tried[p.NodeID] = true
	r.recent = append(r.recent, netPrefix(p.Addr))
}

func sat(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func (n *Node) setSyncing(s *SyncState) { n.syncing.Store(s) }

// pickSyncPeer chooses the next peer of a sync round from the address
// book. Peers that delivered blocks before come first, peers that stalled
// lately last. After a stall (careful), peers that came online during the
// round (a staller coming back under a new id) go after the others.
func (n *Node) pickSyncPeer(r *round, careful bool) (netpeers.PeerInfo, bool) {
	st := n.status.Load()
	class := func(p netpeers.PeerInfo) int {
		switch {
		case r.mem.hasStalled(p):
			return 3
		case r.mem.hasDelivered(p):
			return 0
		case careful && p.LastChange.After(r.started):
			return 2
		}
		return 1
	}
	return rankSyncPeers(n.net.Peers(), workOf(st.Work), st.Tip, r.tried, r.recent, rand.IntN, class)
}

// ahead reports whether a chain (work, tip) beats ours (ourWork, ourTip):
// more work, or equal work and a smaller tip hash. Hex of equal length
// compares like the numbers it spells.
func ahead(work *big.Int, tip string, ourWork *big.Int, ourTip string) bool {
	if c := work.Cmp(ourWork); c != 0 {
		return c > 0
	}
	return len(tip) == len(ourTip) && tip < ourTip
}

// rankSyncPeers picks among online peers whose announced chain beats ours
// and were not tried this round: the lowest class first (nil: all alike),
// then the nearest by smoothed latency, a near tie (within 10%) broken at
// random by pick, and never a third peer in a row from one /24 (or /64)
// while peers from elsewhere remain.
func rankSyncPeers(peers []netpeers.PeerInfo, ours *big.Int, ourTip string, tried map[string]bool, recent []string, pick func(int) int, class func(netpeers.PeerInfo) int) (netpeers.PeerInfo, bool) {
	if class == nil {
		class = func(netpeers.PeerInfo) int { return 0 }
	}
	var cands []netpeers.PeerInfo
	for _, p := range peers {
		if p.Status != string(PeerOnlineStatus) || tried[p.NodeID] || p.NodeID == "" {
			continue
		}
		if !ahead(workOf(p.Work), p.Tip, ours, ourTip) {
			continue
		}
		cands = append(cands, p)
	}
	if len(cands) == 0 {
		return netpeers.PeerInfo{}, false
	}
	rtt := func(p netpeers.PeerInfo) time.Duration {
		if p.SmoothRTT <= 0 {
			return time.Hour // unmeasured peers go last
		}
		return p.SmoothRTT
	}
	sort.SliceStable(cands, func(i, j int) bool { return rtt(cands[i]) < rtt(cands[j]) })
	if len(recent) >= 2 && recent[len(recent)-1] == recent[len(recent)-2] {
		crowded := recent[len(recent)-1]
		var others []netpeers.PeerInfo
		for _, c := range cands {
			if netPrefix(c.Addr) != crowded {
				others = append(others, c)
			}
		}
		if len(others) > 0 {
			cands = others
		}
	}
	bestClass := class(cands[0])
	for _, c := range cands[1:] {
		bestClass = min(bestClass, class(c))
	}
	var top []netpeers.PeerInfo
	for _, c := range cands {
		if class(c) == bestClass {
			top = append(top, c)
		}
	}
	best := rtt(top[0])
	tie := 1
	for tie < len(top) && rtt(top[tie]) <= best+best/10 {
		tie++
	}
	return top[pick(tie)], true
}

// netPrefix is the /24 of an IPv4 address or the /64 of an IPv6 one.
func netPrefix(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32)).String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String()
}

// peerFault is a sync failure the peer is to blame for.
type peerFault struct{ msg string }

func (e *peerFault) Error() string { return e.msg }

// syncFrom fetches blocks from one peer until our chain is at least as good
// as the one it announced. Every answer must take us further along the
// peer's chain (more work reached through it), or the peer is at fault. A
// second peer answering a request first takes over: *p is then that peer.
// It returns how many blocks it added and why it stopped early.
func (n *Node) syncFrom(ctx context.Context, r *round, p *netpeers.PeerInfo) (int, error) {
	got := 0
	var from *chain.Node // the furthest block this peer led us to, for the next locator
	for {
		if n.caughtUp(workOf(p.Work), p.Tip) {
			return got, nil
		}
		added, progressed, err := n.syncRun(ctx, r, p, &from)
		got += added
		if err != nil {
			return got, err
		}
		if !progressed {
			if n.caughtUp(workOf(p.Work), p.Tip) {
				return got, nil
			}
			return got, &peerFault{"announced a better chain but served no blocks"}
		}
	}
}

// syncBatch is one get_blocks answer on its way through the sync
// pipeline: fetched, validated on all cores, then taken in by the loop.
type syncBatch struct {
	blocks   []chain.Block
	peer     netpeers.PeerInfo // who answered
	switched bool              // a second peer answered first: progress counts afresh
	pre      []*chain.Parsed   // blocks validated, by index; nil where not
}

// syncRun fetches, validates and takes in batches from the peer until it
// has no more to give (a short or empty answer, or its announced tip), as
// a pipeline of three stages: while the loop stores one batch and the next
// is validated on all cores, the one after it is already asked for. Each
// block is validated once, outside the loop. It reports the blocks added
// and whether the peer led us further (*from moves on as it does).
func (n *Node) syncRun(ctx context.Context, r *round, p *netpeers.PeerInfo, from **chain.Node) (added int, progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fetched := make(chan syncBatch, 1)
	checked := make(chan syncBatch, 1)
	var fetchErr error
	var wg sync.WaitGroup
	start := *from
	wg.Go(func() {
		defer close(fetched)
		fetchErr = n.fetchBatches(ctx, r, p, start, fetched)
	})
	wg.Go(func() {
		defer close(checked)
		n.checkBatches(ctx, fetched, checked)
	})
	fail := func(e error) {
		err = e
		cancel() // the other stages stop; what they hold is dropped
	}
	for b := range checked {
		if err != nil || len(b.blocks) == 0 {
			continue // drain until the stages end
		}
		peer := netpeers.PeerRef{ID: b.peer.NodeID, Addr: b.peer.Addr}
		var got int
		var aerr error
		var lastNode *chain.Node
		if derr := n.do(ctx, func() {
			got, aerr = n.acceptChecked(b.blocks, b.pre, peer, fromBatch)
			if h, err := chain.ParseHash(b.blocks[len(b.blocks)-1].Hash); err == nil {
				lastNode = n.index.Node(h)
			}
		}); derr != nil {
			fail(derr)
			continue
		}
		added += got
		if got > 0 {
			r.mem.note(r.mem.delivered, b.peer.NodeID)
		}
		if aerr != nil {
			fail(aerr)
			continue
		}
		if b.switched {
			*from = nil
		}
		if lastNode == nil || (*from != nil && lastNode.Work.Cmp((*from).Work) <= 0) {
			fail(&peerFault{"served blocks that lead nowhere new"})
			continue
		}
		*from = lastNode
		progressed = true
	}
	wg.Wait()
	if err == nil && fetchErr != nil {
		err = fetchErr
	}
	return added, progressed, err
}

// locatorAhead is how many hashes of answers not yet taken in lead the
// locator of a pipelined request.
const locatorAhead = 8

// fetchBatches asks the peer for blocks and passes its answers on, asking
// for the next batch as soon as one arrives, with a locator that starts at
// the last block received. Those blocks are not verified yet: a peer that
// lies wastes only its own answers, which are validated before anything
// is built on them. It stops at a short or empty answer or the peer's
// announced tip, and returns why it stopped early.
func (n *Node) fetchBatches(ctx context.Context, r *round, p *netpeers.PeerInfo, from *chain.Node, out chan<- syncBatch) error {
	var base []chain.Hash
	if err := n.do(ctx, func() {
		if from != nil && !n.index.OnBest(from) {
			base = n.index.LocatorFrom(from)
		} else {
			base = n.index.Locator()
		}
	}); err != nil {
		return err
	}
	var ahead []chain.Hash // last hashes of the answers so far, newest first
	for {
		loc := append(slices.Clone(ahead), base...)
		reply, answered, err := n.request(ctx, r, *p, loc)
		if err != nil {
			return err
		}
		b := syncBatch{blocks: reply.Blocks, peer: answered}
		if answered.NodeID != p.NodeID {
			n.emit(SyncBacktrack{Peer: p.Addr, Reason: "slow: " + answered.Addr + " answered first", Next: answered.Addr})
			*p, b.switched = answered, true
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		if len(reply.Blocks) < chain.MaxBlocksPerReply {
			return nil
		}
		last := reply.Blocks[len(reply.Blocks)-1].Hash
		h, err := chain.ParseHash(last)
		if err != nil || last == p.Tip {
			return nil
		}
		ahead = append([]chain.Hash{h}, ahead[:min(len(ahead), locatorAhead-1)]...)
	}
}

// checkBatches validates each batch on all cores, outside the loop. A
// block's parent is the block before it in the batch or, for the first,
// the last block of the batch before (both checked against the real
// parent when the index takes them in) or a block the index holds.
func (n *Node) checkBatches(ctx context.Context, in <-chan syncBatch, out chan<- syncBatch) {
	var last *chain.Block // the previous batch's last block
	for b := range in {
		parents := make([]*chain.Parent, len(b.blocks))
		for i := range b.blocks {
			prev := last
			if i > 0 {
				prev = &b.blocks[i-1]
			}
			if prev == nil || prev.Hash != b.blocks[i].PrevHash {
				continue
			}
			if h, err := chain.ParseHash(prev.Hash); err == nil {
				parents[i] = &chain.Parent{Number: prev.Number, Hash: h}
			}
		}
		if len(b.blocks) > 0 && parents[0] == nil {
			if prev, err := chain.ParseHash(b.blocks[0].PrevHash); err == nil {
				_ = n.do(ctx, func() {
					if nd := n.index.Node(prev); nd != nil {
						parents[0] = &chain.Parent{Number: nd.Height, Hash: nd.Hash}
					}
				})
			}
		}
		b.pre = validateParallel(b.blocks, parents, n.cfg.Difficulty, n.cfg.Clock())
		if len(b.blocks) > 0 {
			last = &b.blocks[len(b.blocks)-1]
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
	}
}

// flight is one get_blocks request of a sync round waiting for its answer.
type flight struct {
	peer     netpeers.PeerInfo
	ch       chan netpeers.Blocks
	deadline time.Time
}

// request sends get_blocks to p and waits for the answer. When p is slow
// (hedgeAfter), the same request goes to the next peer as well, and the
// first answer wins. A peer that never delivered blocks to us has a
// shorter deadline, so that peers announcing much and serving nothing
// cannot hold the round for long. A peer past its deadline is taken as
// stalled: remembered and skipped for the round, not penalised.
func (n *Node) request(ctx context.Context, r *round, p netpeers.PeerInfo, loc []chain.Hash) (netpeers.Blocks, netpeers.PeerInfo, error) {
	req := netpeers.GetBlocks{Locator: hexes(loc), Limit: chain.MaxBlocksPerReply}
	var flights []*flight
	ask := func(q netpeers.PeerInfo) error {
		timeout := n.cfg.SyncTimeout
		if !r.mem.hasDelivered(q) {
			timeout = max(timeout/3, 500*time.Millisecond)
		}
		f := &flight{peer: q, ch: n.expectBlocks(q.NodeID), deadline: time.Now().Add(timeout)}
		if err := n.net.Send(q.NodeID, req); err != nil {
			n.cancelExpect(q.NodeID)
			return fmt.Errorf("send get_blocks: %w", err)
		}
		flights = append(flights, f)
		return nil
	}
	defer func() {
		for _, f := range flights {
			n.cancelExpect(f.peer.NodeID)
		}
	}()
	if err := ask(p); err != nil {
		return netpeers.Blocks{}, p, err
	}
	hedge := time.NewTimer(max(n.cfg.SyncTimeout/5, 100*time.Millisecond))
	defer hedge.Stop()
	for {
		first := flights[0]
		for _, f := range flights[1:] {
			if f.deadline.Before(first.deadline) {
				first = f
			}
		}
		expire := time.NewTimer(time.Until(first.deadline))
		var ch0, ch1 chan netpeers.Blocks
		ch0 = flights[0].ch
		if len(flights) > 1 {
			ch1 = flights[1].ch
		}
		select {
		case reply := <-ch0:
			expire.Stop()
			return reply, flights[0].peer, nil
		case reply := <-ch1:
			expire.Stop()
			return reply, flights[1].peer, nil
		case <-hedge.C:
			expire.Stop()
			if len(flights) > 1 {
				continue
			}
			if q, ok := n.pickSyncPeer(r, true); ok {
				r.use(q)
				if err := ask(q); err != nil {
					n.log.Info("sync: could not ask a second peer", "peer", q.Addr, "err", err)
				}
			}
		case <-expire.C:
			n.cancelExpect(first.peer.NodeID)
			r.mem.note(r.mem.stalled, first.peer.NodeID, first.peer.Addr)
			r.stalled = true
			var left []*flight
			for _, f := range flights {
				if f != first {
					left = append(left, f)
				}
			}
			flights = left
			if len(flights) == 0 {
				return netpeers.Blocks{}, p, errStalled
			}
			n.emit(SyncBacktrack{Peer: first.peer.Addr, Reason: errStalled.Error(), Next: flights[0].peer.Addr})
		case <-ctx.Done():
			expire.Stop()
			return netpeers.Blocks{}, p, ctx.Err()
		}
	}
}

// caughtUp reports whether our best chain is at least as good as a peer's
// announced (work, tip).
func (n *Node) caughtUp(work *big.Int, tip string) bool {
	st := n.status.Load()
	return !ahead(work, tip, workOf(st.Work), st.Tip)
}

func (n *Node) expectBlocks(peerID string) chan netpeers.Blocks {
	ch := make(chan netpeers.Blocks, 1)
	n.waitMu.Lock()
	n.waiting[peerID] = ch
	n.waitMu.Unlock()
	return ch
}

func (n *Node) cancelExpect(peerID string) {
	n.waitMu.Lock()
	delete(n.waiting, peerID)
	n.waitMu.Unlock()
}

// syncWaiting reports whether a sync request to the peer is in flight.
func (n *Node) syncWaiting(peerID string) bool {
	n.waitMu.Lock()
	defer n.waitMu.Unlock()
	_, ok := n.waiting[peerID]
	return ok
}

// deliverSync hands a blocks answer to a waiting sync request.
func (n *Node) deliverSync(peerID string, bl netpeers.Blocks) bool {
	n.waitMu.Lock()
	ch, ok := n.waiting[peerID]
	delete(n.waiting, peerID)
	n.waitMu.Unlock()
	if ok {
		ch <- bl
	}
	return ok
}
