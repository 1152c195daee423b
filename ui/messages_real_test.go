package ui

import (
	"context"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/meshchain/meshchain/node"
)

// TestAddressedMessagesBetweenRealNodes: two nodes on loopback; node A
// posts a message to everyone, one addressed to another key and one to B.
// B's dashboard counts one message to it, shows each addressee, and the
// count clears when the Messages view opens.
func TestAddressedMessagesBetweenRealNodes(t *testing.T) {
	a, _, aEvents := realNode(t)
	b, bAddr, _ := realNode(t)
	ctx := context.Background()
	if err := a.Connect(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	waitPeer(t, a, bAddr, "online", func(p *node.PeerInfo) bool { return p != nil && p.Status == node.PeerOnlineStatus })

	hs := startHarnessOpts(t, b, 100, 30, Options{Title: "node B"})
	hs.waitUntil("B's dashboard loaded", func(m Model) bool { return m.haveSnap && m.state.Sender != "" })

	for _, text := range []string{"to everyone", "@deadbeefdeadbeef not for B", "@" + b.Sender()[:12] + " hello B"} {
		if err := a.Post(ctx, text); err != nil {
			t.Fatal(err)
		}
		waitEventKind(t, aEvents, "block_mined", nil)
	}
	hs.waitUntil("B has A's three blocks, one of them to B", func(m Model) bool {
		return m.state.Height == 3 && m.unread == 1 && strings.Contains(m.View().Content, "✉ 1 to you")
	})
	hs.tm.Type("m")
	hs.waitUntil("the Messages view, read", func(m Model) bool {
		s := m.View().Content
		return m.focus == focusMessages && m.unread == 0 && !strings.Contains(s, "✉") &&
			strings.Contains(s, "→ you: hello B") && strings.Contains(s, "→ deadbeef: not for B") &&
			strings.Contains(s, "1 to you")
	})
	hs.finish()
}

// TestPeerFramesCounted: a real session counts frames and bytes both ways
// (the hello exchange and pings at least), and the peer's detail shows them.
func TestPeerFramesCounted(t *testing.T) {
	a, _, _ := realNode(t)
	_, bAddr, _ := realNode(t)
	if err := a.Connect(context.Background(), bAddr); err != nil {
		t.Fatal(err)
	}
	// realNode pings every 200 ms: wait for a few frames each way.
	waitPeer(t, a, bAddr, "frames both ways", func(p *node.PeerInfo) bool {
		return p != nil && p.Status == node.PeerOnlineStatus && p.FramesIn >= 3 && p.FramesOut >= 3 &&
			p.BytesIn > p.FramesIn && p.BytesOut > p.FramesOut
	})
	m := New(a, Options{})
	m, _ = update(m, tea.WindowSizeMsg{Width: 120, Height: 40}, keyTab)
	m = selectPeer(t, m, a, bAddr)
	m, _ = update(m, keyEnter)
	if s := m.View().Content; !strings.Contains(s, "frames") || !strings.Contains(s, "this session") {
		t.Errorf("the peer detail does not show the frames:\n%s", s)
	}
}
