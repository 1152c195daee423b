package ui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// Messages as conversations (issue 12 §3). A message that begins with
// "@" and at least 8 hex digits of a sender key is addressed to that
// sender; the protocol knows nothing of it (the seeds' own client wrote
// "From <key> to <recipient>"), so addressing changes no consensus rule.

// minAddress is the fewest hex digits that address a sender.
const minAddress = 8

// addressee is the key prefix msg is addressed to ("@" then at least 8
// lowercase hex digits, then a space or the end), and the text after it.
func addressee(msg string) (prefix, rest string, ok bool) {
	if !strings.HasPrefix(msg, "@") {
		return "", msg, false
	}
	i := 1
	for i < len(msg) && i <= 66 && isLowerHex(msg[i]) {
		i++
	}
	if i-1 < minAddress || (i < len(msg) && msg[i] != ' ') {
		return "", msg, false
	}
	return msg[1:i], strings.TrimPrefix(msg[i:], " "), true
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// toMe says whether a message is addressed to the wallet self.
func toMe(msg, self string) bool {
	p, _, ok := addressee(msg)
	return ok && self != "" && strings.HasPrefix(self, p)
}

// names are the names the user gave authors, kept in the data dir as
// names.json (a UI file, not the chain store).
type names struct {
	path string
	m    map[string]string // sender key (hex) -> name
}

const namesFile = "names.json"

// loadNames reads dir/names.json; a missing file is an empty book, a bad
// one is reported and left alone (not overwritten until a name is set).
func loadNames(dir string) (*names, error) {
	n := &names{path: filepath.Join(dir, namesFile), m: map[string]string{}}
	data, err := os.ReadFile(n.path)
	if os.IsNotExist(err) {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal(data, &n.m); err != nil {
		return n, fmt.Errorf("%s: %w", n.path, err)
	}
	return n, nil
}

// set names sender (an empty name removes it) and writes the file whole
// (temp file, then rename).
func (n *names) set(sender, name string) error {
	if name == "" {
		delete(n.m, sender)
	} else {
		n.m[sender] = name
	}
	data, err := json.MarshalIndent(n.m, "", "  ")
	if err != nil {
		return err
	}
	tmp := n.path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, n.path)
}

// label is how an author is shown: its name, else its key's first 8 digits.
func (n *names) label(sender string) string {
	if n != nil {
		if name, ok := n.m[sender]; ok {
			return Sanitize(name)
		}
	}
	return short(sender)
}

// msgRow is one message of the view.
type msgRow struct {
	height  uint64 // 0 while pending
	pending bool
	sender  string // "" for another author's pending message
	own     bool
	text    string
	to      string // addressee prefix, "" when addressed to everyone
	toMe    bool
	confs   uint64 // blocks on top of its own, +1
}

// messagesPane is the Messages view: the best chain's messages and the
// pool's, newest last.
type messagesPane struct {
	st     *Styles
	w, h   int
	rows   []msgRow
	cursor int
	offset int
	names  *names
	self   string
	// naming: the input for the selected author's name is open.
	naming bool
	input  textinput.Model
	err    string // the names file's trouble, shown in the view
}

func newMessagesPane(st *Styles) messagesPane {
	in := textinput.New()
	in.Prompt = "name> "
	in.Placeholder = "a name for this author (empty removes it)"
	in.CharLimit = 32
	in.SetStyles(st.Input)
	return messagesPane{st: st, input: in}
}

func (p *messagesPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.input.SetWidth(max(1, w-4-len(p.input.Prompt)-1))
	p.Scroll(0)
}

func (p *messagesPane) visible() int { return max(1, p.h-2) }

func (p *messagesPane) Scroll(delta int) {
	p.cursor = clamp(p.cursor+delta, 0, max(0, len(p.rows)-1))
	p.offset = scrollTo(p.offset, p.cursor, p.visible(), len(p.rows))
}

func (p *messagesPane) help(k keyMap) []key.Binding {
	move := key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "select"))
	return []key.Binding{move, messageKeys.Name, relabel(k.Copy, "copy sender"), k.Close}
}

var messageKeys = struct{ Name key.Binding }{
	Name: key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "name the author")),
}

// setRows rebuilds the rows from the state, keeping the cursor on the same
// message, or on the newest when it was there.
func (p *messagesPane) setRows(s *State) {
	atEnd := p.cursor >= len(p.rows)-1
	var sel string
	if !atEnd && p.cursor < len(p.rows) {
		sel = p.rows[p.cursor].text + "\x00" + p.rows[p.cursor].sender
	}
	p.self = s.Sender
	p.rows = p.rows[:0]
	for _, b := range s.best {
		if b.Height == 0 {
			continue // genesis is no one's message
		}
		r := msgRow{height: b.Height, sender: b.Sender, own: b.Sender == s.Sender, text: b.Message}
		if s.Height >= b.Height {
			r.confs = s.Height - b.Height + 1
		}
		p.rows = append(p.rows, r)
	}
	for _, pm := range s.Pending {
		r := msgRow{pending: true, own: pm.Own, text: pm.Message}
		if pm.Own {
			r.sender = s.Sender
		}
		p.rows = append(p.rows, r)
	}
	for i := range p.rows {
		r := &p.rows[i]
		r.to, _, _ = addressee(r.text)
		r.toMe = !r.own && toMe(r.text, s.Sender)
	}
	p.cursor = len(p.rows) - 1
	if !atEnd {
		for i, r := range p.rows {
			if r.text+"\x00"+r.sender == sel {
				p.cursor = i
			}
		}
	}
	p.Scroll(0)
}

// selected is the row under the cursor.
func (p *messagesPane) selected() (msgRow, bool) {
	if p.cursor < 0 || p.cursor >= len(p.rows) {
		return msgRow{}, false
	}
	return p.rows[p.cursor], true
}

