package netpeers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/meshchain/meshchain/chain"
)

// The auth handshake of PROTOCOL-VECTORS.json: digests, signatures and node
// ids of both sides, byte for byte.
func TestAuthVectors(t *testing.T) {
	// The one vector file every package reads (chain, wallet, pow): a copy
	// here could drift from it unseen.
	data, err := os.ReadFile("../chain/testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		t.Fatal(err)
	}
	var all struct {
		Auth map[string]string `json:"auth"`
	}
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	a := all.Auth
	if want := chain.Genesis(24).Hash; a["genesis"] != want {
		t.Fatalf("auth.genesis %s is not the d=24 genesis %s", a["genesis"], want)
	}
	key := func(name string) *secp256k1.PrivateKey {
		sum := sha256.Sum256([]byte(name))
		return secp256k1.PrivKeyFromBytes(sum[:])
	}
	dec := func(field string, n int) []byte {
		b, err := hex.DecodeString(a[field])
		if err != nil || len(b) != n {
			t.Fatalf("vector %s = %q is not %d bytes of hex", field, a[field], n)
		}
		return b
	}
	var genesis, chA, chB [32]byte
	copy(genesis[:], dec("genesis", 32))
	copy(chA[:], dec("a_challenge", 32))
	copy(chB[:], dec("b_challenge", 32))
	ka, kb := key("meshchain vector node A"), key("meshchain vector node B")
	var pubA, pubB [33]byte
	copy(pubA[:], ka.PubKey().SerializeCompressed())
	copy(pubB[:], kb.PubKey().SerializeCompressed())

	for _, side := range []struct {
		name             string
		key              *secp256k1.PrivateKey
		own, peer        [33]byte
		peerChallenge    [32]byte
		keyF, idF, dF, s string
	}{
		{"a", ka, pubA, pubB, chB, "a_node_key", "a_node_id", "a_digest", "a_signature"},
		{"b", kb, pubB, pubA, chA, "b_node_key", "b_node_id", "b_digest", "b_signature"},
	} {
		if got := hex.EncodeToString(side.own[:]); got != a[side.keyF] {
			t.Errorf("%s node key %s, want %s", side.name, got, a[side.keyF])
		}
		if got := NodeIDOf(side.key.PubKey()); got != a[side.idF] {
			t.Errorf("%s node id %s, want %s", side.name, got, a[side.idF])
		}
		d := authDigest(genesis, side.peerChallenge, side.own, side.peer)
		if got := d.String(); got != a[side.dF] {
			t.Errorf("%s digest %s, want %s", side.name, got, a[side.dF])
		}
		sig := signAuth(side.key, genesis, side.peerChallenge, side.peer)
		if got := hex.EncodeToString(sig[:]); got != a[side.s] {
			t.Errorf("%s signature %s, want %s", side.name, got, a[side.s])
		}
		// The other side's check: its own challenge, the signer's key first.
		ownChallenge := chA
		if side.name == "a" {
			ownChallenge = chB
		}
		if err := verifyAuth(a[side.s], genesis, ownChallenge, side.own, side.peer); err != nil {
			t.Errorf("%s signature does not verify: %v", side.name, err)
		}
		if err := verifyAuth(a[side.s], genesis, side.peerChallenge, side.peer, side.own); err == nil {
			t.Errorf("%s signature verifies with the keys swapped", side.name)
		}
	}
}

