package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDashboardCopiesToTheClipboard: in the real binary in tmux, y in the
// Chain pane puts the selected block's whole hash on the clipboard through
// OSC 52. tmux, with set-clipboard on, takes the sequence into its paste
// buffer, which is read back; y again copies the sender's key.
func TestDashboardCopiesToTheClipboard(t *testing.T) {
	s := startTmux(t, 120, 36, "--data-dir", t.TempDir(), "--difficulty", "12", "--listen", "127.0.0.1:0", "--threads", "1")
	s.tmux("set-option", "-s", "set-clipboard", "on")
	s.waitScreen(20*time.Second, "meshchain genesis", "Mining")

	s.post("copy me")
	// The newest block is selected: the row of the message.
	row := paneLines(s.screen(), "copy me")
	short := regexp.MustCompile(`…([0-9a-f]{7,})`).FindStringSubmatch(strings.Join(row, "\n"))
	if short == nil {
		t.Fatalf("no short hash in the message's rows: %q", row)
	}

	s.keys("y")
	s.waitScreen(5*time.Second, "copied block hash")
	hash := strings.TrimSpace(s.tmux("show-buffer"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(hash) || !strings.HasPrefix(strings.TrimLeft(hash, "0"), short[1]) {
		// The row shows the digits after the leading zeros.
		t.Fatalf("clipboard holds %q; want the 64-hex hash whose significant digits start %s", hash, short[1])
	}

	s.keys("y")
	s.waitScreen(5*time.Second, "copied sender")
	sender := strings.TrimSpace(s.tmux("show-buffer"))
	if !regexp.MustCompile(`^0[23][0-9a-f]{64}$`).MatchString(sender) {
		t.Fatalf("clipboard holds %q after the second y; want a compressed public key", sender)
	}
	s.keys("q")
	s.waitExit(15 * time.Second)
}
