package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func mouseModel(t *testing.T, w, h int) Model {
	t.Helper()
	m, _ := busyModel(t, w, h)
	m.opts.Mouse = true
	return m
}

func click(x, y int) tea.MouseClickMsg {
	return tea.MouseClickMsg{X: x, Y: y, Button: tea.MouseLeft}
}

func wheel(x, y int, b tea.MouseButton) tea.MouseWheelMsg {
	return tea.MouseWheelMsg{X: x, Y: y, Button: b}
}

func areaOf(t *testing.T, m Model, f focus) area {
	t.Helper()
	for _, a := range m.areas() {
		if a.f == f {
			return a
		}
	}
	t.Fatalf("no area for %v in %+v", f, m.areas())
	return area{}
}

// TestMouseAreasMatchTheScreen: every pane's area starts where View draws
// the pane's top-left corner, at every layout (narrow, wide peers, zoomed,
// a detail open).
func TestMouseAreasMatchTheScreen(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {160, 48}, {200, 60}} {
		m := mouseModel(t, size[0], size[1])
		for _, setup := range []struct {
			name string
			msgs []tea.Msg
		}{
			{"panes", nil},
			{"zoomed peers", []tea.Msg{keyTab, keyText("z")}},
			{"block detail", []tea.Msg{keyEnter}},
		} {
			mm, _ := update(m, setup.msgs...)
			lines := strings.Split(ansi.Strip(mm.View().Content), "\n")
			for _, a := range mm.areas() {
				if a.y >= len(lines) {
					t.Errorf("%dx%d %s: %v starts at row %d of %d", size[0], size[1], setup.name, a.f, a.y, len(lines))
					continue
				}
				corner := []rune(lines[a.y])
				if a.x >= len(corner) || !strings.ContainsRune("╭┏", corner[a.x]) {
					t.Errorf("%dx%d %s: %v's area starts at (%d,%d), where the screen has no pane corner:\n%s",
						size[0], size[1], setup.name, a.f, a.x, a.y, lines[a.y])
				}
			}
		}
	}
}

func TestMouseClickSelectsAndOpens(t *testing.T) {
	m := mouseModel(t, 100, 30)
	// The third block row of the Chain list.
	c := areaOf(t, m, focusChain)
	m, _ = update(m, click(c.x+5, c.y+2+2))
	if m.focus != focusChain || m.chain.cursor != 2 {
		t.Fatalf("click on the third row: focus %v cursor %d", m.focus, m.chain.cursor)
	}
	sel, _ := m.chain.Selected()
	// Clicking the selected row again opens it.
	m, cmd := update(m, click(c.x+5, c.y+4))
	if m.focus != focusDetail || cmd == nil || m.detail.summary.Hash != sel.Hash {
		t.Fatalf("second click: focus %v, detail of %q, want %q", m.focus, m.detail.summary.Hash, sel.Hash)
	}
	m, _ = update(m, keyEsc)

	// The second peer row: focus moves to Peers, the cursor to that peer.
	p := areaOf(t, m, focusPeers)
	m, _ = update(m, click(p.x+3, p.y+2+1))
	if m.focus != focusPeers || m.peers.cursor != 1 {
		t.Fatalf("click on the second peer: focus %v cursor %d", m.focus, m.peers.cursor)
	}
	m, _ = update(m, click(p.x+3, p.y+3))
	if m.focus != focusDetail || m.detail.peer == nil || m.detail.peer.Addr != m.peers.peers[1].Addr {
		t.Fatalf("second click on the peer did not open it: focus %v", m.focus)
	}
	m, _ = update(m, keyEsc)

	// Below the last row: focus only.
	m, _ = update(m, click(c.x+5, c.y+c.h-1))
	if m.focus != focusChain || m.chain.cursor != 2 {
		t.Errorf("click on the border: focus %v cursor %d, want chain 2", m.focus, m.chain.cursor)
	}
	// The composer takes the focus for typing.
	cm := areaOf(t, m, focusComposer)
	m, _ = update(m, click(cm.x+4, cm.y+1))
	if m.focus != focusComposer {
		t.Errorf("click on the composer: focus %v", m.focus)
	}
}

func TestMouseWheelScrollsThePaneUnderThePointer(t *testing.T) {
	m := mouseModel(t, 100, 30)
	c := areaOf(t, m, focusChain)
	m, _ = update(m, keyTab) // focus on Peers; the wheel goes by the pointer
	m, _ = update(m, wheel(c.x+3, c.y+3, tea.MouseWheelDown))
	if m.focus != focusChain || m.chain.cursor != wheelRows {
		t.Fatalf("wheel down over Chain: focus %v cursor %d, want chain %d", m.focus, m.chain.cursor, wheelRows)
	}
	m, _ = update(m, wheel(c.x+3, c.y+3, tea.MouseWheelUp))
	if m.chain.cursor != 0 {
		t.Errorf("wheel up: cursor %d, want 0", m.chain.cursor)
	}
}

func TestMouseOffIgnoresClicks(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	if m.View().MouseMode != tea.MouseModeNone {
		t.Error("mouse mode on although Options.Mouse is off")
	}
	p := areaOf(t, m, focusPeers)
	m, _ = update(m, click(p.x+3, p.y+3))
	if m.focus != focusChain {
		t.Errorf("a click moved the focus to %v with the mouse off", m.focus)
	}
	m.opts.Mouse = true
	if m.View().MouseMode != tea.MouseModeCellMotion {
		t.Error("mouse on, but the view does not ask the terminal for clicks")
	}
}
