package netpeers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// closedAddr is a loopback address where nothing listens (any more).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func isDialFailed(addr string) func(PeerEvent) bool {
	return func(ev PeerEvent) bool { return ev.Kind == PeerDialFailed && ev.Peer.Addr == addr }
}

func bookEntry(s *Server, addr string) (PeerInfo, bool) {
	for _, p := range s.Peers() {
		if p.Addr == addr {
			return p, true
		}
	}
	return PeerInfo{}, false
}

// Issue 11.2: redials of a peer that stays offline do not move the time
// its status changed; the last attempt has a time of its own. Issue 11.3:
// each failed attempt is one event, in plain words, with the next try.
func TestRedialOfOfflinePeerKeepsLastChange(t *testing.T) {
	addr := closedAddr(t)
	cfg := testConfig()
	cfg.Peers = []string{addr}
	s, h := startServer(t, cfg)

	first := h.waitEvent(t, 10*time.Second, "first dial failure", isDialFailed(addr))
	if first.Attempts != 1 || first.Reason != "refused: nothing listens there" || !strings.Contains(first.Err, "refused") {
		t.Errorf("first failure: attempts %d, reason %q, raw %q", first.Attempts, first.Reason, first.Err)
	}
	before, ok := bookEntry(s, addr)
	if !ok {
		t.Fatalf("%s not in the book", addr)
	}
	attempts := first.Attempts
	for attempts < 4 {
		ev := h.waitEvent(t, 10*time.Second, "next dial failure", isDialFailed(addr))
		if ev.Attempts != attempts+1 {
			t.Errorf("attempts went from %d to %d: one event per failed attempt expected", attempts, ev.Attempts)
		}
		attempts = ev.Attempts
		if !ev.NextDial.After(time.Now().Add(-time.Millisecond)) {
			t.Errorf("next dial %v is not ahead of the failure", ev.NextDial)
		}
	}
	after, _ := bookEntry(s, addr)
	if !after.LastChange.Equal(before.LastChange) {
		t.Errorf("LastChange moved from %v to %v while the peer stayed offline", before.LastChange, after.LastChange)
	}
	if !after.LastAttempt.After(before.LastAttempt) {
		t.Errorf("LastAttempt did not advance: %v then %v", before.LastAttempt, after.LastAttempt)
	}
	if after.Status == StatusOnline || after.Status == StatusPenalised || after.LastError != "refused: nothing listens there" || after.LastErrorAt.IsZero() {
		t.Errorf("row after failures: %+v", after)
	}
	if !after.Dialing && after.NextDial.IsZero() {
		t.Errorf("an offline peer without a dial under way shows no next dial: %+v", after)
	}
}

// Issue 11.3: each usual way a dial fails is said in plain words.
func TestDialErrorsInPlainWords(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 500 * time.Millisecond
	s, h := startServer(t, cfg)

	serve := func(handler http.HandlerFunc) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: handler}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		return ln.Addr().String()
	}
	rawTCP := func(answer func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var conns []net.Conn
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
				answer(c)
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			<-done
			for _, c := range conns {
				c.Close()
			}
		})
		return ln.Addr().String()
	}

	cases := []struct {
		name, addr, want string
	}{
		{"closed port", closedAddr(t), "refused: nothing listens there"},
		{"name that does not resolve", "nonexistent.invalid:8333", "host not found"},
		{"web server", serve(http.NotFound), "not a meshchain node (HTTP 404)"},
		{"not HTTP", rawTCP(func(c net.Conn) {
			_, _ = c.Read(make([]byte, 4096)) // the upgrade request
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			c.Close()
		}), "not a meshchain node (no HTTP answer)"},
		{"silent", rawTCP(func(net.Conn) {}), "no answer (timed out)"},
		{"closed after the upgrade", serve(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err == nil {
				_ = c.CloseNow()
			}
		}), "closed by the peer during the handshake"},
		{"another network", serve(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			hello, _ := Encode(Hello{Version: 1, Genesis: strings.Repeat("ab", 32), NodeID: NewNodeID(), Tip: testGenesis, Work: "0"})
			_ = c.Write(r.Context(), websocket.MessageText, hello)
			_, _, _ = c.Read(r.Context())
		}), "another network: its genesis differs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := s.Connect(ctx, c.addr)
			if err == nil {
				t.Fatalf("Connect(%s) succeeded", c.addr)
			}
			if got := DescribeDialError(err); got != c.want {
				t.Errorf("Connect's error %q described as %q, want %q", err, got, c.want)
			}
			ev := h.waitEvent(t, 5*time.Second, "dial failure of "+c.addr, isDialFailed(c.addr))
			if ev.Reason != c.want || ev.Err == "" || ev.Attempts < 1 || !ev.NextDial.After(time.Now().Add(-time.Second)) {
				t.Errorf("event: reason %q (want %q), raw %q, attempts %d, next %v", ev.Reason, c.want, ev.Err, ev.Attempts, ev.NextDial)
			}
			info, _ := bookEntry(s, c.addr)
			if info.LastError != c.want {
				t.Errorf("row's last error %q, want %q", info.LastError, c.want)
			}
		})
	}
}

