package ui

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/meshchain/meshchain/node"
)

func lagMS(ms float64) *float64 { return &ms }

// spreadEvents follow busyEvents (numbered after busySnapshot's Seq):
// #18 came first from 8334, #19 from 8335, #20 was mined here and echoed
// back by 10.0.0.7 without a measured lag.
func spreadEvents() []node.Event {
	seq := uint64(len(busyEvents()))
	at := func(ms int) time.Time { return fixedNow.Add(-time.Minute + time.Duration(ms)*time.Millisecond) }
	ev := func(ms int, p node.Payload) node.Event {
		seq++
		return node.Event{Time: at(ms), Payload: p, Seq: seq}
	}
	b18, b19, b20 := hashAt("best-18"), hashAt("best-19"), hashAt("best-20")
	return []node.Event{
		ev(0, node.BlockAccepted{Height: 18, Hash: b18, Peer: "127.0.0.1:8334", OnBest: true}),
		ev(1, node.BlockSeenAgain{Hash: b18, Height: 18, Peer: "127.0.0.1:8335", First: "127.0.0.1:8334", LagMS: lagMS(0.8)}),
		ev(41, node.BlockSeenAgain{Hash: b18, Height: 18, Peer: "10.0.0.7:8333", First: "127.0.0.1:8334", LagMS: lagMS(41)}),
		ev(1000, node.BlockAccepted{Height: 19, Hash: b19, Peer: "127.0.0.1:8335", OnBest: true}),
		ev(1001, node.BlockSeenAgain{Hash: b19, Height: 19, Peer: "127.0.0.1:8334", First: "127.0.0.1:8335", LagMS: lagMS(1.1)}),
		ev(1038, node.BlockSeenAgain{Hash: b19, Height: 19, Peer: "10.0.0.7:8333", First: "127.0.0.1:8335", LagMS: lagMS(38)}),
		ev(2000, node.BlockAccepted{Height: 20, Hash: b20, OnBest: true}),
		ev(2090, node.BlockSeenAgain{Hash: b20, Height: 20, Peer: "10.0.0.7:8333"}),
	}
}

// TestSpreadFromEvents: the reducer alone (no terminal) builds each block's
// spread and every peer's first-delivered share and median lag.
func TestSpreadFromEvents(t *testing.T) {
	s, _ := seeded(t)
	for _, ev := range spreadEvents() {
		s.Apply(ev)
	}
	b19 := s.spread.block(hashAt("best-19"))
	if b19 == nil || b19.First != "127.0.0.1:8335" || b19.Mined {
		t.Fatalf("block 19: %+v, want first from 127.0.0.1:8335", b19)
	}
	var got []string
	for _, c := range b19.Copies {
		got = append(got, c.Peer+" "+lagText(c.Lag))
	}
	if want := []string{"127.0.0.1:8334 1.1ms", "10.0.0.7:8333 38ms"}; !slices.Equal(got, want) {
		t.Errorf("copies of 19 %q, want %q", got, want)
	}
	// Mined here: the echo's lag is taken from the events' times.
	b20 := s.spread.block(hashAt("best-20"))
	if b20 == nil || !b20.Mined || len(b20.Copies) != 1 || b20.Copies[0].Timed || b20.Copies[0].Lag != 90*time.Millisecond {
		t.Fatalf("block 20: %+v, want mined here with one untimed copy 90ms later", b20)
	}

	for _, tc := range []struct {
		peer             string
		delivered, first int
		median           time.Duration
	}{
		{"127.0.0.1:8334", 2, 1, 550 * time.Microsecond}, // first (0) and 1.1ms
		{"127.0.0.1:8335", 2, 1, 400 * time.Microsecond}, // 0.8ms and first (0)
		{"10.0.0.7:8333", 2, 0, 39500 * time.Microsecond},
		{"203.0.113.9:8333", 0, 0, 0},
	} {
		// Two blocks came from peers (#18, #19); #20 was mined here.
		d := s.spread.delivery(tc.peer)
		if d.Relayed != 2 || d.Delivered != tc.delivered || d.First != tc.first || d.MedianLag != tc.median {
			t.Errorf("%s: %+v, want delivered %d, first %d, median %v", tc.peer, d, tc.delivered, tc.first, tc.median)
		}
	}

	// Applying the same events again (a snapshot's replay) changes nothing.
	before := len(b19.Copies)
	s.lastSeq = 0
	for _, ev := range spreadEvents() {
		s.Apply(ev)
	}
	if len(b19.Copies) != before {
		t.Errorf("replayed events added copies: %d, want %d", len(b19.Copies), before)
	}
}

