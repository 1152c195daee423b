package ui

import (
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// A mouse, when Options.Mouse is on: a click focuses the pane under the
// pointer and, in the Chain list and the Peers table, selects the row
// clicked; a second click on the selected row opens it, as Enter does.
// The wheel scrolls the pane under the pointer, focusing it.

// wheelRows is how far one wheel notch scrolls.
const wheelRows = 3

// area is a pane's place on the screen, in cells.
type area struct {
	f          focus
	x, y, w, h int
}

func (a area) has(x, y int) bool { return x >= a.x && x < a.x+a.w && y >= a.y && y < a.y+a.h }

// areas is where View draws each pane, in the layout the model is in now;
// nil while the help page or the too-small notice covers the screen.
func (m *Model) areas() []area {
	w, h := m.size()
	if w < minWidth || h < minHeight || m.helpPage(w) {
		return nil
	}
	y := headerHeight
	var out []area
	add := func(f focus, x, y, w, h int) { out = append(out, area{f, x, y, w, h}) }
	var body int
	switch {
	case m.fullPane() != nil:
		// Sized by layout to the whole body.
		body = max(4, h-headerHeight-3-lipgloss.Height(m.footer(w)))
		add(m.focus, 0, y, w, body)
	case m.peersWide:
		top := max(m.chain.h, m.miner.h)
		add(focusChain, 0, y, m.chain.w, m.chain.h)
		add(focusMining, m.chain.w, y, m.miner.w, m.miner.h)
		add(focusPeers, 0, y+top, m.peers.w, m.peers.h)
		add(focusEvents, 0, y+top+m.peers.h, m.log.w, m.log.h)
		body = top + m.peers.h + m.log.h
	default:
		top := max(m.chain.h, m.miner.h+m.peers.h)
		add(focusChain, 0, y, m.chain.w, m.chain.h)
		add(focusMining, m.chain.w, y, m.miner.w, m.miner.h)
		add(focusPeers, m.chain.w, y+m.miner.h, m.peers.w, m.peers.h)
		add(focusEvents, 0, y+top, m.log.w, m.log.h)
		body = top + m.log.h
	}
	add(focusComposer, 0, y+body, w, 3)
	return out
}

// areaAt is the pane drawn at (x, y).
func (m *Model) areaAt(x, y int) (area, bool) {
	for _, a := range m.areas() {
		if a.has(x, y) {
			return a, true
		}
	}
	return area{}, false
}

// handleMouse acts on a click or a wheel notch; other mouse messages and
// everything while a confirmation waits are ignored.
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	if !m.opts.Mouse || m.confirm != nil {
		return nil
	}
	if m.net.open {
		return m.netMouse(msg)
	}
	mouse := msg.Mouse()
	a, ok := m.areaAt(mouse.X, mouse.Y)
	if !ok {
		return nil
	}
	switch msg.(type) {
	case tea.MouseWheelMsg:
		if a.f == focusComposer {
			return nil
		}
		delta := wheelRows
		switch mouse.Button {
		case tea.MouseWheelUp:
			delta = -wheelRows
		case tea.MouseWheelDown:
		default:
			return nil
		}
		m.focusArea(a.f)
		if p := m.paneFor(a.f); p != nil {
			p.Scroll(delta)
		}
		return nil
	case tea.MouseClickMsg:
		if mouse.Button != tea.MouseLeft {
			return nil
		}
		if a.f == focusComposer {
			if m.focus != focusComposer {
				m.enterInput(focusComposer)
			}
			return nil
		}
		was := m.focus
		m.focusArea(a.f)
		// Row i of a table is drawn under the top border and the column
		// headers: two rows down.
		row := mouse.Y - a.y - 2
		switch {
		case a.f == focusChain && !m.chain.treeMode && row >= 0 && row < m.chain.visible():
			i := m.chain.offset + row
			if i >= len(m.chain.blocks) {
				return nil
			}
			if was == focusChain && i == m.chain.cursor {
				return m.openDetail()
			}
			m.chain.Scroll(i - m.chain.cursor)
		case a.f == focusPeers && row >= 0 && row < m.peers.visible():
			i := m.peers.offset + row
			if i >= len(m.peers.peers) {
				return nil
			}
			if was == focusPeers && i == m.peers.cursor {
				m.openPeer()
				return nil
			}
			m.peers.Scroll(i - m.peers.cursor)
		}
	}
	return nil
}

// focusArea moves the focus to f, leaving an input or a detail as Tab
// does.
func (m *Model) focusArea(f focus) {
	if m.focus == f {
		return
	}
	m.blurInputs()
	m.focus = f
}
