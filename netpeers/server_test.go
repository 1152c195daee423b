package netpeers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/meshchain/meshchain/chain"
)

func TestHandshakeBothSidesOnline(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, hb := startServer(t, testConfig())
	connect(t, a, b.Addr())

	evA := ha.waitOnline(t, b.NodeID())
	evB := hb.waitOnline(t, a.NodeID())
	if evA.Inbound || !evB.Inbound {
		t.Errorf("inbound flags: a sees %v, b sees %v; want false, true", evA.Inbound, evB.Inbound)
	}
	if evA.Peer.Addr != b.Addr() {
		t.Errorf("a names b %q, want its listen address %q", evA.Peer.Addr, b.Addr())
	}
	if evB.Peer.Addr != a.Addr() {
		t.Errorf("b names a %q, want a's announced listen address %q", evB.Peer.Addr, a.Addr())
	}
	if evB.Hello.Genesis != testGenesis || evB.Hello.Agent != "meshchain/test" || evB.Hello.Version != 1 {
		t.Errorf("b got hello %+v", evB.Hello)
	}
	for _, s := range []*Server{a, b} {
		if n := onlineCount(s); n != 1 {
			t.Errorf("%s has %d online peers, want 1", s.Addr(), n)
		}
	}
	// Frames the node handles reach it; ones netpeers handles do not.
	if err := a.Send(b.NodeID(), Tip{Height: 5, Tip: testGenesis, Work: "32"}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-hb.frames:
		if tip, ok := got.frame.(Tip); !ok || tip.Height != 5 || got.from.ID != a.NodeID() {
			t.Errorf("b received %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tip frame not delivered")
	}
	waitFor(t, 5*time.Second, "b's book to show a's announced height", func() bool {
		p, ok := peerInfo(a, b.NodeID())
		return ok && p.Status == StatusOnline && p.Work == "0"
	})
	if err := a.Send(NewNodeID(), Ping{}); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Send to an unknown peer: %v, want ErrUnknownPeer", err)
	}
}

func TestInboundListenMadeDialable(t *testing.T) {
	s, h := startServer(t, testConfig())
	for _, listen := range []string{":4711", "0.0.0.0:4712", "[::]:4713"} {
		r := dialRaw(t, s.Addr(), "/")
		r.send(r.hello(listen))
		r.expectHello()
		ev := h.waitOnline(t, r.id)
		port := listen[strings.LastIndex(listen, ":"):]
		if want := "127.0.0.1" + port; ev.Peer.Addr != want || ev.Hello.Listen != want {
			t.Errorf("listen %q: peer named %q (hello listen %q), want %q", listen, ev.Peer.Addr, ev.Hello.Listen, want)
		}
	}
	r := dialRaw(t, s.Addr(), "/")
	r.send(r.hello(""))
	r.expectHello()
	ev := h.waitOnline(t, r.id)
	if !strings.HasPrefix(ev.Peer.Addr, "127.0.0.1:") {
		t.Errorf("peer without listen named %q, want its remote address", ev.Peer.Addr)
	}
}

func TestWrongGenesisRefused(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := dialRaw(t, s.Addr(), "/")
	hello := r.hello("127.0.0.1:9")
	hello.Genesis = strings.Repeat("ab", 32)
	r.send(hello)
	if got := r.expectHello(); got.NodeID != s.NodeID() || got.Genesis != testGenesis {
		t.Errorf("server hello %+v", got)
	}
	r.expectErrorThenClose(ReasonWrongGenesis+": ", websocket.StatusPolicyViolation)
	ev := h.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool { return ev.Kind == PeerPenalized })
	// Known by its connection: the id it claims is not proven.
	if ev.Peer.ID != r.local || ev.Peer.Proven || !strings.HasPrefix(ev.Reason, ReasonWrongGenesis) || !ev.Until.After(time.Now()) {
		t.Errorf("penalty event %+v", ev)
	}
	// The server keeps serving everyone else, from the same loopback IP too.
	ok := dialRaw(t, s.Addr(), "/")
	ok.send(ok.hello(""))
	ok.expectHello()
	h.waitOnline(t, ok.id)
}

