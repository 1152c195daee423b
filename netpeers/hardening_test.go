package netpeers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/meshchain/meshchain/chain"
)

// A client that makes one plain HTTP request and then keeps the connection
// open is cut off after the handshake timeout, not held for ever.
func TestIdleKeepAliveConnectionClosed(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	s, _ := startServer(t, cfg)
	c, br, resp := rawHTTP(t, s.Addr(), "GET /nothing HTTP/1.1\r\nHost: peer\r\n\r\n")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := br.ReadByte()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("idle kept-alive connection still open after 10s")
	}
	if !errors.Is(err, io.EOF) {
		t.Logf("connection ended with %v", err)
	}
}

// Connections that never send hello cannot lock honest peers out: at the
// inbound limits the oldest idle handshake makes room, while sessions past
// their handshake keep their places.
func TestIdleHandshakesMakeRoom(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInbound = 6
	cfg.MaxInboundLocal = 6
	cfg.HandshakeTimeout = time.Minute // only eviction can free the places
	s, h := startServer(t, cfg)

	settled := onlineRaw(t, s, h)
	var idle []*rawPeer
	for i := 0; i < 40; i++ { // far more than the limit, none sends hello
		r := dialRaw(t, s.Addr(), "/")
		r.expectHello()
		idle = append(idle, r)
	}
	// An honest peer still gets in, and so does a second one.
	onlineRaw(t, s, h)
	onlineRaw(t, s, h)
	// The oldest idle handshakes were closed; the newest are still open.
	if _, err := idle[0].next(5 * time.Second); err == nil {
		t.Error("the oldest idle handshake was not closed")
	}
	// With every place taken by a handshaken session, a newcomer takes the
	// place of an unprotected one; the oldest (protected) keeps working.
	for len(idle) > 0 {
		idle[0].c.CloseNow()
		idle = idle[1:]
	}
	waitFor(t, 5*time.Second, "idle handshakes released", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.pendingIn) == 0
	})
	for i := 0; i < 4; i++ {
		onlineRaw(t, s, h)
	}
	s.mu.Lock()
	n := s.inTotal
	s.mu.Unlock()
	if n > cfg.MaxInbound {
		t.Errorf("%d inbound sessions, limit %d", n, cfg.MaxInbound)
	}
	settled.send(Ping{Nonce: 3})
	settled.expectPong(3, 5*time.Second, "settled session closed")
}

// Inbound peers announcing ever new listen addresses, and gossip, cannot
// grow the address book past its limit; configured and online peers keep
// their entries.
func TestAddressBookBounded(t *testing.T) {
	const limit = 12
	configured, _ := startServer(t, acceptOnly())
	cfg := testConfig()
	cfg.Peers = []string{configured.Addr()}
	h := newTestHandler()
	s, _ := startServerWith(t, cfg, h, func(s *Server) { s.bookLimit = limit })
	h.waitOnline(t, configured.NodeID())
	stay := onlineRaw(t, s, h)
	stay.answerPings() // alive however long the test takes

	bookSize := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.book)
	}
	for i := 0; i < 4*limit; i++ {
		r := dialRaw(t, s.Addr(), "/")
		r.send(r.hello(fmt.Sprintf("127.0.0.1:%d", 1+i))) // nobody listens there
		r.expectHello()
		h.waitOnline(t, r.id)
		r.send(Peers{Peers: []string{fmt.Sprintf("127.0.0.1:%d", 20001+i), fmt.Sprintf("127.0.0.1:%d", 30001+i)}})
		_ = r.c.CloseNow()
		h.waitEvent(t, 5*time.Second, "peer_offline", func(ev PeerEvent) bool {
			return ev.Kind == PeerOffline && ev.Peer.ID == r.id
		})
		if n := bookSize(); n > limit {
			t.Fatalf("book has %d entries after %d peers, limit %d", n, i+1, limit)
		}
	}
	if info, ok := peerInfo(s, configured.NodeID()); !ok || info.Status != StatusOnline {
		t.Errorf("configured peer lost: %+v (found %v)", info, ok)
	}
	if info, ok := peerInfo(s, stay.id); !ok || info.Status != StatusOnline {
		t.Errorf("online peer lost: %+v (found %v)", info, ok)
	}
}

