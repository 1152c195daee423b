package node

import (
	"sort"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
)

// pool is the in-memory mirror of the store's pending messages, in post
// order. The loop owns it; the store is written first.
type pool struct {
	sender string
	msgs   []store.Pending
	byID   map[chain.Hash]int // index into msgs, rebuilt on removal
}

func newPool(sender string) *pool {
	return &pool{sender: sender, byID: map[chain.Hash]int{}}
}

func (p *pool) has(id chain.Hash) bool { _, ok := p.byID[id]; return ok }

// add inserts in key order (signing time, then arrival); duplicates are ignored.
func (p *pool) add(m store.Pending) {
	if p.has(m.MessageID) {
		return
	}
	m.Own = m.Sender == p.sender
	i := sort.Search(len(p.msgs), func(i int) bool { return pendingLess(m, p.msgs[i]) })
	p.msgs = append(p.msgs, store.Pending{})
	copy(p.msgs[i+1:], p.msgs[i:])
	p.msgs[i] = m
	p.reindex()
}

// pendingLess orders by signing time; the fixed timeStamp format sorts as
// text. Equal times keep arrival order.
func pendingLess(a, b store.Pending) bool { return a.TimeStamp < b.TimeStamp }

func (p *pool) remove(ids ...chain.Hash) {
	gone := map[chain.Hash]bool{}
	for _, id := range ids {
		if p.has(id) {
			gone[id] = true
		}
	}
	if len(gone) == 0 {
		return
	}
	kept := p.msgs[:0]
	for _, m := range p.msgs {
		if !gone[m.MessageID] {
			kept = append(kept, m)
		}
	}
	p.msgs = kept
	p.reindex()
}

func (p *pool) reindex() {
	clear(p.byID)
	for i, m := range p.msgs {
		p.byID[m.MessageID] = i
	}
}

// next is the first own message to mine, or false when none.
func (p *pool) next() (store.Pending, bool) {
	for _, m := range p.msgs {
		if m.Own {
			return m, true
		}
	}
	return store.Pending{}, false
}

func (p *pool) ownLen() int {
	n := 0
	for _, m := range p.msgs {
		if m.Own {
			n++
		}
	}
	return n
}

// lastTime is the newest own signing time in Unix ms, or 0.
func (p *pool) lastTime() int64 {
	var last int64
	for _, m := range p.msgs {
		if !m.Own {
			continue
		}
		if t, err := chain.ParseTime(m.TimeStamp); err == nil && t > last {
			last = t
		}
	}
	return last
}

func (p *pool) list() []store.Pending { return append([]store.Pending(nil), p.msgs...) }