// who is how the author of r is shown.
func (p *messagesPane) who(r msgRow) string {
	switch {
	case r.own:
		return "you"
	case r.sender == "":
		return "(relayed)"
	}
	return p.names.label(r.sender)
}

// recipient is how an addressee prefix is shown: "you", a name whose key
// it begins, or the prefix.
func (p *messagesPane) recipient(prefix string) string {
	if strings.HasPrefix(p.self, prefix) {
		return "you"
	}
	if p.names != nil {
		for k, name := range p.names.m {
			if strings.HasPrefix(k, prefix) {
				return Sanitize(name)
			}
		}
	}
	return prefix[:minAddress]
}

func (p *messagesPane) View() string {
	w := p.w - 4
	var lines []string
	if p.err != "" {
		lines = append(lines, p.st.Bad.Render(fit(p.err, w)))
	}
	if len(p.rows) == 0 {
		lines = append(lines, p.st.Dim.Render("no messages yet: press i to write one; @ and 8+ hex digits of a key address it"))
	}
	whoW := 10
	room := p.visible() - len(lines)
	if p.naming {
		room -= 2
	}
	for i := p.offset; i < len(p.rows) && i < p.offset+room; i++ {
		r := p.rows[i]
		mark := "  "
		if i == p.cursor {
			mark = "▸ "
		}
		where := "pending"
		if !r.pending {
			where = fmt.Sprintf("#%s %s", commas(r.height), confWords(r.confs))
		}
		text := r.text
		if r.to != "" {
			_, rest, _ := addressee(r.text)
			text = "→ " + p.recipient(r.to) + ": " + rest
		}
		row := fit(mark+fit(p.who(r), whoW)+" "+fit(where, 16)+" "+messageText(text), w)
		switch {
		case i == p.cursor:
			row = p.st.Selected.Render(row)
		case r.toMe:
			row = p.st.Warn.Bold(true).Render(row)
		case r.pending:
			row = p.st.Dim.Render(row)
		case r.own:
			row = p.st.OK.Render(row)
		}
		lines = append(lines, row)
	}
	status := "n name the author · esc close"
	if p.naming {
		lines = append(lines, "", p.input.View())
		status = "enter save · esc cancel"
	}
	toMe := 0
	for _, r := range p.rows {
		if r.toMe {
			toMe++
		}
	}
	note := fmt.Sprintf("%d messages · %d to you · newest last", len(p.rows), toMe)
	return p.st.box("Messages", note, p.st.Dim.Render(status), lines, p.w, p.h, true)
}

func confWords(n uint64) string {
	if n == 1 {
		return "1 conf"
	}
	return commas(n) + " confs"
}

// openMessages shows the Messages view; what was addressed to us counts as
// read.
func (m *Model) openMessages() {
	if m.focus != focusMessages {
		m.messagesFrom = m.focus
		m.clearFilter()
	}
	m.blurInputs()
	m.focus = focusMessages
	m.loadNames()
	m.showMessages()
	m.unread = 0
}

// loadNames reads the names file once the data dir is known.
func (m *Model) loadNames() {
	if m.msgs.names != nil || m.state.DataDir == "" {
		return
	}
	n, err := loadNames(m.state.DataDir)
	m.msgs.names = n
	if err != nil {
		m.msgs.err = "names: " + Sanitize(err.Error())
	}
}

// messagesKey handles a key in the Messages view; false when it is not
// one of the view's.
func (m *Model) messagesKey(msg tea.KeyPressMsg) (bool, tea.Cmd) {
	p := &m.msgs
	if p.naming {
		switch msg.String() {
		case "enter":
			p.naming = false
			p.input.Blur()
			if r, ok := p.selected(); ok && r.sender != "" && p.names != nil {
				name := strings.TrimSpace(Sanitize(p.input.Value()))
				if err := p.names.set(r.sender, name); err != nil {
					m.setStatus(statusBad, "name not saved: "+Sanitize(err.Error()))
				} else if name == "" {
					m.setStatus(statusOK, "name removed")
				} else {
					m.setStatus(statusOK, fmt.Sprintf("%s… is %s", short(r.sender), name))
				}
			}
			return true, nil
		case "esc":
			p.naming = false
			p.input.Blur()
			return true, nil
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		return true, cmd
	}
	if key.Matches(msg, messageKeys.Name) {
		r, ok := p.selected()
		switch {
		case !ok:
		case r.own:
			m.setStatus(statusInfo, "that is you")
		case r.sender == "":
			m.setStatus(statusInfo, "a relayed message waiting in the pool: its author is not known here")
		case p.names == nil:
			m.setStatus(statusBad, "names need the node's data dir, not known yet")
		default:
			p.naming = true
			p.input.SetValue(p.names.m[r.sender])
			p.input.CursorEnd()
			return true, p.input.Focus()
		}
		return true, nil
	}
	return false, nil
}

// authorSuggestions are what the composer completes after "@": every
// author of the messages in view but us, by the first 16 digits of the key.
func (m *Model) authorSuggestions() []string {
	seen := map[string]bool{}
	var out []string
	for _, b := range m.state.best {
		if b.Sender == "" || b.Sender == m.state.Sender || b.Height == 0 {
			continue
		}
		s := "@" + b.Sender[:min(16, len(b.Sender))] + " "
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// canComplete says whether the composer holds the start of an address
// ("@" and digits) that an author's key completes.
func (m *Model) canComplete() bool {
	v := m.compose.msg.Value()
	return strings.HasPrefix(v, "@") && !strings.Contains(v, " ") && len(m.compose.msg.MatchedSuggestions()) > 0
}