// The node key is made once, kept readable by its owner only, and read back
// as the same identity.
func TestNodeKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", NodeKeyFile)
	k1, err := LoadOrCreateNodeKey(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode %v, want 0600", st.Mode().Perm())
	}
	if dst, err := os.Stat(filepath.Dir(path)); err != nil || dst.Mode().Perm() != 0o700 {
		t.Errorf("data dir %v (%v), want 0700", dst.Mode().Perm(), err)
	}
	k2, err := LoadOrCreateNodeKey(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if NodeIDOf(k1.PubKey()) != NodeIDOf(k2.PubKey()) {
		t.Error("the node key changed between two loads")
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateNodeKey(path, nil); err == nil {
		t.Error("a damaged node key file was accepted")
	}
}

// A node key file others may read is made 0600 again when loaded, with a
// warning, and still read as the same identity (review D6).
func TestNodeKeyModeEnforced(t *testing.T) {
	path := filepath.Join(t.TempDir(), NodeKeyFile)
	k1, err := LoadOrCreateNodeKey(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	k2, err := LoadOrCreateNodeKey(path, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if NodeIDOf(k1.PubKey()) != NodeIDOf(k2.PubKey()) {
		t.Error("the node key changed")
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("node key mode after loading a 0644 file: %v (%v), want 0600", st.Mode().Perm(), err)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), path) {
		t.Errorf("no warning naming the file: %q", logged.String())
	}
}

// A start that crashes while it writes a new node key leaves no key file
// that stops the next start (an empty one did: "not 64 hex digits"). The
// crash is real: a child process exits in the middle of the write.
func TestNodeKeyCrashSafe(t *testing.T) {
	if path := os.Getenv("NETPEERS_NODEKEY_CRASH"); path != "" {
		testHookNodeKeyWritten = func() { os.Exit(3) }
		_, _ = LoadOrCreateNodeKey(path, nil)
		os.Exit(0) // the hook never ran: the test below fails
	}
	path := filepath.Join(t.TempDir(), NodeKeyFile)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNodeKeyCrashSafe$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NETPEERS_NODEKEY_CRASH="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("the child did not crash in the write: %v\n%s", err, out)
	}
	k1, err := LoadOrCreateNodeKey(path, nil)
	if err != nil {
		t.Fatalf("the start after the crash fails: %v", err)
	}
	k2, err := LoadOrCreateNodeKey(path, nil)
	if err != nil || NodeIDOf(k1.PubKey()) != NodeIDOf(k2.PubKey()) {
		t.Fatalf("the key made after the crash is not kept: %v", err)
	}
}

// Two servers prove their ids to each other.
func TestServersAuthenticate(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, hb := startServer(t, testConfig())
	connect(t, a, b.Addr())
	if ev := ha.waitOnline(t, b.NodeID()); !ev.Peer.Proven {
		t.Errorf("a does not take b as proven: %+v", ev.Peer)
	}
	if ev := hb.waitOnline(t, a.NodeID()); !ev.Peer.Proven {
		t.Errorf("b does not take a as proven: %+v", ev.Peer)
	}
	if p, ok := peerInfo(a, b.NodeID()); !ok || !p.Proven {
		t.Errorf("a's book: %+v", p)
	}
}

// A bad, missing or late auth frame is refused with AuthFailed and close
// 1008; so is a hello whose node_id is not its node_key's hash.
func TestAuthFailures(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 500 * time.Millisecond
	s, h := startServer(t, cfg)
	for _, tt := range []struct {
		name   string
		run    func(r *rawPeer)
		reason string
	}{
		{"bad signature", func(r *rawPeer) {
			r.key = nil // send the hello with keys, but our own auth frame
			hello := r.hello("")
			k, _ := newIdentity()
			hello.NodeKey = hex.EncodeToString(k.PubKey().SerializeCompressed())
			hello.NodeID = NodeIDOf(k.PubKey())
			hello.Challenge = strings.Repeat("11", 32)
			r.send(hello)
			srv := r.expectHello()
			other, _ := newIdentity() // signs with another key than it names
			r.key = other
			r.send(r.authFrame(srv))
		}, ReasonAuthFailed + ": "},
		{"signature of the wrong digest", func(r *rawPeer) {
			r.send(r.hello(""))
			r.authed = true // no automatic auth frame
			srv := r.expectHello()
			srv.Challenge = strings.Repeat("00", 32)
			r.send(r.authFrame(srv))
		}, ReasonAuthFailed + ": "},
		{"missing: a ping instead", func(r *rawPeer) {
			r.authed = true
			r.send(r.hello(""))
			r.expectHello()
			r.send(Ping{Nonce: 1})
		}, ReasonAuthFailed + ": "},
		{"late", func(r *rawPeer) {
			r.authed = true
			r.send(r.hello(""))
			r.expectHello()
		}, ReasonAuthFailed + ": "},
		{"node_id not the key's", func(r *rawPeer) {
			hello := r.hello("")
			hello.NodeID = NewNodeID()
			r.send(hello)
			r.expectHello()
		}, ReasonMalformedFrame + ": "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, s.Addr(), "/")
			tt.run(r)
			r.expectErrorThenClose(tt.reason, websocket.StatusPolicyViolation)
			for _, ev := range h.eventLog() {
				if ev.Kind == PeerOnline && ev.Peer.ID == r.id {
					t.Errorf("went online: %+v", ev)
				}
			}
		})
	}
	// Loopback is not refused for it: an honest peer gets in.
	onlineRaw(t, s, h)
}

