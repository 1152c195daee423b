package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/node"
)

// peerContent is a peer in full: who it is, how near, what it announced,
// and why it is not online when it is not.
func (p *detailPane) peerContent(w int) []string {
	const labelW = 16
	valW := max(8, w-labelW)
	var out []string
	field := func(label, value string) {
		for i, v := range strings.Split(ansi.Wrap(value, valW, " ,"), "\n") {
			l := ""
			if i == 0 {
				l = label
			}
			out = append(out, p.st.Label.Render(fit(l, labelW))+p.st.Value.Render(v))
		}
	}
	pi := p.peer
	if p.gone {
		out = append(out, p.st.Warn.Render("no longer in the address book (forgotten); as last seen:"))
	}
	field("listen address", Sanitize(pi.Addr))
	status := string(pi.Status)
	if !pi.LastChange.IsZero() {
		status += " for " + coarse(p.now.Sub(pi.LastChange)) + " (since " + p.clock(pi.LastChange) + ")"
	}
	if pi.SyncPeer {
		status += ", the sync peer"
	}
	field("status", status)
	switch {
	case pi.NodeID == "":
		field("node id", "unknown (never reached)")
	case pi.Proven:
		field("node id", Sanitize(pi.NodeID)+" (proven by its node key)")
	default:
		// An unproven peer is known by its connection; the id its hello
		// named is only a claim (PROTOCOL.md section 2).
		claim := "none claimed"
		if pi.ClaimedID != "" {
			claim = Sanitize(pi.ClaimedID) + " (claimed, not proven)"
		}
		field("node id", claim)
		field("connection", Sanitize(pi.NodeID)+" (unproven: known by its connection)")
	}
	agent := "-"
	if pi.Agent != "" {
		agent = Sanitize(pi.Agent)
	}
	field("agent", agent)
	dir := "outbound (we dialled it)"
	if pi.Inbound {
		dir = "inbound (it dialled us)"
	}
	field("direction", dir)
	if !pi.ConnectedSince.IsZero() {
		field("connected since", p.clock(pi.ConnectedSince)+" ("+coarse(p.now.Sub(pi.ConnectedSince))+")")
	}
	field("round trip", fmt.Sprintf("last %s · avg %s · min %s", rtt(pi.LastRTT), rtt(pi.SmoothRTT), rtt(pi.MinRTT)))
	work := "-"
	if pi.Work != "" {
		work = Sanitize(pi.Work)
	}
	field("height / work", peerHeight(*pi)+" / "+work+" (announced)")
	field("first delivered", p.spread.firstLine(pi.Addr))
	field("delivery lag", p.spread.lagLine(pi.Addr))
	if pi.FramesIn+pi.FramesOut > 0 {
		field("frames", fmt.Sprintf("in %s (%s) · out %s (%s), this session",
			commas(uint64(pi.FramesIn)), byteSize(pi.BytesIn), commas(uint64(pi.FramesOut)), byteSize(pi.BytesOut)))
	}
	var ps *peerStats
	if p.hist != nil {
		ps = p.hist.peers[pi.Addr]
	}
	if ps != nil {
		if len(ps.rtts) > 1 {
			n := min(len(ps.rtts), valW-14)
			recent := ps.rtts[len(ps.rtts)-n:]
			field("rtt history", p.st.Accent.Render(chart(recent, n, 1, maxOf(recent))[0])+
				fmt.Sprintf(" last %d, max %.0fms", n, maxOf(recent)))
		}
		field("blocks from it", fmt.Sprintf("%d verified and taken (first copies) · %d refused", ps.blocks, ps.refused))
		if ps.backtracks > 0 {
			field("sync backtracks", fmt.Sprintf("%d, the last: %s", ps.backtracks, Sanitize(ps.backReason)))
		}
		for i := len(ps.penalties) - 1; i >= 0; i-- {
			pr := ps.penalties[i]
			label := ""
			if i == len(ps.penalties)-1 {
				label = "penalties"
			}
			field(label, p.clock(pr.at)+" "+Sanitize(pr.reason))
		}
	}
	if pi.Failures > 0 {
		field("failed dials", fmt.Sprintf("%d in a row", pi.Failures))
	}
	if pi.LastError != "" {
		e := Sanitize(pi.LastError)
		if !pi.LastErrorAt.IsZero() {
			e += " (" + ago(p.now, pi.LastErrorAt) + ", " + p.clock(pi.LastErrorAt) + ")"
		}
		field("last error", e)
	}
	if !pi.LastAttempt.IsZero() {
		field("last dial", p.clock(pi.LastAttempt)+" ("+ago(p.now, pi.LastAttempt)+")")
	}
	switch {
	case pi.Dialing:
		field("next dial", "dialing now")
	case !pi.NextDial.IsZero():
		field("next dial", p.clock(pi.NextDial)+" ("+until(p.now, pi.NextDial)+")")
	}
	if pi.Penalty != "" {
		field("penalty", Sanitize(pi.Penalty))
	}
	for _, b := range p.bans {
		if b.Addr == pi.Addr {
			field("refused until", p.clock(b.Until)+" ("+until(p.now, b.Until)+"): "+Sanitize(b.Reason))
		}
	}
	out = append(out, "", p.st.Dim.Render("d disconnect · b ban · u unban · x forget · B bans · esc close"))
	return out
}

// bansContent lists the refusals in force, longest first, with a cursor
// for u.
func (p *detailPane) bansContent(w int) []string {
	if len(p.bans) == 0 {
		return []string{p.st.Dim.Render("no bans or penalties in force"), "", p.st.Dim.Render("b on a peer bans it · esc close")}
	}
	var out []string
	for i, b := range p.bans {
		who := "penalty"
		if b.ByUser {
			who = "ban"
		}
		line := fmt.Sprintf("%s %s until %s (%s): %s", Sanitize(b.Addr), who, p.clock(b.Until), until(p.now, b.Until), Sanitize(b.Reason))
		line = fit(line, w)
		if i == p.banCursor {
			line = p.st.Selected.Render(ansi.Strip(line))
		}
		out = append(out, line)
	}
	return append(out, "", p.st.Dim.Render("↑↓ select · u unban · esc close"))
}

// selectedBan is the ban under the cursor of the bans list.
func (p *detailPane) selectedBan() (node.BanInfo, bool) {
	if !p.bansList || p.banCursor < 0 || p.banCursor >= len(p.bans) {
		return node.BanInfo{}, false
	}
	return p.bans[p.banCursor], true
}

// clock is t as a wall-clock time in the pane's zone.
// clock is t's time of day, with its date when that is not today's (a
// week's ban, a session up since yesterday).
func (p *detailPane) clock(t time.Time) string {
	t, now := t.In(p.location()), p.now.In(p.location())
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		return t.Format("Jan 2 15:04:05")
	}
	return t.Format("15:04:05")
}

// byteSize is n bytes for people: 512 B, 4.2 KiB, 1.3 MiB.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}