// Issue 12.2: disconnect closes the session; the peer may come back by
// the usual rules.
func TestDisconnectClosesSession(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, hb := startServer(t, testConfig())
	connect(t, a, b.Addr())
	ha.waitOnline(t, b.NodeID())
	hb.waitOnline(t, a.NodeID())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Disconnect(ctx, b.Addr()); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	// Disconnect returns once the session has left a's registry.
	if info, ok := bookEntry(a, b.Addr()); !ok || info.Status == StatusOnline {
		t.Errorf("b after Disconnect returned: %+v (found %v)", info, ok)
	}
	off := ha.waitEvent(t, 5*time.Second, "b offline at a", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == b.NodeID()
	})
	if off.Reason != "disconnected by the user" {
		t.Errorf("offline reason %q", off.Reason)
	}
	hb.waitEvent(t, 5*time.Second, "a offline at b", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == a.NodeID()
	})
	// Not banned: a's dialer brings b back after its backoff.
	ha.waitOnline(t, b.NodeID())
	if err := a.Disconnect(ctx, closedAddr(t)); err == nil {
		t.Error("Disconnect of an address without a session succeeded")
	}
}

// Issue 12.2: a ban closes the session, is listed, refuses the banned
// node's next dial (on loopback by node id, not the shared IP); unban lets
// it back.
func TestBanRefusesAndUnbanLetsBack(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, hb := startServer(t, testConfig())
	other, ho := startServer(t, testConfig()) // same IP as a, not banned
	connect(t, a, b.Addr())
	hb.waitOnline(t, a.NodeID())
	ha.waitOnline(t, b.NodeID())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := b.Ban(ctx, a.Addr(), time.Hour, "spam")
	if err != nil {
		t.Fatalf("Ban: %v", err)
	}
	if info.Addr != a.Addr() || info.NodeID != a.NodeID() || info.IP != "" || !info.ByUser ||
		info.Reason != "banned by the user: spam" || time.Until(info.Until) < 59*time.Minute {
		t.Errorf("ban: %+v", info)
	}
	if bans := b.Bans(); len(bans) != 1 || bans[0] != info {
		t.Errorf("Bans() = %+v, want [%+v]", bans, info)
	}
	hb.waitEvent(t, 5*time.Second, "a offline at b", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == a.NodeID()
	})
	ha.waitEvent(t, 5*time.Second, "b offline at a", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == b.NodeID() && strings.Contains(ev.Reason, ReasonPenalized)
	})
	if p, _ := bookEntry(b, a.Addr()); p.Status != StatusPenalised {
		t.Errorf("a's row at b: %+v", p)
	}

	// a dials again: b refuses it after the handshake, with Penalized,
	// and never reports it online; b does not dial a either.
	mark := len(hb.eventLog())
	_ = a.Connect(ctx, b.Addr())
	ha.waitEvent(t, 5*time.Second, "b's refusal at a", func(ev PeerEvent) bool {
		return (ev.Kind == PeerOffline && ev.Peer.ID == b.NodeID() && strings.Contains(ev.Reason, "banned by the user")) ||
			(ev.Kind == PeerDialFailed && ev.Peer.Addr == b.Addr() && strings.Contains(ev.Reason, "banned by the user"))
	})
	if err := b.Connect(ctx, a.Addr()); !errors.Is(err, ErrPenalized) {
		t.Errorf("b's Connect to banned a: %v, want ErrPenalized", err)
	}
	// Another node on the same loopback IP is not refused.
	connect(t, other, b.Addr())
	hb.waitOnline(t, other.NodeID())
	ho.waitOnline(t, b.NodeID())
	for _, ev := range hb.eventLog()[mark:] {
		if ev.Kind == PeerOnline && ev.Peer.ID == a.NodeID() {
			t.Fatalf("banned a went online at b: %+v", ev)
		}
	}

	if err := b.Unban(a.Addr()); err != nil {
		t.Fatalf("Unban: %v", err)
	}
	if bans := b.Bans(); len(bans) != 0 {
		t.Errorf("Bans() after Unban = %+v", bans)
	}
	hb.waitOnline(t, a.NodeID()) // a's dialer (or b's) gets through now
	if err := b.Unban(a.Addr()); err == nil {
		t.Error("a second Unban found a ban")
	}
}

