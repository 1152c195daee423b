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
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// BenchmarkSpread8Procs measures issue 10's "a new block's spread across 8
// node processes on loopback, complete graph (first to last node relaying
// it)". Eight `meshchain --headless` processes dial each other into a
// complete graph; an observer connected to every one of them, as a plain
// unauthenticated peer, stamps each block frame as it arrives. The miner
// sends the block to the observer as it sends it to everyone; each other
// node relays it to the observer when it relays it on. A block's spread is
// the last arrival minus the first. The baseline, measured in the same
// run, is `meshchain bench`'s plain hop: chain.Validate, one fsynced store
// write and a loopback WebSocket round trip of the block's JSON.
//
//	go test -run '^$' -bench Spread8Procs -benchtime 30x .
func BenchmarkSpread8Procs(b *testing.B) {
	const (
		size       = 8
		difficulty = 12
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	addrs, err := reservePorts(size)
	if err != nil {
		b.Fatal(err)
	}
	var procs []*spreadProc
	defer func() {
		for _, p := range procs {
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
		p, err := startSpreadProc(binPath, args...)
		if err != nil {
			b.Fatal(err)
		}
		procs = append(procs, p)
	}
	for i, p := range procs {
		if err := p.waitOnline(ctx, size-1); err != nil {
			b.Fatalf("node %d: %v", i, err)
		}
	}

	genesis := chain.Genesis(difficulty).Hash
	arrivals := make(chan spreadArrival, 1<<12)
	for i, a := range addrs {
		if err := observe(ctx, a, genesis, i, arrivals); err != nil {
			b.Fatalf("observer on node %d: %v", i, err)
		}
	}

	var spreads []time.Duration
	cpuOf := func() (sum time.Duration) {
		for _, p := range procs {
			sum += procCPU(p.cmd.Process.Pid)
		}
		return sum
	}
	cpu0 := cpuOf()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		msg := fmt.Sprintf("spread %d", k)
		if _, err := fmt.Fprintln(procs[0].stdin, msg); err != nil {
			b.Fatal(err)
		}
		got := map[int]time.Time{}
		deadline := time.After(60 * time.Second)
		for len(got) < size {
			select {
			case a := <-arrivals:
				if a.message == msg {
					if _, dup := got[a.node]; !dup {
						got[a.node] = a.at
					}
				}
			case <-deadline:
				b.Fatalf("block %d reached the observer from %d of %d nodes in 60 s", k, len(got), size)
			}
		}
		var first, last time.Time
		for _, at := range got {
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
		spreads = append(spreads, last.Sub(first))
		if os.Getenv("SPREAD_DEBUG") != "" {
			var offs []string
			for i := range size {
				offs = append(offs, fmt.Sprintf("%d:%.2f", i, float64(got[i].Sub(first).Microseconds())/1000))
			}
			b.Log(offs)
		}
	}
	b.StopTimer()
	// The CPU all nodes spent per block: on a machine with fewer cores than
	// nodes, the spread cannot be shorter than this divided by the cores.
	cpuPerBlock := (cpuOf() - cpu0) / time.Duration(b.N)
	base, err := (&benchRun{tmp: b.TempDir()}).plainHop(ctx, max(20, b.N))
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(spreads)
	med, worst := spreads[len(spreads)/2], spreads[len(spreads)-1]
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(med), "median-ms")
	b.ReportMetric(ms(worst), "worst-ms")
	b.ReportMetric(ms(base), "plainhop-ms")
	b.ReportMetric(ms(med)/ms(base), "median/plain")
	b.ReportMetric(ms(cpuPerBlock), "cpu-ms/block")
	b.Logf("%d blocks: spread median %.3f ms, worst %.3f ms; plain hop %.3f ms (ratio %.2f); CPU of all %d nodes per block %.2f ms",
		len(spreads), ms(med), ms(worst), ms(base), ms(med)/ms(base), size, ms(cpuPerBlock))
}

type spreadArrival struct {
	node    int
	message string
	at      time.Time
}

// observe connects to a node as an unauthenticated peer at genesis, answers
// its pings and reports every block frame's arrival time on out.
func observe(ctx context.Context, addr, genesis string, node int, out chan<- spreadArrival) error {
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		return err
	}
	c.SetReadLimit(netpeers.MaxFrameBytes)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "version": 1, "genesis": genesis,
		"node_id": netpeers.NewNodeID(), "listen": "", "height": 0, "tip": genesis, "work": "0", "agent": "spread-observer"})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		return err
	}
	go func() {
		defer c.CloseNow()
		for {
			_, data, err := c.Read(ctx)
			at := time.Now()
			if err != nil {
				return
			}
			var f struct {
				Type  string          `json:"type"`
				Nonce json.RawMessage `json:"nonce"`
				Block struct {
					Message string `json:"message"`
				} `json:"block"`
			}
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch f.Type {
			case "ping":
				pong := []byte(`{"type":"pong","nonce":` + string(f.Nonce) + `}`)
				if c.Write(ctx, websocket.MessageText, pong) != nil {
					return
				}
			case "block":
				select {
				case out <- spreadArrival{node: node, message: f.Block.Message, at: at}:
				default:
				}
			}
		}
	}()
	return nil
}

// spreadProc is one headless node process whose peer events are followed.
type spreadProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
}

func startSpreadProc(bin string, args ...string) (*spreadProc, error) {
	cmd := exec.Command(bin, args...)
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
	// Drain the events from now on: the pipe must not fill.
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
