package node

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// BenchmarkSyncFromBareServer is BenchmarkSync10k (MESHCHAIN_SYNC_N blocks,
// default 10,000) with a bare netpeers
// server as the source (it answers get_blocks from memory), so that a CPU
// profile shows the syncing node's own costs: decode, validate, store,
// events.
//
//	go test -run '^$' -bench SyncFromBareServer -benchtime 3x -cpuprofile cpu.out ./node/
func BenchmarkSyncFromBareServer(b *testing.B) {
	n := envInt(b, "MESHCHAIN_SYNC_N", 10000)
	g := chain.Genesis(testDifficulty)
	full := append([]chain.Block{g}, mineChain(b, g, n, "bare", testDifficulty)...)
	s := &recordingServer{chain: full, status: chainStatus(full), reqs: make(chan askedBlocks, 64)}
	srv, err := netpeers.New(netpeers.Config{Listen: "127.0.0.1:0", Genesis: g.Hash,
		NodeID: netpeers.NewNodeID(), Agent: "bare/1", PingInterval: time.Second}, s)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	s.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	go func() {
		for {
			select {
			case a := <-s.reqs:
				s.answer(a)
			case <-ctx.Done():
				return
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := startBenchNode(b, "new", []string{srv.Addr()})
		dst.waitTip(full[n].Hash, 5*time.Minute)
		b.StopTimer()
		dst.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// envInt is the positive integer in the environment variable name, or def.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		tb.Fatalf("%s=%q is not a positive number", name, s)
	}
	return v
}