func TestUnsupportedVersionRefused(t *testing.T) {
	s, _ := startServer(t, testConfig())
	r := dialRaw(t, s.Addr(), "/")
	hello := r.hello("")
	hello.Version = 2
	r.send(hello)
	r.expectHello()
	r.expectErrorThenClose(ReasonUnsupportedVersion+": ", websocket.StatusPolicyViolation)
}

func TestFirstFrameNotHello(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := dialRaw(t, s.Addr(), "/")
	r.send(Ping{Nonce: 1})
	r.expectHello()
	r.expectErrorThenClose(ReasonExpectedHello+": ", websocket.StatusPolicyViolation)
	h.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool {
		return ev.Kind == PeerPenalized && strings.HasPrefix(ev.Reason, ReasonExpectedHello)
	})
}

func TestIdleHandshakeTimesOut(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 300 * time.Millisecond
	s, _ := startServer(t, cfg)
	r := dialRaw(t, s.Addr(), "/")
	r.expectHello()
	if _, err := r.next(5 * time.Second); err == nil {
		t.Fatal("server kept an idle handshake open")
	}
}

// onlineRaw is a raw peer past the handshake.
func onlineRaw(t *testing.T, s *Server, h *testHandler) *rawPeer {
	t.Helper()
	r := dialRaw(t, s.Addr(), "/")
	r.send(r.hello(""))
	r.expectHello()
	h.waitOnline(t, r.id)
	return r
}

func TestOversizeFrame(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := onlineRaw(t, s, h)

	// Exactly MaxFrameBytes is allowed (an unknown type, ignored).
	prefix, suffix := `{"type":"padding","pad":"`, `"}`
	exact := prefix + strings.Repeat("x", MaxFrameBytes-len(prefix)-len(suffix)) + suffix
	r.sendRaw([]byte(exact))
	r.send(Ping{Nonce: 77})
	r.expectPong(77, 10*time.Second, "after a frame of exactly MaxFrameBytes")

	// One byte more costs the sender.
	r.sendRaw([]byte(exact + " "))
	r.expectErrorThenClose(ReasonFrameTooLarge+": ", websocket.StatusPolicyViolation)
	h.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool {
		return ev.Kind == PeerPenalized && ev.Peer.ID == r.id && strings.HasPrefix(ev.Reason, ReasonFrameTooLarge)
	})
	h.waitEvent(t, 5*time.Second, "peer_offline", func(ev PeerEvent) bool { return ev.Kind == PeerOffline && ev.Peer.ID == r.id })
}

func TestMalformedFramesPenalised(t *testing.T) {
	tests := []struct {
		name, frame, code string
	}{
		{"not json", `this is not json`, ReasonMalformedFrame},
		{"not an object", `[{"type":"ping","nonce":1}]`, ReasonMalformedFrame},
		{"wrong field type", `{"type":"ping","nonce":"seven"}`, ReasonMalformedFrame},
		{"malformed block", `{"type":"block","block":{"number_of_block":"one"}}`, ReasonMalformedBlock},
	}
	s, h := startServer(t, testConfig())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := onlineRaw(t, s, h)
			r.sendRaw([]byte(tt.frame))
			r.expectErrorThenClose(tt.code+": ", websocket.StatusPolicyViolation)
			h.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool {
				return ev.Kind == PeerPenalized && ev.Peer.ID == r.id && strings.HasPrefix(ev.Reason, tt.code)
			})

			// The same node id is refused for a while...
			again := dialRaw(t, s.Addr(), "/")
			again.sameNode(r)
			again.send(again.hello(""))
			again.expectHello()
			again.expectErrorThenClose(ReasonPenalized+": ", websocket.StatusPolicyViolation)
			// ...but loopback is never refused by IP.
			onlineRaw(t, s, h)
		})
	}
}

