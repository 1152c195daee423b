package netpeers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/internal/attackfig"
)

// Every inbound place taken by a completed session no longer locks out
// newcomers and downloads: a newcomer evicts an unprotected session (never
// the one that proved useful, nor the oldest), and /get-blockchaindata has
// places of its own.
func TestFullInboundEvictsForNewcomer(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInbound = 8
	cfg.MaxInboundLocal = 8 // as by default, loopback's own limit is no lower
	cfg.OfflineAfter = 30 * time.Second
	s, h := startServer(t, cfg)
	m := attackfig.Start(fmt.Sprintf("every inbound place (%d) taken, then newcomers", cfg.MaxInbound))
	var in []*rawPeer
	for i := 0; i < cfg.MaxInbound-1; i++ {
		r := onlineRaw(t, s, h)
		r.answerPings()
		in = append(in, r)
	}
	// The youngest, but it delivered a block: the honest peer whose pings
	// are timed.
	useful := honestPings(t, s, h, m)
	in = append(in, useful)
	s.MarkUseful(useful.id)

	dl := dialRaw(t, s.Addr(), "/get-blockchaindata")
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, data, err := dl.c.Read(dctx); err != nil || !strings.Contains(string(data), "BlockChainData") {
		t.Fatalf("chain data with every peer place taken: %q, %v", data, err)
	}

	evictions := func() map[string]bool {
		out := map[string]bool{}
		for _, ev := range h.eventLog() {
			if ev.Kind == PeerOffline && strings.Contains(ev.Reason, "evicted") {
				out[ev.Peer.ID] = true
			}
		}
		return out
	}
	for i := 0; i < 4; i++ {
		r := onlineRaw(t, s, h)
		r.send(Ping{Nonce: uint64(i)})
		r.expectPong(uint64(i), 5*time.Second, "newcomer not served")
		r.answerPings()
		waitFor(t, 10*time.Second, "an eviction per newcomer", func() bool { return len(evictions()) == i+1 })
	}
	t.Log(m.Report())
	evicted := evictions()
	if evicted[useful.id] {
		t.Error("the peer that delivered a block was evicted")
	}
	if evicted[in[0].id] {
		t.Error("the oldest peer was evicted")
	}
	s.mu.Lock()
	n := s.inTotal
	s.mu.Unlock()
	if n > cfg.MaxInbound {
		t.Errorf("%d inbound sessions, limit %d", n, cfg.MaxInbound)
	}
}

// Connections that upgrade and never send hello, opened as fast as the
// client can, do not keep honest newcomers out: they wait in places of
// their own, and the oldest of them make room.
func TestPendingFloodDoesNotStarveNewcomers(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInbound = 8
	cfg.OfflineAfter = 30 * time.Second
	cfg.HandshakeTimeout = time.Minute // only eviction frees a pending place
	s, h := startServer(t, cfg)
	m := attackfig.Start("upgrades that never send hello, 3 clients as fast as they can")
	honestPings(t, s, h, m)
	for i := 0; i < cfg.MaxInbound-2; i++ {
		onlineRaw(t, s, h)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var flood []*websocket.Conn
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				c, _, err := websocket.Dial(dctx, "ws://"+s.Addr()+"/", nil)
				cancel()
				if err != nil {
					continue
				}
				mu.Lock()
				flood = append(flood, c)
				mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		for _, c := range flood {
			_ = c.CloseNow()
		}
	})
	// Let the flood run first.
	waitFor(t, 10*time.Second, "100 idle connections", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(flood) >= 100
	})
	redials := 0
	for i := 0; i < 5; i++ {
		redials += joinDuringFlood(t, s, 3) - 1
	}
	m.End()
	stop()
	wg.Wait()
	mu.Lock()
	t.Logf("%d connections upgraded without hello during the flood; the 5 newcomers needed %d redials", len(flood), redials)
	for _, c := range flood {
		_ = c.CloseNow()
	}
	mu.Unlock()
	t.Log(m.Report())
}

