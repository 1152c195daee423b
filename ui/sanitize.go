package ui

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/rivo/uniseg"
)

// Sanitize makes untrusted text (messages, addresses, agents, reasons: anything
// that came from the chain or a peer) safe to draw. Control characters would
// otherwise reach the terminal: ESC starts sequences that can clear the
// screen, move the cursor or set the window title. C0 controls (including
// newline and tab), DEL, C1 controls and bytes that are not valid UTF-8 are
// shown as \xNN; other invisible code points that can reorder or hide text
// (bidirectional overrides, line separators, private use) as \uNNNN. Printable
// Unicode, including combining marks and emoji joiners, is kept.
func Sanitize(s string) string {
	if isPlainASCII(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r == '\u200c', r == '\u200d':
			// Zero-width (non-)joiners build emoji sequences and some
			// scripts; they cannot move the cursor.
			b.WriteRune(r)
		case !unicode.IsGraphic(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return evenWidths(b.String())
}

// evenWidths rewrites the grapheme clusters whose width terminals disagree
// on. Bubble Tea measures by code point (wcwidth) unless the terminal says it
// draws whole clusters (mode 2027), while layout measures clusters, so a
// joined emoji such as 👨‍👩‍👧 (one cluster, two cells; three emoji, six cells
// by code point) would push pane borders out of line in tmux. Such a cluster
// is drawn as its parts, without joiners, variation selectors and skin tones,
// on which both agree; one that still disagrees becomes U+FFFD.
func evenWidths(s string) string {
	if isPlainASCII(s) {
		return s
	}
	var b strings.Builder
	g := uniseg.NewGraphemes(s)
	changed := false
	for g.Next() {
		c := g.Str()
		if ansi.StringWidth(c) == ansi.StringWidthWc(c) {
			b.WriteString(c)
			continue
		}
		changed = true
		parts := strings.Map(func(r rune) rune {
			switch {
			case r == '\u200d', r == '\ufe0e', r == '\ufe0f', r >= 0x1f3fb && r <= 0x1f3ff:
				return -1
			}
			return r
		}, c)
		if ansi.StringWidth(parts) == ansi.StringWidthWc(parts) {
			b.WriteString(parts)
		} else {
			b.WriteRune(utf8.RuneError)
		}
	}
	if !changed {
		return s
	}
	return b.String()
}

// SanitizeLines is Sanitize for multi-line text shown as several lines: it
// keeps the line breaks ("\n") and escapes everything else.
func SanitizeLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Sanitize(l)
	}
	return lines
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
