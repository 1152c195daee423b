package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// An unauthenticated peer's detail shows the node id its hello claimed as
// a claim, and the connection it is known by as the connection (review
// D1): not the connection as a "claimed" node id.
func TestGoldenPeerDetailUnproven80(t *testing.T) {
	snap := busySnapshot()
	claimed := hexOf("a claimant")
	// The second row: an inbound tool that sent no node_key.
	p := &snap.Peers[2]
	p.NodeID, p.ClaimedID, p.Inbound, p.Agent = "127.0.0.1:51234", claimed, true, "a tool"
	f := newFakeNode(snap)
	hs := startHarness(t, f, 80, 24)
	hs.waitUntil("snapshot", loaded(0))
	hs.tm.Send(keyTab)
	hs.tm.Send(keyDown)
	hs.tm.Send(tea.KeyPressMsg{Code: tea.KeyEnter})
	hs.waitUntil("peer detail", func(m Model) bool { return m.focus == focusDetail && m.detail.peer != nil })
	out := hs.finish()
	flat := strings.Join(strings.Fields(strings.NewReplacer("┃", " ").Replace(out)), " ")
	if !strings.Contains(flat, "connection 127.0.0.1:51234 (unproven") {
		t.Errorf("the connection is not shown as the connection:\n%s", out)
	}
	if strings.Contains(flat, "127.0.0.1:51234 (claimed") {
		t.Errorf("the connection is shown as a claimed node id:\n%s", out)
	}
	if !strings.Contains(strings.ReplaceAll(flat, " ", ""), claimed+"(claimed,notproven)") {
		t.Errorf("the claimed node id is not shown as a claim:\n%s", out)
	}
	teatest.RequireEqualOutput(t, []byte(out))
}
