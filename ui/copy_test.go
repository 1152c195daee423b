package ui

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// clipboardText is what a command made by tea.SetClipboard puts on the
// clipboard ("" for any other command).
func clipboardText(t *testing.T, cmd tea.Cmd) string {
	t.Helper()
	if cmd == nil {
		return ""
	}
	msg := cmd()
	if fmt.Sprintf("%T", msg) != fmt.Sprintf("%T", tea.SetClipboard("")()) {
		t.Fatalf("y gave %T, not a clipboard command", msg)
	}
	return fmt.Sprint(msg)
}

func TestCopyCyclesThroughTheSelection(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, keyDown)
	sel, ok := m.chain.Selected()
	if !ok {
		t.Fatal("no block selected")
	}
	// y, y, y, y: hash, sender, message id, and round again.
	for i, want := range []struct{ what, text string }{
		{"block hash", sel.Hash}, {"sender", sel.Sender}, {"message id", sel.MessageID}, {"block hash", sel.Hash},
	} {
		if want.text == "" {
			t.Fatalf("fixture block lacks its %s", want.what)
		}
		var cmd tea.Cmd
		m, cmd = update(m, keyText("y"))
		if got := clipboardText(t, cmd); got != want.text {
			t.Errorf("press %d copied %q, want the %s %q", i+1, got, want.what, want.text)
		}
		if !strings.Contains(m.status, "copied "+want.what) {
			t.Errorf("press %d: status %q does not say the %s was copied", i+1, m.status, want.what)
		}
	}
	// Another block starts again from its hash.
	m, _ = update(m, keyDown)
	next, _ := m.chain.Selected()
	m, cmd := update(m, keyText("y"))
	if got := clipboardText(t, cmd); got != next.Hash {
		t.Errorf("after moving: copied %q, want the next block's hash %q", got, next.Hash)
	}

	// Peers: the address of a peer whose id is not proven; the node id
	// first when it is.
	m, _ = update(m, keyTab) // chain → peers
	if m.focus != focusPeers {
		t.Fatalf("focus %v, want peers", m.focus)
	}
	p, ok := m.peers.Selected()
	if !ok {
		t.Fatal("no peer selected")
	}
	m, cmd = update(m, keyText("y"))
	want := p.Addr
	if p.Proven {
		want = p.NodeID
	}
	if got := clipboardText(t, cmd); got != want {
		t.Errorf("peers: copied %q, want %q", got, want)
	}

	// The mining pane has nothing to copy: said, and no clipboard write.
	m, _ = update(m, keyTab)
	if m.focus != focusMining {
		t.Fatalf("focus %v, want mining", m.focus)
	}
	m, cmd = update(m, keyText("y"))
	if cmd != nil || !strings.Contains(m.status, "nothing to copy") {
		t.Errorf("mining pane: cmd %v, status %q", cmd != nil, m.status)
	}
}

// TestCopyWritesOSC52 runs the program: y writes the selected block's
// hash to the terminal as an OSC 52 clipboard sequence.
func TestCopyWritesOSC52(t *testing.T) {
	evs := busyEvents()
	f := newFakeNode(busySnapshot(), evs...)
	hs := startHarness(t, f, goldenW, goldenH)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	var hash string
	hs.waitUntil("a selected block", func(m Model) bool {
		b, ok := m.chain.Selected()
		hash = b.Hash
		return ok
	})
	hs.tm.Type("y")
	want := []byte("\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(hash)))
	teatest.WaitFor(t, hs.tm.Output(), func(out []byte) bool { return bytes.Contains(out, want) },
		teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	if s := hs.finish(); !strings.Contains(s, "copied block hash") {
		t.Errorf("the footer does not say what was copied:\n%s", s)
	}
}
