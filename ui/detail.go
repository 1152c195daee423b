package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
)

// detailPane shows one block in full. It opens at once with what the chain
// pane already knows and fills in the rest when Node.Block answers.
type detailPane struct {
	st   *Styles
	w, h int

	summary node.BlockSummary
	event   *eventItem // set when the detail shows an event, not a block
	// peer is set when the detail shows a peer (kept current by the
	// model); gone once it left the address book.
	peer   *node.PeerInfo
	gone   bool
	spread *spreadBook // the peer's first-delivered share and lag
	hist   *history    // the peer's round trips, blocks, penalties
	// bansList: the detail lists the bans in force, banCursor selecting.
	bansList  bool
	banCursor int
	bans      []node.BanInfo
	block     *chain.Block
	msgID     string // derived from the block, as PROTOCOL.md §1 defines it
	err       error
	tip       uint64
	onBest    bool
	offset    int
	now       time.Time
	loc       *time.Location
}

func (p *detailPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.Scroll(0)
}

func (p *detailPane) visible() int { return max(1, p.h-2) }

func (p *detailPane) Scroll(delta int) {
	if p.bansList {
		// The cursor moves; the window follows it.
		p.banCursor = clamp(p.banCursor+delta, 0, max(0, len(p.bans)-1))
		p.offset = clamp(p.offset, max(0, p.banCursor-p.visible()+1), p.banCursor)
		return
	}
	total := len(p.content(p.w - 4))
	p.offset = clamp(p.offset+delta, 0, max(0, total-p.visible()))
}

func (p *detailPane) View() string {
	title := fmt.Sprintf("Block #%s %s", commas(p.summary.Height), shortHash(p.summary.Hash))
	switch {
	case p.event != nil:
		title = "Event: " + p.event.label
	case p.peer != nil:
		title = "Peer " + Sanitize(p.peer.Addr)
	case p.bansList:
		title = fmt.Sprintf("Bans and penalties %d", len(p.bans))
	}
	status := "esc close"
	lines := p.content(p.w - 4)
	if p.offset > 0 || len(lines) > p.visible() {
		status = fmt.Sprintf("esc close · line %d of %d", p.offset+1, len(lines))
	}
	if p.offset < len(lines) {
		lines = lines[p.offset:]
	}
	return p.st.box(title, p.where(), p.st.Dim.Render(status), lines, p.w, p.h, true)
}

// where says where the block sits relative to the best chain.
func (p *detailPane) where() string {
	switch {
	case p.event != nil:
		return p.event.kind
	case p.peer != nil:
		return string(p.peer.Status)
	case p.bansList:
		return "longest first"
	}
	if !p.onBest {
		return "not on the best chain"
	}
	if p.summary.Height >= p.tip {
		return "best chain tip"
	}
	below := p.tip - p.summary.Height
	return fmt.Sprintf("best chain, %s %s below the tip", commas(below), plural(below, "block", "blocks"))
}

// content is every line of the detail, wrapped to w.
func (p *detailPane) content(w int) []string {
	const labelW = 15
	valW := max(8, w-labelW)
	var out []string
	switch {
	case p.event != nil:
		return p.eventContent(w)
	case p.peer != nil:
		return p.peerContent(w)
	case p.bansList:
		return p.bansContent(w)
	}
	field := func(label, value string) {
		wrapped := strings.Split(ansi.Hardwrap(value, valW, false), "\n")
		for i, v := range wrapped {
			l := ""
			if i == 0 {
				l = label
			}
			out = append(out, p.st.Label.Render(fit(l, labelW))+p.st.Value.Render(v))
		}
	}
	b := p.summary
	field("height", commas(b.Height))
	field("hash", Sanitize(b.Hash))
	field("prev hash", Sanitize(b.PrevHash))
	field("sender", Sanitize(b.Sender))
	when := Sanitize(b.TimeStamp)
	if t, err := time.Parse(chain.TimeLayout, b.TimeStamp); err == nil {
		when += " (" + t.In(p.loc).Format("Mon 2 Jan 2006 15:04:05 MST") + ")"
	}
	field("time", when)

	msg := b.Message
	switch {
	case p.block != nil:
		blk := p.block
		msg = blk.Message
		if p.msgID != "" {
			field("message id", p.msgID)
		}
		field("difficulty", fmt.Sprintf("%d bits (about %s attempts expected)", blk.Difficulty, humanCount(math.Ldexp(1, int(blk.Difficulty)))))
		field("nonce", commas(blk.Nonce))
		field("proof of work", commas(blk.ProofOfWork)+" attempts reported by the miner")
		field("signature", Sanitize(blk.Signature))
	case p.err != nil:
		out = append(out, p.st.Bad.Render("could not load the full block: "+Sanitize(p.err.Error())))
	default:
		out = append(out, p.st.Dim.Render("loading difficulty, nonce and signature…"))
	}
	field("message", fmt.Sprintf("%s %s", commas(uint64(len(msg))), plural(uint64(len(msg)), "byte", "bytes")))
	out = append(out, "")
	for _, l := range SanitizeLines(msg) {
		for _, wl := range strings.Split(ansi.Wrap(l, max(8, w-2), ""), "\n") {
			out = append(out, "  "+wl)
		}
	}
	return out
}

// eventContent is an event whole: when, where from, and its text wrapped
// (already sanitized when the event was described).
func (p *detailPane) eventContent(w int) []string {
	e := p.event
	out := []string{p.st.Label.Render(fit("time", 15)) + p.st.Value.Render(e.at.In(p.location()).Format("Mon 2 Jan 2006 15:04:05.000 MST"))}
	if e.node != "" {
		out = append(out, p.st.Label.Render(fit("node", 15))+p.st.Value.Render(e.node))
	}
	out = append(out, p.st.Label.Render(fit("kind", 15))+p.st.Value.Render(e.kind), "")
	for _, l := range strings.Split(ansi.Wrap(e.text, max(8, w-2), " ,"), "\n") {
		out = append(out, "  "+l)
	}
	return out
}

func (p *detailPane) location() *time.Location {
	if p.loc == nil {
		return time.Local
	}
	return p.loc
}

// setBlock fills in the full block and the message id derived from it.
func (p *detailPane) setBlock(b chain.Block) {
	p.block = &b
	p.msgID = ""
	if parsed, err := b.Parse(); err == nil {
		p.msgID = parsed.MessageID.String()
	}
}