// A peer that names another node's address as its listen address and then
// breaks a rule gets its own IP refused, not the other node's address;
// even a proven peer's listen address is learned, never refused.
func TestPenaltyNotTransferredByForeignListen(t *testing.T) {
	s, err := New(testConfig(), newTestHandler())
	if err != nil {
		t.Fatal(err)
	}
	const honest = "198.51.100.1:8333"
	ss := &session{s: s, inbound: true, remote: netip.MustParseAddrPort("192.0.2.7:50123")}
	ss.setHello(Hello{Version: 1, Genesis: testGenesis, NodeID: NewNodeID(), Listen: honest, Tip: testGenesis, Work: "0"})
	ss.setIdentity(true)
	if ss.ref.Addr != "192.0.2.7:8333" || ss.banAddr != "" {
		t.Errorf("peer named %q, refused as %q; want 192.0.2.7:8333 and no address", ss.ref.Addr, ss.banAddr)
	}
	s.penalize(ss.ref, ss.banAddr, ss.remote.Addr(), ReasonMalformedFrame+": test", nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if _, banned := s.bannedLocked("", honest, netip.Addr{}, now); banned {
		t.Errorf("%s refused because another peer named it", honest)
	}
	if _, banned := s.bannedLocked(ss.ref.ID, "", netip.Addr{}, now); !banned {
		t.Error("the offender's node id is not refused")
	}
	if _, banned := s.bannedLocked("", "", netip.MustParseAddr("192.0.2.7"), now); !banned {
		t.Error("the offender's IP is not refused")
	}
}

// 500 valid blocks can encode above 4 MiB (JSON escapes '<' as \u003c):
// the answer keeps the leading blocks that fit, so the asker does not
// take us for an offender, and sync carries on from where it ends.
func TestBlocksAnswerFitsInAFrame(t *testing.T) {
	cfg := testConfig()
	cfg.OfflineAfter = 30 * time.Second // r answers no ping while 12 MB of blocks encode
	s, h := startServer(t, cfg)
	r := onlineRaw(t, s, h)
	blocks := make([]chain.Block, 500)
	for i := range blocks {
		blocks[i] = chain.Genesis(1)
		blocks[i].Number = uint64(i + 1)
		blocks[i].Message = strings.Repeat("<", 4096)
	}
	if full, _ := Encode(Blocks{Blocks: blocks}); len(full) <= MaxFrameBytes {
		t.Fatalf("test blocks encode to %d bytes, not above the limit", len(full))
	}
	if err := s.Send(r.id, Blocks{Blocks: blocks}); err != nil {
		t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, data, err := r.c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > MaxFrameBytes {
			t.Fatalf("sent a frame of %d bytes, above %d", len(data), MaxFrameBytes)
		}
		f, err := Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		bl, ok := f.(Blocks)
		if !ok {
			continue
		}
		if len(bl.Blocks) == 0 || len(bl.Blocks) >= len(blocks) {
			t.Fatalf("answer carries %d blocks, want a non-empty prefix", len(bl.Blocks))
		}
		if MaxFrameBytes-len(data) > 30<<10 {
			t.Errorf("answer of %d bytes leaves room for more blocks", len(data))
		}
		for i, b := range bl.Blocks {
			if b != blocks[i] {
				t.Fatalf("block %d of the answer is not block %d", i, i)
			}
		}
		break
	}
	if err := s.Send(r.id, Tip{Height: 1, Tip: testGenesis, Work: strings.Repeat("9", MaxFrameBytes)}); err == nil {
		t.Error("Send of another frame above MaxFrameBytes succeeded")
	}
}

// A peer that asks and never reads is dropped once the bytes queued for it
// pass the limit, however few frames that is.
func TestSendQueueBoundedInBytes(t *testing.T) {
	h := newTestHandler()
	const limit = 4 << 20
	s, _ := startServerWith(t, testConfig(), h, func(s *Server) { s.queueLimit = limit })
	stalled := onlineRaw(t, s, h) // never reads again
	big := Tip{Height: 1, Tip: strings.Repeat("a", 1<<20), Work: "1"}
	sent := 0
	var err error
	for ; sent < 200; sent++ {
		if err = s.Send(stalled.id, big); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("%d frames of 1 MiB queued for a peer that reads nothing (last error %v)", sent, err)
	}
	// What the socket buffers took plus the limit; far below 200 MiB.
	if sent > 64 {
		t.Errorf("%d MiB taken before the peer was dropped", sent)
	}
	ev := h.waitEvent(t, 10*time.Second, "the stalled peer dropped", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == stalled.id
	})
	if !strings.Contains(ev.Reason, "queue full") {
		t.Errorf("dropped for %q, want a full send queue", ev.Reason)
	}
}

