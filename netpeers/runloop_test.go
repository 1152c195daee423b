package netpeers

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/meshchain/meshchain/internal/attackfig"
)

// toolPeer dials addr as a tool without a node key, exchanges hellos and
// returns the connection, online at the server once its PeerOnline event
// has come (the caller waits for it when it must).
func toolPeer(tb testing.TB, addr string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(2 * MaxFrameBytes)
	h := Hello{Version: 1, Genesis: testGenesis, NodeID: NewNodeID(), Tip: testGenesis, Work: "0", Agent: "toolpeer"}
	data, _ := Encode(h)
	if err := c.Write(ctx, websocket.MessageText, data); err != nil {
		_ = c.CloseNow()
		return nil, err
	}
	if _, _, err := c.Read(ctx); err != nil { // the server's hello
		_ = c.CloseNow()
		return nil, err
	}
	return c, nil
}

// drain reads c until it ends, answering pings, as a live peer does.
func drain(c *websocket.Conn) {
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if f, err := Decode(data); err == nil {
				if p, ok := f.(Ping); ok {
					pong, _ := Encode(Pong(p))
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = c.Write(ctx, websocket.MessageText, pong)
					cancel()
				}
			}
		}
	}()
}

// manyPeersConfig lets hundreds of loopback tool sessions in.
func manyPeersConfig() Config {
	cfg := testConfig()
	cfg.PingInterval = time.Second
	cfg.OfflineAfter = 30 * time.Second
	cfg.MaxPeers = 1000
	cfg.MaxInbound = 1000
	cfg.MaxInboundLocal = 1000
	cfg.SendQueue = 32768
	cfg.MaxQueuedTotal = 1 << 30
	return cfg
}

// BenchmarkBroadcast is the cost of Broadcast (a tip frame) to 100 online
// sessions whose peers read: what the caller pays, the writes being the
// sessions' own goroutines'.
func BenchmarkBroadcast(b *testing.B) {
	const peers = 100
	cfg := manyPeersConfig()
	h := newTestHandler()
	s, err := New(cfg, h)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for range peers {
		c, err := toolPeer(b, s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow()
		drain(c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(onlinePeers(s)) < peers {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d peers online", len(onlinePeers(s)), peers)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising
	}
	tip := Status{Height: 7, Tip: testGenesis, Work: "7"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := s.Broadcast(Tip(tip), ""); n != peers {
			b.Fatalf("broadcast reached %d of %d", n, peers)
		}
	}
}

func onlinePeers(s *Server) []PeerInfo {
	var out []PeerInfo
	for _, p := range s.Peers() {
		if p.Status == StatusOnline {
			out = append(out, p)
		}
	}
	return out
}

// TestConnectFloodFigures measures an honest peer's ping round trip while
// eight goroutines bring tool sessions online and drop them as fast as
// they can: every attach and detach is a change of the peer set. Figures
// only (go test -v -run TestConnectFloodFigures); the assertion is that
// the honest session lives through it and every session leaves the set.
func TestConnectFloodFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("figures")
	}
	s, h := startServer(t, manyPeersConfig())
	m := attackfig.Start("connect/disconnect flood, 8 goroutines")
	honestPings(t, s, h, m)
	var sessions atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := toolPeer(t, s.Addr())
				if err != nil {
					continue
				}
				sessions.Add(1)
				_ = c.Close(websocket.StatusNormalClosure, "")
			}
		}()
	}
	time.Sleep(3 * time.Second) // the length of the flood, not a synchronisation
	close(stop)
	wg.Wait()
	m.End()
	f := m.Report()
	t.Logf("%s; %d flood sessions", f, sessions.Load())
	if f.HonestClosed != nil {
		t.Errorf("honest session ended during the flood: %v", f.HonestClosed)
	}
	// The meter's end closed the honest session too.
	waitFor(t, 20*time.Second, "every session gone", func() bool { return len(onlinePeers(s)) == 0 && s.liveConns.Load() == 0 })
}
