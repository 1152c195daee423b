package ui

import (
	"fmt"
	"slices"
	"time"

	"github.com/meshchain/meshchain/node"
)

// keepSpread is how many of the newest blocks' spreads the dashboard
// remembers; the per-peer figures are taken over them.
const keepSpread = 200

// spreadBook is the level-order picture of how blocks reach this node: for
// each new block, the peer that delivered it first and how late every other
// peer's copy came (block_accepted, then block_seen_again). Blocks taken
// in while a sync round runs are fetched, not raced for, and are left out.
// It is shared by the State's copies (the Model is copied by Bubble Tea),
// like the State's maps.
type spreadBook struct {
	blocks []*blockSpread // oldest first
	byHash map[string]*blockSpread
}

// blockSpread is one block's arrivals.
type blockSpread struct {
	Hash   string
	Height uint64
	First  string    // the peer that delivered it first; "" when mined here
	Mined  bool      // mined by this node
	At     time.Time // when the first copy was reported
	Copies []blockCopy
}

// blockCopy is a later copy of a block from another peer.
type blockCopy struct {
	Peer  string
	Lag   time.Duration // behind the first copy
	Timed bool          // the node measured Lag; else it is taken from event times
}

func newSpreadBook() *spreadBook { return &spreadBook{byHash: map[string]*blockSpread{}} }

// first records a block's first copy (block_accepted or block_mined).
func (b *spreadBook) first(hash string, height uint64, peer string, mined bool, at time.Time) {
	if hash == "" || b.byHash[hash] != nil {
		return
	}
	bs := &blockSpread{Hash: hash, Height: height, First: peer, Mined: mined, At: at}
	b.byHash[hash] = bs
	b.blocks = append(b.blocks, bs)
	if len(b.blocks) > keepSpread {
		delete(b.byHash, b.blocks[0].Hash)
		b.blocks = append(b.blocks[:0:0], b.blocks[1:]...)
	}
}

// again records a later copy (block_seen_again).
func (b *spreadBook) again(e node.BlockSeenAgain, at time.Time) {
	bs := b.byHash[e.Hash]
	if bs == nil {
		// Its first copy came before the dashboard looked.
		b.first(e.Hash, e.Height, e.First, false, time.Time{})
		if bs = b.byHash[e.Hash]; bs == nil {
			return
		}
	}
	if e.Peer == bs.First && !bs.Mined {
		return
	}
	for _, c := range bs.Copies {
		if c.Peer == e.Peer {
			return // one copy per peer: a resend says nothing new
		}
	}
	c := blockCopy{Peer: e.Peer}
	switch {
	case e.LagMS != nil:
		c.Lag, c.Timed = time.Duration(*e.LagMS*float64(time.Millisecond)), true
	case !bs.At.IsZero() && !at.IsZero():
		c.Lag = max(0, at.Sub(bs.At))
	}
	bs.Copies = append(bs.Copies, c)
}

// block is the spread of one block, nil when none was recorded.
func (b *spreadBook) block(hash string) *blockSpread {
	if b == nil {
		return nil
	}
	return b.byHash[hash]
}

// peerDelivery is one peer's figures over the remembered blocks that came
// from peers (Relayed): how many it delivered at all, how many first, and
// the median of its lags (0 for the blocks it was first with).
type peerDelivery struct {
	Relayed, Delivered, First int
	MedianLag                 time.Duration
}

// Share is the fraction of the relayed blocks it delivered first: the
// peers' shares add up to one.
func (d peerDelivery) Share() float64 {
	if d.Relayed == 0 {
		return 0
	}
	return float64(d.First) / float64(d.Relayed)
}

// delivery is peer's figures; Delivered is 0 when it sent none.
func (b *spreadBook) delivery(peer string) peerDelivery {
	if b == nil || peer == "" {
		return peerDelivery{}
	}
	var d peerDelivery
	var lags []time.Duration
	for _, bs := range b.blocks {
		if bs.Mined || bs.First == "" {
			continue // an echo of our own block races nothing
		}
		d.Relayed++
		if bs.First == peer {
			d.Delivered++
			d.First++
			lags = append(lags, 0)
			continue
		}
		for _, c := range bs.Copies {
			if c.Peer == peer {
				d.Delivered++
				lags = append(lags, c.Lag)
			}
		}
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		d.MedianLag = lags[len(lags)/2]
		if len(lags)%2 == 0 {
			d.MedianLag = (lags[len(lags)/2-1] + lags[len(lags)/2]) / 2
		}
	}
	return d
}

// firstLine and lagLine are a peer's figures in words, for its detail.
func (b *spreadBook) firstLine(peer string) string {
	d := b.delivery(peer)
	if d.Delivered == 0 {
		return fmt.Sprintf("no relayed block from it among the last %d", keepSpread)
	}
	return fmt.Sprintf("%d of the last %d relayed blocks (%.0f%%)", d.First, d.Relayed, 100*d.Share())
}

func (b *spreadBook) lagLine(peer string) string {
	d := b.delivery(peer)
	if d.Delivered == 0 {
		return "-"
	}
	return fmt.Sprintf("median %s behind the first, over the %d it sent", lagText(d.MedianLag), d.Delivered)
}

// lagText is a lag to a tenth of a millisecond below 10 ms.
func lagText(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}