// Addresses are learned from answers to our get_peers only, and a peer
// asking get_peers in a loop gets a bounded number of answers while its
// session, and everyone else's, carries on.
func TestPeersGossipBounded(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := onlineRaw(t, s, h)
	for { // we ask every new peer once
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(GetPeers); ok {
			break
		}
	}
	const answered, unasked = "127.0.0.1:20001", "127.0.0.1:20002"
	r.send(Peers{Peers: []string{answered}})
	r.send(Peers{Peers: []string{unasked}})
	r.send(Ping{Nonce: 1})
	r.expectPong(1, 5*time.Second, "waiting for pong 1") // both peers frames were handled before the ping
	inBook := func(addr string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.book[addr] != nil
	}
	if !inBook(answered) {
		t.Errorf("the answer's address %s was not learned", answered)
	}
	if inBook(unasked) {
		t.Errorf("an unasked peers frame was learned from (%s)", unasked)
	}

	const spam = 200
	for i := 0; i < spam; i++ {
		r.send(GetPeers{})
	}
	r.send(Ping{Nonce: 2})
	answers := 0
	for { // the pong may overtake answers queued before it...
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(Peers); ok {
			answers++
		}
		if p, ok := f.(Pong); ok && p.Nonce == 2 {
			break
		}
	}
	// ...but not a frame queued after them.
	if err := s.Send(r.id, Tip{Height: 99, Tip: testGenesis, Work: "1"}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(Peers); ok {
			answers++
		}
		if tip, ok := f.(Tip); ok && tip.Height == 99 {
			break
		}
	}
	if answers < 1 || answers > getPeersBurst+2 {
		t.Errorf("%d get_peers answered %d times, want 1 to %d", spam, answers, getPeersBurst+2)
	}
	onlineRaw(t, s, h)
}

// Over the wire, a pong echoes the ping's nonce byte for byte.
func TestPongEchoesNonceOnTheWire(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := onlineRaw(t, s, h)
	for _, nonce := range []string{"9007199254740993", "18446744073709551615", "18446744073709551617", "-7"} {
		r.sendRaw([]byte(`{"type":"ping","nonce":` + nonce + `}`))
		want := `{"type":"pong","nonce":` + nonce + `}`
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, data, err := r.c.Read(ctx)
			cancel()
			if err != nil {
				t.Fatalf("waiting for the pong of %s: %v", nonce, err)
			}
			if strings.Contains(string(data), `"pong"`) {
				if string(data) != want {
					t.Errorf("got %s, want %s", data, want)
				}
				break
			}
		}
	}
}