// TestSpreadLeavesOutSyncedBlocks: blocks fetched by a sync round are not
// a race, and do not count as delivered first.
func TestSpreadLeavesOutSyncedBlocks(t *testing.T) {
	s, a := seeded(t)
	b := chainOf("a", 4, 6, a[3].Hash, aliceKey)
	s.Apply(node.Event{Payload: node.SyncStarted{Peer: "127.0.0.1:8334"}})
	ev := accepted(b[0], true)
	acc := ev.Payload.(node.BlockAccepted)
	acc.Peer = "127.0.0.1:8334"
	s.Apply(node.Event{Payload: acc})
	s.Apply(node.Event{Payload: node.SyncFinished{Peer: "127.0.0.1:8334"}})
	acc2 := accepted(b[1], true).Payload.(node.BlockAccepted)
	acc2.Peer = "127.0.0.1:8334"
	s.Apply(node.Event{Payload: acc2})
	// A missing parent fetched outside a sync round: asked for too.
	acc3 := accepted(b[2], true).Payload.(node.BlockAccepted)
	acc3.Peer, acc3.Fetched = "127.0.0.1:8334", true
	s.Apply(node.Event{Payload: acc3})
	if s.spread.block(b[0].Hash) != nil {
		t.Error("a block fetched by sync was recorded as raced for")
	}
	if s.spread.block(b[2].Hash) != nil {
		t.Error("a block fetched outside a sync round was recorded as raced for")
	}
	if d := s.spread.delivery("127.0.0.1:8334"); d.Relayed != 1 || d.Delivered != 1 || d.First != 1 {
		t.Errorf("delivery %+v, want the relayed block only", d)
	}
}

// distance is a spot's distance from the centre in rows (x counts half).
func (g netGeometry) distanceOf(s netSpot) float64 {
	return math.Hypot(float64(s.X-g.cx)/2, float64(s.Y-g.cy))
}

func spotOf(t *testing.T, spots []netSpot, addr string) netSpot {
	t.Helper()
	for _, s := range spots {
		if s.Peer.Addr == addr {
			return s
		}
	}
	t.Fatalf("no spot for %s", addr)
	return netSpot{}
}

func online(addr string, rtt time.Duration) node.PeerInfo {
	return node.PeerInfo{Addr: addr, Status: node.PeerOnlineStatus, SmoothRTT: rtt}
}

// TestPlacementNearerIsNearer: at the canvas sizes of 80x24 and 160x48, a
// peer with a smaller round trip is drawn nearer the centre, 1 ms and
// 300 ms both on the canvas and apart.
func TestPlacementNearerIsNearer(t *testing.T) {
	peers := []node.PeerInfo{
		online("10.0.0.1:8333", 300*time.Millisecond),
		online("10.0.0.2:8333", time.Millisecond),
		online("10.0.0.3:8333", 30*time.Millisecond),
		online("10.0.0.4:8333", 5*time.Millisecond),
	}
	for _, size := range [][2]int{{33, 16}, {81, 40}, {150, 60}} {
		g, spots := placePeers(peers, peerLabels(peers), size[0], size[1])
		byRTT := append([]node.PeerInfo(nil), peers...)
		slices.SortFunc(byRTT, func(a, b node.PeerInfo) int { return int(a.SmoothRTT - b.SmoothRTT) })
		prev := -1.0
		for _, pi := range byRTT {
			s := spotOf(t, spots, pi.Addr)
			if s.X < 0 || s.X >= size[0] || s.Y < 0 || s.Y >= size[1] {
				t.Fatalf("%dx%d: %s (%v) off the canvas at %d,%d", size[0], size[1], pi.Addr, pi.SmoothRTT, s.X, s.Y)
			}
			d := g.distanceOf(s)
			if d <= prev {
				t.Errorf("%dx%d: %s (%v) at distance %.1f, not beyond the nearer peer's %.1f", size[0], size[1], pi.Addr, pi.SmoothRTT, d, prev)
			}
			prev = d
		}
	}
}

