package ui

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// graphSpread is block 19's way across the fake devnet: node3 mined it,
// node4 had it 10 ms later and node2 20 ms later, both from node3; node1
// 35 ms after the find, from node2.
func graphSpread() DevnetSpread {
	return DevnetSpread{Hash: hashAt("best-19"), Height: 19, Origin: 2, Reached: []DevnetArrival{
		{Reached: true, At: 35 * time.Millisecond, From: 1},
		{Reached: true, At: 20 * time.Millisecond, From: 2},
		{Reached: true, At: 0, From: -1},
		{Reached: true, At: 10 * time.Millisecond, From: 2},
	}}
}

// graphModel is the dashboard of the fake devnet with the network view
// open on block 19, at w×h.
func graphModel(t *testing.T, w, h int) (Model, *fakeDevnet) {
	t.Helper()
	dn := newFakeDevnet()
	dn.spreads = map[string]DevnetSpread{hashAt("best-19"): graphSpread()}
	f := newFakeNode(busySnapshot())
	m := testModelOpts(f, Options{Title: "devnet node 1 of 4", Devnet: dn})
	m, _ = update(m, snapshotMsg{snap: f.snap, req: 0})
	m, _ = update(m, tea.WindowSizeMsg{Width: w, Height: h}, keyText("w"), keyText("j"))
	if b, _ := m.chain.Selected(); b.Height != 19 || !m.net.open {
		t.Fatalf("network view open %v on block %d, want block 19", m.net.open, b.Height)
	}
	// The picked block's replay starts from its beginning; the tests read
	// the complete picture, held after the play.
	held := m.graph.start.Add(replayPlay + replayHold/2)
	m.now = func() time.Time { return held }
	m.graph.now = held
	return m, dn
}

// graphPane is the network view's pane as m draws it, for a test to draw
// the graph's canvas at a size of its own.
func graphPane(m Model) netPane {
	p := m.net
	p.graph = m.graph
	p.graph.nodes = m.devnet.nodes
	return p
}

// TestGraphShowsTheDevnetAndTheBlocksWay: in a devnet, w draws every node
// and link with its latency, the selected block's way across it in
// level order (who mined it, then each node with the node it came from),
// and v switches to this node's radar and back.
func TestGraphShowsTheDevnetAndTheBlocksWay(t *testing.T) {
	m, _ := graphModel(t, 160, 48)
	out := ansi.Strip(m.View().Content)
	for _, want := range []string{
		"Devnet 4/4 nodes, 6 links up", "#19 reached all in 35ms",
		"★3", "●1 +35ms", "●2 +20ms", "●4 +10ms", // the nodes, lit, with their arrival
		"10ms", "20ms", "30ms", // link latencies
		"node3     +0.0ms  mined it",
		"node4      +10ms  ← node3 (10ms link)",
		"node2      +20ms  ← node3 (10ms link)",
		"node1      +35ms  ← node2 (10ms link)",
		"At this node: #19",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the devnet graph lacks %q:\n%s", want, out)
		}
	}
	// The way is listed in arrival order.
	if i3, i4, i1 := strings.Index(out, "node3     +0.0ms"), strings.Index(out, "node4      +10ms"), strings.Index(out, "node1      +35ms"); !(i3 < i4 && i4 < i1) {
		t.Errorf("arrivals out of order (%d, %d, %d)", i3, i4, i1)
	}
	m, _ = update(m, keyText("v"))
	out = ansi.Strip(m.View().Content)
	if !strings.Contains(out, "Network 3/6 online") || strings.Contains(out, "Devnet 4/4") {
		t.Fatalf("v did not switch to the radar:\n%s", out)
	}
	// The radar names devnet nodes by their numbers (by address order,
	// 10.0.0.7 would be 1 and node2 would be 2 by chance); a peer outside
	// the devnet is +.
	for _, want := range []string{"2  127.0.0.1:8334", "3  127.0.0.1:8335", "+  10.0.0.7:8333"} {
		if !strings.Contains(out, want) {
			t.Errorf("the devnet radar's table lacks %q:\n%s", want, out)
		}
	}
	m, _ = update(m, keyText("v"), keyText("?"))
	if out = ansi.Strip(m.View().Content); !strings.Contains(out, "devnet graph/radar") {
		t.Errorf("? does not list v:\n%s", out)
	}
}