// A hello is held to PROTOCOL.md section 2 to the letter (review D2-D5):
// frames are text messages, node_id is 64 hex even unauthenticated, a
// present node_key or challenge is not empty, and a node_key is checked
// before the self check. Each is MalformedFrame with close 1008, and the
// session never goes online.
func TestHelloHeldToTheSpec(t *testing.T) {
	s, h := startServer(t, testConfig())
	writeBinary := func(r *rawPeer, frame any) {
		data, err := Encode(frame)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.c.Write(ctx, websocket.MessageBinary, data); err != nil {
			t.Fatalf("binary write: %v", err)
		}
	}
	for _, tt := range []struct {
		name   string
		anon   bool
		run    func(r *rawPeer)
		online bool // it went online before the offence
	}{
		{"D2: hello as a binary message", true, func(r *rawPeer) {
			writeBinary(r, r.hello(""))
			r.expectHello()
		}, false},
		{"D2: a binary frame after the handshake", false, func(r *rawPeer) {
			r.send(r.hello(""))
			r.expectHello()
			h.waitOnline(t, r.id)
			writeBinary(r, Ping{Nonce: 7})
		}, true},
		{"D3: unauthenticated node_id not 64 hex", true, func(r *rawPeer) {
			r.id = "zz"
			r.send(r.hello(""))
			r.expectHello()
		}, false},
		{"D3: unauthenticated node_id in upper case", true, func(r *rawPeer) {
			r.id = strings.ToUpper(NewNodeID())
			r.send(r.hello(""))
			r.expectHello()
		}, false},
		{"D4: empty node_key with a challenge", true, func(r *rawPeer) {
			r.sendRaw([]byte(`{"type":"hello","version":1,"genesis":"` + testGenesis + `","node_id":"` + r.id +
				`","listen":"","height":0,"tip":"` + testGenesis + `","work":"0","agent":"rawpeer","node_key":"","challenge":"` + strings.Repeat("11", 32) + `"}`))
			r.expectHello()
		}, false},
		{"D4: empty challenge with a node_key", false, func(r *rawPeer) {
			hello := r.hello("")
			data, _ := Encode(hello)
			r.sendRaw([]byte(strings.Replace(string(data), `"challenge":"`+hello.Challenge+`"`, `"challenge":""`, 1)))
			r.expectHello()
		}, false},
		{"D5: our node_id with another node_key", true, func(r *rawPeer) {
			k, _ := newIdentity()
			hello := r.hello("")
			hello.NodeID = s.NodeID()
			hello.NodeKey = hex.EncodeToString(k.PubKey().SerializeCompressed())
			hello.Challenge = strings.Repeat("22", 32)
			r.send(hello)
			r.expectHello()
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r *rawPeer
			if tt.anon {
				r = dialRawAnon(t, s.Addr(), "/")
			} else {
				r = dialRaw(t, s.Addr(), "/")
			}
			r.t = t
			tt.run(r)
			r.expectErrorThenClose(ReasonMalformedFrame+": ", websocket.StatusPolicyViolation)
			if !tt.online {
				for _, ev := range h.eventLog() {
					if ev.Kind == PeerOnline && (ev.Peer.ID == r.local || ev.Hello.NodeID == r.id) {
						t.Errorf("went online: %+v", ev)
					}
				}
			}
		})
	}
	// Loopback is not refused for any of it: an honest peer gets in.
	onlineRaw(t, s, h)
}

