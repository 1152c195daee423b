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