// TestGraphReplaysTheSpread: halfway through the replay's play time, the
// nodes the block had reached by then are lit and the others wait; the
// link it is crossing is drawn part of the way; after the play time the
// picture is complete, and it starts again.
func TestGraphReplaysTheSpread(t *testing.T) {
	m, _ := graphModel(t, 160, 48)
	t0 := fixedNow
	m.graph.start = t0
	at := func(d time.Duration) string {
		m.graph.now = t0.Add(d)
		p := graphPane(m)
		return ansi.Strip(strings.Join(p.graphLines(90, 40), "\n"))
	}
	// 15 ms of the spread's 35: node3 and node4 have it.
	frame := at(replayPlay * 15 / 35)
	for _, want := range []string{"★3", "●4 +10ms", "○2", "○1"} {
		if !strings.Contains(frame, want) {
			t.Errorf("at +15ms the graph lacks %q:\n%s", want, frame)
		}
	}
	if strings.Contains(frame, "+35ms") {
		t.Errorf("node1 lit before the block reached it:\n%s", frame)
	}
	travel := strings.Count(frame, glyphTravel)
	complete := at(replayPlay + time.Millisecond)
	for _, want := range []string{"●1 +35ms", "●2 +20ms"} {
		if !strings.Contains(complete, want) {
			t.Errorf("after the play time the graph lacks %q:\n%s", want, complete)
		}
	}
	if all := strings.Count(complete, glyphTravel); travel == 0 || travel >= all {
		t.Errorf("the block's way: %d cells at +15ms, %d complete; want some, then more", travel, all)
	}
	// After the hold it plays again from the start.
	if again := at(replayPlay + replayHold + time.Millisecond); !strings.Contains(again, "○1") || !strings.Contains(again, "○4") {
		t.Errorf("the replay did not start again:\n%s", again)
	}
}

// TestGraphReplayTicksOnlyWhileShown: the replay's frames come while the
// graph is shown and stop once the view closes or shows the radar, and
// another block's replay starts from its beginning.
func TestGraphReplayTicksOnlyWhileShown(t *testing.T) {
	dn := newFakeDevnet()
	dn.spreads = map[string]DevnetSpread{hashAt("best-19"): graphSpread()}
	f := newFakeNode(busySnapshot())
	m := testModelOpts(f, Options{Devnet: dn})
	m, _ = update(m, snapshotMsg{snap: f.snap, req: 0}, tea.WindowSizeMsg{Width: 120, Height: 40})
	// Block 20, selected, has no way recorded: nothing moves.
	m, _ = update(m, keyText("w"))
	if m.graph.ticking {
		t.Fatal("opening the graph on a block with no way scheduled frames")
	}
	if out := ansi.Strip(m.View().Content); !strings.Contains(out, "#20: its way was not seen") || !strings.Contains(out, "y copy block hash") {
		t.Errorf("the graph on block 20 (no way recorded) does not say so, or its footer lacks y:\n%s", out)
	}
	m, cmd := update(m, keyText("j"))
	if cmd == nil || !m.graph.ticking {
		t.Fatal("selecting block 19 scheduled no frame")
	}
	if !m.graph.has || m.graph.spread.Height != 19 || !m.graph.start.Equal(m.graph.now) {
		t.Fatalf("selecting block 19: has %v height %d start %v now %v", m.graph.has, m.graph.spread.Height, m.graph.start, m.graph.now)
	}
	if m, cmd = update(m, graphTickMsg{}); cmd == nil {
		t.Fatal("a frame while the graph is shown scheduled no next one")
	}
	m, _ = update(m, keyText("?"))
	if m, cmd = update(m, graphTickMsg{}); cmd != nil || m.graph.ticking {
		t.Error("frames go on under the help")
	}
	if m, cmd = update(m, keyEsc); cmd == nil {
		t.Error("the help closed: no frame scheduled")
	}
	m, _ = update(m, graphTickMsg{}, keyText("v"))
	if m, cmd = update(m, graphTickMsg{}); cmd != nil || m.graph.ticking {
		t.Error("frames go on while the radar is shown")
	}
	m, cmd = update(m, keyText("v"))
	if cmd == nil {
		t.Error("back to the graph: no frame scheduled")
	}
	m, _ = update(m, keyEsc)
	if _, cmd = update(m, graphTickMsg{}); cmd != nil {
		t.Error("frames go on after the view closed")
	}
}

