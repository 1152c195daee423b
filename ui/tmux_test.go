package ui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
)

// End-to-end checks in a real terminal (tmux). TestTmuxDemo runs this test
// binary again as a dashboard over a scripted node (see TestMain); set
// MESHCHAIN_BIN (and MESHCHAIN_ARGS) to run TestTmuxBinary against the real
// meshchain binary. Both skip when tmux is not installed.

const demoEnv = "MESHCHAIN_UI_DEMO"

func TestMain(m *testing.M) {
	if os.Getenv(demoEnv) == "1" {
		os.Exit(runDemo())
	}
	os.Exit(m.Run())
}

// runDemo shows the dashboard over demoNode until q or a signal.
func runDemo() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := newDemoNode()
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.run(ctx)
	}()
	err := Run(ctx, d, Options{Title: "tmux demo", NoColor: os.Getenv("NO_COLOR") != ""})
	cancel()
	wg.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// demoNode is fakeNode with a pulse: mining progress, posts that get
// queued and mined, and a sync round when asked.
type demoNode struct {
	*fakeNode
	mined chan string
}

func newDemoNode() *demoNode {
	d := &demoNode{fakeNode: newFakeNode(busySnapshot(), busyEvents()...), mined: make(chan string, 16)}
	d.fakeNode.events = make(chan node.Event, 256)
	for _, ev := range busyEvents() {
		d.fakeNode.events <- ev
	}
	return d
}

func (d *demoNode) emit(ctx context.Context, p node.Payload) {
	select {
	case d.events <- node.Event{Time: time.Now(), Payload: p}:
	case <-ctx.Done():
	default: // a slow dashboard loses progress ticks, as with the real node
	}
}

func (d *demoNode) Post(ctx context.Context, text string) error {
	if err := d.fakeNode.Post(ctx, text); err != nil {
		return err
	}
	d.mu.Lock()
	d.snap.Queue++
	q := d.snap.Queue
	d.snap.Pending = append(d.snap.Pending, node.PendingMessage{MessageID: hexOf(text), Message: text, Own: true})
	d.mu.Unlock()
	d.emit(ctx, node.MessageQueued{MessageID: hexOf(text), Message: text, Queue: q})
	select {
	case d.mined <- text:
	default:
	}
	return nil
}

func (d *demoNode) Sync(ctx context.Context) error {
	d.emit(ctx, node.SyncStarted{Peer: "127.0.0.1:8334", Latency: "1.2ms", Height: 20})
	d.emit(ctx, node.SyncFinished{Peer: "127.0.0.1:8334", Height: 20, Tip: hashAt("best-20"), Note: "already in sync"})
	return d.fakeNode.Sync(ctx)
}

func (d *demoNode) Block(ctx context.Context, hash string) (chain.Block, error) {
	d.mu.Lock()
	var found *node.BlockSummary
	for i := range d.snap.Recent {
		if d.snap.Recent[i].Hash == hash {
			found = &d.snap.Recent[i]
		}
	}
	d.mu.Unlock()
	if found != nil {
		return fullBlock(*found), nil
	}
	return d.fakeNode.Block(ctx, hash)
}

// run drives the demo until ctx ends: progress every 200 ms, and each
// posted message mined a second later on top of the chain.
func (d *demoNode) run(ctx context.Context) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var attempts uint64
	for {
		select {
		case <-ctx.Done():
			return
		case text := <-d.mined:
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			d.mu.Lock()
			h := d.snap.Height + 1
			b := summary(20, d.snap.Tip, fmt.Sprintf("demo-%d", h), aliceKey)
			b.Height, b.Message, b.TimeStamp = h, text, time.Now().UTC().Format(chain.TimeLayout)
			d.snap.Recent = append([]node.BlockSummary{b}, d.snap.Recent...)
			d.snap.Height, d.snap.Tip = h, b.Hash
			d.snap.Queue = max(0, d.snap.Queue-1)
			d.mu.Unlock()
			d.emit(ctx, node.BlockMined{Height: h, Hash: b.Hash, Message: text, Attempts: attempts, Seconds: 1})
			d.emit(ctx, node.TipChanged{Height: h, Hash: b.Hash})
		case <-t.C:
			attempts += 50_000
			d.emit(ctx, node.MiningProgress{MessageID: hexOf("msg-21"), Message: "hello from node 1", Height: 21,
				Attempts: attempts % 65_536, Expected: 65_536, HashRate: 250_000, Queue: 2, Threads: 4})
		}
	}
}

