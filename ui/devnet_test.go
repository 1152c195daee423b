package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// fakeDevnet records the calls and keeps the nodes' state as they change.
type fakeDevnet struct {
	mu      sync.Mutex
	nodes   []DevnetNode
	calls   []string
	down    map[[2]int]bool         // links without a session
	spreads map[string]DevnetSpread // by block hash
}

// Links is every pair, 10 ms per hop of node number between them.
func (f *fakeDevnet) Links() []DevnetLink {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []DevnetLink
	for a := range f.nodes {
		for b := a + 1; b < len(f.nodes); b++ {
			out = append(out, DevnetLink{A: a, B: b, Delay: time.Duration(10*(b-a)) * time.Millisecond,
				Up: f.nodes[a].Running && f.nodes[b].Running && !f.down[[2]int{a, b}]})
		}
	}
	return out
}

func (f *fakeDevnet) Spread(hash string) (DevnetSpread, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.spreads[hash]
	return s, ok
}

func newFakeDevnet() *fakeDevnet {
	f := &fakeDevnet{}
	for i := range 4 {
		f.nodes = append(f.nodes, DevnetNode{Name: fmt.Sprintf("node%d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", 8333+i),
			Running: true, Height: 12, Tip: hashAt("tip"), Online: 3, Half: -1, Delay: time.Duration(40*(i)) * time.Millisecond})
	}
	return f
}

func (f *fakeDevnet) Nodes() []DevnetNode {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DevnetNode(nil), f.nodes...)
}

func (f *fakeDevnet) call(s string, change func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	change()
	return nil
}

func (f *fakeDevnet) Stop(_ context.Context, i int) error {
	return f.call(fmt.Sprintf("stop %d", i), func() { f.nodes[i].Running = false })
}
func (f *fakeDevnet) Start(_ context.Context, i int) error {
	return f.call(fmt.Sprintf("start %d", i), func() { f.nodes[i].Running = true })
}
func (f *fakeDevnet) Split(context.Context) error {
	return f.call("split", func() {
		for i := range f.nodes {
			f.nodes[i].Half = i / 2
			if i >= 2 {
				f.nodes[i].Tip = hashAt("other tip")
			}
		}
	})
}
func (f *fakeDevnet) Heal(context.Context) error {
	return f.call("heal", func() {
		for i := range f.nodes {
			f.nodes[i].Half, f.nodes[i].Tip = -1, hashAt("tip")
		}
	})
}
func (f *fakeDevnet) SetDelay(_ context.Context, i, j int, d time.Duration) error {
	if d > time.Second {
		return errors.New("too slow")
	}
	return f.call(fmt.Sprintf("delay %d-%d %v", i, j, d), func() { f.nodes[j].Delay = d })
}

// run executes the command a key returned, as the program would, and feeds
// its message back.
func runCmd(t *testing.T, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		m2, c := update(m, msg)
		m = m2
		if c != nil {
			m, _ = update(m, c())
		}
	}
	return m
}