// TestGraphFramesStartWhenTheWayGrows: a block that has reached only the
// node that mined it has nothing to replay, so no frames; once the devnet
// records it at another node, the second's tick starts them.
func TestGraphFramesStartWhenTheWayGrows(t *testing.T) {
	dn := newFakeDevnet()
	sp := graphSpread()
	only := sp
	only.Reached = []DevnetArrival{{From: -1}, {From: -1}, {Reached: true, From: -1}, {From: -1}}
	dn.spreads = map[string]DevnetSpread{sp.Hash: only}
	f := newFakeNode(busySnapshot())
	m := testModelOpts(f, Options{Devnet: dn})
	m, _ = update(m, snapshotMsg{snap: f.snap, req: 0}, tea.WindowSizeMsg{Width: 120, Height: 40})
	m, _ = update(m, keyText("w"), keyText("j"))
	if !m.graph.has || m.graph.ticking {
		t.Fatalf("a way of one node: has %v, frames scheduled %v", m.graph.has, m.graph.ticking)
	}
	if out := ansi.Strip(m.View().Content); !strings.Contains(out, "#19 reached 1 of 4 in") {
		t.Errorf("the title does not say the block reached 1 of 4:\n%s", out)
	}
	dn.mu.Lock()
	dn.spreads[sp.Hash] = sp
	dn.mu.Unlock()
	m, _ = update(m, tickMsg{})
	if !m.graph.ticking {
		t.Fatal("the way grew, a second passed, and no frame was scheduled")
	}
}

// TestGraphFetchedArrivalIsNotReplayed: a node that fetched the block
// minutes later (it was stopped, or across a split) does not stretch the
// replay: the relayed way plays in its usual time, and the fetching node
// is lit, marked sync, only in the complete picture.
func TestGraphFetchedArrivalIsNotReplayed(t *testing.T) {
	m, dn := graphModel(t, 160, 48)
	sp := graphSpread()
	sp.Reached[0] = DevnetArrival{Reached: true, At: 5 * time.Minute, From: -1, Fetched: true}
	dn.mu.Lock()
	dn.spreads[sp.Hash] = sp
	dn.mu.Unlock()
	m, _ = update(m, graphTickMsg{})
	t0 := m.graph.now
	m.graph.start = t0
	if got := m.graph.total(); got != 20*time.Millisecond {
		t.Fatalf("the replay spans %v, want the relayed way's 20ms", got)
	}
	draw := func(d time.Duration) string {
		m.graph.now = t0.Add(d)
		p := graphPane(m)
		return ansi.Strip(strings.Join(p.graphLines(100, 30), "\n"))
	}
	if mid := draw(replayPlay * 3 / 4); !strings.Contains(mid, glyphWaiting+"1") || strings.Contains(mid, "sync") {
		t.Errorf("three quarters into the replay the fetching node is lit:\n%s", mid)
	}
	if done := draw(replayPlay + replayHold/2); !strings.Contains(done, glyphReached+"1 sync") {
		t.Errorf("the complete picture does not show node 1 as fetched:\n%s", done)
	}
	m.graph.now = t0.Add(replayPlay + replayHold/2)
	pane := graphPane(m)
	if _, note := pane.graphTitle(); note != "#19 reached all in 20ms, 1 by sync" {
		t.Errorf("the complete picture's title is %q, want the relayed way's time and the sync apart", note)
	}
}

