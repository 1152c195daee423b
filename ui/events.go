package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/node"
)

// maxEvents bounds the events pane's history.
const maxEvents = 500

// eventsPane is the node's recent history, newest first, coloured by kind.
type eventsPane struct {
	st      *Styles
	w, h    int
	focused bool

	items []eventItem // newest first: buf[start:], at most maxEvents
	buf   []eventItem // room before items, so that a new event moves nothing
	start int
	home  string // the node of the first event: its events need no tag
	total int    // events shown since start, including those dropped from history
	// notice is pinned in the bottom border for the whole session: what
	// the user must act on (a new wallet to back up) must not scroll away.
	// It holds variants, longest first; the path is the part to keep whole.
	notice []string
	offset int
	now    time.Time
	loc    *time.Location
	// match, when set, keeps only the events whose label or text holds it
	// (lower case; the / filter).
	match string
}

// shown is the events the pane lists: all, or the filter's matches.
func (p *eventsPane) shown() []eventItem {
	if p.match == "" {
		return p.items
	}
	var out []eventItem
	for _, it := range p.items {
		if matches(p.match, it.label, it.text, it.node) {
			out = append(out, it)
		}
	}
	return out
}

type eventItem struct {
	at    time.Time
	node  string
	kind  string
	label string
	text  string
}

func (p *eventsPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.Scroll(0)
}

func (p *eventsPane) visible() int { return max(1, p.h-2) }

// Add records an event if it is one the pane shows.
func (p *eventsPane) Add(ev node.Event) {
	label, text, ok := describe(ev.Payload)
	if !ok {
		return
	}
	if p.home == "" {
		p.home = ev.Node
	}
	if st, ok := ev.Payload.(node.Started); ok && ev.Node == p.home {
		p.notice = nil
		switch path := Sanitize(st.WalletPath); {
		case st.WalletCreated:
			p.notice = []string{
				"new wallet saved to " + path + ": back up its words",
				"new wallet: " + path + ": back it up",
				"new wallet: " + path,
			}
		case st.BackupWords:
			p.notice = []string{
				"wallet words not backed up yet: run meshchain wallet show --words",
				"back up the wallet: meshchain wallet show --words",
				"back up: wallet show --words",
			}
		}
		if st.Recovered != "" {
			rec := "stored chain recovered: " + Sanitize(st.Recovered)
			if len(p.notice) == 0 {
				p.notice = []string{rec}
			} else {
				p.notice = append([]string{p.notice[0] + " · " + rec}, p.notice...)
			}
		}
	}
	if e, ok := ev.Payload.(node.PeerDialFailed); ok {
		// When the next try is, from the event's own time.
		if t, err := time.Parse(time.RFC3339, e.NextTry); err == nil && !ev.Time.IsZero() {
			text += ", next try " + until(ev.Time, t)
		}
	}
	it := eventItem{at: ev.Time, kind: ev.Payload.Kind(), label: label, text: text}
	if ev.Node != p.home {
		it.node = Sanitize(ev.Node) // another devnet node speaking
	}
	p.prepend(it)
	p.total++
	if p.offset > 0 {
		// Someone is reading older events: keep them in place (an event
		// the filter hides moves nothing). At the top nothing moves, and
		// the filter is not run for each event.
		if p.match == "" || matches(p.match, it.label, it.text, it.node) {
			p.offset++
		}
		p.Scroll(0)
	}
}

// prepend puts it first and keeps the newest maxEvents. The items end a
// buffer of twice that with room before them: a new event takes the slot
// before the first, and only when no room is left are the items moved to
// the end of a new buffer (a prepend by copy moved all 500 for each event,
// 24 µs an event during a sync).
func (p *eventsPane) prepend(it eventItem) {
	n := min(len(p.items), maxEvents-1) // the ones kept after it
	// No room before the first, or no buffer yet.
	if p.start == 0 {
		buf := make([]eventItem, 2*maxEvents)
		p.start = len(buf) - n
		copy(buf[p.start:], p.items[:n])
		p.buf = buf
	}
	p.start--
	p.buf[p.start] = it
	p.items = p.buf[p.start : p.start+1+n : p.start+1+n]
}

// Selected is the event Enter opens: the top one shown.
func (p *eventsPane) Selected() (eventItem, bool) {
	items := p.shown()
	if p.offset < 0 || p.offset >= len(items) {
		return eventItem{}, false
	}
	return items[p.offset], true
}