// TestPlacementStableAcrossFrames: a peer keeps its place when another
// peer's round trip changes, when peers come in another order, and when a
// peer joins elsewhere.
func TestPlacementStableAcrossFrames(t *testing.T) {
	peers := []node.PeerInfo{
		online("10.0.0.1:8333", 3*time.Millisecond),
		online("10.0.0.2:8333", 40*time.Millisecond),
		online("192.168.0.9:8333", 120*time.Millisecond),
	}
	_, first := placePeers(peers, peerLabels(peers), 81, 40)
	later := []node.PeerInfo{
		online("192.168.0.9:8333", 20*time.Millisecond), // nearer now
		online("10.0.0.2:8333", 40*time.Millisecond),
		online("10.0.0.1:8333", 3*time.Millisecond),
	}
	_, second := placePeers(later, peerLabels(later), 81, 40)
	for _, addr := range []string{"10.0.0.1:8333", "10.0.0.2:8333"} {
		a, b := spotOf(t, first, addr), spotOf(t, second, addr)
		if a.X != b.X || a.Y != b.Y || a.Label != b.Label {
			t.Errorf("%s moved from %d,%d (%s) to %d,%d (%s)", addr, a.X, a.Y, a.Label, b.X, b.Y, b.Label)
		}
	}
	if a, b := spotOf(t, first, "192.168.0.9:8333"), spotOf(t, second, "192.168.0.9:8333"); peerAngle(a.Peer.Addr) != peerAngle(b.Peer.Addr) || a.Label != b.Label {
		t.Errorf("the peer whose round trip changed changed direction or label")
	}
}

// TestRadarGlyphs: online, nearest, dialing, offline and penalised peers
// have their own glyphs, readable without colour.
func TestRadarGlyphs(t *testing.T) {
	peers := busySnapshot().Peers
	_, spots := placePeers(peers, peerLabels(peers), 81, 40)
	want := map[string]string{
		"127.0.0.1:8334":    glyphNearest, // 1.2 ms, the nearest online
		"127.0.0.1:8335":    glyphOnline,
		"10.0.0.7:8333":     glyphOnline,
		"192.168.1.20:8333": glyphConnecting,
		"203.0.113.9:8333":  glyphOffline,
		"198.51.100.4:8333": glyphPenalized,
	}
	for addr, g := range want {
		if s := spotOf(t, spots, addr); s.Glyph != g {
			t.Errorf("%s drawn %q, want %q", addr, s.Glyph, g)
		}
	}
	p := netPane{st: newStyles(true), peers: peers}
	canvas := ansi.Strip(strings.Join(p.radar(81, 40), "\n"))
	for _, s := range spots {
		if !strings.Contains(canvas, s.Glyph+s.Label) {
			t.Errorf("the radar lacks %s%s for %s", s.Glyph, s.Label, s.Peer.Addr)
		}
	}
	for _, ring := range []string{"1ms", "10ms", "100ms", "1s", glyphSelf} {
		if !strings.Contains(canvas, ring) {
			t.Errorf("the radar lacks %q", ring)
		}
	}
}