func TestUnknownFrameIgnored(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := onlineRaw(t, s, h)
	r.sendRaw([]byte(`{"type":"from_the_future","x":[1,2,3]}`))
	r.send(Ping{Nonce: 5})
	r.expectPong(5, 5*time.Second, "session ended after an unknown frame")
}

func TestSelfConnectionRefused(t *testing.T) {
	s, h := startServer(t, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Connect(ctx, s.Addr()); !errors.Is(err, ErrSelf) {
		t.Errorf("Connect(own address) = %v, want ErrSelf", err)
	}
	// A session that presents our own node id is closed, without penalty.
	r := dialRaw(t, s.Addr(), "/")
	r.key, r.id = s.cfg.NodeKey, s.NodeID()
	r.send(r.hello(""))
	r.expectHello()
	r.expectClose(websocket.StatusPolicyViolation)
	// A normal peer still gets in, and nothing was reported about the other.
	onlineRaw(t, s, h)
	for _, ev := range h.eventLog() {
		if ev.Peer.ID == s.NodeID() {
			t.Errorf("event about our own node id: %+v", ev)
		}
	}
	for _, p := range s.Peers() {
		if p.Addr == s.Addr() {
			t.Errorf("own address in the book: %+v", p)
		}
	}
}

func TestDuplicateSessionsResolved(t *testing.T) {
	for round := 0; round < 4; round++ {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			a, ha := startServer(t, testConfig())
			b, hb := startServer(t, testConfig())
			var wg sync.WaitGroup
			errs := make([]error, 2)
			wg.Add(2)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				errs[0] = a.Connect(ctx, b.Addr())
			}()
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				errs[1] = b.Connect(ctx, a.Addr())
			}()
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("Connect errors: %v, %v", errs[0], errs[1])
			}
			waitFor(t, 10*time.Second, "exactly one connection on each side", func() bool {
				return a.liveConns.Load() == 1 && b.liveConns.Load() == 1 && onlineCount(a) == 1 && onlineCount(b) == 1
			})
			pa, _ := peerInfo(a, b.NodeID())
			pb, _ := peerInfo(b, a.NodeID())
			if pa.Inbound == pb.Inbound {
				t.Fatalf("both sides see the same direction: a inbound=%v, b inbound=%v", pa.Inbound, pb.Inbound)
			}
			// When both connections were made, the one that stays is the one
			// dialled by the smaller node id. (Often one Connect finds the
			// other's session already online and does not dial.)
			aDialled := !pa.Inbound
			both := a.handshakes.Load()+b.handshakes.Load() == 4
			if wantADialled := a.NodeID() < b.NodeID(); both && aDialled != wantADialled {
				t.Errorf("kept the session dialled by the larger node id (a dialled=%v, a<b=%v)\na=%s %+v\nb=%s %+v\nevents a %+v\nevents b %+v", aDialled, wantADialled,
					short(a.NodeID()), a.Peers(), short(b.NodeID()), b.Peers(), ha.eventLog(), hb.eventLog())
			}
			// Online and offline events alternate: the node ends with one online session.
			// (Events are delivered by the dispatcher: wait for them.)
			for _, h := range []*testHandler{ha, hb} {
				balance := func() (int, bool) {
					n, ordered := 0, true
					for _, ev := range h.eventLog() {
						switch ev.Kind {
						case PeerOnline:
							n++
						case PeerOffline:
							n--
						}
						ordered = ordered && n >= 0 && n <= 1
					}
					return n, ordered
				}
				waitFor(t, 5*time.Second, "online minus offline events to reach 1", func() bool {
					n, _ := balance()
					return n == 1
				})
				if _, ordered := balance(); !ordered {
					t.Errorf("events out of order: %+v", h.eventLog())
				}
			}
		})
	}
}

