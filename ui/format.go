package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/chain"
)

// short returns the first 8 characters of a hash or key, sanitized: enough to
// tell blocks and senders apart at a glance.
func short(s string) string {
	if len(s) > 8 {
		s = s[:8]
	}
	return Sanitize(s)
}

// shortHash shows a block hash in 8 columns by its significant digits: the
// leading zeros every mined hash shares are skipped ("…639a83b", not
// "00000000"), so blocks stay apart at any difficulty. The detail view shows
// the whole hash.
func shortHash(s string) string {
	zeros := len(s) - len(strings.TrimLeft(s, "0"))
	if zeros == 0 || len(s) <= 8 {
		return short(s)
	}
	rest := s[zeros:]
	if len(rest) > 7 {
		rest = rest[:7]
	}
	return "…" + Sanitize(rest)
}

// commas formats n with thousands separators: 1200 -> "1,200".
func commas(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// plural picks the singular or plural noun for n.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// humanCount shortens large counts: 1234567 -> "1.23M".
func humanCount(v float64) string {
	switch {
	case v >= 1e12:
		return fmt.Sprintf("%.2fT", v/1e12)
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return commas(uint64(math.Max(0, v)))
	}
}

// hashRate formats hashes per second.
func hashRate(hps float64) string {
	switch {
	case hps <= 0:
		return "- H/s"
	case hps >= 1e9:
		return fmt.Sprintf("%.2f GH/s", hps/1e9)
	case hps >= 1e6:
		return fmt.Sprintf("%.2f MH/s", hps/1e6)
	case hps >= 1e3:
		return fmt.Sprintf("%.1f kH/s", hps/1e3)
	default:
		return fmt.Sprintf("%.0f H/s", hps)
	}
}

// seconds formats a duration given in seconds, coarsely: "45s", "3m20s", "2h05m", "3d4h".
func seconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return "?"
	}
	switch {
	case s < 0.001:
		return "<1ms"
	case s < 1:
		return fmt.Sprintf("%dms", int(s*1000))
	case s < 10:
		return fmt.Sprintf("%.1fs", s)
	}
	return coarse(time.Duration(s * float64(time.Second)))
}

// coarse formats a duration with its two largest units.
func coarse(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int64(d / time.Second)
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", secs)
	case secs < 3600:
		return fmt.Sprintf("%dm%02ds", secs/60, secs%60)
	case secs < 86400:
		return fmt.Sprintf("%dh%02dm", secs/3600, secs%3600/60)
	default:
		return fmt.Sprintf("%dd%dh", secs/86400, secs%86400/3600)
	}
}

// ago says how long before now t was, for "last change" columns.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 5*time.Second {
		return "just now"
	}
	return coarse(d) + " ago"
}

// rtt formats a round-trip time; 0 means never measured.
func rtt(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < 100*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return coarse(d) // a stalled peer; the column may cut it
	}
}

// blockTime turns a block's timeStamp into local time for display; wide adds
// the date even for today's blocks. Malformed stamps are shown as they are.
func blockTime(stamp string, now time.Time, loc *time.Location, wide bool) string {
	t, err := time.Parse(chain.TimeLayout, stamp)
	if err != nil {
		return Sanitize(stamp)
	}
	return clockTime(t, now, loc, wide)
}

// clockTime shows t in loc: the time of day when it is today, else the date.
func clockTime(t, now time.Time, loc *time.Location, wide bool) string {
	t = t.In(loc)
	if wide {
		return t.Format("2006-01-02 15:04:05")
	}
	n := now.In(loc)
	if t.Year() == n.Year() && t.YearDay() == n.YearDay() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 02  ")
}

// fit truncates s (which may be styled) to width w, ending in "…" when cut,
// and pads it with spaces to exactly w.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - lipgloss.Width(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// trunc cuts s to at most w cells, ending in "…" when cut, without padding.
func trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// fitRight right-aligns plain s in w cells.
func fitRight(s string, w int) string {
	if lipgloss.Width(s) >= w {
		return trunc(s, w)
	}
	return strings.Repeat(" ", w-lipgloss.Width(s)) + s
}

// quote wraps a sanitized message in quotes for one-line lists; a message
// of only white space reads (blank).
func quote(msg string) string {
	if isBlank(msg) {
		return blankMessage
	}
	return `"` + Sanitize(msg) + `"`
}

// blankMessage stands for a message of only white space, which the protocol
// accepts from peers but which would otherwise show as an empty row.
const blankMessage = "(blank)"

func isBlank(msg string) bool { return strings.TrimSpace(msg) == "" }

// messageText is a message for a list row: sanitized, or (blank).
func messageText(msg string) string {
	if isBlank(msg) {
		return blankMessage
	}
	return Sanitize(msg)
}

// spread places left and right on one line of width w, right-aligned,
// dropping right when both do not fit.
func spread(left, right string, w int) string {
	lw, rw := lipgloss.Width(left), lipgloss.Width(right)
	if right == "" || lw+rw+2 > w {
		return fit(left, w)
	}
	return left + strings.Repeat(" ", w-lw-rw) + right
}

// elideMiddle cuts plain s to w cells by replacing its middle with "…":
// messages built as "what failed: why" keep both the subject at the start
// and the root cause at the end.
func elideMiddle(s string, w int) string {
	sw := lipgloss.Width(s)
	if sw <= w {
		return s
	}
	if w < 8 {
		return trunc(s, w)
	}
	headW := w / 3
	head := ansi.Truncate(s, headW, "")
	tail := ansi.TruncateLeft(s, sw-(w-lipgloss.Width(head)-1), "")
	return head + "…" + tail
}
