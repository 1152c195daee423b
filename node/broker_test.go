package node

import (
	"context"
	"testing"
	"time"
)

func TestBrokerDropsOnlyProgressForASlowSubscriber(t *testing.T) {
	b := newBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := b.subscribe(ctx)
	// Fill the subscriber's buffer with progress, then overflow it.
	for i := 0; i < subscriberBuffer+10; i++ {
		b.publish(Event{Payload: MiningProgress{Attempts: uint64(i)}}, true)
	}
	if got := b.Dropped(); got != 10 {
		t.Fatalf("dropped %d progress events, want 10", got)
	}
	// A tip change waits for room instead of being dropped.
	delivered := make(chan struct{})
	go func() {
		b.publish(Event{Payload: TipChanged{Height: 7}}, false)
		close(delivered)
	}()
	for i := 0; i < subscriberBuffer; i++ {
		<-ch
	}
	select {
	case ev := <-ch:
		if tc, ok := ev.Payload.(TipChanged); !ok || tc.Height != 7 {
			t.Fatalf("got %v, want the tip change", ev.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tip change not delivered")
	}
	<-delivered
	// A subscriber that goes away does not block publishing.
	cancel()
	for range ch {
	}
	b.publish(Event{Payload: TipChanged{Height: 8}}, false)
}
