package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevnetCreatesDataDir: `devnet --data-dir DIR` makes DIR (and its
// parents) when it does not exist yet, instead of failing on the log file.
func TestDevnetCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	p := startProc(t, binPath, "devnet", "-n", "2", "--headless", "--difficulty", "8", "--data-dir", dir)
	p.waitFor("started", 30*time.Second, nil)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("devnet exit: %v\n%s", err, p.stderrText())
	}
	for _, sub := range []string{"node1", "node2"} {
		if _, err := os.Stat(filepath.Join(dir, sub, "chain.db")); err != nil {
			t.Errorf("%s: %v", sub, err)
		}
	}

	// The dashboard path opens devnet.log in DIR before anything else.
	// Without a terminal it then stops at the TTY, but not at the log.
	dir2 := filepath.Join(t.TempDir(), "new", "dir")
	out, _ := runCmd(t, "", "devnet", "-n", "1", "--difficulty", "8", "--data-dir", dir2)
	if strings.Contains(out, "devnet.log") {
		t.Fatalf("devnet did not create its data dir: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir2, "devnet.log")); err != nil {
		t.Fatal(err)
	}
}

// TestBackupNoticeUntilWordsShown: a first start that fails after making the
// wallet (the port is taken) must not be the only time the user hears of it:
// every start reminds them until they have seen the words once.
func TestBackupNoticeUntilWordsShown(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	out, code := runCmd(t, "", "--headless", "--difficulty", "8", "--data-dir", dir, "--listen", taken.Addr().String())
	if code == 0 {
		t.Fatalf("started on a taken port:\n%s", out)
	}
	start := func() map[string]any {
		p := startHeadless(t, "--difficulty", "8", "--data-dir", dir, "--listen", "127.0.0.1:0")
		ev := p.waitFor("started", 30*time.Second, nil)
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
		return ev
	}
	if ev := start(); ev["backup_words"] != true {
		t.Fatalf("second start does not ask for a backup: %v", ev)
	}
	if out, code := runCmd(t, "", "wallet", "show", "--data-dir", dir); code != 0 || !strings.Contains(out, "wallet show --words") {
		t.Fatalf("wallet show does not point at the words (exit %d):\n%s", code, out)
	}
	if out, code := runCmd(t, "", "wallet", "show", "--words", "--data-dir", dir); code != 0 || !strings.Contains(out, "words:") {
		t.Fatalf("wallet show --words: exit %d\n%s", code, out)
	}
	if ev := start(); ev["backup_words"] != nil {
		t.Fatalf("still asks for a backup after the words were shown: %v", ev)
	}
	// Another difficulty on this data dir names both ways out.
	out, code = runCmd(t, "", "--headless", "--difficulty", "9", "--data-dir", dir, "--listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(out, "use another --data-dir, or --difficulty 8") {
		t.Fatalf("difficulty mismatch (exit %d) does not suggest --difficulty 8:\n%s", code, out)
	}
}

// TestDialFailuresInPlainWords (issue 11.3): a configured peer that cannot
// be reached gives peer_dial_failed events in the headless stream, each
// with the reason in plain words, the attempts so far and the next try, for
// a port nothing listens on and for a name that does not resolve.
func TestDialFailuresInPlainWords(t *testing.T) {
	p := startHeadless(t, "--data-dir", t.TempDir(), "--difficulty", "8", "--listen", "",
		"--peer", "127.0.0.1:1", "--peer", "nosuchhost.invalid:8333")
	p.waitFor("started", 30*time.Second, nil)
	seen := map[string]map[string]any{}
	for len(seen) < 2 {
		ev := p.waitFor("peer_dial_failed", 30*time.Second, nil)
		seen[ev["peer"].(string)] = ev
	}
	for peer, want := range map[string]string{"127.0.0.1:1": "refused", "nosuchhost.invalid:8333": "host not found"} {
		ev := seen[peer]
		if ev == nil {
			t.Fatalf("no peer_dial_failed for %s: %v", peer, seen)
		}
		msg, _ := ev["error"].(string)
		if !strings.Contains(msg, want) {
			t.Errorf("%s: error %q does not say %q", peer, msg, want)
		}
		for _, raw := range []string{"dial tcp", "failed to", "lookup ", "EOF"} {
			if strings.Contains(msg, raw) {
				t.Errorf("%s: error %q is not in plain words (%q)", peer, msg, raw)
			}
		}
		at, err1 := time.Parse(time.RFC3339Nano, ev["time"].(string))
		next, err2 := time.Parse(time.RFC3339, fmt.Sprint(ev["next_try"]))
		if err1 != nil || err2 != nil || next.Before(at.Add(-time.Second)) {
			t.Errorf("%s: next_try %v is not a time after the event's %v", peer, ev["next_try"], ev["time"])
		}
		if n, _ := ev["attempts"].(float64); n < 1 {
			t.Errorf("%s: attempts %v", peer, ev["attempts"])
		}
		if _, ok := ev["seq"].(float64); !ok {
			t.Errorf("%s: no seq: %v", peer, ev)
		}
	}
	// The redial after the backoff fails again, counted.
	again := p.waitFor("peer_dial_failed", 30*time.Second, func(ev map[string]any) bool {
		n, _ := ev["attempts"].(float64)
		return ev["peer"] == "127.0.0.1:1" && n >= 2
	})
	if !strings.Contains(again["error"].(string), "refused") {
		t.Errorf("second failure: %v", again)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}