// acceptOnly is a peer whose dialer stays idle (MaxPeers 1, filled by the
// one session under test), so gossip cannot make it dial back and replace a
// delayed session we dialled with an undelayed one it dialled.
func acceptOnly() Config {
	cfg := testConfig()
	cfg.MaxPeers = 1
	return cfg
}

// TestDuplicateRule makes the two sessions one after the other, so that
// both exist at one node, and checks which one the rule keeps.
func TestDuplicateRule(t *testing.T) {
	for _, tt := range []struct {
		name        string
		peerSmaller bool
	}{
		{"peer id smaller: its dial stays", true},
		{"peer id larger: our dial stays", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, h := startServer(t, testConfig())
			// A node key whose id is on the wanted side of ours.
			key, peerID := newIdentity()
			for (peerID < s.NodeID()) != tt.peerSmaller {
				key, peerID = newIdentity()
			}
			tt := struct{ peerID string }{peerID}
			// The peer dials us...
			in := dialRaw(t, s.Addr(), "/")
			in.key, in.id = key, tt.peerID
			in.send(in.hello(""))
			in.expectHello()
			h.waitOnline(t, tt.peerID)
			// ...and we dial it.
			p := startScriptedPeerKey(t, key)
			connect(t, s, p.addr)
			peerDialled := tt.peerID < s.NodeID()
			if peerDialled {
				// Ours was closed as the duplicate; the inbound one still works.
				in.send(Ping{Nonce: 9})
				in.expectPong(9, 5*time.Second, "inbound session closed")
			} else {
				in.expectCloseReason(websocket.StatusNormalClosure, "duplicate")
				off := h.waitEvent(t, 5*time.Second, "peer_offline of the replaced session", func(ev PeerEvent) bool {
					return ev.Kind == PeerOffline && ev.Peer.ID == tt.peerID
				})
				if !off.Inbound || off.Reason != "duplicate" {
					t.Errorf("offline event %+v", off)
				}
				on := h.waitOnline(t, tt.peerID)
				if on.Inbound {
					t.Errorf("replacement session is inbound: %+v", on)
				}
			}
			waitFor(t, 5*time.Second, "one session", func() bool { return s.liveConns.Load() == 1 })
			info, _ := peerInfo(s, tt.peerID)
			if info.Status != StatusOnline || info.Inbound != peerDialled {
				t.Errorf("kept session: %+v, want inbound=%v", info, peerDialled)
			}
		})
	}
}

func TestLatencyAndLinkDelay(t *testing.T) {
	near, _ := startServer(t, acceptOnly())
	far, _ := startServer(t, acceptOnly())
	cfg := testConfig()
	const oneWay = 40 * time.Millisecond
	farAddr := far.Addr()
	cfg.LinkDelay = func(addr string) time.Duration {
		if addr == farAddr {
			return oneWay
		}
		return 0
	}
	s, _ := startServer(t, cfg)
	connect(t, s, near.Addr())
	connect(t, s, far.Addr())

	var pn, pf PeerInfo
	waitFor(t, 10*time.Second, "latency of both peers measured", func() bool {
		var ok1, ok2 bool
		pn, ok1 = peerInfo(s, near.NodeID())
		pf, ok2 = peerInfo(s, far.NodeID())
		return ok1 && ok2 && pn.MinRTT > 0 && pf.MinRTT > 0 && pn.SmoothRTT > 0 && pf.LastRTT > 0
	})
	if pf.MinRTT < 2*oneWay {
		t.Errorf("far peer RTT %v (min), want at least %v", pf.MinRTT, 2*oneWay)
	}
	if pn.MinRTT >= 2*oneWay {
		t.Errorf("near peer RTT %v (min), want below %v", pn.MinRTT, 2*oneWay)
	}
	if pf.MinRTT > pf.LastRTT || pf.MinRTT > pf.SmoothRTT {
		t.Errorf("minimum above last or smoothed: %+v", pf)
	}
	// The far peer measures the same link from its side.
	waitFor(t, 10*time.Second, "far side measuring the delay", func() bool {
		p, ok := peerInfo(far, s.NodeID())
		return ok && p.MinRTT >= 2*oneWay
	})
	// Nearest first.
	peers := s.Peers()
	if len(peers) != 2 || peers[0].NodeID != near.NodeID() || peers[1].NodeID != far.NodeID() {
		t.Errorf("Peers() not nearest first: %+v", peers)
	}
}

