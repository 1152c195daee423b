package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/meshchain/meshchain/node"
)

// peerRow is the peers pane's row for addr, as plain text.
func peerRow(t *testing.T, m Model, addr string) string {
	t.Helper()
	for _, l := range strings.Split(ansi.Strip(m.peers.View()), "\n") {
		if strings.Contains(l, addr) {
			return l
		}
	}
	t.Fatalf("no row for %s in:\n%s", addr, ansi.Strip(m.peers.View()))
	return ""
}

// TestPeerChangedIsSinceStatusChange (issue 11.2): a peer that stays
// offline while it is redialled keeps the time it went offline; the row
// says how long ago that was, why the last dial failed and when the next
// one is, however often the book is read in between.
func TestPeerChangedIsSinceStatusChange(t *testing.T) {
	const addr = "127.0.0.1:1"
	f := newFakeNode(emptySnapshot())
	m := testModel(f)
	// Zoomed, so the row has room for its notes.
	m, _ = update(m, tea.WindowSizeMsg{Width: 160, Height: 48}, keyTab, keyText("z"))
	wentOffline := fixedNow.Add(-5 * time.Second)
	// What netpeers reports across three redials, one a second: the
	// status and its change time stay; attempts, errors and the next try
	// move.
	for i := 0; i < 3; i++ {
		now := fixedNow.Add(time.Duration(i) * 30 * time.Second)
		m.clock = now
		pi := node.PeerInfo{Addr: addr, Status: node.PeerOfflineStatus, LastChange: wentOffline,
			Failures: i + 1, LastError: "refused: nothing listens there", LastErrorAt: now.Add(-time.Second),
			LastAttempt: now.Add(-time.Second), NextDial: now.Add(8 * time.Second), Dialing: i == 1}
		m, _ = update(m, peersMsg{peers: []node.PeerInfo{pi}})
		row := peerRow(t, m, addr)
		want := ago(now, wentOffline)
		if !strings.Contains(row, want) {
			t.Fatalf("redial %d: row does not say %q (since the peer went offline):\n%s", i, want, row)
		}
		if !strings.Contains(row, "refused: nothing listens there") {
			t.Errorf("redial %d: row lacks the last error:\n%s", i, row)
		}
		next := "next try in 8s"
		if i == 1 {
			next = "dialing now"
		}
		if !strings.Contains(row, next) {
			t.Errorf("redial %d: row lacks %q:\n%s", i, next, row)
		}
	}
	if got := peerRow(t, m, addr); !strings.Contains(got, "1m05s ago") {
		t.Errorf("after a minute offline the row should say 1m05s ago:\n%s", got)
	}
}

// TestDialFailedEvent (issue 11.3): a failed dial is an event in the
// events pane, in plain words, with the next try.
func TestDialFailedEvent(t *testing.T) {
	at := fixedNow
	ev := node.Event{Time: at, Seq: 1, Payload: node.PeerDialFailed{Peer: "nosuchhost.invalid:8333",
		Error: "no such host: the name does not resolve", NextTry: at.Add(4 * time.Second).Format(time.RFC3339), Attempts: 2}}
	f := newFakeNode(emptySnapshot())
	m := testModel(f)
	m, _ = update(m, tea.WindowSizeMsg{Width: 120, Height: 40}, eventMsg{ev: ev})
	if out := ansi.Strip(m.log.View()); !strings.Contains(out, "dial fail nosuchhost.invalid:8333: no such host") {
		t.Errorf("events pane lacks the failed dial:\n%s", out)
	}
	// Whole, as Enter on it shows it.
	if it, ok := m.log.Selected(); !ok || it.text != "nosuchhost.invalid:8333: no such host: the name does not resolve (2 failed in a row), next try in 4s" {
		t.Errorf("event text %q", it.text)
	}
	for _, pl := range []node.Payload{node.PeerForgotten{Peer: "a:1"}, node.PeerDisconnected{Peer: "a:1"},
		node.PeerBanned{Peer: "a:1", Until: "2026-03-14T13:00:00Z"}, node.PeerUnbanned{Peer: "a:1"}} {
		if _, text, ok := describe(pl); !ok || !strings.Contains(text, "a:1") {
			t.Errorf("%s is not shown in the events pane (%q)", pl.Kind(), text)
		}
	}
}

// peersFocused is m with the peers pane focused and the book read.
func peersFocused(t *testing.T, m Model, peers []node.PeerInfo, bans []node.BanInfo) Model {
	t.Helper()
	m, _ = update(m, tea.WindowSizeMsg{Width: 160, Height: 48}, peersMsg{peers: peers, bans: bans}, keyTab)
	if m.focus != focusPeers {
		t.Fatalf("focus %v after Tab, want peers", m.focus)
	}
	return m
}