// TestGraphRadarPickStartsTheReplayAnew: a block picked while the radar is
// shown replays from its beginning when the graph comes back, however long
// the radar was up.
func TestGraphRadarPickStartsTheReplayAnew(t *testing.T) {
	m, _ := graphModel(t, 160, 48)
	clock := fixedNow
	m.now = func() time.Time { return clock }
	m, _ = update(m, keyText("v"), keyText("k")) // block 20: no way
	clock = clock.Add(10 * time.Minute)
	m, _ = update(m, keyText("j"), keyText("v")) // block 19 again, then the graph
	if !m.graph.start.Equal(clock) {
		t.Fatalf("the replay started at %v, want %v (when the block was picked)", m.graph.start, clock)
	}
	if at, complete := m.graph.replayAt(); complete || at != 0 {
		t.Errorf("at the pick the replay is at +%v (complete %v), want its beginning: no complete picture flashed first", at, complete)
	}
	m.graph.now = clock.Add(replayPlay / 4)
	if at, complete := m.graph.replayAt(); complete || at > 10*time.Millisecond {
		t.Errorf("a quarter of the play time after the pick, the replay is at +%v (complete %v), want +8.75ms of 35ms", at, complete)
	}
}

// TestGraphLinksDownAndStoppedNodes: a link without a session is dotted
// (as across a split), a stopped node is marked and its arrivals say why
// it was not reached.
func TestGraphLinksDownAndStoppedNodes(t *testing.T) {
	m, dn := graphModel(t, 160, 48)
	dn.mu.Lock()
	dn.nodes[3].Running = false
	dn.down = map[[2]int]bool{{0, 2}: true}
	sp := graphSpread()
	sp.Reached[3] = DevnetArrival{From: -1}
	dn.spreads[sp.Hash] = sp
	dn.mu.Unlock()
	m, _ = update(m, tickMsg{}, graphTickMsg{})
	out := ansi.Strip(m.View().Content)
	for _, want := range []string{"Devnet 3/4 nodes, 2 links up", glyphStopped + "4", "1 not reached yet (or stopped, or across a split)", "#19 reached 3 of 4 in"} {
		if !strings.Contains(out, want) {
			t.Errorf("graph lacks %q:\n%s", want, out)
		}
	}
	// Node 1 (left) and node 3 (right) are joined by dots only.
	p := graphPane(m)
	lines := p.graphLines(60, 20)
	pos := placeNodes(4, 60, 20, len("4 +000ms")+1)
	path := linePath(pos[0], pos[2])
	dots := 0
	for _, c := range path {
		if cell := ansi.Strip(ansi.Cut(lines[c.Y], c.X, c.X+1)); cell == glyphLinkOff {
			dots++
		}
	}
	if dots < len(path)/2 {
		t.Errorf("the down link node1–node3 has %d dots over %d cells:\n%s", dots, len(path), ansi.Strip(strings.Join(lines, "\n")))
	}
}

// TestGraphPlacement: every node of devnets of 2 to 16 nodes has a cell
// of its own inside the canvas at the view's sizes, the same in every
// frame; node 1 is at the left.
func TestGraphPlacement(t *testing.T) {
	for _, size := range [][2]int{{44, 18}, {90, 44}} {
		for n := 2; n <= 16; n++ {
			pos := placeNodes(n, size[0], size[1], 9)
			seen := map[graphCell]bool{}
			for i, c := range pos {
				if c.X < 0 || c.X >= size[0] || c.Y < 0 || c.Y >= size[1] {
					t.Errorf("%dx%d, %d nodes: node %d at %v, off the canvas", size[0], size[1], n, i+1, c)
				}
				if seen[c] {
					t.Errorf("%dx%d, %d nodes: node %d shares %v", size[0], size[1], n, i+1, c)
				}
				seen[c] = true
				if c.X < pos[0].X {
					t.Errorf("%dx%d, %d nodes: node %d left of node 1", size[0], size[1], n, i+1)
				}
			}
			if again := placeNodes(n, size[0], size[1], 9); fmt.Sprint(again) != fmt.Sprint(pos) {
				t.Errorf("placement moved between frames")
			}
		}
	}
}