func TestOfflineDetectionAndRedial(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 50 * time.Millisecond
	cfg.OfflineAfter = 400 * time.Millisecond
	s, h := startServer(t, cfg)
	p := startScriptedPeer(t)
	connect(t, s, p.addr)
	h.waitOnline(t, p.id)
	waitFor(t, 5*time.Second, "a latency figure", func() bool {
		info, ok := peerInfo(s, p.id)
		return ok && info.LastRTT > 0
	})

	p.setMode("silent") // the session stays open but nothing comes back
	ev := h.waitEvent(t, 5*time.Second, "peer_offline", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == p.id
	})
	if !strings.Contains(ev.Reason, ReasonTimeout) {
		t.Errorf("offline reason %q, want a timeout", ev.Reason)
	}
	info, ok := peerInfo(s, p.id)
	if !ok || info.Status == StatusOnline || info.LastRTT == 0 {
		t.Errorf("record after going offline: %+v (found %v)", info, ok)
	}
	waitFor(t, 5*time.Second, "a failed redial while the peer is down", func() bool {
		info, ok := peerInfo(s, p.id)
		return ok && info.Failures > 0
	})

	p.setMode("up")
	h.waitOnline(t, p.id)
	waitFor(t, 5*time.Second, "failures cleared by a round trip", func() bool {
		info, ok := peerInfo(s, p.id)
		return ok && info.Status == StatusOnline && info.Failures == 0
	})
}

func TestBroadcastStalledPeerDoesNotDelayOthers(t *testing.T) {
	cfg := testConfig()
	cfg.SendQueue = 32
	cfg.OfflineAfter = 10 * time.Second
	s, h := startServer(t, cfg)

	// 160 frames of 128 KiB: 20 MiB per peer, more than the stalled peer's
	// socket buffers and send queue hold.
	const frames, batch = 160, 16
	pad := strings.Repeat("a", 128<<10) // in the tip field: work is bounded
	readers := []*rawPeer{onlineRaw(t, s, h), onlineRaw(t, s, h)}
	stalled := onlineRaw(t, s, h) // never reads again

	var wg sync.WaitGroup
	progress := make([]chan int, len(readers))
	for i, r := range readers {
		progress[i] = make(chan int, frames)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(progress[i])
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			got := 0
			for got < frames {
				_, data, err := r.c.Read(ctx)
				if err != nil {
					return
				}
				f, err := Decode(data)
				if err != nil {
					return
				}
				switch f := f.(type) {
				case Tip:
					got++
					progress[i] <- got
				case Ping:
					pong, _ := Encode(Pong(f))
					_ = r.c.Write(ctx, websocket.MessageText, pong)
				}
			}
		}()
	}
	// The readers keep up batch by batch while the stalled peer takes nothing.
	var inBroadcast time.Duration
	got := make([]int, len(readers))
	for sent := 0; sent < frames; {
		for j := 0; j < batch; j++ {
			start := time.Now()
			s.Broadcast(Tip{Height: uint64(sent), Tip: pad, Work: "1"}, "")
			inBroadcast += time.Since(start)
			sent++
		}
		for i := range readers {
			deadline := time.After(10 * time.Second)
			for got[i] < sent {
				select {
				case n, ok := <-progress[i]:
					if !ok {
						t.Fatalf("reader %d stopped after %d of %d frames", i, got[i], sent)
					}
					got[i] = n
				case <-deadline:
					t.Fatalf("reader %d has %d of %d frames after 10s: held up by the stalled peer", i, got[i], sent)
				}
			}
		}
	}
	wg.Wait()
	// Had Broadcast waited for the stalled peer, which never reads, the
	// readers would not have had every batch. The time is a figure, not a
	// check: under -race on a loaded machine it reached seconds.
	t.Logf("%d broadcasts spent %v in Broadcast", frames, inBroadcast)
	ev := h.waitEvent(t, 10*time.Second, "the stalled peer dropped", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == stalled.id
	})
	if !strings.Contains(ev.Reason, "queue full") {
		t.Errorf("stalled peer dropped for %q, want a full send queue", ev.Reason)
	}
	if n := s.Broadcast(Tip{Height: 1, Tip: testGenesis, Work: "1"}, readers[0].id); n != 1 {
		t.Errorf("Broadcast except one of two remaining peers reached %d, want 1", n)
	}
}

