package ui

import (
	"context"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/meshchain/meshchain/node"
)

// realNode runs a node on loopback for the test's life.
func realNode(t *testing.T) (*node.Node, string, <-chan node.Event) {
	t.Helper()
	n, err := node.Open(node.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Difficulty: 8, Threads: 1,
		PingInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	events := n.Subscribe(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("node did not stop")
		}
	})
	select {
	case <-n.Started():
	case err := <-done:
		t.Fatalf("node stopped at start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("node did not start")
	}
	snap, err := n.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n, snap.Listen, events
}

// waitEventKind reads events until one of kind arrives.
func waitEventKind(t *testing.T, evs <-chan node.Event, kind string, ok func(node.Payload) bool) node.Payload {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-evs:
			if ev.Payload.Kind() == kind && (ok == nil || ok(ev.Payload)) {
				return ev.Payload
			}
		case <-deadline:
			t.Fatalf("no %s event", kind)
		}
	}
}

// waitPeer waits until addr's entry in n's book satisfies cond (nil: gone).
func waitPeer(t *testing.T, n *node.Node, addr, what string, cond func(*node.PeerInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var found *node.PeerInfo
		for _, p := range n.Peers() {
			if p.Addr == addr {
				found = &p
			}
		}
		if cond(found) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never %s (last %+v)", addr, what, found)
		}
		time.Sleep(20 * time.Millisecond) // polling an in-memory table; the node has no wait for it
	}
}

// act drives the dashboard model with keys and runs the commands they
// return, as the program would, until a peer action's answer arrives.
func act(t *testing.T, m Model, keys ...tea.Msg) Model {
	t.Helper()
	for _, k := range keys {
		var cmd tea.Cmd
		m, cmd = update(m, k)
		if cmd == nil {
			continue
		}
		if msg, ok := cmd().(peerActionMsg); ok {
			if msg.err != nil {
				t.Fatalf("%s %s: %v", msg.act.verb(), msg.addr, msg.err)
			}
			m, _ = update(m, msg)
		}
	}
	return m
}

// selectPeer reads the book into the model and puts the cursor on addr.
func selectPeer(t *testing.T, m Model, n *node.Node, addr string) Model {
	t.Helper()
	m, _ = update(m, peersMsg{peers: n.Peers(), bans: n.Bans()})
	for i := range m.peers.peers {
		if pi, _ := m.peers.Selected(); pi.Addr == addr {
			return m
		}
		m, _ = update(m, keyDown)
		_ = i
	}
	if pi, _ := m.peers.Selected(); pi.Addr != addr {
		t.Fatalf("no row for %s", addr)
	}
	return m
}

// TestPeerActionsOnRealSessions: the keys act on real sessions between two
// nodes on loopback. d closes the session; b bans (the next dial is
// refused and the ban is listed); u lifts it and the peer comes back; x
// forgets the address. Each action is an event.
func TestPeerActionsOnRealSessions(t *testing.T) {
	a, aAddr, aEvents := realNode(t)
	b, bAddr, _ := realNode(t)
	ctx := context.Background()
	if err := a.Connect(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	online := func(p *node.PeerInfo) bool { return p != nil && p.Status == node.PeerOnlineStatus }
	waitPeer(t, a, bAddr, "online", online)

	m := New(a, Options{})
	m, _ = update(m, tea.WindowSizeMsg{Width: 160, Height: 48}, keyTab)
	m = selectPeer(t, m, a, bAddr)

	// d, confirmed: the session closes.
	m = act(t, m, keyText("d"), keyText("y"))
	waitEventKind(t, aEvents, "peer_disconnected", nil)
	waitPeer(t, a, bAddr, "offline after disconnect", func(p *node.PeerInfo) bool { return p != nil && p.Status != node.PeerOnlineStatus })

	// It may come back by the usual rules; connect again for the ban.
	if err := a.Connect(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	waitPeer(t, a, bAddr, "online again", online)

	// b, 1 (10 minutes), y: banned, listed, and refused.
	m = selectPeer(t, m, a, bAddr)
	m = act(t, m, keyText("b"), keyText("1"), keyText("y"))
	if ban, ok := waitEventKind(t, aEvents, "peer_banned", nil).(node.PeerBanned); !ok || ban.Peer != bAddr {
		t.Fatalf("ban event %+v", ban)
	}
	waitPeer(t, a, bAddr, "offline after the ban", func(p *node.PeerInfo) bool { return p != nil && p.Status != node.PeerOnlineStatus })
	m = selectPeer(t, m, a, bAddr)
	m = act(t, m, keyText("B"))
	ban, ok := m.detail.selectedBan()
	if !ok || ban.Addr != bAddr || !ban.ByUser || time.Until(ban.Until) > 10*time.Minute {
		t.Fatalf("bans list: %+v (ok %v), want %s banned by the user for 10m", ban, ok, bAddr)
	}
	// Our dial is refused, and so is its dial to us.
	if err := a.Connect(ctx, bAddr); err == nil {
		t.Errorf("a dial of the banned %s was not refused", bAddr)
	}
	if err := b.Connect(ctx, aAddr); err == nil {
		// Its handshake ended; we close the session at its hello.
		waitPeer(t, b, aAddr, "refused by the banning node", func(p *node.PeerInfo) bool { return p != nil && p.Status != node.PeerOnlineStatus })
	}
	if got := peerOf(a, bAddr); got == nil || got.Status == node.PeerOnlineStatus {
		t.Errorf("banned peer in the book: %+v", got)
	}

	// u on the bans list, y: lifted; the peer may connect again.
	m = act(t, m, keyText("u"), keyText("y"))
	waitEventKind(t, aEvents, "peer_unbanned", nil)
	if bans := a.Bans(); len(bans) != 0 {
		t.Fatalf("bans after unban: %+v", bans)
	}
	if err := a.Connect(ctx, bAddr); err != nil {
		t.Fatalf("connect after unban: %v", err)
	}
	waitPeer(t, a, bAddr, "online after unban", online)

	// x, y: forgotten, gone from the book.
	m = act(t, m, keyEsc)
	m = selectPeer(t, m, a, bAddr)
	m = act(t, m, keyText("x"), keyText("y"))
	waitEventKind(t, aEvents, "peer_forgotten", nil)
	waitPeer(t, a, bAddr, "forgotten", func(p *node.PeerInfo) bool { return p == nil })
	m, _ = update(m, peersMsg{peers: a.Peers()})
	for _, p := range m.peers.peers {
		if p.Addr == bAddr {
			t.Errorf("the table still lists %s after forget", bAddr)
		}
	}
}

func peerOf(n *node.Node, addr string) *node.PeerInfo {
	for _, p := range n.Peers() {
		if p.Addr == addr {
			return &p
		}
	}
	return nil
}
