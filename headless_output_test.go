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
