package node

import (
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

const (
	// maxFutureFetches bounds the re-asks waiting at once (one per peer).
	maxFutureFetches = 16
	// maxFutureWait is the furthest ahead a re-ask is scheduled: a block
	// that far in the future is no clock skew, and a peer sending it may
	// announce its chain again in the meantime anyway.
	maxFutureWait = 24 * time.Hour
	// futureSlack is added to the wait so that the block is valid by the
	// receiver's millisecond clock when the answer arrives.
	futureSlack = 20 * time.Millisecond
)

// futureFetch is a re-ask of a peer scheduled for when a block it sent,
// refused for its time alone, becomes valid.
type futureFetch struct {
	at    time.Time // by the node's clock
	timer *time.Timer
}

// refetchLater schedules, when a block refused only for a time too far
// ahead of our clock becomes valid, a fetch from the peer that sent it:
// otherwise a peer that stays quiet leaves the two nodes split. One re-ask
// per peer is kept, the earliest; a refusal after it schedules the next.
func (n *Node) refetchLater(b *chain.Block, from netpeers.PeerRef) {
	if from.ID == "" || n.net == nil {
		return
	}
	ts, err := chain.ParseTime(b.TimeStamp)
	if err != nil {
		return
	}
	at := time.UnixMilli(ts).Add(-chain.MaxFutureDrift).Add(futureSlack)
	wait := at.Sub(n.cfg.Clock())
	if wait > maxFutureWait {
		n.log.Info("block too far ahead to wait for; not asking again", "hash", b.Hash, "timestamp", b.TimeStamp, "peer", from.Addr)
		return
	}
	if n.side.future == nil {
		n.side.future = map[string]*futureFetch{}
	}
	if f, ok := n.side.future[from.ID]; ok {
		if !f.at.After(at) {
			return
		}
		f.timer.Stop()
		delete(n.side.future, from.ID)
	}
	if len(n.side.future) >= maxFutureFetches {
		n.log.Info("too many re-asks waiting; not scheduling another", "peer", from.Addr)
		return
	}
	f := &futureFetch{at: at}
	// The timer's goroutine only hands the re-ask to the loop, and gives up
	// once the loop has stopped, so it never outlives the node for long.
	f.timer = time.AfterFunc(max(wait, 0), func() {
		select {
		case n.cmds <- func() { n.refetchNow(from, f) }:
		case <-n.stopping:
		}
	})
	n.side.future[from.ID] = f
	n.log.Info("block ahead of our clock; will ask again when it is valid", "hash", b.Hash, "peer", from.Addr, "in", wait.Round(time.Millisecond))
}

// refetchNow runs on the loop when a scheduled re-ask is due: a sync round
// when the peer announces more work than ours (it fetches a long chain
// whole), else a get_blocks from our best chain, as for an orphan.
func (n *Node) refetchNow(from netpeers.PeerRef, f *futureFetch) {
	if n.side.future[from.ID] != f {
		return // replaced by an earlier one, which has run
	}
	delete(n.side.future, from.ID)
	tip := n.index.Tip()
	for _, p := range n.net.Peers() {
		if p.NodeID != from.ID || p.Status != string(PeerOnlineStatus) {
			continue
		}
		if ahead(workOf(p.Work), p.Tip, tip.Work, tip.Hash.String()) {
			n.triggerSync()
			return
		}
		if n.syncWaiting(from.ID) {
			return
		}
		n.orphanAsked[from.ID] = time.Now()
		_ = n.net.Send(from.ID, netpeers.GetBlocks{Locator: hexes(n.index.Locator()), Limit: chain.MaxBlocksPerReply})
		return
	}
}
