package ui

import (
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/meshchain/meshchain/node"
)

// Golden tests run the real program through teatest at a fixed size with an
// ASCII colour profile, then compare the final screen (text only) with
// testdata/<test>.golden. Regenerate with: go test ./ui/ -run Golden -update

const goldenW, goldenH = 100, 30

// probeMsg lets a test look at the running model: the program's filter sees
// the model before each message, so a probe answers "is it there yet?".
type probeMsg struct{}

type harness struct {
	t    *testing.T
	tm   *teatest.TestModel
	mu   sync.Mutex
	cond func(Model) bool
	hit  chan struct{}
}

func startHarness(t *testing.T, f *fakeNode, w, h int) *harness {
	t.Helper()
	return startHarnessOpts(t, f, w, h, Options{Title: "devnet node 1"})
}

// startHarnessOpts is startHarness with other options.
func startHarnessOpts(t *testing.T, f Node, w, h int, opts Options) *harness {
	t.Helper()
	return startHarnessModel(t, testModelOpts(f, opts), w, h)
}

// startHarnessModel runs a model the test has readied (its clock, say).
func startHarnessModel(t *testing.T, m Model, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, hit: make(chan struct{}, 1)}
	filter := func(tm tea.Model, msg tea.Msg) tea.Msg {
		if _, ok := msg.(probeMsg); !ok {
			return msg
		}
		hs.mu.Lock()
		cond := hs.cond
		hs.mu.Unlock()
		if mm, ok := tm.(Model); ok && cond != nil && cond(mm) {
			select {
			case hs.hit <- struct{}{}:
			default:
			}
		}
		return nil
	}
	hs.tm = teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii), tea.WithFilter(filter)),
	)
	return hs
}

