package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// BenchmarkSync10k measures a new node syncing 10,000 blocks from a
// loopback peer: get_blocks round trips, full verification (signatures in
// parallel) and one store transaction per 500-block batch.
//
//	go test -run '^$' -bench Sync10k -benchtime 3x -count 3 ./node/
func BenchmarkSync10k(b *testing.B) {
	const n = 10000
	blocks := mineChain(b, chain.Genesis(testDifficulty), n, "bench", testDifficulty)
	src := startBenchNode(b, "source", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for lo := 0; lo < n; lo += chain.MaxBlocksPerReply {
		batch := blocks[lo:min(lo+chain.MaxBlocksPerReply, n)]
		var err error
		if derr := src.do(ctx, func() { _, err = src.accept(batch, netpeers.PeerRef{}, fromMiner) }); derr != nil || err != nil {
			b.Fatal(derr, err)
		}
	}
	_, tip := src.Tip()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := startBenchNode(b, "new", []string{src.Addr()})
		dst.waitTip(tip, 5*time.Minute)
		b.StopTimer()
		dst.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

func startBenchNode(b *testing.B, name string, peers []string) *testNode {
	cfg := Config{
		DataDir: b.TempDir(), Listen: "127.0.0.1:0", Peers: peers, Difficulty: testDifficulty,
		Threads: 1, PingInterval: time.Second, SyncTimeout: 30 * time.Second, Name: name,
	}
	n, err := Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, t: b, name: name, cancel: cancel, done: make(chan error, 1), events: make(chan Event, 1<<20)}
	sub := n.Subscribe(ctx)
	go func() {
		for ev := range sub {
			select {
			case tn.events <- ev:
			default:
			}
		}
	}()
	go func() { tn.done <- n.Run(ctx) }()
	<-n.Started()
	b.Cleanup(tn.stop)
	return tn
}

// BenchmarkOpen100k measures opening a data directory that holds 100,000
// blocks: reading the best chain and checking links, hashes and proof of
// work, without re-verifying signatures.
//
//	go test -run '^$' -bench Open100k -benchtime 3x ./node/
func BenchmarkOpen100k(b *testing.B) {
	const n = 100000
	dir := storedChainDir(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nd, err := Open(Config{DataDir: dir, Difficulty: testDifficulty, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		if nd.index.Height() != n {
			b.Fatalf("height %d", nd.index.Height())
		}
		b.StopTimer()
		nd.store.Close()
		b.StartTimer()
	}
}

// BenchmarkVerify10k measures `meshchain verify` on 10,000 blocks: every
// rule, signatures included, on all cores.
//
//	go test -run '^$' -bench Verify10k -benchtime 3x -count 3 ./node/
func BenchmarkVerify10k(b *testing.B) {
	const n = 10000
	dir := storedChainDir(b, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := Verify(context.Background(), dir, testDifficulty, true, time.Now())
		if err != nil || sum.Blocks != n {
			b.Fatal(sum, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkMiner runs the node's miner (its goroutines, chunking and
// cancel checks) on a template it cannot solve, to show the attempt rate
// and how it scales with threads; compare with chain/pow's Sum256_55.
//
//	go test -run '^$' -bench Miner -count 6 ./node/
func BenchmarkMiner(b *testing.B) {
	g := chain.Genesis(255)
	gh, _ := chain.ParseHash(g.Hash)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			found := make(chan foundBlock, 1)
			m := newMiner(threads, 255, found, func(Payload) {})
			hdr := chain.NewHeader(1, gh, chain.Hash{}, 0, 255, 0)
			j := &job{parent: &chain.Node{Hash: gh}, block: chain.Block{Difficulty: 255}, header: hdr}
			b.ResetTimer()
			m.start(j)
			for j.attempts.Load() < uint64(b.N) {
				time.Sleep(time.Millisecond) // the miner has no "done N" signal; poll its counter
			}
			m.stop()
			b.StopTimer()
			b.ReportMetric(float64(j.attempts.Load())/b.Elapsed().Seconds(), "attempts/s")
		})
	}
}

// BenchmarkSum256_55 is the baseline for BenchmarkMiner in the same run:
// crypto/sha256 over a 55-byte message, one compression.
func BenchmarkSum256_55(b *testing.B) {
	var msg [55]byte
	for i := 0; i < b.N; i++ {
		msg[0] = byte(i)
		sink = sha256.Sum256(msg[:])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

var sink [32]byte

// storedChainDir makes a data directory holding a valid chain of n blocks.
func storedChainDir(b *testing.B, n int) string {
	blocks := mineChain(b, chain.Genesis(testDifficulty), n, "stored", testDifficulty)
	dir := b.TempDir()
	src, err := Open(Config{DataDir: dir, Difficulty: testDifficulty, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for lo := 0; lo < n; lo += chain.MaxBlocksPerReply {
		if _, err := src.accept(blocks[lo:min(lo+chain.MaxBlocksPerReply, n)], netpeers.PeerRef{}, fromMiner); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}
