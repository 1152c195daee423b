package node

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"sort"
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

func (n *Node) syncLoop(ctx context.Context) {
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
		n.syncRound(ctx, manual)
		for _, w := range waiters {
			if w != nil {
				close(w)
			}
		}
	}
}

// syncRound asks the nearest online peer that announces more work for
// blocks, verifies them, and backtracks to the next nearest when a peer
// serves an invalid chain or stalls. It ends when no valid peer announces
// more work than we hold.
func (n *Node) syncRound(ctx context.Context, manual bool) {
	tried := map[string]bool{}
	var recent []string // /24 (or /64) prefixes of the peers tried, in order
	total := 0
	var last netpeers.PeerInfo
	started := false
	for ctx.Err() == nil {
		p, ok := n.pickSyncPeer(tried, recent)
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
		tried[p.NodeID] = true
		recent = append(recent, netPrefix(p.Addr))
		got, err := n.syncFrom(ctx, p)
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
		next, _ := n.pickSyncPeer(tried, recent)
		n.emit(SyncBacktrack{Peer: p.Addr, Reason: err.Error(), Next: next.Addr})
		n.log.Warn("sync: backtracking", "peer", p.Addr, "reason", err)
		var fault *peerFault
		if n.net != nil && errors.As(err, &fault) {
			// Invalid blocks were penalised when refused; stalls and
			// answers that lead nowhere are penalised here.
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

func sat(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func (n *Node) setSyncing(s *SyncState) { n.syncing.Store(s) }

// pickSyncPeer chooses the next peer of a sync round from the address book.
func (n *Node) pickSyncPeer(tried map[string]bool, recent []string) (netpeers.PeerInfo, bool) {
	if n.net == nil {
		return netpeers.PeerInfo{}, false
	}
	st := n.status.Load()
	return rankSyncPeers(n.net.Peers(), workOf(st.Work), st.Tip, tried, recent, rand.IntN)
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
// and were not tried this round: the nearest by smoothed latency, a near tie
// (within 10%) broken at random by pick, and never a third peer in a row
// from one /24 (or /64) while peers from elsewhere remain.
func rankSyncPeers(peers []netpeers.PeerInfo, ours *big.Int, ourTip string, tried map[string]bool, recent []string, pick func(int) int) (netpeers.PeerInfo, bool) {
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
	best := rtt(cands[0])
	tie := 1
	for tie < len(cands) && rtt(cands[tie]) <= best+best/10 {
		tie++
	}
	return cands[pick(tie)], true
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

var errStalledFault = &peerFault{errStalled.Error()}

// syncFrom fetches blocks from one peer until our chain is at least as good
// as the one it announced. Every answer must take us further along the
// peer's chain (more work reached through it), or the peer is at fault. It
// returns how many blocks it added and why it stopped early.
func (n *Node) syncFrom(ctx context.Context, p netpeers.PeerInfo) (int, error) {
	target := workOf(p.Work)
	got := 0
	var from *chain.Node // the furthest block this peer led us to, for the next locator
	for {
		if n.caughtUp(target, p.Tip) {
			return got, nil
		}
		var loc []chain.Hash
		if err := n.do(ctx, func() {
			if from != nil && !n.index.OnBest(from) {
				loc = n.index.LocatorFrom(from)
			} else {
				loc = n.index.Locator()
			}
		}); err != nil {
			return got, err
		}
		ch := n.expectBlocks(p.NodeID)
		if err := n.net.Send(p.NodeID, netpeers.GetBlocks{Locator: hexes(loc), Limit: chain.MaxBlocksPerReply}); err != nil {
			n.cancelExpect(p.NodeID)
			return got, fmt.Errorf("send get_blocks: %w", err)
		}
		var reply netpeers.Blocks
		timer := time.NewTimer(n.cfg.SyncTimeout)
		select {
		case reply = <-ch:
			timer.Stop()
		case <-timer.C:
			n.cancelExpect(p.NodeID)
			return got, errStalledFault
		case <-ctx.Done():
			timer.Stop()
			n.cancelExpect(p.NodeID)
			return got, ctx.Err()
		}
		if len(reply.Blocks) == 0 {
			if n.caughtUp(target, p.Tip) {
				return got, nil
			}
			return got, &peerFault{"announced a better chain but served no blocks"}
		}
		var added int
		var aerr error
		var lastNode *chain.Node
		peer := netpeers.PeerRef{ID: p.NodeID, Addr: p.Addr}
		if err := n.do(ctx, func() {
			added, aerr = n.accept(reply.Blocks, peer, fromBatch)
			if h, err := chain.ParseHash(reply.Blocks[len(reply.Blocks)-1].Hash); err == nil {
				lastNode = n.index.Node(h)
			}
		}); err != nil {
			return got, err
		}
		got += added
		if aerr != nil {
			return got, aerr
		}
		if lastNode == nil || (from != nil && lastNode.Work.Cmp(from.Work) <= 0) {
			return got, &peerFault{"served blocks that lead nowhere new"}
		}
		from = lastNode
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
