package main

import (
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