func (p *eventsPane) Scroll(delta int) {
	p.offset = clamp(p.offset+delta, 0, max(0, len(p.shown())-p.visible()))
}

func (p *eventsPane) View() string {
	note := "newest first"
	if p.offset > 0 {
		note = fmt.Sprintf("%d newer above", p.offset)
	}
	status := ""
	if len(p.notice) > 0 {
		room := p.w - 6
		status = p.st.Warn.Render(elideMiddle(firstFit(room, p.notice...), room))
	}
	title := fmt.Sprintf("Events %d", len(p.items))
	if p.match != "" {
		title = fmt.Sprintf("Events %d of %d", len(p.shown()), len(p.items))
	}
	return p.st.box(title, note, status, p.lines(p.w-4), p.w, p.h, p.focused)
}

func (p *eventsPane) lines(w int) []string {
	items := p.shown()
	if len(items) == 0 {
		if p.match != "" {
			return []string{p.st.Dim.Render("no event matches the filter")}
		}
		return []string{p.st.Dim.Render("no events yet")}
	}
	wide := w >= 70
	var out []string
	for i := p.offset; i < len(items) && i < p.offset+p.visible(); i++ {
		it := items[i]
		ts := clockTime(it.at, p.now, p.loc, false)
		if it.at.IsZero() {
			ts = "--:--:--"
		}
		label := it.label
		if wide {
			label = fit(label, 9)
		}
		head := p.st.Dim.Render(ts) + " "
		if it.node != "" {
			head += p.st.Dim.Render("["+it.node+"]") + " "
		}
		head += p.st.eventStyle(it.kind).Render(label) + " "
		if i == p.offset && p.focused {
			// The row Enter opens.
			head = p.st.Selected.Render(ansi.Strip(head))
		}
		if !wrapEvent[it.kind] {
			out = append(out, head+it.text)
			continue
		}
		// Rare events that must be read whole (a new wallet to back up, a
		// warning) wrap under their text instead of being cut.
		indent := lipgloss.Width(head)
		wrapped := strings.Split(ansi.Wrap(it.text, max(10, w-indent), ""), "\n")
		out = append(out, head+wrapped[0])
		for _, l := range wrapped[1:] {
			out = append(out, strings.Repeat(" ", indent)+l)
		}
	}
	return out
}

// wrapEvent lists the event kinds shown whole, on several lines if need be.
var wrapEvent = map[string]bool{"started": true, "warning": true}

