package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/meshchain/meshchain/node"
)

// A filter (/) shows only the rows of the focused pane (Chain list, Peers,
// Events, Messages) that hold its text, case-insensitively; ↑↓ then step
// through the matches. Enter keeps it, Esc clears it, and it ends when the
// focus moves to another pane.
type filterState struct {
	open  bool  // the input is open in the footer
	on    focus // the pane it filters
	text  string
	input textinput.Model
}

func newFilter(st *Styles) filterState {
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "text to keep rows by"
	in.CharLimit = 64
	in.SetStyles(st.Input)
	return filterState{input: in}
}

// filterable says whether / filters the pane f.
func (m *Model) filterable(f focus) bool {
	switch f {
	case focusPeers, focusEvents, focusMessages:
		return true
	case focusChain:
		return !m.chain.treeMode
	}
	return false
}

// filterFor is the filter text in force on pane f, lower case; "" when none.
func (m *Model) filterFor(f focus) string {
	if m.filter.on != f || m.filter.text == "" {
		return ""
	}
	return strings.ToLower(m.filter.text)
}

// matches says whether any of fields holds the (lower-case) filter text.
func matches(filter string, fields ...string) bool {
	if filter == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), filter) {
			return true
		}
	}
	return false
}

func (m *Model) openFilter() tea.Cmd {
	if !m.filterable(m.focus) {
		m.setStatus(statusInfo, "/ filters the Chain list, Peers, Events and Messages")
		return nil
	}
	if m.filter.on != m.focus {
		m.clearFilter()
	}
	m.filter.on, m.filter.open = m.focus, true
	m.filter.input.SetValue(m.filter.text)
	m.filter.input.CursorEnd()
	m.filter.input.SetWidth(max(10, m.width-len(m.filter.input.Prompt)-30))
	return m.filter.input.Focus()
}

// clearFilter ends the filter and shows every row again.
func (m *Model) clearFilter() {
	had := m.filter.text != ""
	m.filter.open, m.filter.text = false, ""
	m.filter.input.Blur()
	m.filter.input.SetValue("")
	if had {
		m.applyFilter()
	}
}

// applyFilter hands the filtered pane its rows again.
func (m *Model) applyFilter() {
	m.showChain()
	m.showPeers()
	m.log.match = m.filterFor(focusEvents)
	m.log.Scroll(0)
	if m.focus == focusMessages || m.filter.on == focusMessages {
		m.showMessages()
	}
}

// filterKey takes the keys while the filter's input is open.
func (m *Model) filterKey(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Post): // Enter: keep it
		m.filter.open = false
		m.filter.input.Blur()
		if m.filter.text == "" {
			m.clearFilter()
		}
		return nil
	case key.Matches(msg, m.keys.Cancel): // Esc: clear it
		m.clearFilter()
		return nil
	}
	var cmd tea.Cmd
	m.filter.input, cmd = m.filter.input.Update(msg)
	if v := m.filter.input.Value(); v != m.filter.text {
		m.filter.text = v
		m.applyFilter()
	}
	return cmd
}

// filterFooter is the footer while a filter is open or in force.
func (m *Model) filterFooter(w int) (string, bool) {
	switch {
	case m.filter.open:
		return fit(m.filter.input.View()+m.st.Dim.Render("  enter keep · esc clear"), w), true
	case m.filter.text != "":
		return fit(m.st.Accent.Render(fmt.Sprintf("filter %q on %s", Sanitize(m.filter.text), m.filter.on))+
			m.st.Dim.Render(" · / edit · esc clears"), w), true
	}
	return "", false
}

// keepIf is the elements of xs for which keep holds.
func keepIf[T any](xs []T, keep func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// filterBlocks keeps the blocks that match the chain filter.
func (m *Model) filterBlocks(bs []node.BlockSummary) []node.BlockSummary {
	f := m.filterFor(focusChain)
	if f == "" {
		return bs
	}
	return keepIf(bs, func(b node.BlockSummary) bool {
		return matches(f, b.Hash, b.Sender, b.Message, fmt.Sprint(b.Height), m.msgs.names.label(b.Sender))
	})
}

// filterPeers keeps the peers that match the peers filter.
func (m *Model) filterPeers(ps []node.PeerInfo) []node.PeerInfo {
	f := m.filterFor(focusPeers)
	if f == "" {
		return ps
	}
	return keepIf(ps, func(p node.PeerInfo) bool {
		return matches(f, p.Addr, p.NodeID, p.Agent, string(p.Status), p.Penalty, p.LastError)
	})
}

// showMessages gives the Messages view its rows, filtered.
func (m *Model) showMessages() {
	m.msgs.setRows(&m.state)
	if f := m.filterFor(focusMessages); f != "" {
		m.msgs.rows = keepIf(m.msgs.rows, func(r msgRow) bool { return matches(f, r.text, r.sender, m.msgs.who(r)) })
		m.msgs.Scroll(0)
	}
}
