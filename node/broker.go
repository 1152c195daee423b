package node

import (
	"context"
	"sync"
	"sync/atomic"
)

// subscriberBuffer is each subscriber's queue. Progress events are dropped
// once it is half full, so that room stays for the events that matter; any
// event is dropped (and counted) when it is full: the node never waits for
// a subscriber.
const subscriberBuffer = 1024

// historySize is how many recent events a new subscriber is given first,
// so a dashboard attached after start still sees how the node started.
const historySize = 64

// broker fans events out to subscribers. Its channels are the one
// deliberately buffered hand-off in the node. publish never blocks: a slow
// reader could otherwise hold the node's loop, and with it every peer.
type broker struct {
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	history []Event // recent events that may not be dropped, oldest first
	seq     uint64  // the last event's sequence number
	buffer  int
	dropped atomic.Uint64 // progress events slow subscribers missed
	lost    atomic.Uint64 // other events slow subscribers missed
}

type subscriber struct {
	ch chan Event
	// missed counts the events that may not be dropped that this
	// subscriber lost since its last delivered one. Guarded by broker.mu.
	missed uint64
}

func newBroker() *broker { return newBrokerSize(subscriberBuffer) }

func newBrokerSize(buffer int) *broker {
	return &broker{subs: map[*subscriber]struct{}{}, buffer: max(buffer, 2*historySize)}
}

// subscribe returns a channel that receives events until ctx ends; the
// channel is closed then.
func (b *broker) subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ch: make(chan Event, b.buffer)}
	b.mu.Lock()
	for _, ev := range b.history {
		s.ch <- ev // fits: history is smaller than the buffer
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, s)
		close(s.ch)
		b.mu.Unlock()
	}()
	return s.ch
}

// publish numbers ev and offers it to every subscriber without waiting.
// A subscriber whose queue is full loses the event; the next event it gets
// says how many it missed (Event.Missed), and its sequence number shows
// the gap, so a reader can take a fresh snapshot.
func (b *broker) publish(ev Event, droppable bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev.Seq = b.seq
	if !droppable {
		if len(b.history) == historySize {
			b.history = append(b.history[:0], b.history[1:]...)
		}
		b.history = append(b.history, ev)
	}
	for s := range b.subs {
		if droppable {
			if len(s.ch) >= cap(s.ch)/2 {
				b.dropped.Add(1)
				continue
			}
			s.ch <- ev // cannot block: the queue is less than half full
			continue
		}
		out := ev
		out.Missed = s.missed
		select {
		case s.ch <- out:
			s.missed = 0
		default:
			s.missed++
			b.lost.Add(1)
		}
	}
}

// Dropped counts progress events that slow subscribers missed.
func (b *broker) Dropped() uint64 { return b.dropped.Load() }

// Lost counts other events that slow subscribers missed.
func (b *broker) Lost() uint64 { return b.lost.Load() }
