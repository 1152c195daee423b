package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/internal/plainnode"
)

// BenchmarkSpread8Procs measures issue 10's "a new block's spread across 8
// node processes on loopback, complete graph (first to last node relaying
// it)". Eight `meshchain --headless` processes dial each other into a
// complete graph; an observer connected to every one of them, as a plain
// unauthenticated peer, stamps each block frame as it arrives. The miner
// sends the block to the observer as it sends it to everyone; each other
// node relays it to the observer when it relays it on. A block's spread is
// the last arrival minus the first.
//
// The baseline, measured in the same run and the same way, is a mesh of 8
// plain nodes (internal/plainnode: written from the protocol alone, it
// validates, appends to a file and fsyncs, then relays) in processes of
// their own. A block for them, mined beforehand, is handed to the first
// one by a peer that plays the miner; the spread is again first to last
// arrival at the observers. Blocks go to the two meshes in turn, so load
// from elsewhere on the machine falls on both alike.
//
//	go test -run '^$' -bench Spread8Procs -benchtime 30x .
//
// SPREAD_DEBUG=1 logs each block's arrival offsets per node;
// SPREAD_CPUPROFILE=DIR writes each process's CPU profile there
// (nodeI.prof, plainI.prof).
func BenchmarkSpread8Procs(b *testing.B) {
	const (
		size       = 8
		difficulty = 12
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	addrs, err := reservePorts(2 * size)
	if err != nil {
		b.Fatal(err)
	}
	plainAddrs := addrs[size:]
	addrs = addrs[:size]
	var procs, plain []*spreadProc
	defer func() {
		for _, p := range append(procs, plain...) {
			p.stop()
		}
	}()
	root := b.TempDir()
	for i := range size {
		args := []string{"--headless", "--data-dir", filepath.Join(root, fmt.Sprintf("n%d", i)),
			"--listen", addrs[i], "--difficulty", strconv.Itoa(difficulty), "--threads", "1"}
		for _, a := range addrs[:i] {
			args = append(args, "--peer", a)
		}
		var env []string
		if dir := os.Getenv("SPREAD_CPUPROFILE"); dir != "" {
			env = append(env, fmt.Sprintf("%s=%s", envCPUProfile, filepath.Join(dir, fmt.Sprintf("node%d.prof", i))))
		}
		p, err := startSpreadProcEnv(binPath, env, args...)
		if err != nil {
			b.Fatal(err)
		}
		procs = append(procs, p)
	}
	for i := range size {
		spec, _ := json.Marshal(plainnode.Config{Listen: plainAddrs[i], Peers: plainAddrs[:i],
			Path: filepath.Join(root, fmt.Sprintf("plain%d.jsonl", i)), Difficulty: difficulty})
		env := []string{envPlainNode + "=" + string(spec)}
		if dir := os.Getenv("SPREAD_CPUPROFILE"); dir != "" {
			env = append(env, fmt.Sprintf("%s=%s", envCPUProfile, filepath.Join(dir, fmt.Sprintf("plain%d.prof", i))))
		}
		p, err := startSpreadProcEnv(binPath, env)
		if err != nil {
			b.Fatal(err)
		}
		plain = append(plain, p)
	}
	for i, p := range append(slices.Clone(procs), plain...) {
		if err := p.waitOnline(ctx, size-1); err != nil {
			b.Fatalf("node %d: %v", i, err)
		}
	}

	genesis := chain.Genesis(difficulty).Hash
	arrivals := make(chan spreadArrival, 1<<12)
	plainArrivals := make(chan spreadArrival, 1<<12)
	for i := range size {
		if err := observe(ctx, addrs[i], genesis, i, arrivals); err != nil {
			b.Fatalf("observer on node %d: %v", i, err)
		}
		if err := observe(ctx, plainAddrs[i], genesis, i, plainArrivals); err != nil {
			b.Fatalf("observer on plain node %d: %v", i, err)
		}
	}
	blocks, err := spreadChain(b.N+1, difficulty) // the first warms the plain nodes up
	if err != nil {
		b.Fatal(err)
	}
	feed, err := dialPlainPeer(ctx, plainAddrs[0], genesis)
	if err != nil {
		b.Fatal(err)
	}
	defer feed.CloseNow()

	var spreads, plainSpreads []time.Duration
	cpuOf := func(ps []*spreadProc) (sum time.Duration) {
		for _, p := range ps {
			sum += procCPU(p.cmd.Process.Pid)
		}
		return sum
	}
	// One block each, not measured, first: a process's first signature
	// check builds secp256k1's tables (about 200 ms of CPU).
	ours := func(k int) (time.Duration, []string, error) {
		msg := fmt.Sprintf("spread %d", k)
		return spreadOf(size, msg, arrivals, func() error {
			_, err := fmt.Fprintln(procs[0].stdin, msg)
			return err
		})
	}
	theirs := func(k int) (time.Duration, []string, error) {
		return spreadOf(size, blocks[k].Message, plainArrivals, func() error {
			return feed.Write(ctx, websocket.MessageText, blockFrame(blocks[k]))
		})
	}
	if _, _, err := ours(-1); err != nil {
		b.Fatal(err)
	}
	if _, _, err := theirs(0); err != nil {
		b.Fatalf("plain nodes: %v", err)
	}
	cpu0, plainCPU0 := cpuOf(procs), cpuOf(plain)
	b.ResetTimer()
	// Each mesh's work after a block (the store write, events, tip
	// frames) is left to end before the other mesh's block starts, so
	// that neither is measured under the other's leftovers.
	const settle = 60 * time.Millisecond
	for k := 0; k < b.N; k++ {
		d, offs, err := ours(k)
		if err != nil {
			b.Fatal(err)
		}
		spreads = append(spreads, d)
		time.Sleep(settle)
		pd, poffs, err := theirs(k + 1)
		if err != nil {
			b.Fatalf("plain nodes: %v", err)
		}
		plainSpreads = append(plainSpreads, pd)
		time.Sleep(settle)
		if os.Getenv("SPREAD_DEBUG") != "" {
			b.Log("ours ", offs)
			b.Log("plain", poffs)
		}
	}
	b.StopTimer()
	// The CPU all nodes spent per block: on a machine with fewer cores than
	// nodes, the spread cannot be shorter than this divided by the cores.
	cpuPerBlock := (cpuOf(procs) - cpu0) / time.Duration(b.N)
	plainCPUPerBlock := (cpuOf(plain) - plainCPU0) / time.Duration(b.N)
	slices.Sort(spreads)
	slices.Sort(plainSpreads)
	med, worst := spreads[len(spreads)/2], spreads[len(spreads)-1]
	pmed, pworst := plainSpreads[len(plainSpreads)/2], plainSpreads[len(plainSpreads)-1]
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(med), "median-ms")
	b.ReportMetric(ms(worst), "worst-ms")
	b.ReportMetric(ms(pmed), "plain-median-ms")
	b.ReportMetric(ms(pworst), "plain-worst-ms")
	b.ReportMetric(ms(med)/ms(pmed), "median/plain")
	b.ReportMetric(ms(worst)/ms(pworst), "worst/plain")
	b.ReportMetric(ms(cpuPerBlock), "cpu-ms/block")
	b.ReportMetric(ms(plainCPUPerBlock), "plain-cpu-ms/block")
	b.Logf("%d blocks: spread median %.3f ms, worst %.3f ms; plain nodes median %.3f ms, worst %.3f ms (ratios %.2f, %.2f); CPU of all %d nodes per block %.2f ms, plain nodes %.2f ms",
		len(spreads), ms(med), ms(worst), ms(pmed), ms(pworst), ms(med)/ms(pmed), ms(worst)/ms(pworst), size, ms(cpuPerBlock), ms(plainCPUPerBlock))
}

