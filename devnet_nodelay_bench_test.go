package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/meshchain/meshchain/node"
)

// BenchmarkDevnetPropagation16NoDelay is BenchmarkDevnetPropagation16
// without the simulated link delays: issue 10's "16-node devnet with no
// injected delay" (target: median < 5 ms from block_mined on the miner to
// the last block_accepted elsewhere). The 16 nodes share this process and
// its cores; each stores to its own file and fsyncs.
//
//	go test -run '^$' -bench DevnetPropagation16NoDelay -benchtime 30x .
func BenchmarkDevnetPropagation16NoDelay(b *testing.B) {
	const size = 16
	nodes, err := newDevnetNoDelay(b.TempDir(), size, 12)
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
	b.ReportMetric(float64(spans[len(spans)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(spans[len(spans)-1].Microseconds())/1000, "worst-ms")
}

// newDevnetNoDelay opens n devnet nodes on loopback, each dialling the
// ones before it, with no link delay.
func newDevnetNoDelay(root string, n int, difficulty uint32) ([]*node.Node, error) {
	addrs, err := reservePorts(n)
	if err != nil {
		return nil, err
	}
	nodes := make([]*node.Node, n)
	for i := range nodes {
		nd, err := node.Open(node.Config{
			DataDir:      filepath.Join(root, fmt.Sprintf("node%d", i+1)),
			Listen:       addrs[i],
			Peers:        append([]string(nil), addrs[:i]...),
			Difficulty:   difficulty,
			Threads:      1,
			PingInterval: 2 * time.Second,
			Name:         fmt.Sprintf("node%d", i+1),
		})
		if err != nil {
			for _, opened := range nodes[:i] {
				opened.Close()
			}
			return nil, fmt.Errorf("devnet node %d: %w", i+1, err)
		}
		nodes[i] = nd
	}
	return nodes, nil
}