// A hello of another version is refused as such even when its fields are
// not version 1's, and it is no offence: the same node id is welcome with
// a version 1 hello right after.
func TestOtherVersionHelloWithOtherFields(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := dialRaw(t, s.Addr(), "/")
	r.sendRaw([]byte(`{"type":"hello","version":2,"node_id":"` + r.id + `","capabilities":["x"]}`))
	r.expectHello()
	r.expectErrorThenClose(ReasonUnsupportedVersion+": ", websocket.StatusPolicyViolation)
	again := dialRaw(t, s.Addr(), "/")
	again.sameNode(r)
	again.send(again.hello(""))
	again.expectHello()
	h.waitOnline(t, r.id)
	for _, ev := range h.eventLog() {
		if ev.Kind == PeerPenalized {
			t.Errorf("penalty for a hello of another version: %+v", ev)
		}
	}
}

// Announced work is a bounded decimal string: a tip frame carrying megabytes
// of digits (which take the node seconds to parse, on every ranking) is an
// offence and never reaches the handler.
func TestHugeAnnouncedWorkRefused(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := onlineRaw(t, s, h)
	r.sendRaw([]byte(`{"type":"tip","height":1,"tip":"` + testGenesis + `","work":"` + strings.Repeat("9", 1<<20) + `"}`))
	r.expectErrorThenClose(ReasonMalformedFrame+": ", websocket.StatusPolicyViolation)
	h.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool {
		return ev.Kind == PeerPenalized && ev.Peer.ID == r.id
	})
	select {
	case f := <-h.frames:
		t.Errorf("handler received %T", f.frame)
	default:
	}
	// The largest real work still passes.
	ok := onlineRaw(t, s, h)
	ok.send(Tip{Height: 1, Tip: testGenesis, Work: strings.Repeat("9", maxWorkDigits)})
	select {
	case f := <-h.frames:
		if tip, isTip := f.frame.(Tip); !isTip || len(tip.Work) != maxWorkDigits {
			t.Errorf("handler received %#v", f.frame)
		}
	case <-time.After(5 * time.Second):
		t.Error("a tip with 128 digits of work was not delivered")
	}
}

// Offenders that come back with ever new node ids cannot grow the penalty
// tables without bound; the newest offence is still refused.
func TestPenaltyTablesBounded(t *testing.T) {
	const limit = 5
	h := newTestHandler()
	s, _ := startServerWith(t, testConfig(), h, func(s *Server) { s.banLimit = limit })
	var last *rawPeer
	for i := 0; i < 4*limit; i++ {
		r := dialRaw(t, s.Addr(), "/")
		r.send(r.hello(fmt.Sprintf("127.0.0.1:%d", 40000+i)))
		r.expectHello()
		h.waitOnline(t, r.id)
		r.sendRaw([]byte(`not json`))
		r.expectErrorThenClose(ReasonMalformedFrame+": ", websocket.StatusPolicyViolation)
		last = r
	}
	s.mu.Lock()
	nID, nAddr := len(s.bansID), len(s.bansAddr)
	_, lastBanned := s.bannedLocked(last.id, "", netip.Addr{}, time.Now())
	s.mu.Unlock()
	if nID > limit || nAddr > limit {
		t.Errorf("penalty tables hold %d node ids and %d addresses, limit %d", nID, nAddr, limit)
	}
	if !lastBanned {
		t.Error("the newest offender is not refused")
	}
}

// A connection refused at the limits is closed with its answer, so that a
// flood of refused connections does not hold sockets open.
func TestRefusedConnectionClosed(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInboundLocal = 1
	cfg.HandshakeTimeout = time.Minute
	s, h := startServer(t, cfg)
	onlineRaw(t, s, h) // takes the one place of its IP, past its handshake
	req := "GET / HTTP/1.1\r\nHost: peer\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	c, br, resp := rawHTTP(t, s.Addr(), req)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("refused connection still open after 10s")
	}
}

// rawHTTP writes req on a new TCP connection to addr and reads the
// response, body drained. The connection stays open, closed at cleanup,
// for the caller to watch what the server does with it next.
func rawHTTP(t *testing.T, addr, req string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return c, br, resp
}