// tmuxSession is a program running in a detached tmux session.
type tmuxSession struct {
	t    *testing.T
	name string
}

func startTmux(t *testing.T, w, h int, env []string, argv ...string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	s := &tmuxSession{t: t, name: fmt.Sprintf("meshchain-ui-%d-%d", os.Getpid(), time.Now().UnixNano())}
	args := []string{"new-session", "-d", "-s", s.name, "-x", fmt.Sprint(w), "-y", fmt.Sprint(h)}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	args = append(args, argv...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", s.name).Run() })
	return s
}

// capture returns the visible screen as text.
func (s *tmuxSession) capture() string {
	out, err := exec.Command("tmux", "capture-pane", "-p", "-t", s.name).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// keys sends tmux key names ("Tab", "Enter", "q") one at a time.
func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		if out, err := exec.Command("tmux", "send-keys", "-t", s.name, k).CombinedOutput(); err != nil {
			s.t.Fatalf("tmux send-keys %q: %v: %s", k, err, out)
		}
	}
}

func (s *tmuxSession) text(text string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", "send-keys", "-t", s.name, "-l", text).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys -l: %v: %s", err, out)
	}
}

// waitFor waits until the screen contains every string.
func (s *tmuxSession) waitFor(wants ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var screen string
	for time.Now().Before(deadline) {
		screen = s.capture()
		ok := true
		for _, w := range wants {
			ok = ok && strings.Contains(screen, w)
		}
		if ok {
			return screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("screen never showed %q:\n%s", wants, screen)
	return ""
}

// waitExit waits until the session's program has ended.
func (s *tmuxSession) waitExit() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if exec.Command("tmux", "has-session", "-t", s.name).Run() != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("the program did not exit:\n%s", s.capture())
}

func checkWidths(t *testing.T, screen string, w int) {
	t.Helper()
	for i, l := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if n := len([]rune(l)); n > w+4 { // emoji are 2 cells but 1 rune; be lenient
			t.Errorf("line %d has %d runes at width %d: %q", i, n, w, l)
		}
	}
}

func TestTmuxDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := startTmux(t, 100, 30, []string{demoEnv + "=1", "TERM=xterm-256color"}, exe, "-test.run=^$")
	s.waitFor("meshchain · tmux demo", "in sync with 3 peers", "twenty blocks!", "mining #21")
	checkWidths(t, s.capture(), 100)

	s.keys("Tab")
	s.waitFor("┏━ Peers")
	s.keys("i")
	s.waitFor("type a message")
	s.text("hello from tmux q")
	s.keys("Enter")
	s.waitFor("queued for mining")
	s.waitFor(`"hello from tmux q"`, "mined")
	// After Escape, wait until it is handled: a key right behind it in the
	// same read would arrive as Alt+key.
	s.keys("Escape")
	s.waitFor("? more • q quit")
	s.keys("t")
	s.waitFor("Fork tree", "[lost: less work]")
	s.keys("t", "BTab", "Enter")
	s.waitFor("proof of work", "signature")
	s.keys("Escape")
	s.waitFor("┏━ Chain")
	s.keys("?")
	s.waitFor("previous pane")
	s.keys("?", "s")
	s.waitFor("synced")

	s2 := startTmux(t, 80, 24, []string{demoEnv + "=1", "TERM=xterm-256color"}, exe, "-test.run=^$")
	checkWidths(t, s2.waitFor("twenty blocks!"), 80)
	s2.keys("C-c")
	s2.waitExit()

	s.keys("q")
	s.waitExit()
}

// TestTmuxBinary runs the real binary: MESHCHAIN_BIN=/path/to/meshchain,
// MESHCHAIN_ARGS="--flags for a throwaway data dir".
func TestTmuxBinary(t *testing.T) {
	bin := os.Getenv("MESHCHAIN_BIN")
	if bin == "" {
		t.Skip("MESHCHAIN_BIN not set")
	}
	argv := append([]string{bin}, strings.Fields(os.Getenv("MESHCHAIN_ARGS"))...)
	s := startTmux(t, 100, 30, []string{"TERM=xterm-256color"}, argv...)
	s.waitFor("meshchain", "height", "Chain", "Peers", "Mining", "Events")
	checkWidths(t, s.capture(), 100)
	s.keys("i")
	s.text("hello from tmux")
	s.keys("Enter")
	s.waitFor("queued for mining")
	s.keys("Escape")
	s.waitFor("? more • q quit")
	s.keys("q")
	s.waitExit()
}