// TestNetViewKeys: w opens the view over the body, the arrows select the
// block whose spread it shows, Enter opens that block, w and Esc close it.
func TestNetViewKeys(t *testing.T) {
	f := newFakeNode(busySnapshot(), append(busyEvents(), spreadEvents()...)...)
	m := testModel(f)
	m, _ = update(m, snapshotMsg{snap: f.snap, req: 0})
	for _, ev := range append(busyEvents(), spreadEvents()...) {
		m, _ = update(m, eventMsg{ev: ev})
	}
	m, _ = update(m, keyText("w"))
	if !m.net.open {
		t.Fatal("w did not open the network view")
	}
	out := ansi.Strip(m.View().Content)
	if !strings.Contains(out, "Network 3/6 online") || !strings.Contains(out, "Spread of #20") || !strings.Contains(out, "mined here") {
		t.Fatalf("network view lacks its panes:\n%s", out)
	}
	m, _ = update(m, keyText("j"))
	out = ansi.Strip(m.View().Content)
	if !strings.Contains(out, "Spread of #19") || !strings.Contains(out, "+38ms") {
		t.Fatalf("j did not select block 19's spread:\n%s", out)
	}
	m, _ = update(m, keyText("d")) // a peer key: not passed on unseen
	if m.confirm != nil {
		t.Fatal("d asked to disconnect a peer out of sight")
	}
	// y copies the hash of the block whose spread is drawn, whatever
	// pane had the focus.
	m.focus = focusPeers
	sel, _ := m.chain.Selected()
	m, cmd := update(m, keyText("y"))
	if got := clipboardText(t, cmd); got != sel.Hash || sel.Height != 19 {
		t.Fatalf("y in the network view copied %q, want block 19's hash %q", got, sel.Hash)
	}
	m.focus = focusChain
	// m opens the Messages view in its place; w comes back to it.
	m, _ = update(m, keyText("m"))
	if m.net.open || m.focus != focusMessages {
		t.Fatalf("m: network open %v, focus %v; want the Messages view", m.net.open, m.focus)
	}
	m, _ = update(m, keyEsc, keyText("w"))
	if !m.net.open {
		t.Fatal("w did not open the network view again")
	}
	m, _ = update(m, keyEsc)
	if m.net.open {
		t.Fatal("esc did not close the network view")
	}
	m, _ = update(m, keyText("w"), keyEnter)
	if m.net.open || m.focus != focusDetail || m.detail.summary.Height != 19 {
		t.Fatalf("enter: open %v focus %v height %d, want the detail of block 19", m.net.open, m.focus, m.detail.summary.Height)
	}
	m, _ = update(m, keyEsc, keyText("?"))
	if out := ansi.Strip(m.View().Content); !strings.Contains(out, "network view") {
		t.Errorf("? does not list the network view:\n%s", out)
	}
}

// TestPeersSortFirstDeliveredAndDetail: o reaches the first-delivered
// order, and a peer's detail gives its share and median lag.
func TestPeersSortFirstDeliveredAndDetail(t *testing.T) {
	f := newFakeNode(busySnapshot())
	m := testModel(f)
	m, _ = update(m, snapshotMsg{snap: f.snap, req: 0})
	for _, ev := range append(busyEvents(), spreadEvents()...) {
		m, _ = update(m, eventMsg{ev: ev})
	}
	m, _ = update(m, keyTab)
	for m.peers.sortBy != sortFirst {
		before := m.peers.sortBy
		m, _ = update(m, keyText("o"))
		if m.peers.sortBy == before || m.peers.sortBy == sortLatency {
			t.Fatalf("o never reached the first-delivered order (at %v)", m.peers.sortBy)
		}
	}
	var order []string
	for _, pi := range m.peers.peers[:3] {
		order = append(order, pi.Addr)
	}
	// 8334 and 8335 both 1 of 2; 8334 is nearer. 10.0.0.7 none first.
	if want := []string{"127.0.0.1:8334", "127.0.0.1:8335", "10.0.0.7:8333"}; !slices.Equal(order, want) {
		t.Errorf("first-delivered order %q, want %q", order, want)
	}
	m, _ = update(m, keyEnter)
	out := ansi.Strip(m.View().Content)
	for _, want := range []string{"1 of the last 2 relayed blocks (50%)", "median 0.6ms behind the first, over the 2 it sent"} {
		if !strings.Contains(out, want) {
			t.Errorf("peer detail lacks %q:\n%s", want, out)
		}
	}
}

func TestGoldenNetView80(t *testing.T) { goldenNetView(t, 80, 24) }

func TestGoldenNetView160(t *testing.T) { goldenNetView(t, 160, 48) }

