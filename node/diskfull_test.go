package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and unmounts
// it when the test ends. It skips the test where mounting is not allowed
// (not root, no CAP_SYS_ADMIN, no mount binary).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a small tmpfs to fill needs root")
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dk", size/1024), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("skipped: cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a filler file until the file system has no room left,
// then gives back room bytes of it.
func fillDisk(t *testing.T, dir string, room int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("fill %s: %v", path, err)
		}
		if err := f.Truncate(max(size-room, 0)); err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// bigText is a message near the 4096-byte limit, so each block and each
// pending record needs fresh pages of the store.
func bigText(i int) string {
	head := fmt.Sprintf("message %d ", i)
	return head + strings.Repeat("x", 4000-len(head))
}

// fullDiskDifficulty makes mining slow enough (about 2^18 attempts a block)
// that posts outrun it, so messages are still pending when the disk fills.
const fullDiskDifficulty = 18

// TestFullDiskLosesNoAcknowledgedMessage posts large messages to a node on
// a nearly full disk until it stops on a store error, then makes room,
// restarts it and checks that every acknowledged message (Post returned
// nil) is mined exactly once. The node used to keep the block it failed to
// store in its index, take the pending message for mined, and delete it (a
// delete still fits on a full disk) before it stopped.
func TestFullDiskLosesNoAcknowledgedMessage(t *testing.T) {
	mnt := mountTmpfs(t, 1<<20)
	dir := filepath.Join(mnt, "data")
	nd, err := Open(Config{DataDir: dir, Difficulty: fullDiskDifficulty, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	filler := fillDisk(t, mnt, 96<<10)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx) }()
	<-nd.Started()
	// Post until the disk is full (or the node stops first, on a block):
	// 200 posts fill the room many times over. Posts outrun the miner, so
	// acknowledged messages are pending when the space runs out.
	var acked []string
	stopped := false
	for i := 0; i < 200 && !stopped; i++ {
		text := bigText(i)
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := nd.Post(pctx, text)
		pcancel()
		switch {
		case err == nil:
			acked = append(acked, text)
		case strings.Contains(err.Error(), "no space left"), strings.Contains(err.Error(), "stopping"):
			stopped = true
		}
	}
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the node did not stop on a full disk within 30 s (%d posts acknowledged)", len(acked))
	}
	if runErr == nil || !strings.Contains(runErr.Error(), "no space left") {
		t.Fatalf("Run returned %v, want a store error saying the disk is full", runErr)
	}
	t.Logf("%d posts acknowledged, then the node stopped: %v", len(acked), runErr)

	// Room again: every acknowledged message is on the chain or pending,
	// and is mined exactly once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	again := startNode(t, "after room", withDataDir(dir), withoutListen(),
		func(c *Config) { c.Difficulty = fullDiskDifficulty })
	// Idle is said at start when nothing is pending, else once all is mined.
	again.waitFor("mining idle", 30*time.Second, isKind("mining_idle"))
	got := map[string]int{}
	for _, m := range bestMessages(t, again.Node) {
		got[m]++
	}
	for i, text := range acked {
		if got[text] != 1 {
			t.Errorf("acknowledged message %d of %d is on the chain %d times, want once", i, len(acked), got[text])
		}
	}
}