// TestPeerSortAndFreeze: o cycles latency, height, status; f keeps the rows
// where they are while the latencies change, and the cursor stays on its
// peer when rows move.
func TestPeerSortAndFreeze(t *testing.T) {
	peers := busySnapshot().Peers
	m := testModel(newFakeNode(busySnapshot()))
	m = peersFocused(t, m, peers, nil)
	order := func(m Model) []string {
		var out []string
		for _, p := range m.peers.peers {
			out = append(out, p.Addr)
		}
		return out
	}
	byLatency := order(m)
	if byLatency[0] != "127.0.0.1:8334" || byLatency[len(byLatency)-1] != "198.51.100.4:8333" {
		t.Fatalf("default order is not by latency, online first: %v", byLatency)
	}
	m, _ = update(m, keyText("o"))
	if m.peers.sortBy != sortHeight || order(m)[0] != "198.51.100.4:8333" {
		t.Fatalf("o: want by height (the penalised peer announces 25): %v", order(m))
	}
	if !strings.Contains(ansi.Strip(m.peers.View()), "by height") {
		t.Errorf("the pane does not say its order")
	}
	m, _ = update(m, keyText("o"), keyText("o"), keyText("o"))
	if m.peers.sortBy != sortLatency {
		t.Fatalf("o four times: %v, want latency again", m.peers.sortBy)
	}

	// Select the second row, freeze, then make the last peer the nearest.
	m, _ = update(m, keyDown, keyText("f"))
	sel, _ := m.peers.Selected()
	frozen := order(m)
	moved := append([]node.PeerInfo(nil), peers...)
	for i := range moved {
		if moved[i].Addr == "10.0.0.7:8333" {
			moved[i].SmoothRTT = time.Microsecond
		}
	}
	m, _ = update(m, peersMsg{peers: moved})
	if got := order(m); strings.Join(got, " ") != strings.Join(frozen, " ") {
		t.Errorf("frozen rows moved:\n got %v\nwant %v", got, frozen)
	}
	m, _ = update(m, keyText("f"))
	if got := order(m); got[0] != "10.0.0.7:8333" {
		t.Errorf("unfrozen: the nearest peer is not first: %v", got)
	}
	if now, _ := m.peers.Selected(); now.Addr != sel.Addr {
		t.Errorf("cursor moved from %s to %s when the rows did", sel.Addr, now.Addr)
	}
}

// TestPeerActionsConfirmed: every action waits for y; n and Esc cancel;
// a ban's length is chosen with 1-4.
func TestPeerActionsConfirmed(t *testing.T) {
	f := newFakeNode(busySnapshot())
	m := peersFocused(t, testModel(f), busySnapshot().Peers, nil)
	target, _ := m.peers.Selected()
	run := func(m Model, keys ...tea.Msg) Model {
		for _, k := range keys {
			var cmd tea.Cmd
			m, cmd = update(m, k)
			if cmd != nil {
				if msg, ok := cmd().(peerActionMsg); ok {
					m, _ = update(m, msg)
				}
			}
		}
		return m
	}
	m = run(m, keyText("x"))
	if m.confirm == nil || !strings.Contains(ansi.Strip(m.footer(160)), "forget "+target.Addr+"?") {
		t.Fatalf("x does not ask first; footer %q", ansi.Strip(m.footer(160)))
	}
	m = run(m, keyText("j"), keyText("n"))
	if m.confirm != nil || len(f.actions) != 0 {
		t.Fatalf("n did not cancel: confirm %v, actions %v", m.confirm, f.actions)
	}
	m = run(m, keyText("d"), keyEsc, keyText("b"), keyText("3"), keyText("y"))
	m = run(m, keyText("u"), keyEnter, keyText("x"), keyText("y"), keyText("d"), keyText("y"))
	want := []string{"ban " + target.Addr + " 24h0m0s", "unban " + target.Addr, "forget " + target.Addr, "disconnect " + target.Addr}
	if strings.Join(f.actions, "|") != strings.Join(want, "|") {
		t.Fatalf("actions %q, want %q", f.actions, want)
	}
	if !strings.Contains(m.status, "disconnected "+target.Addr) {
		t.Errorf("status %q", m.status)
	}
}

