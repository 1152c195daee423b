package node

import (
	"cmp"
	"container/heap"
	"container/list"
	"slices"
	"strings"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
)

// Bounds of the pending pool. Own messages are never dropped: they are the
// user's, acknowledged by Post. Other authors' messages come back only from
// reorganised-out blocks and only their author mines them, so they are kept
// for a while (to show, and in case we become their author's relay) and
// then let go: the oldest arrivals first when the pool is over a bound, and
// any that have waited too long.
const (
	maxPoolBytes      = 8 << 20        // own and others' together, estimated by pendingSize
	maxOtherPending   = 5000           // others' messages held at most
	otherExpiryBlocks = 144            // others' messages expire after this many blocks...
	otherExpiry       = 24 * time.Hour // ...or this long, whichever comes first
)

// pendingSize estimates what a message costs in memory and on disk: its
// fields plus the JSON record's keys and the index entries.
func pendingSize(p *store.Pending) int {
	return len(p.Message) + len(p.Sender) + len(p.TimeStamp) + len(p.Signature) + 192
}

// poolEntry is one message in the pool. Own entries sit in a heap by
// signing time, others in a list by arrival.
type poolEntry struct {
	msg  store.Pending
	seq  uint64 // arrival order, ties signing times
	size int
	at   int           // own: index in pool.own
	elem *list.Element // others: place in pool.others
}

// pool is the in-memory mirror of the store's pending messages. The loop
// owns it; the store is written first. Adds and removals are O(log n) for
// own messages and O(1) for others'.
type pool struct {
	sender     string
	byID       map[chain.Hash]*poolEntry
	own        ownHeap    // next own message to mine on top
	others     *list.List // of *poolEntry, by entry time (AddedAt), oldest first
	ownBytes   int
	otherBytes int
	seq        uint64
	sorted     []store.Pending // list()'s answer until the pool changes

	maxBytes     int
	maxOthers    int
	expiryBlocks uint64
	expiry       time.Duration
}

func newPool(sender string) *pool {
	return &pool{
		sender: sender, byID: map[chain.Hash]*poolEntry{}, others: list.New(),
		maxBytes: maxPoolBytes, maxOthers: maxOtherPending,
		expiryBlocks: otherExpiryBlocks, expiry: otherExpiry,
	}
}

func (p *pool) has(id chain.Hash) bool { _, ok := p.byID[id]; return ok }

// add inserts a message; duplicates are ignored. It never evicts: callers
// ask plan first so evictions are stored with the change that caused them.
func (p *pool) add(m store.Pending) {
	if p.has(m.MessageID) {
		return
	}
	m.Own = m.Sender == p.sender
	m.Key = nil
	p.seq++
	e := &poolEntry{msg: m, seq: p.seq, size: pendingSize(&m)}
	p.byID[m.MessageID] = e
	if m.Own {
		heap.Push(&p.own, e)
		p.ownBytes += e.size
	} else {
		p.insertOther(e)
		p.otherBytes += e.size
	}
	p.sorted = nil
}

// insertOther keeps others in order of entry time. New arrivals go at the
// back in O(1); only a load from the store (which reads in signing-time
// order) walks back, over at most the bounded number of others.
func (p *pool) insertOther(e *poolEntry) {
	at := p.others.Back()
	for at != nil && at.Value.(*poolEntry).msg.AddedAt > e.msg.AddedAt {
		at = at.Prev()
	}
	if at == nil {
		e.elem = p.others.PushFront(e)
	} else {
		e.elem = p.others.InsertAfter(e, at)
	}
}

func (p *pool) remove(ids ...chain.Hash) {
	for _, id := range ids {
		e, ok := p.byID[id]
		if !ok {
			continue
		}
		delete(p.byID, id)
		if e.msg.Own {
			heap.Remove(&p.own, e.at)
			p.ownBytes -= e.size
		} else {
			p.others.Remove(e.elem)
			p.otherBytes -= e.size
		}
		p.sorted = nil
	}
}

// next is the first own message to mine (oldest signing time), or false.
func (p *pool) next() (store.Pending, bool) {
	if len(p.own) == 0 {
		return store.Pending{}, false
	}
	return p.own[0].msg, true
}

func (p *pool) ownLen() int { return len(p.own) }

func (p *pool) otherLen() int { return p.others.Len() }

// bytes is the estimated size of the whole pool.
func (p *pool) bytes() int { return p.ownBytes + p.otherBytes }

// lastTime is the newest own signing time in Unix ms, or 0. It scans; the
// node asks once, at start.
func (p *pool) lastTime() int64 {
	var last int64
	for _, e := range p.own {
		if t, err := chain.ParseTime(e.msg.TimeStamp); err == nil && t > last {
			last = t
		}
	}
	return last
}

