package netpeers

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The dialling side sends its hello at once, without waiting for the
// other side's: a peer that reads before it writes still meets us.
func TestDialerSendsHelloFirst(t *testing.T) {
	s, _ := startServer(t, testConfig())
	peerID := NewNodeID()
	first := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		_, data, err := c.Read(ctx) // nothing written before this
		if err != nil {
			first <- "read failed: " + err.Error()
			return
		}
		first <- string(data)
		hello, _ := Encode(Hello{Version: 1, Genesis: testGenesis, NodeID: peerID, Tip: testGenesis, Work: "0"})
		_ = c.Write(ctx, websocket.MessageText, hello)
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errc <- s.Connect(ctx, ln.Addr().String())
	}()
	var got string
	select {
	case got = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the dialer sent nothing")
	}
	want := fmt.Sprintf(`{"type":"hello","version":1,"genesis":"%s","node_id":"%s","listen":"%s","height":0,"tip":"%s","work":"0","agent":"meshchain/test","node_key":"%s","challenge":"`,
		testGenesis, s.NodeID(), s.Addr(), testGenesis, hex.EncodeToString(s.nodeKey[:]))
	challenge, ok := strings.CutPrefix(got, want)
	if !ok || len(challenge) != 64+2 || !isHex(challenge[:64], 64) || challenge[64:] != `"}` {
		t.Errorf("first frame\n got %s\nwant %s<64 hex>\"}", got, want)
	}
	if err := <-errc; err != nil {
		t.Errorf("Connect: %v", err)
	}
}

// Run owns every goroutine it starts: after many sessions come and go
// (handshakes completed, abandoned, refused, penalised, replaced) and Run
// returns, the process is back to the goroutines it had before.
func TestNoGoroutinesLeftAfterRun(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		peerCfg := testConfig()
		peerCfg.PenaltyTime = time.Millisecond
		// The peer never dials back: case 3 expects each session to be ours.
		peerCfg.RedialMin, peerCfg.RedialMax = time.Hour, time.Hour
		peer, _ := newServerForLeakTest(t, peerCfg)
		cfg := testConfig()
		cfg.PenaltyTime = time.Millisecond
		cfg.MaxInboundLocal = 8
		cfg.RedialMin, cfg.RedialMax = time.Hour, time.Hour // only Connect dials
		s, h := newServerForLeakTest(t, cfg)
		defer peer.stop(t)
		defer s.stop(t)
		for i := 0; i < 40; i++ {
			r := dialRaw(t, s.Addr(), "/")
			switch i % 4 {
			case 0: // a full session, closed by the peer
				r.send(r.hello(""))
				r.expectHello()
				h.waitOnline(t, r.id)
			case 1: // a handshake abandoned
				r.expectHello()
			case 2: // an offence
				r.send(r.hello(""))
				r.expectHello()
				h.waitOnline(t, r.id)
				r.sendRaw([]byte("[]"))
				r.expectErrorThenClose(ReasonMalformedFrame, websocket.StatusPolicyViolation)
			case 3: // a node session, penalised by us
				connect(t, s.Server, peer.Addr())
				h.waitOnline(t, peer.NodeID())
				s.Penalize(peer.NodeID(), "InvalidSignature: test")
				h.waitEvent(t, 5*time.Second, "peer_offline", func(ev PeerEvent) bool {
					return ev.Kind == PeerOffline && ev.Peer.ID == peer.NodeID()
				})
				waitFor(t, 5*time.Second, "the penalty to end", func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					_, banned := s.bannedLocked(peer.NodeID(), peer.Addr(), netip.Addr{}, time.Now())
					return !banned
				})
			}
			_ = r.c.CloseNow()
		}
	}()
	// Goroutines that are ending may still be counted for a moment.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		select {
		case <-tick.C:
		case <-deadline.C:
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines before, %d after Run returned:\n%s", before, runtime.NumGoroutine(), filterStacks(string(buf[:n])))
		}
	}
}

type leakTestServer struct {
	*Server
	cancel context.CancelFunc
	done   chan error
}

func newServerForLeakTest(t *testing.T, cfg Config) (*leakTestServer, *testHandler) {
	t.Helper()
	h := newTestHandler()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return &leakTestServer{Server: s, cancel: cancel, done: done}, h
}

func (l *leakTestServer) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	select {
	case err := <-l.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := l.liveConns.Load(); n != 0 {
		t.Errorf("%d connections open after Run returned", n)
	}
}

// filterStacks keeps the goroutines that are not the test machinery's.
func filterStacks(all string) string {
	var out []string
	for _, g := range strings.Split(all, "\n\n") {
		if !strings.Contains(g, "testing.(*T).Run") && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
