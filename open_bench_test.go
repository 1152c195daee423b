package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshchain/meshchain/node"
)

// BenchmarkOpenFirstFrame measures what `meshchain bench` calls "open
// 100,000 blocks to first frame": node.Open on a generated data dir, Run
// up to Started, and the dashboard's first frame showing the tip. Set
// MESHCHAIN_OPEN_DIR to keep the generated dir between runs (it takes a
// minute to make); MESHCHAIN_OPEN_N to change its size.
//
//	go test -run '^$' -bench OpenFirstFrame -benchtime 3x -cpuprofile cpu.out .
func BenchmarkOpenFirstFrame(b *testing.B) {
	n := 100000
	if s := os.Getenv("MESHCHAIN_OPEN_N"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil {
			b.Fatal(err)
		}
	}
	dir := os.Getenv("MESHCHAIN_OPEN_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	run := &benchRun{log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	tipFile := filepath.Join(dir, "bench-tip")
	if _, err := os.Stat(tipFile); err != nil {
		blocks, err := benchChain(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		if err := writeBenchDir(dir, blocks); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(tipFile, []byte(blocks[len(blocks)-1].Hash), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	tip, err := os.ReadFile(tipFile)
	if err != nil {
		b.Fatal(err)
	}
	want := strings.TrimLeft(string(tip), "0")[:7]
	if _, err := os.Stat(node.StorePath(dir)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		var ru0, ru1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		t0 := time.Now()
		bn, err := startBenchNode(ctx, run.nodeConfig(dir), 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		d := newTeaDriver(ctx, bn.Node)
		framed, err := d.firstFrameShowing(want)
		if err != nil || !framed {
			b.Fatalf("first frame: framed %v, err %v", framed, err)
		}
		el := time.Since(t0)
		b.StopTimer()
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		b.Logf("CPU %.3f s (sys %.3f s), minor faults %d", cpu.Seconds(), time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano()).Seconds(), ru1.Minflt-ru0.Minflt)
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "Rss") || strings.HasPrefix(l, "VmRSS") {
				b.Log(l)
			}
		}
		d.close()
		if err := bn.stop(); err != nil {
			b.Fatal(err)
		}
		rss, _ := vmRSS()
		b.ReportMetric(float64(rss)/(1<<20), "MB-RSS")
		b.Logf("open to first frame %.3f s, RSS %.0f MB", el.Seconds(), float64(rss)/(1<<20))
		b.StartTimer()
	}
}
