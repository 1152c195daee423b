package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// tmuxSession runs the real binary's dashboard in a private tmux server.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func startTmux(t *testing.T, width, height int, args ...string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed; skipping the dashboard end-to-end test")
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("meshchain-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	cmd := append([]string{binPath}, args...)
	s.tmux("new-session", "-d", "-s", "mc", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height),
		"TERM=xterm-256color exec "+strings.Join(quoteAll(cmd), " "))
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	return s
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.tmux("capture-pane", "-p", "-t", "mc") }

// waitScreen polls the screen (tmux has no change notification) until
// every want appears, failing with the last screen after d.
func (s *tmuxSession) waitScreen(d time.Duration, want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		scr := s.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(scr, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("screen never showed %q within %v; last screen:\n%s", missing, d, scr)
		}
		<-tick.C
	}
}

// post writes msg in the composer, posts it, waits until the events say it
// was mined, and leaves the composer (waiting until Esc is handled: a key
// right behind it would read as Alt+key).
func (s *tmuxSession) post(msg string) {
	s.t.Helper()
	s.keys("i")
	s.waitScreen(5*time.Second, "Enter")
	s.typeText(msg)
	s.keys("Enter")
	s.waitScreen(30*time.Second, `"`+msg+`" in`)
	s.keys("Escape")
	s.waitScreen(5*time.Second, "? more")
}

func (s *tmuxSession) keys(keys ...string) {
	s.tmux(append([]string{"send-keys", "-t", "mc"}, keys...)...)
}
func (s *tmuxSession) typeText(text string) {
	s.tmux("send-keys", "-t", "mc", "-l", text)
}

// waitExit waits until the dashboard's process has ended and its pane closed.
func (s *tmuxSession) waitExit(d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for exec.Command("tmux", "-L", s.socket, "has-session", "-t", "mc").Run() == nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("the dashboard did not quit within %v; screen:\n%s", d, s.screen())
		}
		time.Sleep(50 * time.Millisecond) // polling tmux; nothing to wait on
	}
}

// paneLines returns the screen lines that contain marker.
func paneLines(scr, marker string) []string {
	var out []string
	for _, l := range strings.Split(scr, "\n") {
		if strings.Contains(l, marker) {
			out = append(out, l)
		}
	}
	return out
}

func TestDashboardPostMineSyncQuit(t *testing.T) {
	dir := t.TempDir()
	s := startTmux(t, 120, 36, "--data-dir", dir, "--difficulty", "14", "--listen", "127.0.0.1:0", "--threads", "1")
	s.waitScreen(20*time.Second, "meshchain genesis", "alone: no peers", "Mining", "Peers", "Events")

	s.keys("i")
	s.waitScreen(5*time.Second, "Enter")
	s.typeText("hello from the e2e test")
	s.keys("Enter")
	scr := s.waitScreen(30*time.Second, "mined", "idle")
	rows := paneLines(scr, "hello from the e2e test")
	if len(rows) < 2 {
		t.Fatalf("the message should show in the Chain pane and in Events; screen:\n%s", scr)
	}
	chainRow := false
	for _, r := range rows {
		if strings.Contains(r, "  1 ") {
			chainRow = true
		}
	}
	if !chainRow {
		t.Errorf("no Chain row at height 1 for the message; rows: %q", rows)
	}

	s.keys("Escape")
	// Wait for Esc to be handled: a key right behind it reads as Alt+key.
	s.waitScreen(5*time.Second, "t fork tree")
	s.keys("s")
	s.waitScreen(15*time.Second, "synced")
	s.keys("q")
	s.waitExit(15 * time.Second)

	// The node stopped cleanly: the store is closed and consistent.
	out, code := runCmd(t, "", "verify", "--data-dir", dir, "--difficulty", "14")
	if code != 0 || !strings.Contains(out, "ok: 1 blocks") {
		t.Fatalf("verify after quitting: exit %d\n%s", code, out)
	}
}

func TestDashboardShowsEscapeSequencesEscaped(t *testing.T) {
	dir := t.TempDir()
	// Mine a hostile message headless first.
	p := startHeadless(t, "--data-dir", dir, "--difficulty", "10", "--listen", "", "--threads", "1")
	p.waitFor("started", 20*time.Second, nil)
	p.post("evil \x1b[2J\x1b]2;pwned\x07 title")
	p.waitFor("block_mined", 20*time.Second, nil)
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("headless exit: %v", err)
	}

	s := startTmux(t, 120, 36, "--data-dir", dir, "--difficulty", "10", "--listen", "", "--threads", "1")
	scr := s.waitScreen(20*time.Second, `evil \x1b[2J\x1b]2;pwned`, "meshchain genesis")
	// The block detail shows the whole message, escaped.
	s.keys("Enter")
	s.waitScreen(10*time.Second, `evil \x1b[2J\x1b]2;pwned\x07 title`)
	s.keys("Escape")
	s.waitScreen(5*time.Second, "newest first")
	if title := s.tmux("display-message", "-p", "-t", "mc", "#{pane_title}"); strings.Contains(title, "pwned") {
		t.Errorf("the message changed the terminal title to %q", title)
	}
	if !strings.Contains(scr, "Chain") {
		t.Errorf("screen was cleared or garbled:\n%s", scr)
	}
	s.keys("q")
	s.waitExit(15 * time.Second)
}

