package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sgrClick is a left click at column x, row y (0-based) as a terminal in
// SGR mouse mode sends it: press and release.
func sgrClick(x, y int) string {
	return fmt.Sprintf("\x1b[<0;%d;%dM\x1b[<0;%d;%dm", x+1, y+1, x+1, y+1)
}

// TestDashboardMouse: in the real binary in tmux, a click on the Peers pane
// focuses it (its border turns heavy), a click on the composer opens it for
// typing; with mouse = false in config.toml the same click does nothing.
func TestDashboardMouse(t *testing.T) {
	s := startTmux(t, 100, 30, "--data-dir", t.TempDir(), "--difficulty", "12", "--listen", "127.0.0.1:0", "--threads", "1")
	s.waitScreen(20*time.Second, "meshchain genesis", "Peers")
	if f := focusedPane(s.screen()); f != "Chain" {
		t.Fatalf("focused at start: %q, want Chain", f)
	}
	// At 100x30 the Peers pane is in the right column, under Mining.
	s.typeText(sgrClick(70, 12))
	s.waitFocus(5*time.Second, "a click on Peers did not focus it", func(f string) bool { return f == "Peers" })
	// The composer: its box is the three rows above the footer.
	s.typeText(sgrClick(10, 27))
	s.waitScreen(5*time.Second, "enter post")
	s.typeText("typed after a click")
	s.waitScreen(5*time.Second, "typed after a click")
	s.keys("Escape")
	s.waitScreen(5*time.Second, "? more")
	s.keys("q")
	s.waitExit(15 * time.Second)

	// Mouse off: the click is not taken.
	cfg := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(cfg, []byte("mouse = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startTmux(t, 100, 30, "--config", cfg, "--data-dir", t.TempDir(), "--difficulty", "12", "--listen", "127.0.0.1:0", "--threads", "1")
	s.waitScreen(20*time.Second, "meshchain genesis", "Peers")
	s.typeText(sgrClick(70, 12))
	// Tab shows that keys are read after the click; the click itself
	// moved nothing: Tab goes from Chain to Peers.
	s.keys("Tab")
	s.waitFocus(5*time.Second, "Tab did not move the focus", func(f string) bool { return f != "Chain" })
	if f := focusedPane(s.screen()); f != "Peers" || strings.Contains(s.screen(), "enter post") {
		t.Fatalf("with the mouse off, click then Tab focused %q (want Peers: the click must not count)", f)
	}
	s.keys("q")
	s.waitExit(15 * time.Second)
}

// TestDashboardDevnetControls: `meshchain devnet` in tmux, the devnet view
// on D: split and heal, stop and restart a node, a slower link; each shows
// in the view and as an event.
func TestDashboardDevnetControls(t *testing.T) {
	s := startTmux(t, 120, 36, "devnet", "-n", "4", "--difficulty", "10", "--data-dir", t.TempDir())
	s.waitScreen(30*time.Second, "devnet node 1 of 4", "peers 3/3 online")
	s.keys("D")
	s.waitScreen(10*time.Second, "Devnet", "one network · one tip", "node4")
	s.keys("p")
	s.waitScreen(15*time.Second, "split in two halves", "devnet: the network is cut in two halves")
	s.keys("p")
	s.waitScreen(15*time.Second, "one network", "devnet: the two halves reconnect")
	s.keys("Down", "Down", "r")
	s.waitScreen(15*time.Second, "node3 stopped", "stopped")
	s.keys("r")
	s.waitScreen(15*time.Second, "node3 started")
	s.keys("Down", "+")
	s.waitScreen(15*time.Second, "link node1–node4")
	s.keys("Escape")
	s.waitScreen(5*time.Second, "Events")
	// Peer events from the relinks can push the actions out of the
	// pane's rows: zoom it and filter it (Tab to Events, z, / devnet).
	for i := 0; focusedPane(s.screen()) != "Events"; i++ {
		if i == 4 {
			t.Fatalf("Tab did not reach Events:\n%s", s.screen())
		}
		was := focusedPane(s.screen())
		s.keys("Tab")
		s.waitFocus(5*time.Second, "Tab did not move the focus", func(f string) bool { return f != was })
	}
	s.keys("z", "/")
	s.typeText("devnet")
	// Every action, once the filter has all six letters.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) { // polling tmux
		scr := s.screen()
		n := len(paneLines(scr, " devnet    "))
		if strings.Contains(scr, "/devnet ") && n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the events pane filtered to devnet actions shows %d, want split, heal, stop, start and the latency:\n%s", n, scr)
		}
	}
	s.keys("Escape")
	// A key right behind Esc reads as Alt+key: wait for the filter to go.
	s.waitScreen(5*time.Second, "? more")
	s.keys("q")
	s.waitExit(20 * time.Second)
}