func TestGossipLeadsToNewSession(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, _ := startServer(t, testConfig())
	c, hc := startServer(t, testConfig())
	connect(t, b, c.Addr()) // B knows C
	connect(t, a, b.Addr()) // A knows B
	// B gossips each to the other: A may dial C, or C dial A first (the
	// duplicate rule then keeps one session). Either way the session came
	// from gossip alone; dialled by A, it is at C's listen address.
	ev := ha.waitOnline(t, c.NodeID())
	if !ev.Peer.Proven || !ev.Inbound && ev.Peer.Addr != c.Addr() {
		t.Errorf("A's session with C: %+v", ev)
	}
	hc.waitOnline(t, a.NodeID())
}

func TestGetPeersAnswer(t *testing.T) {
	b, hb := startServer(t, testConfig())
	c, _ := startServer(t, testConfig())
	connect(t, b, c.Addr())
	r := dialRaw(t, b.Addr(), "/")
	const ownListen = "127.0.0.1:4999"
	r.send(r.hello(ownListen))
	r.expectHello()
	hb.waitOnline(t, r.id)
	r.send(GetPeers{})
	for {
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := f.(Peers)
		if !ok {
			continue
		}
		if len(p.Peers) != 1 || p.Peers[0] != c.Addr() {
			t.Errorf("peers answer %v, want [%s] (never the asker's %s)", p.Peers, c.Addr(), ownListen)
		}
		return
	}
}

func TestChainDataPath(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := dialRaw(t, s.Addr(), "/get-blockchaindata")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := r.c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if typ != websocket.MessageText || !bytes.Equal(data, h.chainData) {
		t.Errorf("got %v %s, want text %s", typ, data, h.chainData)
	}
	_, _, err = r.c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusNormalClosure {
		t.Errorf("after the data: %v (status %d), want close 1000", err, got)
	}
}