// joinDuringFlood connects a newcomer, proves its id and has a ping
// answered; it returns how many connections that took. Until its hello is
// read, a newcomer looks like any idle connection, so one closed before
// it went online (a flood outpaced the reading of its hello) dials again,
// as a node's dialer would, up to tries times. Once its hello is read it
// is not closed for idle ones (TestNewcomerMidHandshakeIsNotEvictedByIdleUpgrades).
func joinDuringFlood(t *testing.T, s *Server, tries int) int {
	t.Helper()
	for try := 1; try <= tries; try++ {
		r := dialRaw(t, s.Addr(), "/")
		err := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			write := func(f any) error {
				data, err := Encode(f)
				if err != nil {
					t.Fatal(err)
				}
				return r.c.Write(ctx, websocket.MessageText, data)
			}
			read := func() (Frame, error) {
				_, data, err := r.c.Read(ctx)
				if err != nil {
					return nil, err
				}
				return Decode(data)
			}
			if err := write(r.hello("")); err != nil {
				return err
			}
			f, err := read()
			if err != nil {
				return err
			}
			srv, ok := f.(Hello)
			if !ok {
				t.Fatalf("first frame %#v, want hello", f)
			}
			if err := write(r.authFrame(srv)); err != nil {
				return err
			}
			if err := write(Ping{Nonce: 7}); err != nil {
				return err
			}
			for {
				f, err := read()
				if err != nil {
					return err
				}
				if p, ok := f.(Pong); ok && p.Nonce == 7 {
					return nil
				}
			}
		}()
		if err == nil {
			return try
		}
		t.Logf("newcomer closed before it was served (try %d): %v", try, err)
		_ = r.c.CloseNow()
	}
	t.Fatalf("a newcomer was not served in %d connections during the flood", tries)
	return 0
}

// A newcomer whose hello has arrived is working through its handshake:
// more idle upgrades than there are pending places, arriving while it
// proves its id (a slow link, a loaded machine), close idle connections,
// not it. TestPendingFloodDoesNotStarveNewcomers failed about 1 run in 20
// under -race on a loaded machine this way; here the flood comes at that
// moment every time.
func TestNewcomerMidHandshakeIsNotEvictedByIdleUpgrades(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInbound = 8
	cfg.HandshakeTimeout = time.Minute // only eviction frees a pending place
	s, h := startServer(t, cfg)
	pendingCap := 4 * cfg.MaxInbound // MaxPendingInbound's default

	before := s.handshakes.Load()
	r := dialRaw(t, s.Addr(), "/")
	r.authed = true // its auth frame waits until the flood has come
	r.send(r.hello(""))
	srv := r.expectHello()
	waitFor(t, 10*time.Second, "the newcomer's hello read", func() bool { return s.handshakes.Load() > before })

	var idle []*websocket.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			_ = c.CloseNow()
		}
	})
	for range pendingCap + 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/", nil)
		cancel()
		if err != nil {
			t.Fatalf("idle upgrade: %v", err)
		}
		idle = append(idle, c)
	}
	r.send(r.authFrame(srv))
	h.waitOnline(t, r.id)
	r.send(Ping{Nonce: 9})
	r.expectPong(9, 5*time.Second, "newcomer not served after the idle upgrades")
}