// A tool that sends no node_key is served, unauthenticated: ping/pong, and
// its get_blocks reach the node under its connection, not the id it claims.
func TestUnauthenticatedToolServed(t *testing.T) {
	s, h := startServer(t, testConfig())
	r := dialRawAnon(t, s.Addr(), "/")
	r.send(r.hello(""))
	if got := r.expectHello(); got.NodeKey == "" || got.Challenge == "" {
		t.Errorf("server hello without node_key or challenge: %+v", got)
	}
	ev := h.waitEvent(t, 5*time.Second, "peer_online", func(ev PeerEvent) bool { return ev.Kind == PeerOnline })
	if ev.Peer.Proven || ev.Peer.ID != r.local || ev.Hello.NodeID != r.id {
		t.Errorf("online event %+v, want unproven %s claiming %s", ev.Peer, r.local, short(r.id))
	}
	r.send(Ping{Nonce: 42})
	r.expectPong(42, 5*time.Second, "tool not answered")
	r.send(GetBlocks{Locator: []string{testGenesis}, Limit: 10})
	select {
	case got := <-h.frames:
		if _, ok := got.frame.(GetBlocks); !ok || got.from.ID != r.local || got.from.Proven {
			t.Errorf("node got %+v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("get_blocks of an unauthenticated tool did not reach the node")
	}
	if err := s.Send(r.local, Blocks{}); err != nil {
		t.Errorf("answer to the tool: %v", err)
	}
	for {
		f, err := r.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.(Blocks); ok {
			break
		}
	}
	if err := s.Send(r.id, Blocks{}); err == nil {
		t.Error("the id a tool claims names a session")
	}
}

// An unproven peer's claimed node id is kept apart from the connection it
// is known by (review D1): Peers gives both, so the claim can be shown as
// a claim. A proven peer's claim is its node id.
func TestUnprovenClaimKeptApart(t *testing.T) {
	s, h := startServer(t, testConfig())
	tool := dialRawAnon(t, s.Addr(), "/")
	tool.send(tool.hello(""))
	tool.expectHello()
	h.waitEvent(t, 5*time.Second, "the tool online", func(ev PeerEvent) bool {
		return ev.Kind == PeerOnline && ev.Peer.ID == tool.local
	})
	proven := onlineRaw(t, s, h)
	var sawTool, sawProven bool
	for _, p := range s.Peers() {
		switch p.NodeID {
		case tool.local:
			sawTool = true
			if p.Proven || p.ClaimedID != tool.id {
				t.Errorf("tool's entry: proven %v, claimed %q; want unproven claiming %s", p.Proven, p.ClaimedID, short(tool.id))
			}
		case proven.id:
			sawProven = true
			if !p.Proven || p.ClaimedID != proven.id {
				t.Errorf("proven peer's entry: proven %v, claimed %q", p.Proven, p.ClaimedID)
			}
		}
	}
	if !sawTool || !sawProven {
		t.Errorf("Peers() lacks the tool (%v) or the proven peer (%v): %+v", sawTool, sawProven, s.Peers())
	}
}

// 9.1 (a): an attacker naming Y's id can neither displace Y's session nor
// get Y refused, whether it comes before Y or while Y is online.
func TestImpersonatorCannotDisplaceOrBan(t *testing.T) {
	x, hx := startServer(t, testConfig())
	y, hy := startServer(t, acceptOnly())

	// Before Y: the attacker names Y and breaks a rule.
	early := dialRawAnon(t, x.Addr(), "/")
	early.id = y.NodeID()
	early.send(early.hello(y.Addr()))
	early.expectHello()
	hx.waitEvent(t, 5*time.Second, "the impostor online", func(ev PeerEvent) bool {
		return ev.Kind == PeerOnline && ev.Hello.NodeID == y.NodeID()
	})
	early.sendRaw([]byte("[]"))
	early.expectErrorThenClose(ReasonMalformedFrame+": ", websocket.StatusPolicyViolation)
	pen := hx.waitEvent(t, 5*time.Second, "the impostor penalised", func(ev PeerEvent) bool { return ev.Kind == PeerPenalized })
	if pen.Peer.ID == y.NodeID() || pen.Peer.Proven {
		t.Errorf("penalty charged to Y: %+v", pen.Peer)
	}

	// Y still gets in, both ways.
	connect(t, x, y.Addr())
	hx.waitOnline(t, y.NodeID())
	hy.waitOnline(t, x.NodeID())

	// While Y is online, an impostor is closed as the duplicate...
	late := dialRawAnon(t, x.Addr(), "/")
	late.id = y.NodeID()
	late.send(late.hello(""))
	late.expectHello()
	late.expectCloseReason(websocket.StatusNormalClosure, closeDuplicate)
	// ...and one with Y's key but no signature of its own fails auth.
	forger := dialRawAnon(t, x.Addr(), "/")
	hello := forger.hello("")
	hello.NodeID = y.NodeID()
	hello.NodeKey = hex.EncodeToString(y.nodeKey[:])
	hello.Challenge = strings.Repeat("ab", 32)
	forger.send(hello)
	forger.expectHello()
	forger.send(Auth{Signature: strings.Repeat("01", 64)})
	forger.expectErrorThenClose(ReasonAuthFailed+": ", websocket.StatusPolicyViolation)

	// Y's session is the one that stays, and Y is refused nowhere.
	if err := x.Send(y.NodeID(), Tip{Height: 3, Tip: testGenesis, Work: "1"}); err != nil {
		t.Fatalf("Y's session is gone: %v", err)
	}
	if info, ok := peerInfo(x, y.NodeID()); !ok || info.Status != StatusOnline || !info.Proven {
		t.Errorf("x's record of Y: %+v (found %v)", info, ok)
	}
	x.mu.Lock()
	_, banned := x.bannedLocked(y.NodeID(), y.Addr(), netip.Addr{}, time.Now())
	x.mu.Unlock()
	if banned {
		t.Error("Y is refused at X")
	}
	for _, ev := range hx.eventLog() {
		if ev.Kind == PeerOffline && ev.Peer.ID == y.NodeID() {
			t.Errorf("Y's session was closed: %+v", ev)
		}
	}
}

// 9.1 (b): a hello naming B's id with a wrong genesis costs the connection,
// not B: B is welcome after it.
func TestWrongGenesisNamingBDoesNotBanB(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, _ := startServer(t, acceptOnly())
	for _, withKey := range []bool{false, true} {
		r := dialRawAnon(t, a.Addr(), "/")
		hello := r.hello(b.Addr())
		hello.NodeID = b.NodeID()
		if withKey {
			hello.NodeKey = hex.EncodeToString(b.nodeKey[:])
			hello.Challenge = strings.Repeat("cd", 32)
		}
		hello.Genesis = strings.Repeat("ab", 32)
		r.send(hello)
		r.expectHello()
		r.expectErrorThenClose(ReasonWrongGenesis+": ", websocket.StatusPolicyViolation)
	}
	connect(t, b, a.Addr())
	ha.waitOnline(t, b.NodeID())
	a.mu.Lock()
	_, banned := a.bannedLocked(b.NodeID(), b.Addr(), netip.Addr{}, time.Now())
	a.mu.Unlock()
	if banned {
		t.Error("B is refused at A")
	}
}

// 9.1 (c): a peer naming B's listen address, proven or not, that breaks a
// rule does not get B's address refused.
func TestListenClaimDoesNotGetBRefused(t *testing.T) {
	a, ha := startServer(t, testConfig())
	b, _ := startServer(t, acceptOnly())
	for _, proven := range []bool{false, true} {
		var r *rawPeer
		if proven {
			r = dialRaw(t, a.Addr(), "/")
		} else {
			r = dialRawAnon(t, a.Addr(), "/")
		}
		r.send(r.hello(b.Addr()))
		r.expectHello()
		ha.waitEvent(t, 5*time.Second, "the claimant online", func(ev PeerEvent) bool {
			return ev.Kind == PeerOnline && ev.Hello.NodeID == r.id
		})
		r.sendRaw([]byte("[]"))
		r.expectErrorThenClose(ReasonMalformedFrame+": ", websocket.StatusPolicyViolation)
		ha.waitEvent(t, 5*time.Second, "the claimant penalised", func(ev PeerEvent) bool { return ev.Kind == PeerPenalized })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.Addr()); err != nil {
		t.Fatalf("A refuses to dial B after others named B's address: %v", err)
	}
	ha.waitOnline(t, b.NodeID())
}

// The auth fields of a hello and an auth signature, whatever their bytes,
// are refused with an error or accepted only when they prove the id.
func FuzzHelloKeysAndAuth(f *testing.F) {
	k, id := newIdentity()
	pub := hex.EncodeToString(k.PubKey().SerializeCompressed())
	f.Add(id, pub, strings.Repeat("11", 32), strings.Repeat("ab", 64))
	f.Add(id, pub, "", "")
	f.Add(NewNodeID(), "04"+strings.Repeat("00", 32), "zz", strings.Repeat("ff", 64))
	var genesis, challenge [32]byte
	f.Fuzz(func(t *testing.T, nodeID, nodeKey, challengeHex, sig string) {
		keys, err := parseHelloKeys(Hello{NodeID: nodeID, NodeKey: nodeKey, Challenge: challengeHex})
		if err != nil {
			return
		}
		if keys.hasKey {
			pk, perr := secp256k1.ParsePubKey(keys.key[:])
			if perr != nil || NodeIDOf(pk) != nodeID {
				t.Fatalf("accepted node_key %q for node_id %q", nodeKey, nodeID)
			}
			_ = verifyAuth(sig, genesis, challenge, keys.key, keys.key)
		}
	})
}