// TestDashboardFailedDialKeepsOfflineTime (issues 11.2 and 11.3): a peer
// that never answers stays offline across its redials, so its "changed"
// time counts from when it went offline instead of restarting at each
// dial; its row says why the dial failed and when the next is, and Enter
// shows the error, when it happened and the next dial.
func TestDashboardFailedDialKeepsOfflineTime(t *testing.T) {
	s := startTmux(t, 160, 48, "--data-dir", t.TempDir(), "--difficulty", "8", "--listen", "", "--threads", "1",
		"--peer", "127.0.0.1:1")
	s.waitScreen(20*time.Second, "Peers", "127.0.0.1:1")
	s.keys("Tab")
	s.waitScreen(5*time.Second, "peer detail")
	s.keys("z") // the peers table alone, with room for its notes
	// Five failures take at least 0.75 × (1+2+4+8) s of backoff after the
	// first: the peer has been offline for over 11 s.
	scr := s.waitScreen(40*time.Second, "5 failed dials")
	rows := paneLines(scr, "127.0.0.1:1")
	if len(rows) != 1 {
		t.Fatalf("want one row for 127.0.0.1:1; screen:\n%s", scr)
	}
	row := rows[0]
	if strings.Contains(row, "just now") || !strings.Contains(row, "s ago") {
		t.Errorf("the changed time restarted at a redial: %q", row)
	}
	if !strings.Contains(row, "refused: nothing listens there") {
		t.Errorf("the row does not say why the dial failed: %q", row)
	}
	if !strings.Contains(row, "next try in") && !strings.Contains(row, "dialing now") {
		t.Errorf("the row does not say when the next dial is: %q", row)
	}
	if !strings.Contains(row, "offline") {
		t.Errorf("a peer being redialled is not shown offline: %q", row)
	}
	s.keys("Enter")
	s.waitScreen(10*time.Second, "Peer 127.0.0.1:1", "last error", "refused: nothing listens there", "next dial", "failed dials")
	s.keys("Escape")
	s.waitScreen(5*time.Second, "peer detail")
	s.keys("q")
	s.waitExit(15 * time.Second)
}

// TestDashboardForgetStaysForgotten (issue 11.16): x on a peer added by
// mistake, confirmed, removes it; after a restart it is not back although
// it still answers.
func TestDashboardForgetStaysForgotten(t *testing.T) {
	b := startHeadless(t, "--data-dir", t.TempDir(), "--difficulty", "8", "--listen", "127.0.0.1:0", "--threads", "1")
	bAddr := b.waitFor("started", 30*time.Second, nil)["listen"].(string)
	dir := t.TempDir()
	// No listen address: b cannot dial us back, so only our book brings it.
	args := []string{"--data-dir", dir, "--difficulty", "8", "--listen", "", "--threads", "1"}
	s := startTmux(t, 160, 48, args...)
	s.waitScreen(20*time.Second, "no peers yet")
	s.keys("a")
	s.waitScreen(5*time.Second, "enter connect")
	s.typeText(bAddr)
	s.keys("Enter")
	s.waitScreen(15*time.Second, "added peer")
	s.keys("Tab")
	s.waitScreen(15*time.Second, "peer detail", "Peers 1/1 online")
	s.keys("x")
	s.waitScreen(5*time.Second, "forget "+bAddr+"?")
	s.keys("y")
	scr := s.waitScreen(15*time.Second, "forgotten", "no peers yet")
	if !strings.Contains(scr, bAddr+" removed from the address book") {
		t.Errorf("no forgotten event in the events pane:\n%s", scr)
	}
	s.keys("q")
	s.waitExit(15 * time.Second)

	// Restarted: the book is read from the store. Adding another address
	// and seeing its dial fail shows the table has been read since.
	s = startTmux(t, 160, 48, args...)
	s.waitScreen(20*time.Second, "Peers")
	s.keys("a")
	s.waitScreen(5*time.Second, "enter connect")
	s.typeText("127.0.0.1:1")
	s.keys("Enter")
	scr = s.waitScreen(20*time.Second, "refused: nothing listens there")
	if strings.Contains(scr, bAddr) {
		t.Errorf("%s is back after a restart:\n%s", bAddr, scr)
	}
	s.keys("Escape")
	s.waitScreen(5*time.Second, "t fork tree")
	s.keys("q")
	s.waitExit(15 * time.Second)
}
