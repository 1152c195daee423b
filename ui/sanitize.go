package ui

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
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