// list is the whole pool by signing time, then arrival. It is cached until
// the pool changes, as snapshots ask for it often.
func (p *pool) list() []store.Pending {
	if p.sorted == nil {
		es := make([]*poolEntry, 0, len(p.byID))
		for _, e := range p.byID {
			es = append(es, e)
		}
		slices.SortFunc(es, func(a, b *poolEntry) int {
			if c := strings.Compare(a.msg.TimeStamp, b.msg.TimeStamp); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		p.sorted = make([]store.Pending, len(es))
		for i, e := range es {
			p.sorted[i] = e.msg
		}
	}
	return slices.Clone(p.sorted)
}

// expired reports whether another author's message has waited too long at
// best height height and time now. One whose entry time is unknown (stored
// before entry times were) counts as expired: it may have waited for weeks.
func (p *pool) expired(m *store.Pending, height uint64, now time.Time) bool {
	if m.Own {
		return false
	}
	if m.AddedAt == 0 {
		return true
	}
	return height >= m.AddedHeight+p.expiryBlocks || now.UnixMilli()-m.AddedAt >= p.expiry.Milliseconds()
}

// plan works out, without changing the pool, what removing gone and adding
// add (at best height height, time now) must also evict to keep the pool
// within its bounds and drop what expired: evict lists held messages to
// drop, keep the part of add worth adding. Only others' messages are
// evicted, oldest arrival first, then the oldest signed of add. It walks
// only as far as it evicts, so its cost does not grow with the pool.
func (p *pool) plan(gone []chain.Hash, add []store.Pending, height uint64, now time.Time) (evict []chain.Hash, keep []store.Pending) {
	goneSet := make(map[chain.Hash]bool, len(gone))
	others, bytes := p.others.Len(), p.bytes()
	for _, id := range gone {
		if e, ok := p.byID[id]; ok && !goneSet[id] {
			goneSet[id] = true
			bytes -= e.size
			if !e.msg.Own {
				others--
			}
		}
	}
	seen := make(map[chain.Hash]bool, len(add))
	var newOthers []store.Pending
	for _, m := range add {
		if seen[m.MessageID] || (p.has(m.MessageID) && !goneSet[m.MessageID]) {
			continue
		}
		seen[m.MessageID] = true
		if m.Sender == p.sender {
			keep = append(keep, m)
			bytes += pendingSize(&m)
			continue
		}
		newOthers = append(newOthers, m)
		others++
		bytes += pendingSize(&m)
	}
	over := func() bool { return others > p.maxOthers || bytes > p.maxBytes }
	for el := p.others.Front(); el != nil; el = el.Next() {
		e := el.Value.(*poolEntry)
		if goneSet[e.msg.MessageID] {
			continue
		}
		if !over() && !p.expired(&e.msg, height, now) {
			break // in entry-time order: the rest are newer
		}
		evict = append(evict, e.msg.MessageID)
		others--
		bytes -= e.size
	}
	// Still over with every held one gone: drop the oldest signed of add.
	slices.SortStableFunc(newOthers, func(a, b store.Pending) int { return strings.Compare(a.TimeStamp, b.TimeStamp) })
	for len(newOthers) > 0 && over() {
		others--
		bytes -= pendingSize(&newOthers[0])
		newOthers = newOthers[1:]
	}
	return evict, append(keep, newOthers...)
}

// ownHeap orders own messages by signing time (the fixed timeStamp format
// sorts as text), then arrival.
type ownHeap []*poolEntry

func (h ownHeap) Len() int { return len(h) }

func (h ownHeap) Less(i, j int) bool {
	if h[i].msg.TimeStamp != h[j].msg.TimeStamp {
		return h[i].msg.TimeStamp < h[j].msg.TimeStamp
	}
	return h[i].seq < h[j].seq
}

func (h ownHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}

func (h *ownHeap) Push(x any) {
	e := x.(*poolEntry)
	e.at = len(*h)
	*h = append(*h, e)
}

func (h *ownHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// trimPool applies the pool's bounds and expiry once at open, before the
// loop runs. A pool left by a version that bounded nothing (the issue saw
// 30,000 records) would otherwise all go in the loop's first transaction,
// which held the loop for half a second; at open nobody waits on it. A
// failure is only logged: the first change the loop stores drops the same
// messages.
func (n *Node) trimPool() {
	evict, _ := n.pool.plan(nil, nil, n.index.Height(), n.cfg.Clock())
	if len(evict) == 0 {
		return
	}
	if err := n.store.RemovePending(evict...); err != nil {
		n.log.Warn("could not let go of other authors' pending messages at open", "messages", len(evict), "err", err)
		return
	}
	n.pool.remove(evict...)
	n.log.Info("pending pool: let go of other authors' messages at open (over its bound or expired)",
		"dropped", len(evict), "others_left", n.pool.otherLen(), "bytes", n.pool.bytes())
}
