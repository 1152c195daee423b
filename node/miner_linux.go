package node

import (
	"fmt"
	"syscall"
)

// minerNice is the nice value of mining threads: the lowest priority, so
// that anything else on the machine, the terminal showing the dashboard
// included, runs first and mining takes what is left.
const minerNice = 19

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
