package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// readCPUWait reads getrusage and /proc/self/task/*/schedstat.
func readCPUWait() cpuWait {
	c := cpuWait{at: time.Now(), waited: map[string]float64{}}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.used = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/schedstat")
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		wait, _ := strconv.ParseFloat(f[1], 64)
		c.waited[filepath.Base(filepath.Dir(t))] = wait / 1e9
	}
	return c
}
