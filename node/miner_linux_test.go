package node

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// niceOf reads a thread's nice value from /proc/self/task/<tid>/stat: the
// 19th field, counted after the command name in parentheses (which may
// itself hold spaces).
func niceOf(t *testing.T, tid int) int {
	t.Helper()
	path := "/proc/self/task/" + strconv.Itoa(tid) + "/stat"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state), so field 19 (nice) is fields[16].
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		t.Fatalf("%s: nice field %q: %v", path, fields[16], err)
	}
	return n
}

func TestMiningThreadsRunNiced(t *testing.T) {
	// This goroutine keeps a thread of its own: a thread that does not mine,
	// whose priority must not change.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, main := syscall.Gettid(), syscall.Getpid()
	before, mainBefore := niceOf(t, self), niceOf(t, main)
	tids, errs := startMining(t, 2)
	seen := map[int]bool{}
	for i, tid := range tids {
		if errs[i] != nil {
			t.Fatalf("lowering thread %d: %v", tid, errs[i])
		}
		if seen[tid] {
			t.Fatalf("two mining goroutines on thread %d, want a thread each", tid)
		}
		seen[tid] = true
		if got := niceOf(t, tid); got != minerNice {
			t.Errorf("mining thread %d has nice %d, want %d", tid, got, minerNice)
		}
	}
	// Only the mining threads: others keep their priority, the main thread
	// (which would stay lowered for the process's life) above all.
	if got := niceOf(t, self); got != before {
		t.Errorf("a thread that does not mine has nice %d while mining, want %d as before", got, before)
	}
	if seen[main] {
		t.Errorf("a mining goroutine runs on the main thread %d", main)
	}
	if got := niceOf(t, main); got != mainBefore {
		t.Errorf("the main thread has nice %d while mining, want %d as before", got, mainBefore)
	}
}
