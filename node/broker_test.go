package node

import (
	"context"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

func TestBrokerNeverWaitsForASlowSubscriber(t *testing.T) {
	b := newBrokerSize(128)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := b.subscribe(ctx) // never read until the end
	fast := b.subscribe(ctx)
	const rounds, perRound = 20, 50
	for r := 0; r < rounds; r++ {
		published := make(chan struct{})
		go func() {
			defer close(published)
			for i := 0; i < perRound; i++ {
				b.publish(Event{Payload: TipChanged{Height: uint64(r*perRound + i + 1)}}, false)
			}
		}()
		select {
		case <-published:
		case <-time.After(10 * time.Second):
			t.Fatal("publish waited for a subscriber that never reads")
		}
		for i := 0; i < perRound; i++ {
			ev := <-fast
			want := uint64(r*perRound + i + 1)
			if ev.Seq != want || ev.Missed != 0 {
				t.Fatalf("reading subscriber got seq %d (missed %d), want %d with nothing missed", ev.Seq, ev.Missed, want)
			}
		}
	}
	// Progress is dropped for the slow subscriber only.
	b.publish(Event{Payload: MiningProgress{}}, true)
	if ev := <-fast; ev.Seq != rounds*perRound+1 {
		t.Fatalf("reading subscriber: progress seq %d", ev.Seq)
	}
	if b.Dropped() != 1 || b.Lost() != rounds*perRound-128 {
		t.Fatalf("dropped %d progress and lost %d others, want 1 and %d", b.Dropped(), b.Lost(), rounds*perRound-128)
	}
	// The slow subscriber holds the oldest events, then learns from the
	// next one what it missed.
	for i := 0; i < 128; i++ {
		if ev := <-slow; ev.Seq != uint64(i+1) {
			t.Fatalf("slow subscriber's event %d has seq %d", i, ev.Seq)
		}
	}
	b.publish(Event{Payload: TipChanged{Height: 9999}}, false)
	ev := <-slow
	if tc, ok := ev.Payload.(TipChanged); !ok || tc.Height != 9999 || ev.Missed != rounds*perRound-128 {
		t.Fatalf("after draining got %+v (missed %d), want the newest tip change saying %d were missed", ev.Payload, ev.Missed, rounds*perRound-128)
	}
	// A subscriber that goes away does not block publishing.
	cancel()
	for range slow {
	}
	b.publish(Event{Payload: TipChanged{Height: 8}}, false)
}

// TestSlowSubscriberDoesNotDelayBlocks: a dashboard that stops reading
// must not hold the node, so blocks from peers keep being taken in.
func TestSlowSubscriberDoesNotDelayBlocks(t *testing.T) {
	blocks := mineChain(t, chain.Genesis(testDifficulty), 5, "after the burst", testDifficulty)
	a := startNode(t, "a", withoutListen())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := a.Subscribe(ctx) // never read until the end
	// A burst of events, more than a subscriber's queue holds.
	burst := make(chan struct{})
	go func() {
		defer close(burst)
		for i := 0; i < subscriberBuffer+200; i++ {
			(*handler)(a.Node).PeerEvent(netpeers.PeerEvent{Kind: netpeers.PeerOffline,
				Peer: netpeers.PeerRef{ID: "p", Addr: "192.0.2.9:8333"}, Reason: "burst"})
		}
	}()
	select {
	case <-burst:
	case <-time.After(10 * time.Second):
		t.Fatal("the burst of events waited for a subscriber that does not read")
	}
	peer := netpeers.PeerRef{ID: "relayer", Addr: "192.0.2.7:8333"}
	for _, b := range blocks {
		(*handler)(a.Node).HandleFrame(peer, netpeers.BlockMsg{Block: b})
	}
	a.waitTip(blocks[len(blocks)-1].Hash, 10*time.Second)
	if lost := a.Node.events.Lost(); lost < 200 {
		t.Fatalf("the slow subscriber lost %d events, want at least 200 counted", lost)
	}
	// Reading again, it learns from the first event that finds room how
	// many it missed. Events from taking the blocks in may still be on
	// their way while it drains, so one of those may be that event: add
	// up what every event it reads says, up to one published after.
	missed := uint64(0)
	for len(slow) > 0 {
		missed += (<-slow).Missed
	}
	(*handler)(a.Node).PeerEvent(netpeers.PeerEvent{Kind: netpeers.PeerOffline, Peer: peer, Reason: "after"})
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-slow:
			missed += ev.Missed
			if off, ok := ev.Payload.(PeerOffline); !ok || off.Reason != "after" {
				continue
			}
			if missed < 200 {
				t.Fatalf("the events read after the gap say %d missed, want at least 200", missed)
			}
			return
		case <-deadline:
			t.Fatal("no event after the gap")
		}
	}
}