// TestDashboardDevnetGraph: w in `meshchain devnet` draws the devnet as a
// graph with its links and the way of the block just mined here, node 1
// as its origin and every other node reached from a node of the devnet;
// v switches to the radar and back.
func TestDashboardDevnetGraph(t *testing.T) {
	s := startTmux(t, 140, 40, "devnet", "-n", "4", "--difficulty", "10", "--data-dir", t.TempDir())
	s.waitScreen(30*time.Second, "devnet node 1 of 4", "peers 3/3 online")
	s.post("over the graph")
	s.keys("w")
	// The block reaches the other nodes after the view opens: "all" and
	// the nodes it came through show once it has reached them.
	scr := s.waitScreen(20*time.Second, "Devnet 4/4 nodes, 6 links up", "Its way across the devnet", "node1", "mined it", "reached all in", "← node", "link)")
	if !strings.Contains(scr, "★1") {
		t.Errorf("the graph does not mark node 1 as where the block was mined:\n%s", scr)
	}
	s.keys("v")
	s.waitScreen(10*time.Second, "Network 3/3 online", "log scale")
	s.keys("v")
	s.waitScreen(10*time.Second, "Devnet 4/4 nodes")
	s.keys("w")
	s.waitScreen(5*time.Second, "Events")
	s.keys("q")
	s.waitExit(20 * time.Second)
}

// TestDashboardMessagesView: m in the real binary lists the message just
// mined as yours, n on it says it is you, Esc returns.
func TestDashboardMessagesView(t *testing.T) {
	s := startTmux(t, 100, 30, "--data-dir", t.TempDir(), "--difficulty", "10", "--listen", "127.0.0.1:0", "--threads", "1")
	s.waitScreen(20*time.Second, "meshchain genesis")
	s.post("@deadbeefcafe are you there?")
	s.keys("m")
	scr := s.waitScreen(10*time.Second, "Messages", "1 messages · 0 to you", "→ deadbeef: are you there?")
	if rows := paneLines(scr, "→ deadbeef"); len(rows) != 1 || !strings.Contains(rows[0], "you") || !strings.Contains(rows[0], "#1") {
		t.Fatalf("the message's row: %q", rows)
	}
	s.keys("n")
	s.waitScreen(5*time.Second, "that is you")
	s.keys("Escape")
	s.waitScreen(5*time.Second, "Chain")
	s.keys("q")
	s.waitExit(15 * time.Second)
}

// TestDashboardFilterAndNetworkView: in the real binary, / keeps the
// Chain rows that hold the text and Esc brings the others back; w opens
// the network view and Esc closes it.
func TestDashboardFilterAndNetworkView(t *testing.T) {
	s := startTmux(t, 120, 36, "--data-dir", t.TempDir(), "--difficulty", "10", "--listen", "127.0.0.1:0", "--threads", "1")
	s.waitScreen(20*time.Second, "meshchain genesis")
	for _, msg := range []string{"apples first", "pears second"} {
		s.post(msg)
	}
	s.waitScreen(30*time.Second, "3 blocks")
	s.keys("/")
	s.waitScreen(5*time.Second, "enter keep")
	s.typeText("pears")
	s.keys("Enter")
	scr := s.waitScreen(5*time.Second, `filter "pears" on chain`)
	// The focused Chain pane has the heavy border: none of its rows may
	// be one without pears (the Events pane still tells of the others).
	for _, l := range strings.Split(scr, "\n") {
		if strings.HasPrefix(l, "┃") && (strings.Contains(l, "apples first") || strings.Contains(l, "meshchain genesis")) {
			t.Fatalf("the filter kept a row without pears: %q\n%s", l, scr)
		}
	}
	if len(paneLines(scr, "pears second")) < 2 {
		t.Fatalf("the pears row is gone:\n%s", scr)
	}
	s.keys("Escape")
	s.waitScreen(5*time.Second, "meshchain genesis")
	s.keys("w")
	s.waitScreen(5*time.Second, "Network", "log scale")
	s.keys("Escape")
	s.waitScreen(5*time.Second, "Chain", "Mining")
	s.keys("q")
	s.waitExit(15 * time.Second)
}

// waitFocus polls the screen until the focused pane's title satisfies ok,
// failing with what after d.
func (s *tmuxSession) waitFocus(d time.Duration, what string, ok func(string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for !ok(focusedPane(s.screen())) {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s; screen:\n%s", what, s.screen())
		}
		time.Sleep(20 * time.Millisecond) // polling tmux; nothing to wait on
	}
}
