package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
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

// freePort is a loopback address nothing listens on at the moment.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestVerifyAndExportWhileTheNodeRuns (issue 11.6): the running node holds
// the store's lock, so verify and export read the chain through it (its
// /get-blockchaindata on the configured listen address), checked to be the
// directory's own node by its wallet; another node on that address is
// refused.
func TestVerifyAndExportWhileTheNodeRuns(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	p := startHeadless(t, "--data-dir", dir, "--difficulty", "8", "--listen", listen, "--threads", "1")
	p.waitFor("started", 30*time.Second, nil)
	p.post("one", "two", "three")
	var hashes []string
	for len(hashes) < 3 {
		hashes = append(hashes, p.waitFor("block_mined", 30*time.Second, nil)["hash"].(string))
	}

	out, code := runCmd(t, "", "verify", "--data-dir", dir, "--listen", listen)
	if code != 0 || !strings.Contains(out, "ok: 3 blocks, tip "+hashes[2]) || !strings.Contains(out, "a node is running on it") {
		t.Fatalf("verify on a live node: exit %d\n%s", code, out)
	}
	out, code = runCmd(t, "", "export", "--data-dir", dir, "--listen", listen)
	if code != 0 {
		t.Fatalf("export on a live node: exit %d\n%s", code, out)
	}
	var cd struct {
		WalletAuthor   string
		BlockChainData []struct {
			Hash string `json:"hash"`
		}
	}
	if err := json.Unmarshal([]byte(out), &cd); err != nil || len(cd.BlockChainData) != 4 || cd.BlockChainData[3].Hash != hashes[2] {
		t.Fatalf("export on a live node: %v\n%s", err, out)
	}

	// Another node's address: not this directory's chain.
	other := startHeadless(t, "--data-dir", t.TempDir(), "--difficulty", "8", "--listen", "127.0.0.1:0", "--threads", "1")
	otherAddr := other.waitFor("started", 30*time.Second, nil)["listen"].(string)
	out, code = runCmd(t, "", "verify", "--data-dir", dir, "--listen", otherAddr)
	if code == 0 || !strings.Contains(out, "is not the one using") {
		t.Fatalf("verify read another node's chain (exit %d):\n%s", code, out)
	}
	// No listen address to read through: say what to do.
	out, code = runCmd(t, "", "export", "--data-dir", dir, "--listen", "")
	if code == 0 || !strings.Contains(out, "in use by a running node") || !strings.Contains(out, "--listen") {
		t.Fatalf("export with no address (exit %d):\n%s", code, out)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	other.cmd.Process.Signal(syscall.SIGTERM)
	other.cmd.Wait()

	// Stopped: read from the store again, the same chain.
	out, code = runCmd(t, "", "verify", "--data-dir", dir, "--listen", listen)
	if code != 0 || !strings.Contains(out, "ok: 3 blocks, tip "+hashes[2]) || strings.Contains(out, "running") {
		t.Fatalf("verify after the node stopped: exit %d\n%s", code, out)
	}
}

// TestVerifyAndExportOnReadOnlyDataDir (issue 11.6): a data directory that
// cannot be written (a read-only mount, or no write permission) is verified
// and exported without writing to it.
func TestVerifyAndExportOnReadOnlyDataDir(t *testing.T) {
	dir := t.TempDir()
	p := startHeadless(t, "--data-dir", dir, "--difficulty", "8", "--listen", "", "--threads", "1")
	p.waitFor("started", 30*time.Second, nil)
	p.post("read me later")
	hash := p.waitFor("block_mined", 30*time.Second, nil)["hash"].(string)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatal(err)
	}

	ro := dir
	if os.Geteuid() == 0 {
		// Root writes through permissions: mount the directory read-only.
		ro = filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "--bind", "-o", "ro", dir, ro).CombinedOutput(); err != nil {
			t.Skipf("running as root and cannot make a read-only bind mount (%v: %s); permissions do not stop root", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", ro).Run() })
	} else {
		if err := os.Chmod(filepath.Join(dir, "chain.db"), 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	}
	if f, err := os.Create(filepath.Join(ro, "probe")); err == nil {
		f.Close()
		t.Fatalf("%s is writable; the test would prove nothing", ro)
	}
	before := listing(t, ro)
	out, code := runCmd(t, "", "verify", "--data-dir", ro)
	if code != 0 || !strings.Contains(out, "ok: 1 blocks, tip "+hash) {
		t.Fatalf("verify on a read-only data dir: exit %d\n%s", code, out)
	}
	out, code = runCmd(t, "", "export", "--data-dir", ro)
	if code != 0 || !strings.Contains(out, hash) {
		t.Fatalf("export on a read-only data dir: exit %d\n%s", code, out)
	}
	if after := listing(t, ro); after != before {
		t.Errorf("the directory changed:\nbefore %s\nafter  %s", before, after)
	}
}

// listing is a directory's file names, sizes and times, to see it unchanged.
func listing(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %v; ", e.Name(), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}
