package ui

import (
	"strings"
	"testing"
)

func typeText(m Model, s string) Model {
	for _, r := range s {
		m, _ = update(m, keyText(string(r)))
	}
	return m
}

// TestFilterKeepsMatchingRows: / in each pane keeps the rows that hold
// the text, live as it is typed; ↑↓ step through the matches; Esc clears
// it; Tab to another pane ends it.
func TestFilterKeepsMatchingRows(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	all := len(m.chain.blocks)
	m, _ = update(m, keyText("/"))
	if !m.filter.open || !strings.Contains(screen(m), "/") {
		t.Fatalf("/ did not open the filter")
	}
	m = typeText(m, "TWENTY") // case does not matter
	if n := len(m.chain.blocks); n != 2 {
		t.Fatalf("chain filtered to %d blocks, want the 2 that say twenty (of %d)", n, all)
	}
	m, _ = update(m, keyEnter)
	s := screen(m)
	if m.filter.open || !strings.Contains(s, `filter "TWENTY" on chain`) || strings.Contains(s, "coffee break") {
		t.Fatalf("after Enter:\n%s", s)
	}
	// q is not typed into a closed filter: the keys work again; ↓ moves
	// to the second match.
	m, _ = update(m, keyDown)
	if b, _ := m.chain.Selected(); !strings.Contains(strings.ToLower(b.Message), "twenty") {
		t.Errorf("↓ left the matches: %q", b.Message)
	}
	m, _ = update(m, keyEsc)
	if m.filter.text != "" || len(m.chain.blocks) != all {
		t.Fatalf("Esc: filter %q, %d blocks of %d", m.filter.text, len(m.chain.blocks), all)
	}

	// Peers by status; Tab away ends it.
	m, _ = update(m, keyTab)
	m, _ = update(m, keyText("/"))
	m = typeText(m, "offline")
	for _, p := range m.peers.peers {
		if p.Status != "offline" && !strings.Contains(strings.ToLower(p.LastError+p.Agent+p.Addr), "offline") {
			t.Errorf("peer %s (%s) kept by the filter offline", p.Addr, p.Status)
		}
	}
	if len(m.peers.peers) == 0 || len(m.peers.peers) == len(m.state.Peers) {
		t.Fatalf("peers filter kept %d of %d", len(m.peers.peers), len(m.state.Peers))
	}
	m, _ = update(m, keyEnter, keyTab)
	if m.filter.text != "" || len(m.peers.peers) != len(m.state.Peers) {
		t.Errorf("Tab did not end the filter: %q, %d peers", m.filter.text, len(m.peers.peers))
	}

	// Events; then Messages.
	m, _ = update(m, keyTab) // mining → events
	m, _ = update(m, keyText("/"))
	m = typeText(m, "mined")
	if shown := m.log.shown(); len(shown) == 0 || len(shown) == len(m.log.items) {
		t.Fatalf("events filter kept %d of %d", len(shown), len(m.log.items))
	}
	m, _ = update(m, keyEsc)
	if len(m.log.shown()) != len(m.log.items) {
		t.Error("Esc in the input did not clear the events filter")
	}
	m, _ = update(m, keyText("m"), keyText("/"))
	m = typeText(m, "fox")
	if len(m.msgs.rows) != 1 || !strings.Contains(m.msgs.rows[0].text, "fox") {
		t.Fatalf("messages filter: %+v", m.msgs.rows)
	}
	m, _ = update(m, keyEnter, keyEsc) // Esc clears first…
	if m.focus != focusMessages || len(m.msgs.rows) < 20 {
		t.Fatalf("first Esc: focus %v, %d rows", m.focus, len(m.msgs.rows))
	}
	m, _ = update(m, keyEsc) // …then closes the view
	if m.focus == focusMessages {
		t.Error("second Esc did not close the Messages view")
	}
}
