package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
	"github.com/meshchain/meshchain/ui"
)

// BenchmarkDashboardStoreReads measures what the dashboard costs its node
// and how fast it shows a block (issue 11's figures), on the dashboard of
// node 1 of a 16-node devnet:
//   - bbolt block reads per second the dashboard causes (each block of a
//     Snapshot is one store read, each Block call one), idle and while the
//     devnet chatters;
//   - the time from a block leaving a loopback peer's socket (its
//     block_mined event: it is broadcast at once) to the first frame of the
//     dashboard that shows its message.
//
// It drives the real ui.Model on the real node like a program does (every
// message is followed by a View), with no terminal. The file is written to
// build on older trees too, to measure before and after:
//
//	go test -run '^$' -bench DashboardStoreReads -benchtime 1x .
//
// MESHCHAIN_MEASURE_SECS sets each phase's length (default 20).
func BenchmarkDashboardStoreReads(b *testing.B) {
	secs := 20
	if s, err := strconv.Atoi(os.Getenv("MESHCHAIN_MEASURE_SECS")); err == nil && s > 0 {
		secs = s
	}
	phase := time.Duration(secs) * time.Second
	for range b.N {
		measureDashboard(b, phase)
	}
}

// countingNode is the node as the dashboard sees it, counting the calls
// that read the store.
type countingNode struct {
	*node.Node
	ctx       context.Context
	snapshots atomic.Int64
	reads     atomic.Int64 // blocks read from bbolt for snapshots and Block

	mu       sync.Mutex
	accepted map[string]time.Time // message -> its block_accepted event's time
}

// Subscribe notes when each block_accepted was emitted, on its way to the
// dashboard.
func (c *countingNode) Subscribe(context.Context) <-chan node.Event {
	in := c.Node.Subscribe(c.ctx)
	out := make(chan node.Event, 1024)
	go func() {
		defer close(out)
		for ev := range in {
			if ba, ok := ev.Payload.(node.BlockAccepted); ok {
				c.mu.Lock()
				if _, seen := c.accepted[ba.Message]; !seen {
					c.accepted[ba.Message] = ev.Time
				}
				c.mu.Unlock()
			}
			select {
			case out <- ev:
			case <-c.ctx.Done():
				return
			}
		}
	}()
	return out
}

func (c *countingNode) Snapshot(ctx context.Context) (node.Snapshot, error) {
	s, err := c.Node.Snapshot(ctx)
	c.snapshots.Add(1)
	seen := map[string]bool{}
	for _, r := range s.Recent {
		seen[r.Hash] = true
	}
	for _, t := range s.Tree {
		seen[t.Hash] = true
	}
	c.reads.Add(int64(len(seen)))
	return s, err
}

func (c *countingNode) Block(ctx context.Context, hash string) (chain.Block, error) {
	c.reads.Add(1)
	return c.Node.Block(ctx, hash)
}

// measureDriver runs a tea.Model as a program would, without a terminal,
// and notes when a frame first shows each awaited text.
type measureDriver struct {
	ctx  context.Context
	m    tea.Model
	msgs chan tea.Msg
	cmds sync.WaitGroup

	mu      sync.Mutex
	waiting map[awaited]chan time.Time
}

// awaited is a text a frame must show at least n times.
type awaited struct {
	text string
	n    int
}

func (d *measureDriver) exec(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	d.cmds.Add(1)
	go func() {
		defer d.cmds.Done()
		msg := cmd()
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				d.exec(c)
			}
			return
		}
		if msg == nil {
			return
		}
		select {
		case d.msgs <- msg:
		case <-d.ctx.Done():
		}
	}()
}

func (d *measureDriver) run() {
	for {
		select {
		case msg := <-d.msgs:
			var cmd tea.Cmd
			d.m, cmd = d.m.Update(msg)
			d.exec(cmd)
			content := d.m.View().Content
			now := time.Now()
			d.mu.Lock()
			for a, ch := range d.waiting {
				if strings.Count(content, a.text) >= a.n {
					ch <- now
					delete(d.waiting, a)
				}
			}
			d.mu.Unlock()
		case <-d.ctx.Done():
			return
		}
	}
}

// await returns a channel that gets the time of the first frame showing
// text n times.
func (d *measureDriver) await(text string, n int) <-chan time.Time {
	ch := make(chan time.Time, 1)
	d.mu.Lock()
	d.waiting[awaited{text, n}] = ch
	d.mu.Unlock()
	return ch
}