// Issue 11.16: a forgotten address leaves the book and the store, is not
// dialled or learned again, and is not loaded at the next start.
func TestForgetRemovesAddressForGood(t *testing.T) {
	book := &memoryBook{}
	dead := closedAddr(t)
	peer, hp := startServer(t, testConfig())
	cfg := testConfig()
	cfg.Book = book
	cfg.Peers = []string{dead}
	s, h := startServer(t, cfg)
	connect(t, s, peer.Addr())
	h.waitOnline(t, peer.NodeID())
	h.waitEvent(t, 10*time.Second, "a failed dial of the dead address", isDialFailed(dead))
	waitFor(t, 5*time.Second, "both addresses stored", func() bool {
		recs := book.snapshot()
		return slices.ContainsFunc(recs, func(r PeerRecord) bool { return r.Addr == dead }) &&
			slices.ContainsFunc(recs, func(r PeerRecord) bool { return r.Addr == peer.Addr() })
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range []string{dead, peer.Addr()} {
		if err := s.Forget(ctx, addr); err != nil {
			t.Fatalf("Forget(%s): %v", addr, err)
		}
		if _, ok := bookEntry(s, addr); ok {
			t.Errorf("%s still in the book", addr)
		}
		if slices.ContainsFunc(book.snapshot(), func(r PeerRecord) bool { return r.Addr == addr }) {
			t.Errorf("%s still in the store", addr)
		}
	}
	// The online peer's session was closed by Forget.
	hp.waitEvent(t, 5*time.Second, "s offline at the peer", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == s.NodeID()
	})
	// Gossip does not bring it back; saves do not put it back.
	s.learn([]string{dead})
	s.saveBook()
	if _, ok := bookEntry(s, dead); ok {
		t.Error("gossip brought a forgotten address back")
	}
	if err := s.Forget(ctx, dead); err == nil {
		t.Error("forgetting an unknown address succeeded")
	}

	// The next start loads neither.
	restart := testConfig()
	restart.Book = book
	s2, err := New(restart, newTestHandler())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s2.Peers() {
		if p.Addr == dead || p.Addr == peer.Addr() {
			t.Errorf("forgotten %s loaded again", p.Addr)
		}
	}
}

// Issue 9: one order of statuses for netpeers' lists and the dashboard's.
func TestStatusRank(t *testing.T) {
	order := []string{StatusOnline, StatusConnecting, StatusOffline, StatusPenalised, "unknown"}
	for i := 1; i < len(order); i++ {
		if StatusRank(order[i-1]) >= StatusRank(order[i]) {
			t.Errorf("StatusRank(%q) = %d, not before StatusRank(%q) = %d",
				order[i-1], StatusRank(order[i-1]), order[i], StatusRank(order[i]))
		}
	}
}
