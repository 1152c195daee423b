package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello mesh", "hello mesh"},
		{"empty", "", ""},
		{"clear screen and title", "\x1b[2J\x1b]0;pwned\x07hi", `\x1b[2J\x1b]0;pwned\x07hi`},
		{"newline and tab", "a\nb\tc\r", `a\x0ab\x09c\x0d`},
		{"nul and del", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 CSI", "a\u009b31mb", `a\x9b31mb`},
		{"C1 NEL", "x\u0085y", `x\x85y`},
		{"invalid UTF-8", "ok\xff\xfe!", `ok\xff\xfe!`},
		{"truncated rune", "é\xc3", `é\xc3`},
		{"unicode kept", "héllo wörld 日本語 🚀", "héllo wörld 日本語 🚀"},
		{"emoji ZWJ sequence drawn as its parts (terminals disagree on its width)", "👩\u200d💻", "👩💻"},
		{"combining mark kept", "e\u0301", "e\u0301"},
		{"replacement char kept", "\ufffd", "\ufffd"},
		{"no-break space kept", "a\u00a0b", "a\u00a0b"},
		{"bidi override escaped", "abc\u202edcba", `abc\u202edcba`},
		{"line separator escaped", "a\u2028b", `a\u2028b`},
		{"private use escaped", "\U000f0000", `\U000f0000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in); got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSanitizeLeavesNoControls(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x300; r++ {
		all.WriteRune(r)
	}
	all.WriteString("\xff\xc0\x80")
	got := Sanitize(all.String())
	for i, r := range got {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("control %U left at byte %d", r, i)
		}
	}
}

func TestSanitizeLines(t *testing.T) {
	got := SanitizeLines("one\ntwo\x1b[0m\r\nthree")
	want := []string{"one", `two\x1b[0m\x0d`, "three"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SanitizeLines = %q, want %q", got, want)
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("\x1b[2J\x1b]0;pwned\x07hi")
	f.Add("héllo\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if strings.ContainsAny(got, "\x1b\x07\x00\n\r\x7f\u009b") {
			t.Fatalf("Sanitize(%q) = %q keeps a control", s, got)
		}
		if Sanitize(got) != got {
			t.Fatalf("Sanitize is not idempotent on %q", s)
		}
	})
}

// TestSanitizeEvenWidths: clusters whose width depends on how the terminal
// measures are drawn as parts on which every method agrees, so borders stay
// in line in tmux (by code point) and in terminals that draw whole clusters.
func TestSanitizeEvenWidths(t *testing.T) {
	for _, s := range []string{"family 👨\u200d👩\u200d👧 here", "flag 🇮🇩", "e\u0301 combining", "❤\ufe0f", "✌🏽 peace", "日本語"} {
		got := Sanitize(s)
		if g, w := ansi.StringWidth(got), ansi.StringWidthWc(got); g != w {
			t.Errorf("Sanitize(%q) = %q: %d cells by cluster, %d by code point", s, got, g, w)
		}
	}
	if got := Sanitize("👨\u200d👩\u200d👧"); got != "👨👩👧" {
		t.Errorf("family: got %q", got)
	}
	if got := Sanitize("e\u0301"); got != "e\u0301" {
		t.Errorf("a combining mark must stay: got %q", got)
	}
}
