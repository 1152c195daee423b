//go:build !linux

package node

// yieldCPU is sched_yield where the node knows it (Linux); elsewhere the
// relay goes on without it.
func yieldCPU() {}
