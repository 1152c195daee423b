package ui

import "testing"

// TestShortHash: hashes that share their leading zeros stay apart, in the
// same 8 columns as before.
func TestShortHash(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"000000003a9b8c7d6e5f40000000000000000000000000000000000000000000", "…3a9b8c7"},
		{"00000031aa000000000000000000000000000000000000000000000000000000", "…31aa000"},
		{"00000031bb000000000000000000000000000000000000000000000000000000", "…31bb000"},
		{"5180e153aa000000000000000000000000000000000000000000000000000000", "5180e153"},
		{"0000", "0000"},
	} {
		if got := shortHash(c.in); got != c.want {
			t.Errorf("shortHash(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestBlankMessageShown: a blank message from a peer reads (blank) in the
// one-line lists instead of an empty row.
func TestBlankMessageShown(t *testing.T) {
	if got := quote("   "); got != "(blank)" {
		t.Errorf("quote = %q", got)
	}
	if got := messageText("\t "); got != "(blank)" {
		t.Errorf("messageText = %q", got)
	}
	if got := messageText("hi"); got != "hi" {
		t.Errorf("messageText = %q", got)
	}
}