func measureDashboard(b *testing.B, phase time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	nodes, err := newDevnet(root, 16, devnetDifficulty, 1, log)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	run := func(n *node.Node) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Run(ctx); err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		}()
		select {
		case <-n.Started():
		case <-time.After(30 * time.Second):
			b.Fatal("node did not start")
		}
	}
	for _, n := range nodes {
		run(n)
	}
	first, _ := nodes[0].Snapshot(ctx)
	// The probe: a peer of node 1 on loopback with no added delay.
	probe, err := node.Open(node.Config{DataDir: root + "/probe", Listen: "127.0.0.1:0", Peers: []string{first.Listen},
		Difficulty: devnetDifficulty, Threads: 1, Name: "probe", Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	mined := probe.Subscribe(ctx)
	run(probe)

	cn := &countingNode{Node: nodes[0], ctx: ctx, accepted: map[string]time.Time{}}
	d := &measureDriver{ctx: ctx, msgs: make(chan tea.Msg, 4096), waiting: map[awaited]chan time.Time{}}
	d.m = ui.New(cn, ui.Options{})
	var cmd tea.Cmd
	d.m, cmd = d.m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	d.exec(cmd)
	d.exec(d.m.Init())
	go d.run()

	// Let the mesh form and the first snapshot land.
	time.Sleep(5 * time.Second) // settling time before a measured window, not synchronisation
	rate := func(what string) {
		s0, r0, t0 := cn.snapshots.Load(), cn.reads.Load(), time.Now()
		time.Sleep(phase) // the measured window
		dt := time.Since(t0).Seconds()
		s, r := float64(cn.snapshots.Load()-s0)/dt, float64(cn.reads.Load()-r0)/dt
		b.ReportMetric(r, "reads/s-"+what)
		b.Logf("%s: %.2f snapshots/s, %.1f bbolt block reads/s over %.0fs", what, s, r, dt)
	}
	probeN := 0
	latencies := func(what string, until time.Time) {
		var lat, fromEvent, row []time.Duration
		for time.Now().Before(until) {
			probeN++
			text := fmt.Sprintf("probe%03dz", probeN)
			shown := d.await(text, 1)
			// Twice: its line in the events pane and its row in the
			// chain pane (the message shows nowhere else on node 1).
			inChain := d.await(text, 2)
			if err := probe.Post(ctx, text); err != nil {
				b.Fatal(err)
			}
			var sent time.Time
			timeout := time.After(60 * time.Second)
		wait:
			for {
				select {
				case ev := <-mined:
					if bm, ok := ev.Payload.(node.BlockMined); ok && bm.Message == text {
						sent = ev.Time
						break wait
					}
				case <-timeout:
					b.Fatalf("%s never mined", text)
				}
			}
			select {
			case at := <-shown:
				lat = append(lat, at.Sub(sent))
				cn.mu.Lock()
				acc, ok := cn.accepted[text]
				cn.mu.Unlock()
				if ok {
					fromEvent = append(fromEvent, at.Sub(acc))
				}
				select {
				case rowAt := <-inChain:
					if ok {
						row = append(row, rowAt.Sub(acc))
					}
				case <-time.After(60 * time.Second):
					b.Logf("%s: no chain row within 60s", text)
				}
			case <-time.After(60 * time.Second):
				b.Logf("%s: no frame showed it within 60s", text)
			}
		}
		if len(lat) == 0 {
			return
		}
		slices.Sort(lat)
		p50, p90 := lat[len(lat)/2], lat[len(lat)*9/10]
		b.ReportMetric(float64(p50.Microseconds())/1000, "ms-p50-"+what)
		b.Logf("%s: block sent by a loopback peer -> first frame showing it: median %v, p90 %v, worst %v over %d blocks",
			what, p50.Round(100*time.Microsecond), p90.Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond), len(lat))
		if len(fromEvent) > 0 {
			slices.Sort(fromEvent)
			e50, e90 := fromEvent[len(fromEvent)/2], fromEvent[len(fromEvent)*9/10]
			b.ReportMetric(float64(e50.Microseconds())/1000, "ms-p50-event-"+what)
			b.Logf("%s: its block_accepted event -> that frame: median %v, p90 %v over %d blocks",
				what, e50.Round(10*time.Microsecond), e90.Round(10*time.Microsecond), len(fromEvent))
		}
		if len(row) > 0 {
			slices.Sort(row)
			r50, r90 := row[len(row)/2], row[len(row)*9/10]
			b.ReportMetric(float64(r50.Microseconds())/1000, "ms-p50-row-"+what)
			b.Logf("%s: its block_accepted event -> first frame with its chain row: median %v, p90 %v over %d blocks",
				what, r50.Round(10*time.Microsecond), r90.Round(10*time.Microsecond), len(row))
		}
	}

	// Quiet probes first, so the idle dashboard has a chain to show.
	latencies("quiet", time.Now().Add(phase))
	rate("idle")
	chatterCtx, stopChatter := context.WithCancel(ctx)
	go runChatter(chatterCtx, func() []*node.Node { return nodes[1:] })
	done := make(chan struct{})
	go func() { defer close(done); rate("chatter") }()
	latencies("chatter", time.Now().Add(phase))
	<-done
	stopChatter()
	cancel()
}