// describe turns an event into a label and a line of text (sanitized); ok is
// false for events the pane leaves out (frequent progress, tip moves that a
// block or reorg line already tells).
func describe(pl node.Payload) (label, text string, ok bool) {
	switch e := pl.(type) {
	case DevnetAction:
		return "devnet", Sanitize(e.Detail), true
	case node.Started:
		text = fmt.Sprintf("listening on %s, height %s, tip %s", Sanitize(e.Listen), commas(e.Height), shortHash(e.Tip))
		if e.WalletCreated {
			text += "; new wallet written to " + Sanitize(e.WalletPath) + ": back up its words"
		} else if e.BackupWords {
			text += "; wallet words not backed up yet: meshchain wallet show --words"
		}
		if e.Recovered != "" {
			text += "; stored chain recovered: " + Sanitize(e.Recovered)
		}
		return "started", text, true
	case node.MessageQueued:
		label = "queued"
		if e.Requeued {
			label = "requeued"
		}
		return label, fmt.Sprintf("%s, queue %d", quote(e.Message), e.Queue), true
	case node.BlockMined:
		return "mined", fmt.Sprintf("#%s %s %s in %s, %s attempts", commas(e.Height), shortHash(e.Hash),
			quote(e.Message), seconds(e.Seconds), humanCount(float64(e.Attempts))), true
	case node.BlockAccepted:
		if e.Peer == "" {
			return "", "", false // our own block: "mined" says it
		}
		// "side chain" comes before the message, which a narrow pane cuts.
		side := ""
		if !e.OnBest {
			side = " (side chain)"
		}
		return "block", fmt.Sprintf("#%s %s%s from %s %s", commas(e.Height), shortHash(e.Hash), side, Sanitize(e.Peer), quote(e.Message)), true
	case node.BlockRejected:
		text = fmt.Sprintf("#%s %s: %s", commas(e.Height), shortHash(e.Hash), Sanitize(e.Reason))
		if e.Peer != "" {
			text += " from " + Sanitize(e.Peer)
		}
		if e.Detail != "" {
			text += ": " + Sanitize(e.Detail)
		}
		return "rejected", text, true
	case node.Fork:
		text = fmt.Sprintf("#%s %s on %s, not on our tip %s", commas(e.Height), shortHash(e.Hash), shortHash(e.Parent), shortHash(e.Tip))
		if e.Peer != "" {
			text += ", from " + Sanitize(e.Peer)
		}
		return "fork", text, true
	case node.Reorg:
		text = fmt.Sprintf("depth %d: #%s %s → #%s %s", e.Depth, commas(e.OldHeight), shortHash(e.OldTip), commas(e.NewHeight), shortHash(e.NewTip))
		if e.Returned > 0 {
			text += fmt.Sprintf(", %d %s back to the pool", e.Returned, plural(uint64(e.Returned), "message", "messages"))
		}
		return "reorg", text, true
	case node.PeerOnline:
		dir := "outbound"
		if e.Inbound {
			dir = "inbound"
		}
		text = fmt.Sprintf("%s online (%s), height %s", Sanitize(e.Peer), dir, commas(e.Height))
		if e.Agent != "" {
			text += ", " + Sanitize(e.Agent)
		}
		return "peer up", text, true
	case node.PeerOffline:
		text = Sanitize(e.Peer) + " offline"
		if e.Reason != "" {
			text += ": " + Sanitize(e.Reason)
		}
		return "peer down", text, true
	case node.PeerPenalized:
		text = Sanitize(e.Peer) + ": " + Sanitize(e.Reason)
		if e.Until != "" {
			text += ", refused until " + Sanitize(e.Until)
		}
		return "penalised", text, true
	case node.PeerDialFailed:
		text = Sanitize(e.Peer) + ": " + Sanitize(e.Error)
		if e.Attempts > 1 {
			text += fmt.Sprintf(" (%d failed in a row)", e.Attempts)
		}
		return "dial fail", text, true
	case node.PeerDisconnected:
		return "disconn", Sanitize(e.Peer) + " disconnected by you", true
	case node.PeerBanned:
		text = Sanitize(e.Peer) + " banned"
		if e.Until != "" {
			text += " until " + Sanitize(e.Until)
		}
		if e.Reason != "" {
			text += ": " + Sanitize(e.Reason)
		}
		return "banned", text, true
	case node.PeerUnbanned:
		return "unbanned", Sanitize(e.Peer) + " may connect again", true
	case node.PeerForgotten:
		return "forgotten", Sanitize(e.Peer) + " removed from the address book", true
	case node.SyncStarted:
		if e.Peer == "" {
			// A round asked for (s) when no peer announces more work.
			return "sync", fmt.Sprintf("round at height %s: looking for a peer with more work", commas(e.Height)), true
		}
		text = "from " + Sanitize(e.Peer)
		if d, err := time.ParseDuration(e.Latency); err == nil {
			text += " (" + rtt(d) + ")"
		} else if e.Latency != "" {
			text += " (" + Sanitize(e.Latency) + ")"
		}
		if e.Behind > 0 {
			text += fmt.Sprintf(", %s %s behind", commas(e.Behind), plural(e.Behind, "block", "blocks"))
		}
		return "sync", text, true
	case node.SyncBacktrack:
		text = Sanitize(e.Peer) + " failed: " + Sanitize(e.Reason)
		if e.Next != "" {
			text += "; trying " + Sanitize(e.Next)
		} else {
			text += "; no other peer to try"
		}
		return "backtrack", text, true
	case node.SyncFinished:
		parts := []string{}
		if e.Peer != "" {
			parts = append(parts, "from "+Sanitize(e.Peer))
		}
		parts = append(parts, fmt.Sprintf("%d %s, height %s, tip %s", e.Blocks, plural(uint64(max(e.Blocks, 0)), "block", "blocks"), commas(e.Height), shortHash(e.Tip)))
		if e.Note != "" {
			parts = append(parts, Sanitize(e.Note))
		}
		return "synced", strings.Join(parts, ", "), true
	case node.Warning:
		return "warning", Sanitize(e.Message), true
	}
	return "", "", false
}