// nonLoopbackIP is an address of this machine that is not loopback, so that
// a connection to it comes from a non-loopback IP; tests that need one skip
// without it.
func nonLoopbackIP(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() && !p.Addr().IsLinkLocalUnicast() {
			return p.Addr()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return netip.Addr{}
}

// Upgrades from one non-loopback IP are rate limited; loopback is not.
func TestUpgradeRateLimitedPerIP(t *testing.T) {
	ip := nonLoopbackIP(t)
	cfg := testConfig()
	cfg.Listen = netip.AddrPortFrom(ip, 0).String()
	cfg.UpgradeRate, cfg.UpgradeBurst = 0.01, 3
	s, _ := startServer(t, cfg)
	for i := 0; i < cfg.UpgradeBurst; i++ {
		dialRaw(t, s.Addr(), "/").expectHello()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/", nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("upgrade above the rate accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("refusal %v %v, want HTTP 429", resp, err)
	}

	local, _ := startServer(t, func() Config { c := testConfig(); c.UpgradeRate, c.UpgradeBurst = 0.01, 3; return c }())
	for i := 0; i < 3*cfg.UpgradeBurst; i++ {
		dialRaw(t, local.Addr(), "/").expectHello()
	}
}

// An unproven session's fault costs its own IP, when that is not loopback,
// and never the node id it claimed.
func TestUnprovenFaultCostsItsIP(t *testing.T) {
	ip := nonLoopbackIP(t)
	cfg := testConfig()
	cfg.Listen = netip.AddrPortFrom(ip, 0).String()
	s, h := startServer(t, cfg)
	named, _ := newIdentity()
	r := dialRawAnon(t, s.Addr(), "/")
	r.id = NodeIDOf(named.PubKey())
	r.send(r.hello(""))
	r.expectHello()
	r.sendRaw([]byte("[]"))
	r.expectErrorThenClose(ReasonMalformedFrame+": ", websocket.StatusPolicyViolation)
	h.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool { return ev.Kind == PeerPenalized })
	s.mu.Lock()
	_, idBanned := s.bannedLocked(r.id, "", netip.Addr{}, time.Now())
	_, ipBanned := s.bannedLocked("", "", ip, time.Now())
	s.mu.Unlock()
	if idBanned {
		t.Error("the claimed node id is refused")
	}
	if !ipBanned {
		t.Error("the offender's IP is not refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, resp, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/", nil); err == nil {
		_ = c.CloseNow()
		t.Error("the refused IP got in again")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("refusal %v %v, want HTTP 403", resp, err)
	}
}

// Peers that ask and never read cannot together hold more than the bound
// on all queued bytes: above it the peer with most queued is dropped.
func TestQueuedBytesBoundedAcrossPeers(t *testing.T) {
	const total = 8 << 20
	h := newTestHandler()
	cfg := testConfig()
	cfg.OfflineAfter = 30 * time.Second
	s, _ := startServerWith(t, cfg, h, func(s *Server) { s.totalQueueLimit = total })
	m := attackfig.Start("3 peers that never read, 48 MiB of answers asked")
	honestPings(t, s, h, m)
	var stalled []*rawPeer
	for i := 0; i < 3; i++ {
		stalled = append(stalled, onlineRaw(t, s, h)) // never read again
	}
	big := Tip{Height: 1, Tip: strings.Repeat("a", 1<<20), Work: "1"}
	frame, _ := Encode(big)
	dropped := 0
	for i := 0; i < 16; i++ {
		for _, r := range stalled {
			if err := s.Send(r.id, big); errors.Is(err, ErrQueueFull) {
				dropped++
			}
			if q := s.queuedTotal.Load(); q > total+int64(len(frame)) {
				t.Fatalf("%d bytes queued for all peers, bound %d", q, total)
			}
		}
	}
	if dropped == 0 {
		t.Fatal("no peer dropped with 48 MiB asked of three that read nothing")
	}
	h.waitEvent(t, 10*time.Second, "a stalled peer dropped", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && strings.Contains(ev.Reason, "queue full")
	})
	m.End()
	for _, r := range stalled {
		_ = r.c.CloseNow()
	}
	t.Log(m.Report())
}

// A peer sending pings faster than its pongs can leave is penalised, with
// an event, not dropped in silence.
func TestPingFloodPenalised(t *testing.T) {
	cfg := testConfig()
	cfg.OfflineAfter = 30 * time.Second
	s, h := startServer(t, cfg)
	m := attackfig.Start(fmt.Sprintf("%d pings from a peer that reads nothing", 4*prioQueue))
	honestPings(t, s, h, m)
	r := onlineRaw(t, s, h)
	// The peer reads nothing: answers pile up until the writer blocks.
	big := Tip{Height: 1, Tip: strings.Repeat("a", 1<<20), Work: "1"}
	for i := 0; i < 24; i++ {
		if err := s.Send(r.id, big); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 4*prioQueue; i++ {
		r.send(Ping{Nonce: uint64(i)})
	}
	ev := h.waitEvent(t, 10*time.Second, "the flooder penalised", func(ev PeerEvent) bool {
		return ev.Kind == PeerPenalized && ev.Peer.ID == r.id
	})
	if !strings.HasPrefix(ev.Reason, ReasonFlood+": ") {
		t.Errorf("penalised for %q, want %s", ev.Reason, ReasonFlood)
	}
	m.End()
	_ = r.c.CloseNow()
	t.Log(m.Report())
}