func TestPenalizeLoopbackPeer(t *testing.T) {
	s, hs := startServer(t, testConfig())
	p1, h1 := startServer(t, testConfig())
	p2, _ := startServer(t, testConfig())
	connect(t, p1, s.Addr())
	hs.waitOnline(t, p1.NodeID())
	h1.waitOnline(t, s.NodeID())

	const reason = "InvalidBlockHash: block 7 does not hash to its hash field"
	s.Penalize(p1.NodeID(), reason)
	ev := hs.waitEvent(t, 5*time.Second, "peer_penalized", func(ev PeerEvent) bool { return ev.Kind == PeerPenalized })
	if ev.Peer.ID != p1.NodeID() || ev.Reason != reason || ev.Peer.Addr != p1.Addr() {
		t.Errorf("penalty event %+v", ev)
	}
	hs.waitEvent(t, 5*time.Second, "peer_offline of p1", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == p1.NodeID()
	})
	off := h1.waitEvent(t, 5*time.Second, "p1 dropped", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == s.NodeID()
	})
	if !strings.Contains(off.Reason, reason) {
		t.Errorf("p1's offline reason %q does not carry the error frame %q", off.Reason, reason)
	}

	// p1 comes back (its own redial or this Connect): refused by node id.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p1.Connect(ctx, s.Addr())
	h1.waitEvent(t, 10*time.Second, "p1 refused", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == s.NodeID() && strings.Contains(ev.Reason, ReasonPenalized)
	})

	// Another node on 127.0.0.1 is welcome.
	connect(t, p2, s.Addr())
	hs.waitOnline(t, p2.NodeID())
	onlines := 0
	for _, ev := range hs.eventLog() {
		if ev.Kind == PeerOnline && ev.Peer.ID == p1.NodeID() {
			onlines++
		}
	}
	if onlines != 1 {
		t.Errorf("p1 came online %d times at s, want once (before its penalty)", onlines)
	}
	info, ok := peerInfo(s, p1.NodeID())
	if !ok || info.Status != StatusPenalised || info.Penalty != reason {
		t.Errorf("s's record of p1: %+v (found %v)", info, ok)
	}
	// s does not dial p1's address either.
	if err := s.Connect(ctx, p1.Addr()); !errors.Is(err, ErrPenalized) {
		t.Errorf("Connect to a penalised address: %v, want ErrPenalized", err)
	}
}

func TestInboundLimitPerIP(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInboundLocal = 1
	s, h := startServer(t, cfg)
	onlineRaw(t, s, h)
	expectBusy(t, s.Addr(), "second connection from the same IP accepted above the limit")
}

// memoryBook is an AddressStore in memory.
type memoryBook struct {
	mu    sync.Mutex
	recs  []PeerRecord
	saves int
}

func (m *memoryBook) LoadPeers() ([]PeerRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]PeerRecord(nil), m.recs...), nil
}

func (m *memoryBook) SavePeers(recs ...PeerRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append([]PeerRecord(nil), recs...)
	m.saves++
	return nil
}

func (m *memoryBook) DeletePeer(addr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = slices.DeleteFunc(m.recs, func(r PeerRecord) bool { return r.Addr == addr })
	return nil
}

func (m *memoryBook) snapshot() []PeerRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]PeerRecord(nil), m.recs...)
}

