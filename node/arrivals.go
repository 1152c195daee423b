package node

import (
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// arrivalsKept is how many relayed blocks' first arrivals are remembered:
// later copies come within seconds, while a few hundred blocks take
// minutes even on a fast devnet.
const arrivalsKept = 256

// arrival is when, and from which peer, a block first reached the node.
type arrival struct {
	at   time.Time
	peer string
}

// arrivals remembers the first arrival of the newest relayed blocks, so
// that a later copy of one can say how late it came (BlockSeenAgain).
// Owned by the loop; the zero value is ready.
type arrivals struct {
	first map[chain.Hash]arrival
	order [arrivalsKept]chain.Hash // a ring: the oldest is replaced first
	next  int
}

// note records a block's first arrival; a block already noted keeps its
// first.
func (a *arrivals) note(h chain.Hash, at time.Time, peer string) {
	if _, ok := a.first[h]; ok {
		return
	}
	if a.first == nil {
		a.first = make(map[chain.Hash]arrival, arrivalsKept)
	}
	delete(a.first, a.order[a.next])
	a.order[a.next] = h
	a.next = (a.next + 1) % arrivalsKept
	a.first[h] = arrival{at: at, peer: peer}
}

// noteBlockArrival runs on the loop for each block frame, with the time
// its session took it in: the first copy of a block is remembered, a
// later one (known, so dropped) is reported with its lag behind the first.
// Reporting is a non-blocking, droppable broker publish, after the relay
// of the first copy, which never waits for it.
func (n *Node) noteBlockArrival(b *chain.Block, from netpeers.PeerRef, at time.Time, known bool) {
	h, err := chain.ParseHash(b.Hash)
	if err != nil || at.IsZero() {
		return
	}
	if !known {
		n.arrivals.note(h, at, from.Addr)
		return
	}
	n.emitSeenAgain(b, from, at, n.arrivals.first[h])
}

// emitSeenAgain reports a copy of a known block, with its lag behind the
// first copy when that is known (first.at set). Safe on any goroutine:
// the session goroutines report the copies they drop (HandleFrame).
func (n *Node) emitSeenAgain(b *chain.Block, from netpeers.PeerRef, at time.Time, first arrival) {
	ev := BlockSeenAgain{Hash: b.Hash, Height: b.Number, Peer: from.Addr}
	if !first.at.IsZero() {
		lag := max(0, float64(at.Sub(first.at).Microseconds())/1000)
		ev.First, ev.LagMS = first.peer, &lag
	}
	n.emit(ev)
}