func goldenNetView(t *testing.T, w, h int) {
	evs := append(busyEvents(), spreadEvents()...)
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, w, h)
	hs.waitUntil("snapshot and events", func(m Model) bool {
		return m.haveSnap && m.state.lastSeq == uint64(len(evs)) && m.width > 0
	})
	hs.tm.Type("wj")
	hs.waitUntil("the network view on block 19", func(m Model) bool {
		b, _ := m.chain.Selected()
		return m.net.open && b.Height == 19
	})
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

// TestNetViewFitsEverySize: from the smallest terminal drawn to a very
// large one, and with more peers than labels, every line fits its width,
// the screen its height, and the radar shows this node and the scale.
func TestNetViewFitsEverySize(t *testing.T) {
	snap := busySnapshot()
	for i := 0; i < 40; i++ {
		snap.Peers = append(snap.Peers, online(fmt.Sprintf("10.1.%d.%d:8333", i/10, i), time.Duration(i+1)*7*time.Millisecond))
	}
	for _, size := range [][2]int{{60, 16}, {80, 24}, {120, 40}, {160, 48}, {200, 60}, {320, 90}} {
		f := newFakeNode(snap)
		m := testModel(f)
		m, _ = update(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]}, snapshotMsg{snap: snap, req: 0}, peersMsg{peers: snap.Peers}, keyText("w"))
		out := ansi.Strip(m.View().Content)
		lines := strings.Split(out, "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > size[0] {
				t.Errorf("%dx%d: line %d is %d wide:\n%s", size[0], size[1], i, w, l)
			}
		}
		wants := []string{glyphSelf, "Network 43/", "Peers by latency"}
		if size[0] >= 80 {
			wants = append(wants, "1s", "100ms") // at 60x16 the peers cover the scale
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%dx%d: no %q in\n%s", size[0], size[1], want, out)
			}
		}
	}
}

// TestTmuxNetView: in a real terminal, w opens the network view over the
// body at 80x24, the arrows move the block, Esc goes back to the panes.
func TestTmuxNetView(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := startTmux(t, 80, 24, []string{demoEnv + "=1", "TERM=xterm-256color"}, exe, "-test.run=^$")
	s.waitFor("twenty blocks!")
	s.keys("w")
	checkWidths(t, s.waitFor("Network 3/6 online", "Peers by latency", glyphSelf, glyphNearest+" 2", "Spread of #20"), 80)
	s.keys("j")
	s.waitFor("Spread of #19")
	s.keys("Escape")
	s.waitFor("┏━ Chain", "? more • q quit")
	s.keys("q")
	s.waitExit()
}

// TestNetViewAlone: a node with no peers and no spread says so.
func TestNetViewAlone(t *testing.T) {
	f := newFakeNode(emptySnapshot())
	m := testModel(f)
	m, _ = update(m, snapshotMsg{snap: f.snap, req: 0}, keyText("w"))
	out := ansi.Strip(m.View().Content)
	for _, want := range []string{"Network 0/0 online", "no peers yet: alone", "no arrivals seen for this block"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

// TestNetViewMouse: with the view open, the wheel moves the block and a
// click does not reach the panes underneath.
func TestNetViewMouse(t *testing.T) {
	f := newFakeNode(busySnapshot())
	m := New(f, Options{Mouse: true})
	m, _ = update(m, tea.WindowSizeMsg{Width: 100, Height: 30}, snapshotMsg{snap: f.snap, req: 0}, keyText("w"))
	m, _ = update(m, tea.MouseWheelMsg{X: 10, Y: 10, Button: tea.MouseWheelDown})
	if b, _ := m.chain.Selected(); b.Height != 19 {
		t.Fatalf("wheel down selected #%d, want #19", b.Height)
	}
	before := m.focus
	m, _ = update(m, tea.MouseClickMsg{X: 70, Y: 12, Button: tea.MouseLeft}, tea.MouseClickMsg{X: 70, Y: 12, Button: tea.MouseLeft})
	if m.focus != before || !m.net.open {
		t.Fatalf("a click under the view moved focus to %v (open %v)", m.focus, m.net.open)
	}
}
