package node

import (
	"fmt"
	"syscall"
)

// minerNice is the nice value of mining threads: a tenth of a normal
// thread's CPU weight, so that the dashboard, the terminal showing it and
// the network preempt mining as soon as they wake. Not the lowest (19,
// a seventieth): keypress latency measured the same in tmux with either
// (median 21-31 ms, p90 41-60 ms on a machine at load 12), and at 19 a
// node sharing a busy machine, or a test run, can be starved of blocks.
const minerNice = 10

// lowerThreadPriority sets the calling OS thread's nice value to minerNice.
// On Linux, setpriority with PRIO_PROCESS and a thread id applies to that
// thread alone. The caller must be locked to its thread.
func lowerThreadPriority() (tid int, err error) {
	tid = syscall.Gettid()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, minerNice); err != nil {
		return tid, fmt.Errorf("lower mining thread %d to nice %d: %w", tid, minerNice, err)
	}
	return tid, nil
}

// onMainThread reports whether the calling goroutine runs on the process's
// main thread, whose id is the process id.
func onMainThread() bool { return syscall.Gettid() == syscall.Getpid() }
