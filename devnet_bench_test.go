package main

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/meshchain/meshchain/node"
)

// BenchmarkDevnetPropagation16 measures how long a freshly mined block
// takes to reach every node of a 16-node devnet with its simulated link
// delays (5 to 300 ms one way): from block_mined on the miner to the last
// block_accepted elsewhere. It reports the median and the worst.
//
//	go test -run '^$' -bench DevnetPropagation16 -benchtime 20x .
func BenchmarkDevnetPropagation16(b *testing.B) {
	const size = 16
	nodes, err := newDevnet(b.TempDir(), size, 12, 1, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type seen struct {
		node int
		ev   node.Event
	}
	all := make(chan seen, 1<<16)
	var wg sync.WaitGroup
	for i, n := range nodes {
		evs := n.Subscribe(ctx)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ev := range evs {
				all <- seen{i, ev}
			}
		}()
		go func() { defer wg.Done(); _ = n.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	// Wait for the complete graph: every node online with the 15 others.
	deadline := time.After(60 * time.Second)
	full := func() bool {
		for _, n := range nodes {
			online := 0
			for _, p := range n.Peers() {
				if p.Status == node.PeerOnlineStatus {
					online++
				}
			}
			if online < size-1 {
				return false
			}
		}
		return true
	}
	for !full() {
		select {
		case <-all:
		case <-deadline:
			b.Fatal("the devnet did not form a complete graph in 60 s")
		}
	}

	var spans []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		miner := nodes[i%size]
		msg := fmt.Sprintf("propagation %d", i)
		if err := miner.Post(ctx, msg); err != nil {
			b.Fatal(err)
		}
		var hash string
		var minedAt time.Time
		got := map[int]time.Time{}
		timeout := time.After(60 * time.Second)
		for hash == "" || len(got) < size-1 {
			select {
			case s := <-all:
				switch p := s.ev.Payload.(type) {
				case node.BlockMined:
					if p.Message == msg {
						hash, minedAt = p.Hash, s.ev.Time
					}
				case node.BlockAccepted:
					if p.Message == msg && p.Peer != "" {
						if _, dup := got[s.node]; !dup {
							got[s.node] = s.ev.Time
						}
					}
				}
			case <-timeout:
				b.Fatalf("block %d reached %d of %d nodes in 60 s", i, len(got), size-1)
			}
		}
		var last time.Time
		for _, t := range got {
			if t.After(last) {
				last = t
			}
		}
		spans = append(spans, last.Sub(minedAt))
	}
	b.StopTimer()
	sort.Slice(spans, func(i, j int) bool { return spans[i] < spans[j] })
	b.ReportMetric(float64(spans[len(spans)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(spans[len(spans)-1].Milliseconds()), "worst-ms")
}