// TestGraphFitsEverySize: every line of the view fits the terminal, from
// the smallest drawn to a large one, with 4 and with 24 nodes.
func TestGraphFitsEverySize(t *testing.T) {
	for _, n := range []int{4, 24} {
		for _, size := range [][2]int{{60, 16}, {80, 24}, {120, 40}, {200, 60}} {
			m, dn := graphModel(t, size[0], size[1])
			dn.mu.Lock()
			for i := len(dn.nodes); i < n; i++ {
				dn.nodes = append(dn.nodes, DevnetNode{Name: fmt.Sprintf("node%d", i+1), Running: true, Half: -1})
			}
			dn.mu.Unlock()
			m, _ = update(m, tickMsg{}, graphTickMsg{})
			for i, l := range strings.Split(m.View().Content, "\n") {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Errorf("%d nodes at %dx%d: line %d is %d wide", n, size[0], size[1], i, w)
				}
			}
		}
	}
}

func TestGoldenDevnetGraph80(t *testing.T)  { goldenDevnetGraph(t, 80, 24) }
func TestGoldenDevnetGraph160(t *testing.T) { goldenDevnetGraph(t, 160, 48) }

func goldenDevnetGraph(t *testing.T, w, h int) {
	f := newFakeNode(busySnapshot())
	dn := newFakeDevnet()
	dn.spreads = map[string]DevnetSpread{hashAt("best-19"): graphSpread()}
	m := testModelOpts(f, Options{Title: "devnet node 1 of 4", Devnet: dn})
	// The clock stands still at the pick, then moves on to the complete
	// picture the replay holds after its play.
	var clock atomic.Int64
	clock.Store(fixedNow.UnixNano())
	m.now = func() time.Time { return time.Unix(0, clock.Load()).In(fixedNow.Location()) }
	hs := startHarnessModel(t, m, w, h)
	hs.waitUntil("first snapshot", loaded(0))
	hs.tm.Type("wj")
	hs.waitUntil("the devnet graph on block 19", func(m Model) bool {
		return m.net.open && m.graph.has && m.graph.spread.Height == 19
	})
	held := fixedNow.Add(replayPlay + replayHold/2)
	clock.Store(held.UnixNano())
	hs.waitUntil("the complete picture", func(m Model) bool {
		_, complete := m.graph.replayAt()
		return m.graph.now.Equal(held) && complete
	})
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

// TestGraphBigDevnetKeepsEveryNode: on a crowded ring no node's glyph is
// covered by another's label, and every node keeps at least its number.
func TestGraphBigDevnetKeepsEveryNode(t *testing.T) {
	for _, n := range []int{20, 40} {
		for _, size := range [][2]int{{56, 20}, {80, 24}, {160, 48}} {
			m, dn := graphModel(t, 160, 48)
			dn.mu.Lock()
			sp := graphSpread()
			for i := len(dn.nodes); i < n; i++ {
				dn.nodes = append(dn.nodes, DevnetNode{Name: fmt.Sprintf("node%d", i+1), Running: true, Half: -1})
				sp.Reached = append(sp.Reached, DevnetArrival{Reached: true, At: time.Duration(i) * 7 * time.Millisecond, From: 2})
			}
			dn.spreads[sp.Hash] = sp
			dn.mu.Unlock()
			m, _ = update(m, tickMsg{}, graphTickMsg{})
			p := graphPane(m)
			p.graph.start = time.Time{} // the complete picture
			w, h := size[0], size[1]
			lines := p.graphLines(w, h)
			labelW := len(fmt.Sprint(n)) + 1 + len("+000ms")
			pos := placeNodes(n, w, h, labelW)
			distinct := map[graphCell]bool{}
			for _, c := range pos {
				distinct[c] = true
			}
			glyphs := 0
			for c := range distinct {
				cell := ansi.Strip(ansi.Cut(lines[c.Y], c.X, c.X+1))
				if cell == glyphOrigin || cell == glyphReached || cell == glyphWaiting || cell == glyphStopped {
					glyphs++
				} else {
					t.Errorf("%d nodes at %dx%d: the node at %v is drawn as %q", n, w, h, c, cell)
				}
			}
			text := ansi.Strip(strings.Join(lines, "\n"))
			for i := range n {
				num := fmt.Sprint(i + 1)
				c := pos[i]
				row := []rune(ansi.Strip(lines[c.Y]))
				right := string(row[min(len(row), c.X+1):min(len(row), c.X+1+len(num))])
				left := string(row[max(0, c.X-len(num)-len(" +000ms")):c.X])
				if right != num && !strings.Contains(left, num) && len(distinct) == n {
					t.Errorf("%d nodes at %dx%d: node %d at %v has no number beside it (row %q)", n, w, h, i+1, c, string(row))
				}
			}
			if t.Failed() {
				t.Logf("%d nodes at %dx%d:\n%s", n, w, h, text)
				return
			}
		}
	}
}

// BenchmarkGraph64: one frame of the devnet graph of 64 nodes (2,016
// links) at 200x60, mid-replay.
//
//	go test -run '^$' -bench Graph64 -count 5 ./ui/
func BenchmarkGraph64(b *testing.B) {
	m, dn := graphModel(&testing.T{}, 200, 60)
	dn.mu.Lock()
	sp := graphSpread()
	for i := len(dn.nodes); i < 64; i++ {
		dn.nodes = append(dn.nodes, DevnetNode{Name: fmt.Sprintf("node%d", i+1), Running: true, Half: -1})
		sp.Reached = append(sp.Reached, DevnetArrival{Reached: true, At: time.Duration(i) * 3 * time.Millisecond, From: (i * 7) % i})
	}
	dn.spreads[sp.Hash] = sp
	dn.mu.Unlock()
	m, _ = update(m, tickMsg{}, graphTickMsg{})
	m.graph.now = m.graph.start.Add(replayPlay / 2)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// TestGraphDenseMeshLabelsOnlyTheWay: a full mesh of 12 nodes has 66
// links, too many latencies for the canvas: only the links the block took
// are labelled, and every one of those is; 4 nodes keep all 6 labels.
func TestGraphDenseMeshLabelsOnlyTheWay(t *testing.T) {
	latency := regexp.MustCompile(`(^|[^+0-9.])[0-9]+(\.[0-9])?ms`)
	count := func(lines []string) int {
		return len(latency.FindAllString(ansi.Strip(strings.Join(lines, "\n")), -1))
	}
	m, dn := graphModel(t, 120, 36)
	p := graphPane(m)
	if got := count(p.graphLines(68, 29)); got != 6 {
		t.Errorf("4 nodes: %d latency labels, want all 6", got)
	}
	dn.mu.Lock()
	sp := graphSpread()
	for i := len(dn.nodes); i < 12; i++ {
		dn.nodes = append(dn.nodes, DevnetNode{Name: fmt.Sprintf("node%d", i+1), Running: true, Half: -1})
		// Node i+1 from node i, over a link of 10 ms, 40 ms apart.
		sp.Reached = append(sp.Reached, DevnetArrival{Reached: true, At: time.Duration(i) * 40 * time.Millisecond, From: i - 1})
	}
	dn.spreads[sp.Hash] = sp
	dn.mu.Unlock()
	m, _ = update(m, tickMsg{}, graphTickMsg{})
	p = graphPane(m)
	lines := p.graphLines(68, 29)
	if out := ansi.Strip(m.View().Content); strings.Contains(out, "link down") || !strings.Contains(out, "its way") {
		t.Errorf("the key of a graph that draws only the block's way still explains dotted links:\n%s", out)
	}
	if got := count(lines); got > 11 || got < 9 {
		t.Errorf("12 nodes: %d latency labels, want the block's 11 links' (a few may find no room), not the mesh's 66:\n%s",
			got, ansi.Strip(strings.Join(lines, "\n")))
	}
}
