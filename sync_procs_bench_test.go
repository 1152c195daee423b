package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSyncProcs measures issue 10's "fresh node syncing N blocks
// from one loopback peer (launch to sync_finished) ÷ parallel
// signature-verify rate on all cores", with both nodes as processes of
// the binary, and the syncing process's peak resident memory (VmHWM). The
// baseline, chain.Validate of the same blocks on all cores, is measured in
// the same run just before. MESHCHAIN_SYNC_N sets N (10,000 by default).
//
//	go test -run '^$' -bench SyncProcs -benchtime 1x -count 3 .
//	MESHCHAIN_SYNC_N=100000 go test -run '^$' -bench SyncProcs -benchtime 1x -timeout 30m .
func BenchmarkSyncProcs(b *testing.B) {
	n := 10000
	if s := os.Getenv("MESHCHAIN_SYNC_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	blocks, err := benchChain(ctx, n)
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	srcDir := filepath.Join(root, "src")
	if err := writeBenchDir(srcDir, blocks); err != nil {
		b.Fatal(err)
	}
	addrs, err := reservePorts(2)
	if err != nil {
		b.Fatal(err)
	}
	diff := strconv.Itoa(benchDifficulty)
	src, err := startSpreadProc(binPath, "--headless", "--data-dir", srcDir, "--listen", addrs[0], "--difficulty", diff, "--threads", "1")
	if err != nil {
		b.Fatal(err)
	}
	defer src.stop()
	if err := src.waitEvent(ctx, "started", nil); err != nil {
		b.Fatal(err)
	}
	go func() {
		for range src.events {
		}
	}()

	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cpu0 := selfCPU()
		verify, err := validateBlocks(ctx, blocks, runtime.NumCPU())
		if err != nil {
			b.Fatal(err)
		}
		verifyCPU := selfCPU() - cpu0
		b.StartTimer()
		t0 := time.Now()
		dst, err := startSpreadProc(binPath, "--headless", "--data-dir", filepath.Join(root, fmt.Sprintf("dst%d", i)),
			"--listen", addrs[1], "--peer", addrs[0], "--difficulty", diff, "--threads", "1")
		if err != nil {
			b.Fatal(err)
		}
		err = dst.waitEvent(ctx, "sync_finished", func(ev map[string]any) bool {
			h, _ := ev["height"].(float64)
			return int(h) >= n
		})
		took := time.Since(t0)
		b.StopTimer()
		hwm := procStatusKB(dst.cmd.Process.Pid, "VmHWM")
		dstCPU := procCPU(dst.cmd.Process.Pid)
		dst.stop()
		if err != nil {
			b.Fatal(err)
		}
		syncRate, verifyRate := float64(n)/took.Seconds(), float64(n)/verify.Seconds()
		ratios = append(ratios, syncRate/verifyRate)
		b.Logf("%d blocks: sync %.2f s (%.0f blocks/s), verify on %d cores %.2f s (%.0f blocks/s), ratio %.2f, peak RSS %.0f MB",
			n, took.Seconds(), syncRate, runtime.NumCPU(), verify.Seconds(), verifyRate, syncRate/verifyRate, float64(hwm)/1024)
		// CPU per block: what the wall-clock ratio tends to when other work
		// keeps every core busy.
		b.Logf("CPU per block: syncing process %.0f µs, verify alone %.0f µs (ratio %.2f)",
			dstCPU.Seconds()*1e6/float64(n), verifyCPU.Seconds()*1e6/float64(n), verifyCPU.Seconds()/dstCPU.Seconds())
		b.ReportMetric(float64(hwm)/1024, "peakRSS-MB")
		b.StartTimer()
	}
	b.StopTimer()
	// The median of the runs, not the last one, is the figure to quote.
	slices.Sort(ratios)
	b.ReportMetric(quantile(ratios, 0.5), "sync/verify")
}

// waitEvent waits for the next event of kind that ok accepts.
func (p *spreadProc) waitEvent(ctx context.Context, kind string, ok func(map[string]any) bool) error {
	for {
		select {
		case ev, open := <-p.events:
			if !open {
				return fmt.Errorf("process ended before %s", kind)
			}
			if ev["event"] == kind && (ok == nil || ok(ev)) {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("no %s: %w", kind, ctx.Err())
		}
	}
}

// procStatusKB reads a "kB" field of /proc/PID/status; 0 if it cannot.
func procStatusKB(pid int, field string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb
		}
	}
	return 0
}

// selfCPU is the user and system CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user and system CPU time of process pid so far, from
// /proc/PID/stat (clock ticks of 1/100 s); 0 if it cannot be read.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