// waitUntil probes the program until cond holds for its model.
func (hs *harness) waitUntil(what string, cond func(Model) bool) {
	hs.t.Helper()
	hs.mu.Lock()
	hs.cond = cond
	hs.mu.Unlock()
	deadline := time.After(10 * time.Second)
	for {
		hs.tm.Send(probeMsg{})
		select {
		case <-hs.hit:
			return
		case <-deadline:
			hs.t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// finish quits and returns the final screen as plain text.
func (hs *harness) finish() string {
	hs.t.Helper()
	if err := hs.tm.Quit(); err != nil {
		hs.t.Fatal(err)
	}
	fm := hs.tm.FinalModel(hs.t, teatest.WithFinalTimeout(10*time.Second)).(Model)
	return ansi.Strip(fm.View().Content)
}

func loaded(events int) func(Model) bool {
	return func(m Model) bool {
		return m.haveSnap && m.log.total == events && m.width > 0
	}
}

func TestGoldenEmptyNode(t *testing.T) {
	f := newFakeNode(emptySnapshot())
	hs := startHarness(t, f, goldenW, goldenH)
	hs.waitUntil("first snapshot", loaded(0))
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

func TestGoldenBusyDevnet(t *testing.T) {
	evs := busyEvents()
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, goldenW, goldenH)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

// busyGolden is the dashboard itself, with the busy devnet's events, at
// w×h: at 160x48 the mining pane's spare rows hold the charts.
func busyGolden(t *testing.T, w, h int) {
	evs := busyEvents()
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, w, h)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	out := hs.finish()
	if w >= 160 && !strings.Contains(out, "hash rate, last 5 min") {
		t.Errorf("no hash rate chart at %dx%d:\n%s", w, h, out)
	}
	teatest.RequireEqualOutput(t, []byte(out))
}

func TestGoldenBusyDevnet80(t *testing.T)  { busyGolden(t, 80, 24) }
func TestGoldenBusyDevnet160(t *testing.T) { busyGolden(t, 160, 48) }

func TestGoldenForkTree(t *testing.T) {
	evs := busyEvents()
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, goldenW, goldenH)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	hs.tm.Type("t")
	hs.waitUntil("tree view", func(m Model) bool { return m.chain.treeMode })
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

func TestGoldenBlockDetail(t *testing.T) {
	snap := busySnapshot()
	f := newFakeNode(snap)
	sel := snap.Recent[1] // one below the tip
	sel.Message = "a longer message, to show how the detail view wraps text that does not fit on one line of the pane, and keeps its line breaks:\nsecond line\x1b[2J"
	snap.Recent[1] = sel
	f.snap = snap
	f.blocks[sel.Hash] = fullBlock(sel)
	hs := startHarness(t, f, goldenW, goldenH)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Send(tea.KeyPressMsg{Code: 'j', Text: "j"})
	hs.tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	hs.waitUntil("block detail", func(m Model) bool { return m.focus == focusDetail && m.detail.block != nil })
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

func TestGoldenHelp(t *testing.T) {
	f := newFakeNode(busySnapshot())
	hs := startHarness(t, f, goldenW, goldenH)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Type("?")
	hs.waitUntil("full help", func(m Model) bool { return m.showHelp })
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

// TestGoldenHelpSmall: at 80x24 the full help lists every key: groups that
// do not fit beside the others wrap below them instead of being dropped.
func TestGoldenHelpSmall(t *testing.T) {
	f := newFakeNode(busySnapshot())
	hs := startHarness(t, f, 80, 24)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Type("?")
	hs.waitUntil("full help", func(m Model) bool { return m.showHelp })
	out := hs.finish()
	for _, want := range []string{"tab", "shift+tab", "toggle help", "quit", "write message", "zoom pane", "bottom"} {
		if !strings.Contains(out, want) {
			t.Errorf("help at 80x24 lacks %q", want)
		}
	}
	teatest.RequireEqualOutput(t, []byte(out))
}

// TestGoldenGraphemes: messages holding joined emoji, flags and combining
// marks keep every border in line (checked here by the width of each line
// and in tmux by ui/tmux_test.go's real binary).
func TestGoldenGraphemes(t *testing.T) {
	snap := busySnapshot()
	msgs := []string{"family 👨\u200d👩\u200d👧 at home", "flag 🇮🇩 and ✌🏽 peace", "cafe\u0301 ❤\ufe0f combining"}
	for i, msg := range msgs {
		snap.Recent[i].Message = msg
	}
	hs := startHarness(t, newFakeNode(snap), goldenW, goldenH)
	hs.waitUntil("snapshot", loaded(0))
	out := hs.finish()
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if g, w := ansi.StringWidth(line), ansi.StringWidthWc(line); g != w || g > goldenW {
			t.Errorf("line %d is %d cells by cluster and %d by code point (width %d):\n%s", i, g, w, goldenW, line)
		}
	}
	teatest.RequireEqualOutput(t, []byte(out))
}

func TestGoldenSmallTerminal(t *testing.T) {
	evs := busyEvents()
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, 80, 24)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

// At 120x40 the peers get a full-width row with every round trip.
func TestGoldenPeersRow(t *testing.T) {
	evs := busyEvents()
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, 120, 40)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

// allLoaded holds once the snapshot and every one of evs are in: the
// events pane lists those it shows, and the charts have the last hash
// rate (a mining progress the pane does not list, folded after the last
// listed event).
func allLoaded(evs []node.Event) func(Model) bool {
	var last time.Time
	for _, ev := range evs {
		switch ev.Payload.(type) {
		case node.MiningProgress, node.BlockMined, node.MiningIdle:
			last = ev.Time
		}
	}
	shown := loaded(countShown(evs))
	return func(m Model) bool {
		if !shown(m) {
			return false
		}
		n := len(m.hist.rates)
		return last.IsZero() || n > 0 && m.hist.rates[n-1].at.Equal(last)
	}
}

// countShown is how many of evs the events pane lists.
func countShown(evs []node.Event) int {
	n := 0
	for _, ev := range evs {
		if _, _, ok := describe(ev.Payload); ok {
			n++
		}
	}
	return n
}