// peerDetailGolden opens the detail of the peer at row (from the top).
func peerDetailGolden(t *testing.T, w, h, row int) {
	snap := busySnapshot()
	snap.Peers[3] = node.PeerInfo{Addr: "192.168.1.20:8333", Status: node.PeerOfflineStatus,
		LastChange: fixedNow.Add(-4 * time.Minute), Failures: 3, LastError: "timed out: no answer from the address",
		LastErrorAt: fixedNow.Add(-10 * time.Second), LastAttempt: fixedNow.Add(-20 * time.Second), NextDial: fixedNow.Add(50 * time.Second)}
	snap.Peers[0].NodeID, snap.Peers[0].Proven, snap.Peers[0].Agent = hexOf("peer-8334"), true, "meshchain/0.1 \x1b[31mred"
	snap.Peers[0].Work, snap.Peers[0].ConnectedSince = "1310720", fixedNow.Add(-3*time.Minute)
	f := newFakeNode(snap)
	f.bans = []node.BanInfo{{Addr: "198.51.100.4:8333", Reason: "InvalidSignature: block #19", Until: fixedNow.Add(10 * time.Minute)}}
	hs := startHarness(t, f, w, h)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Send(keyTab)
	for range row {
		hs.tm.Send(keyDown)
	}
	hs.tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	hs.waitUntil("peer detail", func(m Model) bool { return m.focus == focusDetail && m.detail.peer != nil })
	out := hs.finish()
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape from the agent reached the screen")
	}
	teatest.RequireEqualOutput(t, []byte(out))
}

// At 80x24 an online peer that proved its id; at 160x48 an offline one
// whose dials fail (issue 11.3: the error, when, and the next try).
func TestGoldenPeerDetail80(t *testing.T)  { peerDetailGolden(t, 80, 24, 0) }
func TestGoldenPeerDetail160(t *testing.T) { peerDetailGolden(t, 160, 48, 4) }

func peersTableGolden(t *testing.T, w, h int) {
	snap := busySnapshot()
	snap.Peers[3] = node.PeerInfo{Addr: "192.168.1.20:8333", Status: node.PeerOfflineStatus,
		LastChange: fixedNow.Add(-4 * time.Minute), Failures: 3, LastError: "timed out: no answer from the address",
		LastErrorAt: fixedNow.Add(-10 * time.Second), NextDial: fixedNow.Add(50 * time.Second)}
	f := newFakeNode(snap)
	hs := startHarness(t, f, w, h)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Send(keyTab)
	hs.tm.Send(keyDown)
	hs.tm.Send(keyText("o"))
	hs.tm.Send(keyText("b"))
	hs.waitUntil("ban prompt", func(m Model) bool { return m.confirm != nil && m.peers.sortBy == sortHeight })
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

func TestGoldenPeersBanPrompt80(t *testing.T)  { peersTableGolden(t, 80, 24) }
func TestGoldenPeersBanPrompt160(t *testing.T) { peersTableGolden(t, 160, 48) }

// TestGoldenBansList: B lists the bans in force with their reasons.
func TestGoldenBansList(t *testing.T)    { bansListGolden(t, 80, 24) }
func TestGoldenBansList160(t *testing.T) { bansListGolden(t, 160, 48) }

func bansListGolden(t *testing.T, w, h int) {
	f := newFakeNode(busySnapshot())
	f.bans = []node.BanInfo{
		{Addr: "198.51.100.4:8333", Reason: "banned by the user", Until: fixedNow.Add(7 * 24 * time.Hour), ByUser: true},
		{Addr: "203.0.113.9:8333", Reason: "InvalidSignature: block #19", Until: fixedNow.Add(10 * time.Minute)},
	}
	hs := startHarness(t, f, w, h)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Send(keyTab)
	hs.waitUntil("bans read", func(m Model) bool { return m.focus == focusPeers })
	// The bans are read with the peers each second; the list shows what
	// the last read gave.
	hs.waitUntil("bans read", func(m Model) bool { return len(m.bans) == 2 })
	hs.tm.Send(keyText("B"))
	hs.tm.Send(keyDown)
	hs.tm.Send(keyText("u"))
	hs.waitUntil("unban prompt", func(m Model) bool { return m.confirm != nil })
	out := hs.finish()
	if !strings.Contains(out, "lift the ban on 203.0.113.9:8333?") {
		t.Errorf("u on the second ban does not ask about it:\n%s", out)
	}
	teatest.RequireEqualOutput(t, []byte(out))
}

var _ = context.Background

// TestGoldenHelpPeers80: ? in the peers pane lists its keys at 80x24.
func TestGoldenHelpPeers80(t *testing.T) {
	hs := startHarness(t, newFakeNode(busySnapshot()), 80, 24)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Send(keyTab)
	hs.tm.Type("?")
	hs.waitUntil("full help", func(m Model) bool { return m.showHelp && m.focus == focusPeers })
	out := hs.finish()
	for _, want := range []string{"peer detail", "sort: height", "freeze", "disconnect", "ban", "unban", "forget", "bans list", "quit"} {
		if !strings.Contains(out, want) {
			t.Errorf("help at 80x24 lacks %q", want)
		}
	}
	teatest.RequireEqualOutput(t, []byte(out))
}
