//go:build !linux

package node

// lowerThreadPriority does nothing outside Linux, where setpriority does not
// address single threads; yielding between chunks still keeps the
// process's own goroutines quick.
func lowerThreadPriority() (tid int, err error) { return 0, nil }

// onMainThread is false where thread priorities are not lowered: no thread
// needs sparing.
func onMainThread() bool { return false }