func TestAddressBookPersists(t *testing.T) {
	near, _ := startServer(t, acceptOnly())
	far, _ := startServer(t, acceptOnly())
	book := &memoryBook{}
	cfg := testConfig()
	farAddr := far.Addr()
	cfg.LinkDelay = func(addr string) time.Duration {
		if addr == farAddr {
			return 30 * time.Millisecond
		}
		return 0
	}
	cfg.Book = book

	// First life: meet both peers, measure them, stop.
	h := newTestHandler()
	s1, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s1.Run(ctx) }()
	connect(t, s1, far.Addr())
	connect(t, s1, near.Addr())
	waitFor(t, 10*time.Second, "both latencies", func() bool {
		a, ok1 := peerInfo(s1, near.NodeID())
		b, ok2 := peerInfo(s1, far.NodeID())
		return ok1 && ok2 && a.SmoothRTT > 0 && b.SmoothRTT > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := book.snapshot()
	if len(recs) != 2 || recs[0].Addr != near.Addr() || recs[1].Addr != far.Addr() {
		t.Fatalf("saved records %+v, want near then far", recs)
	}
	for _, r := range recs {
		if r.NodeID == "" || r.SmoothRTT == 0 || r.MinRTT == 0 || r.LastSeen.IsZero() {
			t.Errorf("record lacks figures: %+v", r)
		}
	}

	// Second life: starts with the peers it knew, nearest first, and dials them.
	cfg.NodeKey, cfg.NodeID = newIdentity()
	s2, h2 := startServer(t, cfg)
	peers := s2.Peers()
	if len(peers) < 2 {
		t.Fatalf("restarted book has %d entries", len(peers))
	}
	h2.waitOnline(t, near.NodeID())
	h2.waitOnline(t, far.NodeID())
}

func TestRunStopsAndConnectAfterwards(t *testing.T) {
	h := newTestHandler()
	cfg := testConfig()
	peer, _ := startServer(t, testConfig())
	cfg.Peers = []string{peer.Addr()}
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	h.waitOnline(t, peer.NodeID()) // configured peers are dialled at start
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := s.liveConns.Load(); n != 0 {
		t.Errorf("%d connections open after Run", n)
	}
	ev := h.waitEvent(t, 5*time.Second, "peer_offline at shutdown", func(ev PeerEvent) bool { return ev.Kind == PeerOffline })
	if ev.Peer.ID != peer.NodeID() {
		t.Errorf("offline event %+v", ev)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	defer ccancel()
	if err := s.Connect(cctx, peer.Addr()); !errors.Is(err, ErrClosed) {
		t.Errorf("Connect after Run: %v, want ErrClosed", err)
	}
}

func TestPenaltyEnds(t *testing.T) {
	cfg := testConfig()
	cfg.PenaltyTime = 300 * time.Millisecond
	s, hs := startServer(t, cfg)
	p1, _ := startServer(t, testConfig())
	connect(t, p1, s.Addr())
	hs.waitOnline(t, p1.NodeID())
	s.Penalize(p1.NodeID(), "InvalidSignature: test")
	hs.waitEvent(t, 5*time.Second, "peer_offline", func(ev PeerEvent) bool {
		return ev.Kind == PeerOffline && ev.Peer.ID == p1.NodeID()
	})
	// p1 keeps redialling with backoff; once the penalty ends it is back.
	hs.waitOnline(t, p1.NodeID())
	info, _ := peerInfo(s, p1.NodeID())
	if info.Status != StatusOnline || info.Penalty != "" {
		t.Errorf("record after the penalty: %+v", info)
	}
}

// A node's handler calls back into the server: Send from PeerEvent,
// Penalize from HandleFrame.
func TestHandlerCallsBack(t *testing.T) {
	h := newTestHandler()
	s, _ := startServerWith(t, testConfig(), h, func(s *Server) {
		h.onEvent = func(ev PeerEvent) {
			if ev.Kind == PeerOnline {
				_ = s.Send(ev.Peer.ID, Tip{Height: 42, Tip: testGenesis, Work: "42"})
			}
		}
		h.onFrame = func(from PeerRef, f any) {
			if _, ok := f.(BlockMsg); ok {
				s.Penalize(from.ID, "InvalidBlockHash: hash does not match")
			}
		}
	})
	r := onlineRaw(t, s, h)
	for {
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if tip, ok := f.(Tip); ok && tip.Height == 42 {
			break
		}
	}
	r.send(BlockMsg{Block: chainGenesis()})
	r.expectErrorThenClose("InvalidBlockHash: ", websocket.StatusPolicyViolation)
}

// A handler stuck in PeerEvent (a node loop busy elsewhere) does not stop
// Connect from returning or other peers from being served.
func TestBlockedHandlerDoesNotBlockConnect(t *testing.T) {
	gate := make(chan struct{})
	h := newTestHandler()
	h.onEvent = func(PeerEvent) { <-gate }
	s, _ := startServerWith(t, testConfig(), h, nil)
	peer1, _ := startServer(t, testConfig())
	peer2, _ := startServer(t, testConfig())
	connect(t, s, peer1.Addr())
	connect(t, s, peer2.Addr())
	if err := s.Send(peer2.NodeID(), Ping{Nonce: 1}); err != nil {
		t.Errorf("Send while the handler is blocked: %v", err)
	}
	close(gate)
	h.waitOnline(t, peer1.NodeID())
}

func chainGenesis() chain.Block { return chain.Genesis(1) }
