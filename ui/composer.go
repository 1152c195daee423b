package ui

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"charm.land/bubbles/v2/textinput"

	"github.com/meshchain/meshchain/chain"
)

// defaultPort is added to a peer address typed without one (PROTOCOL.md §2).
const defaultPort = "8333"

// statusKind colours a one-line status.
type statusKind int

const (
	statusInfo statusKind = iota
	statusOK
	statusBad
)

// composer is the one-line input at the bottom: it writes messages, and
// (after a) takes a peer address. Problems are shown in place, in its
// bottom border, and the text is kept so it can be fixed.
type composer struct {
	st      *Styles
	w       int
	focused bool
	addPeer bool // the address input is showing

	msg  textinput.Model
	addr textinput.Model

	status     string
	statusKind statusKind
	busy       bool // a Post or Connect is in flight
}

func newComposer(st *Styles) composer {
	msg := textinput.New()
	msg.Prompt = "> "
	msg.Placeholder = "press i to write a message, Enter to post it"
	msg.SetStyles(st.Input)
	addr := textinput.New()
	addr.Prompt = "address> "
	addr.Placeholder = "host:port, e.g. 10.0.0.2:8333"
	addr.SetStyles(st.Input)
	return composer{st: st, msg: msg, addr: addr}
}

// restyle applies the styles again after the palette changed.
func (c *composer) restyle() {
	c.msg.SetStyles(c.st.Input)
	c.addr.SetStyles(c.st.Input)
}

func (c *composer) SetSize(w, _ int) {
	c.w = w
	c.msg.Placeholder = "press i to write a message, Enter to post it"
	if c.focused {
		c.msg.Placeholder = "type a message (up to 4,096 bytes) and press Enter"
	}
	c.msg.SetWidth(max(1, w-4-len(c.msg.Prompt)-1))
	c.addr.SetWidth(max(1, w-4-len(c.addr.Prompt)-1))
}

func (c *composer) setStatus(kind statusKind, s string) {
	c.status, c.statusKind = s, kind
}

func (c *composer) View() string {
	title, in := "Message", c.msg
	note := ""
	if c.addPeer {
		title, in = "Add peer", c.addr
	} else if n := len(c.msg.Value()); n > 0 || c.focused {
		note = fmt.Sprintf("%s / %s bytes", commas(uint64(n)), commas(chain.MaxMessageBytes))
		if n > chain.MaxMessageBytes {
			note = c.st.Bad.Render(note)
		}
	}
	status := ""
	switch {
	case c.status != "":
		// Errors end in their cause ("connection refused"): keep both ends.
		status = c.st.statusStyle(c.statusKind).Render(elideMiddle(c.status, c.w-6))
	case c.focused && c.addPeer:
		status = c.st.Dim.Render("enter connect · esc cancel")
	case c.focused:
		status = c.st.Dim.Render("enter post · esc leave")
	}
	return c.st.box(title, note, status, []string{in.View()}, c.w, 3, c.focused)
}

// checkMessage refuses what no node would accept, before bothering the node:
// PROTOCOL.md rule 4, 1 to 4096 bytes of valid UTF-8.
func checkMessage(s string) error {
	switch {
	case len(s) == 0:
		return errors.New("the message is empty: type some text first")
	case isBlank(s):
		return errors.New("the message is only spaces: type some text first")
	case !utf8.ValidString(s):
		return errors.New("the message is not valid UTF-8")
	case len(s) > chain.MaxMessageBytes:
		return fmt.Errorf("the message is %s bytes; the limit is %s", commas(uint64(len(s))), commas(chain.MaxMessageBytes))
	}
	return nil
}

// checkAddr accepts host:port or a bare host (given the default port).
func checkAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("type an address first, e.g. 10.0.0.2:8333")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			// A bare IPv6 address.
			return net.JoinHostPort(s, defaultPort), nil
		}
		if strings.Contains(s, ":") {
			return "", fmt.Errorf("%q is not host:port", s)
		}
		return net.JoinHostPort(s, defaultPort), nil
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host", s)
	}
	if port == "" {
		return "", fmt.Errorf("%q has no port after the colon", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return s, nil
}