func TestDevnetViewActs(t *testing.T) {
	f := newFakeDevnet()
	m, _ := busyModel(t, 100, 30)
	if strings.Contains(m.help.FullHelpView(m.keys.helpFor(m.focus, m.paneFor(m.focus), false).FullHelp()), "devnet") {
		t.Error("D listed in a dashboard that is not a devnet's")
	}
	if m, _ = update(m, keyText("D")); m.focus == focusDevnet {
		t.Fatal("D opened the devnet view without a devnet")
	}

	m = testModelOpts(m.n, Options{Devnet: f})
	m, _ = update(m, tea.WindowSizeMsg{Width: 100, Height: 30}, keyText("D"))
	if m.focus != focusDevnet {
		t.Fatalf("D: focus %v", m.focus)
	}
	s := screen(m)
	for _, want := range []string{"Devnet", "one network · one tip", "node4", "127.0.0.1:8336", "running", "120ms", "(self)"} {
		if !strings.Contains(s, want) {
			t.Errorf("devnet view lacks %q:\n%s", want, s)
		}
	}

	// r on node 1 is refused; on node 3 it stops, then starts it.
	m = runCmd(t, m, keyText("r"))
	if !strings.Contains(m.status, "dashboard's node") || len(f.calls) != 0 {
		t.Errorf("r on node 1: status %q, calls %v", m.status, f.calls)
	}
	m = runCmd(t, m, keyDown, keyDown, keyText("r"))
	if !strings.Contains(screen(m), "stopped") || !strings.Contains(m.status, "node3 stopped") {
		t.Errorf("after r: status %q\n%s", m.status, screen(m))
	}
	m = runCmd(t, m, keyText("r"))
	// p splits, p again heals; the view shows the halves and the tips.
	m = runCmd(t, m, keyText("p"))
	if s := screen(m); !strings.Contains(s, "split in two halves · 2 tips") {
		t.Errorf("after p:\n%s", s)
	}
	m = runCmd(t, m, keyText("p"))
	// + on node 4: its link with node 1 twice as slow.
	m = runCmd(t, m, keyDown, keyText("+"))
	want := []string{"stop 2", "start 2", "split", "heal", "delay 0-3 240ms"}
	if strings.Join(f.calls, ",") != strings.Join(want, ",") {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	// Each action is an event in the events pane.
	m, _ = update(m, keyEsc)
	m, _ = update(m, keyTab, keyTab, keyTab) // chain → peers → mining → events
	var texts []string
	for _, it := range m.log.items {
		if it.kind == "devnet" {
			texts = append(texts, it.text)
		}
	}
	if len(texts) != 5 {
		t.Errorf("devnet events %q, want 5", texts)
	}
}

// goldenDevnetView is the devnet view, split, one node stopped.
func goldenDevnetView(t *testing.T, w, h int) {
	f := newFakeNode(busySnapshot())
	dn := newFakeDevnet()
	_ = dn.Split(context.Background())
	dn.calls = nil
	dn.nodes[2].Running = false
	hs := startHarnessOpts(t, f, w, h, Options{Title: "devnet node 1 of 4", Devnet: dn})
	hs.waitUntil("first snapshot", loaded(0))
	hs.tm.Type("D")
	hs.waitUntil("devnet view", func(m Model) bool { return m.focus == focusDevnet })
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

func TestGoldenDevnetView80(t *testing.T)  { goldenDevnetView(t, 80, 24) }
func TestGoldenDevnetView160(t *testing.T) { goldenDevnetView(t, 160, 48) }

// TestDevnetHeightsOverTime: each second's tick samples the nodes'
// heights; a wide view draws each node's line on one scale, so a half that
// stopped growing reads lower than the one that went on.
func TestDevnetHeightsOverTime(t *testing.T) {
	f := newFakeDevnet()
	m := testModelOpts(newFakeNode(busySnapshot()), Options{Devnet: f})
	m, _ = update(m, tea.WindowSizeMsg{Width: 160, Height: 30}, keyText("D"))
	for i := range 20 {
		f.mu.Lock()
		f.nodes[0].Height = uint64(10 + i) // node1 grows
		f.nodes[3].Height = 10             // node4 does not
		f.mu.Unlock()
		m, _ = update(m, tickMsg{})
	}
	if got := len(m.devnet.heights["node1"]); got != 20 {
		t.Fatalf("%d samples of node1, want 20", got)
	}
	var n1, n4 string
	for _, l := range strings.Split(screen(m), "\n") {
		switch {
		case strings.Contains(l, "node1 "):
			n1 = l
		case strings.Contains(l, "node4 "):
			n4 = l
		}
	}
	if !strings.Contains(n1, "█") || strings.Contains(n4, "█") || !strings.Contains(n4, "▁") {
		t.Errorf("height lines:\n%s\n%s", n1, n4)
	}
}
