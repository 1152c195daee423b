package ui

import (
	"strings"

	"charm.land/lipgloss/v2"
)

// box draws a bordered pane of exactly w×h cells: title (and an optional
// right-hand note) set into the top border, an optional status set into the
// bottom border, and content lines clipped and padded to the inside, one
// column of padding each side. The focused pane gets a thick, highlighted
// border so focus is visible without colour too.
func (s *Styles) box(title, note, status string, lines []string, w, h int, focused bool) string {
	if w < 4 || h < 2 {
		return strings.TrimRight(strings.Repeat(strings.Repeat(" ", max(w, 0))+"\n", max(h, 0)), "\n")
	}
	b := lipgloss.RoundedBorder()
	bs := s.BorderBlurred
	ts := s.PaneTitle
	if focused {
		b = lipgloss.ThickBorder()
		bs = s.BorderFocused
		ts = s.PaneTitleOn
	}
	inner := w - 4
	out := make([]string, 0, h)
	out = append(out, edge(b.TopLeft, b.Top, b.TopRight, ts.Render(title), note, w, bs))
	for i := 0; i < h-2; i++ {
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		out = append(out, bs.Render(b.Left)+" "+fit(line, inner)+" "+bs.Render(b.Right))
	}
	out = append(out, edge(b.BottomLeft, b.Bottom, b.BottomRight, status, "", w, bs))
	return strings.Join(out, "\n")
}

// edge renders a horizontal border of width w with left and right labels
// embedded: "╭─ left ───── right ─╮".
func edge(l, mid, r, left, right string, w int, bs lipgloss.Style) string {
	avail := w - 2
	var b strings.Builder
	used := 0
	if left != "" && avail >= 6 {
		left = trunc(left, avail-4)
		b.WriteString(bs.Render(mid) + " " + left + " ")
		used = 3 + lipgloss.Width(left)
	}
	rightPart := ""
	if right != "" {
		// A note that does not fit whole is left out rather than cut.
		if lipgloss.Width(right) <= avail-used-4 {
			rightPart = " " + right + " " + bs.Render(mid)
		}
	}
	fill := avail - used - lipgloss.Width(rightPart)
	if fill > 0 {
		b.WriteString(bs.Render(strings.Repeat(mid, fill)))
	}
	b.WriteString(rightPart)
	return bs.Render(l) + b.String() + bs.Render(r)
}
