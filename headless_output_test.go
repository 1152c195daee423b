package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockedWriter is a standard output nobody reads until release is closed.
type blockedWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestHeadlessOutputNeverWaitsForStdout(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	out := newLineWriter(w, 4096)
	written := make(chan struct{})
	go func() { defer close(written); out.run() }()
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		for i := 0; i < 10000; i++ {
			out.writeJSON(map[string]any{"event": "block_accepted", "height": i})
		}
	}()
	select {
	case <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("writing events waited for a standard output that is not read")
	}
	close(w.release)
	out.close()
	select {
	case <-written:
	case <-time.After(10 * time.Second):
		t.Fatal("the output goroutine did not finish")
	}
	var kept, dropped int
	for _, line := range strings.Split(strings.TrimSpace(w.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch m["event"] {
		case "block_accepted":
			kept++
		case "output_dropped":
			dropped += int(m["lines"].(float64))
		}
	}
	if kept+dropped != 10000 || dropped == 0 {
		t.Fatalf("%d lines written and %d reported dropped, want 10000 in all with some dropped", kept, dropped)
	}
}

// writesRecorder keeps each Write apart.
type writesRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *writesRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestHeadlessOutputWritesWholeLines: lines go out in order, several to a
// write, each write whole lines of at most 4 KiB (what a pipe does not
// split), a longer line a write of its own.
func TestHeadlessOutputWritesWholeLines(t *testing.T) {
	w := &writesRecorder{}
	out := newLineWriter(w, 1<<24)
	for i := range 2000 {
		msg := strings.Repeat("m", i%400)
		if i == 777 {
			msg = strings.Repeat("L", 10000)
		}
		out.writeJSON(map[string]any{"event": "block_accepted", "height": i, "message": msg})
	}
	out.close()
	out.run()
	next := 0
	for _, p := range w.writes {
		if len(p) == 0 || p[len(p)-1] != '\n' {
			t.Fatalf("a write that does not end a line: %.80q", p)
		}
		lines := strings.Split(strings.TrimSuffix(string(p), "\n"), "\n")
		if len(p) > pipeAtomic && len(lines) > 1 {
			t.Fatalf("a write of %d bytes holds %d lines: more than %d bytes in pieces", len(p), len(lines), pipeAtomic)
		}
		for _, line := range lines {
			var m struct{ Height int }
			if err := json.Unmarshal([]byte(line), &m); err != nil || m.Height != next {
				t.Fatalf("line %d: height %d, %v", next, m.Height, err)
			}
			next++
		}
	}
	if next != 2000 || len(w.writes) > 2000/4 {
		t.Fatalf("%d lines in %d writes, want 2000 lines in a few hundred writes", next, len(w.writes))
	}
}