// spreadProc is one headless node process whose peer events are followed.
type spreadProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	quiet  atomic.Bool // set: lines are read and dropped, not decoded
}

func startSpreadProc(bin string, args ...string) (*spreadProc, error) {
	return startSpreadProcEnv(bin, nil, args...)
}

// startSpreadProcEnv is startSpreadProc with extra environment variables.
func startSpreadProcEnv(bin string, env []string, args ...string) (*spreadProc, error) {
	cmd := exec.Command(bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &spreadProc{cmd: cmd, stdin: stdin, events: make(chan map[string]any, 1024)}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if p.quiet.Load() {
				continue
			}
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.events <- ev
			}
		}
	}()
	return p, nil
}

// waitOnline waits until the node has n peers online at once.
func (p *spreadProc) waitOnline(ctx context.Context, n int) error {
	online := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for len(online) < n {
		select {
		case ev, ok := <-p.events:
			if !ok {
				return fmt.Errorf("process ended before %d peers were online", n)
			}
			peer, _ := ev["peer"].(string)
			switch ev["event"] {
			case "peer_online":
				online[peer] = true
			case "peer_offline":
				delete(online, peer)
			}
		case <-deadline:
			return fmt.Errorf("%d of %d peers online after 60 s", len(online), n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Drain the events from now on: the pipe must not fill. They are not
	// decoded, so that the bench's own work does not take the nodes' CPU.
	p.quiet.Store(true)
	go func() {
		for range p.events {
		}
	}()
	return nil
}

func (p *spreadProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
