package node

import "syscall"

// yieldCPU lets the operating system run another thread that waits for a
// core before this one goes on (sched_yield); on an idle machine it
// returns at once.
func yieldCPU() {
	_, _, _ = syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
