package main

import (
	"fmt"
	"os"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
)

// keyTraceEnv names a file in which the dashboard logs, for measuring
// keypress latency (issue 10.2, TestDashboardKeypressLatency), when its
// input arrives, when each key reaches the program's event loop and when
// each frame is written to the terminal. goTraceEnv names a file for a Go
// execution trace (runtime/trace) of the process's whole run (%p in it
// becomes the process id), to see what held a key or a sync up: garbage
// collections, goroutines waiting for a P, the renderer's ticks, pipeline
// stages waiting on each other (go tool trace -d=parsed FILE prints it as
// text).
// Undocumented: tools for developers, not settings.
const (
	keyTraceEnv = "MESHCHAIN_KEYTRACE"
	goTraceEnv  = "MESHCHAIN_GOTRACE"
)

// keyTrace logs one line per stage: the wall clock in microseconds since
// the epoch, the stage (in: bytes read from the terminal; key: a key press
// handed to Update; out: bytes written to the terminal) and a byte count.
// Each line is one write to a file opened for appending, so that a test
// can add its own lines to the same file.
type keyTrace struct {
	mu sync.Mutex
	f  *os.File
}

// startGoTrace starts the Go execution trace MESHCHAIN_GOTRACE asks for;
// stop ends it (the trace is lost if the process exits first).
func startGoTrace() (stop func(), err error) {
	path := os.Getenv(goTraceEnv)
	if path == "" {
		return func() {}, nil
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", goTraceEnv, err)
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", goTraceEnv, err)
	}
	return func() { trace.Stop(); f.Close() }, nil
}

// keyTraceOptions returns the program options that log the terminal's
// input and output to the file named by MESHCHAIN_KEYTRACE, and the log
// for the keys (k.log is a no-op on a nil k); none and nil when unset.
func keyTraceOptions() ([]tea.ProgramOption, *keyTrace, error) {
	path := os.Getenv(keyTraceEnv)
	if path == "" {
		return nil, nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyTraceEnv, err)
	}
	k := &keyTrace{f: f}
	opts := []tea.ProgramOption{tea.WithOutput(tracedOutput{File: os.Stdout, k: k})}
	// The input is wrapped only when it is the terminal the program would
	// read anyway; the wrapper is still a terminal file, so raw mode and
	// the cancelable reader work as without it.
	if term.IsTerminal(os.Stdin.Fd()) {
		opts = append(opts, tea.WithInput(tracedInput{File: os.Stdin, k: k}))
	}
	return opts, k, nil
}

func (k *keyTrace) log(stage string, n int) {
	if k == nil {
		return
	}
	now := time.Now().UnixMicro()
	b := strconv.AppendInt(nil, now, 10)
	b = append(b, ' ')
	b = append(b, stage...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '\n')
	k.mu.Lock()
	_, _ = k.f.Write(b)
	k.mu.Unlock()
}

type tracedInput struct {
	*os.File
	k *keyTrace
}

func (r tracedInput) Read(p []byte) (int, error) {
	n, err := r.File.Read(p)
	if n > 0 {
		r.k.log("in", n)
	}
	return n, err
}

type tracedOutput struct {
	*os.File
	k *keyTrace
}

func (w tracedOutput) Write(p []byte) (int, error) {
	n, err := w.File.Write(p)
	w.k.log("out", n)
	return n, err
}
