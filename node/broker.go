package node

import (
	"context"
	"sync"
	"sync/atomic"
)

// subscriberBuffer is each subscriber's queue. Progress events are dropped
// when it is full; every other event waits for room.
const subscriberBuffer = 1024

// historySize is how many recent events a new subscriber is given first,
// so a dashboard attached after start still sees how the node started.
const historySize = 64

// broker fans events out to subscribers. Its channels are the one
// deliberately buffered hand-off in the node.
type broker struct {
	mu      sync.Mutex
	subs    map[*subscriber]struct{}
	history []Event // recent events that may not be dropped, oldest first
	dropped atomic.Uint64
}

type subscriber struct {
	ch   chan Event
	done <-chan struct{}
}

func newBroker() *broker { return &broker{subs: map[*subscriber]struct{}{}} }

// subscribe returns a channel that receives events until ctx ends; the
// channel is closed then.
func (b *broker) subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ch: make(chan Event, subscriberBuffer), done: ctx.Done()}
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

// publish delivers ev to every subscriber. Droppable events never wait.
func (b *broker) publish(ev Event, droppable bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !droppable {
		if len(b.history) == historySize {
			b.history = append(b.history[:0], b.history[1:]...)
		}
		b.history = append(b.history, ev)
	}
	for s := range b.subs {
		if droppable {
			select {
			case s.ch <- ev:
			default:
				b.dropped.Add(1)
			}
			continue
		}
		select {
		case s.ch <- ev:
		case <-s.done:
		}
	}
}

// Dropped counts progress events that slow subscribers missed.
func (b *broker) Dropped() uint64 { return b.dropped.Load() }
