package netpeers

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestNormalizeAddr(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1:8333", "127.0.0.1:8333", true},
		{" 127.0.0.1:8333 ", "127.0.0.1:8333", true},
		{"[::1]:8333", "[::1]:8333", true},
		{"[::ffff:127.0.0.1]:8333", "127.0.0.1:8333", true},
		{"Node-1.Example:80", "node-1.example:80", true},
		{"127.0.0.1", "", false},
		{":8333", "", false},
		{"127.0.0.1:0", "", false},
		{"127.0.0.1:65536", "", false},
		{"127.0.0.1:http", "", false},
		{"bad host:1", "", false},
		{"[fe80::1%eth0]:1", "", false},
	}
	for _, tt := range tests {
		got, err := normalizeAddr(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDialableListen(t *testing.T) {
	remote := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		listen, want string
		ok           bool
	}{
		{"0.0.0.0:8333", "192.0.2.7:8333", true},
		{":8333", "192.0.2.7:8333", true},
		{"[::]:8333", "192.0.2.7:8333", true},
		{"192.0.2.7:9000", "192.0.2.7:9000", true},
		// Another host's address is not believed: the port is kept, the
		// host is the one the session comes from.
		{"198.51.100.1:9000", "192.0.2.7:9000", true},
		{"node.example:9000", "192.0.2.7:9000", true},
		{"127.0.0.1:9000", "192.0.2.7:9000", true},
		{"", "", false},
		{"8333", "", false},
		{"0.0.0.0:0", "", false},
	}
	for _, tt := range tests {
		got, ok := dialableListen(tt.listen, remote)
		if ok != tt.ok || got != tt.want {
			t.Errorf("dialableListen(%q) = %q, %v; want %q, %v", tt.listen, got, ok, tt.want, tt.ok)
		}
	}
	// From loopback, where many nodes and tools share the machine, the
	// announced address stands.
	local := netip.MustParseAddr("127.0.0.1")
	for listen, want := range map[string]string{
		"127.0.0.1:9000": "127.0.0.1:9000",
		"127.0.0.2:9000": "127.0.0.2:9000",
		"localhost:9000": "localhost:9000",
		":9000":          "127.0.0.1:9000",
	} {
		if got, ok := dialableListen(listen, local); !ok || got != want {
			t.Errorf("dialableListen(%q) from loopback = %q, %v; want %q", listen, got, ok, want)
		}
	}
}

func TestSelfAddress(t *testing.T) {
	for _, tt := range []struct {
		listen string
		self   []string
		other  []string
	}{
		{"127.0.0.1:0", []string{"127.0.0.1:P", "localhost:P"}, []string{"127.0.0.2:P", "127.0.0.1:Q", "192.0.2.1:P"}},
		{"0.0.0.0:0", []string{"127.0.0.1:P", "127.0.0.2:P", "localhost:P", "0.0.0.0:P"}, []string{"127.0.0.1:Q", "192.0.2.1:P"}},
	} {
		s, err := New(Config{Listen: tt.listen, Genesis: testGenesis, NodeID: NewNodeID()}, newTestHandler())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(s.Addr())
		fill := func(a string) string {
			host, p, _ := net.SplitHostPort(a)
			if p == "P" {
				p = port
			} else {
				p = "1"
			}
			return net.JoinHostPort(host, p)
		}
		s.mu.Lock()
		for _, a := range tt.self {
			if !s.isSelfAddrLocked(fill(a)) {
				t.Errorf("listening on %s: %s not recognised as self", s.Addr(), fill(a))
			}
		}
		for _, a := range tt.other {
			if s.isSelfAddrLocked(fill(a)) {
				t.Errorf("listening on %s: %s taken for self", s.Addr(), fill(a))
			}
		}
		s.mu.Unlock()
		_ = s.ln.Close()
	}
}

func TestBackoffGrowsCappedWithJitter(t *testing.T) {
	s := &Server{cfg: Config{RedialMin: 100 * time.Millisecond, RedialMax: time.Second}}
	for n, base := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 50: time.Second} {
		for i := 0; i < 50; i++ {
			d := s.backoff(n)
			if d < base*3/4 || d > base*5/4 {
				t.Fatalf("backoff(%d) = %v, want %v +-25%%", n, d, base)
			}
		}
	}
}

// TestDelayConn checks both directions of a link-delay wrapper on a real
// loopback connection: bytes arrive whole, in order, and late.
func TestDelayConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const delay = 30 * time.Millisecond
	d := newDelayConn(raw, delay)
	far, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer far.Close()

	// The far end echoes the message, then collects the rest until EOF.
	const size = 200 << 10
	rest := make(chan []byte, 1)
	go func() {
		defer close(rest)
		if _, err := io.CopyN(far, far, size); err != nil {
			return
		}
		b, _ := io.ReadAll(far)
		rest <- b
	}()
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	start := time.Now()
	if _, err := d.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(d, got); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(start); rtt < 2*delay {
		t.Errorf("echo took %v, want at least %v", rtt, 2*delay)
	}
	for i := range msg {
		if got[i] != msg[i] {
			t.Fatalf("byte %d differs", i)
		}
	}
	// Close flushes what is still queued before the far end sees EOF.
	if _, err := d.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if tail := <-rest; string(tail) != "bye" {
		t.Errorf("far end got %q after the echo, want \"bye\"", tail)
	}
	if _, err := d.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}
