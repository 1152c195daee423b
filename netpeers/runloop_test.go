package netpeers

import (
	"context"
	"strings"
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

// TestPeerSetHammered changes and reads the peer set from many goroutines
// at once, under -race: 200 sessions online, 4 goroutines bringing more
// online and dropping them, and others calling Peers, Broadcast, Send,
// MarkUseful, Penalize and Disconnect. Every session's online and offline
// events must alternate, online first, and once the peers have gone the
// set, the book's online entries and the connections are empty.
func TestPeerSetHammered(t *testing.T) {
	const steady = 200
	s, h := startServer(t, manyPeersConfig())
	var conns []*websocket.Conn
	for range steady {
		c, err := toolPeer(t, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		drain(c)
		conns = append(conns, c)
	}
	waitFor(t, 60*time.Second, "the steady peers online", func() bool { return len(onlinePeers(s)) >= steady })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	run := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		}()
	}
	var churned, penalised, disconnected atomic.Int64
	for range 4 {
		run(func(int) {
			c, err := toolPeer(t, s.Addr())
			if err != nil {
				return
			}
			churned.Add(1)
			_ = c.CloseNow()
		})
	}
	run(func(int) { _ = s.Peers() })
	// Broadcasts at 200 a second: as fast as it can, 200 writers would take
	// both cores and little else would run.
	pace := time.NewTicker(5 * time.Millisecond)
	defer pace.Stop()
	run(func(i int) {
		select {
		case <-pace.C:
		case <-stop:
			return
		}
		s.Broadcast(Tip{Height: uint64(i), Tip: testGenesis, Work: "1"}, "")
	})
	var targets []PeerInfo
	run(func(i int) {
		if i%20 == 0 {
			targets = onlinePeers(s)
		}
		if len(targets) == 0 {
			return
		}
		p := targets[i%len(targets)]
		_ = s.Send(p.NodeID, Ping{Nonce: uint64(i)})
		s.MarkUseful(p.NodeID)
		switch i % 50 {
		case 7:
			s.Penalize(p.NodeID, "hammer")
			penalised.Add(1)
		case 31:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if s.Disconnect(ctx, p.Addr) == nil {
				disconnected.Add(1)
			}
			cancel()
		}
	})
	time.Sleep(3 * time.Second) // how long the hammering lasts, not a synchronisation
	close(stop)
	wg.Wait()
	t.Logf("%d sessions churned, %d penalties, %d disconnects", churned.Load(), penalised.Load(), disconnected.Load())

	for _, c := range conns {
		_ = c.CloseNow()
	}
	waitFor(t, 60*time.Second, "every session gone", func() bool {
		return len(onlinePeers(s)) == 0 && len(s.peerSet().list) == 0 && s.liveConns.Load() == 0
	})
	// Detach queued each session's offline before the set emptied; the
	// dispatcher hands the queue to the handler on its own goroutine, so
	// wait until it has delivered every offline (a lost one times out).
	stillOnline := func() int {
		on := map[string]int{}
		for _, ev := range h.eventLog() {
			switch ev.Kind {
			case PeerOnline:
				on[ev.Peer.ID]++
			case PeerOffline:
				on[ev.Peer.ID]--
			}
		}
		n := 0
		for _, c := range on {
			if c != 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for stillOnline() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the handler's log; the dispatcher has no wait for it
	}
	online := map[string]bool{}
	var onlines int
	for _, ev := range h.eventLog() {
		switch ev.Kind {
		case PeerOnline:
			if online[ev.Peer.ID] {
				t.Fatalf("%s online twice without an offline between", ev.Peer.ID)
			}
			online[ev.Peer.ID] = true
			onlines++
		case PeerOffline:
			if !online[ev.Peer.ID] {
				t.Fatalf("%s offline while not online", ev.Peer.ID)
			}
			delete(online, ev.Peer.ID)
		}
	}
	if onlines < steady {
		t.Errorf("%d sessions came online, want at least %d", onlines, steady)
	}
	for id := range online {
		t.Errorf("%s still online in the events after every session ended", id)
	}
}

// TestStuckWriterDoesNotStallLoop: a peer that reads nothing has a
// session whose writer is stuck in a write with megabytes queued behind
// it. Meanwhile the peer loop answers Peers, attaches and detaches other
// sessions and takes a penalty, and Broadcast returns.
func TestStuckWriterDoesNotStallLoop(t *testing.T) {
	cfg := testConfig()
	cfg.OfflineAfter = 2 * time.Minute // the stuck write does not time out during the test
	s, h := startServer(t, cfg)
	stalled := onlineRaw(t, s, h) // never reads
	ss := s.peerSet().byID[stalled.id]
	if ss == nil {
		t.Fatal("the stalled peer is not in the set")
	}
	pad := strings.Repeat("a", 128<<10)
	for i := 0; ss.queuedBytes() < 4<<20; i++ {
		if i == 200 { // 25 MiB: below the queue's bound, above any socket buffer
			t.Fatalf("%d bytes queued after %d frames of 128 KiB to a peer that reads nothing", ss.queuedBytes(), i)
		}
		if err := s.Send(stalled.id, Tip{Height: uint64(i), Tip: pad, Work: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s waits on the stuck session", what)
		}
	}
	within("Peers", func() {
		if info, ok := peerInfo(s, stalled.id); !ok || info.Status != StatusOnline {
			t.Errorf("the stalled peer in Peers: %+v (found %v)", info, ok)
		}
	})
	within("Broadcast", func() { s.Broadcast(Tip{Height: 1, Tip: testGenesis, Work: "1"}, "") })
	other := onlineRaw(t, s, h) // attached by the loop
	other.answerPings()
	third := onlineRaw(t, s, h)
	within("Penalize", func() { s.Penalize(third.id, "test") })
	h.waitEvent(t, 20*time.Second, "the penalised peer offline", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == third.id
	})
	_ = other.c.CloseNow()
	h.waitEvent(t, 20*time.Second, "the other peer offline", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == other.id
	})
	if ss.queuedBytes() == 0 || ss.closing.Load() {
		t.Fatalf("the stalled session is no longer stuck (%d bytes queued, closing %v): the test proved nothing",
			ss.queuedBytes(), ss.closing.Load())
	}
	_ = stalled.c.CloseNow()
	h.waitEvent(t, 30*time.Second, "the stalled peer offline", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == stalled.id
	})
}
