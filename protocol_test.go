package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// These tests talk to the real binary as an outside tool would: raw
// WebSocket frames and plain JSON, written against PROTOCOL.md only.

type vectors struct {
	GenesisD8Hash string `json:"genesis_d8_hash"`
	ChainD8       []struct {
		Block map[string]any `json:"block"`
	} `json:"chain_d8"`
	Invalid []struct {
		Why        string         `json:"why"`
		Reason     string         `json:"reason"`
		ParentHash string         `json:"parent_hash"`
		Block      map[string]any `json:"block"`
	} `json:"invalid_after_genesis_d8"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	data, err := os.ReadFile("chain/testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

type wirePeer struct {
	t    *testing.T
	conn *websocket.Conn
	ctx  context.Context
}

func randomID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func dialPeer(t *testing.T, addr, genesis string) (*wirePeer, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(8 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	p := &wirePeer{t: t, conn: conn, ctx: ctx}
	p.send(map[string]any{"type": "hello", "version": 1, "genesis": genesis, "node_id": randomID(),
		"listen": "", "height": 0, "tip": genesis, "work": "0", "agent": "protocol-test/1"})
	hello := p.read()
	return p, hello
}

func (p *wirePeer) send(v any) {
	p.t.Helper()
	b, _ := json.Marshal(v)
	if err := p.conn.Write(p.ctx, websocket.MessageText, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *wirePeer) read() map[string]any {
	p.t.Helper()
	typ, data, err := p.conn.Read(p.ctx)
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		p.t.Fatalf("frame is not text")
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		p.t.Fatalf("frame is not a JSON object: %s", data)
	}
	return m
}

// readType skips frames until one of type typ (pings are answered).
func (p *wirePeer) readType(typ string) map[string]any {
	p.t.Helper()
	for {
		m := p.read()
		if m["type"] == "ping" {
			p.send(map[string]any{"type": "pong", "nonce": m["nonce"]})
			continue
		}
		if m["type"] == typ {
			return m
		}
	}
}

func TestWireProtocolAgainstTheBinary(t *testing.T) {
	v := loadVectors(t)
	dir := t.TempDir()
	node := startHeadless(t, "--data-dir", dir, "--difficulty", "8", "--listen", "127.0.0.1:0", "--threads", "1")
	started := node.waitFor("started", 20*time.Second, nil)
	addr := started["listen"].(string)
	if started["genesis"] != v.GenesisD8Hash {
		t.Fatalf("genesis %v, want the vectors' %s", started["genesis"], v.GenesisD8Hash)
	}

	p, hello := dialPeer(t, addr, v.GenesisD8Hash)
	if hello["type"] != "hello" || hello["version"] != float64(1) || hello["genesis"] != v.GenesisD8Hash ||
		hello["height"] != float64(0) || hello["tip"] != v.GenesisD8Hash || hello["work"] != "0" {
		t.Fatalf("hello %v", hello)
	}
	if id, _ := hello["node_id"].(string); len(id) != 64 {
		t.Errorf("node_id %q is not 64 hex", id)
	}
	if agent, _ := hello["agent"].(string); !strings.HasPrefix(agent, "meshchain/") {
		t.Errorf("agent %q", agent)
	}

	p.send(map[string]any{"type": "ping", "nonce": 4242})
	if pong := p.readType("pong"); pong["nonce"] != float64(4242) {
		t.Errorf("pong %v", pong)
	}

	// The vectors' chain, block by block.
	for _, c := range v.ChainD8 {
		p.send(map[string]any{"type": "block", "block": c.Block})
		node.waitFor("block_accepted", 10*time.Second, func(ev map[string]any) bool { return ev["hash"] == c.Block["hash"] })
	}
	tipHash := v.ChainD8[2].Block["hash"]
	// The node announces each new tip to its peers.
	for {
		tip := p.readType("tip")
		if tip["tip"] == tipHash {
			if tip["height"] != float64(3) || tip["work"] != "768" {
				t.Errorf("tip frame %v, want height 3 and work 768", tip)
			}
			break
		}
	}
	p.send(map[string]any{"type": "get_peers"})
	if peers, ok := p.readType("peers")["peers"].([]any); !ok || len(peers) > 1000 {
		t.Errorf("peers answer %v", peers)
	}

	// get_blocks after genesis, limited, then unlimited.
	p.send(map[string]any{"type": "get_blocks", "locator": []string{v.GenesisD8Hash}, "limit": 2})
	got := p.readType("blocks")["blocks"].([]any)
	if len(got) != 2 || got[0].(map[string]any)["hash"] != v.ChainD8[0].Block["hash"] {
		t.Fatalf("get_blocks limit 2: %v", got)
	}
	for k, want := range v.ChainD8[0].Block {
		if g := got[0].(map[string]any)[k]; g != want {
			t.Errorf("served block field %s = %v, want %v", k, g, want)
		}
	}
	p.send(map[string]any{"type": "get_blocks", "locator": []string{strings.Repeat("ab", 32), v.ChainD8[0].Block["hash"].(string)}, "limit": 500})
	if got := p.readType("blocks")["blocks"].([]any); len(got) != 2 || got[1].(map[string]any)["hash"] != tipHash {
		t.Fatalf("get_blocks after block 1: %d blocks", len(got))
	}

	// A block from the future is refused but costs nothing.
	for _, c := range v.Invalid {
		if c.Reason == "InvalidTimestamp" && strings.Contains(c.Why, "2099") {
			p.send(map[string]any{"type": "block", "block": c.Block})
			node.waitFor("block_rejected", 10*time.Second, func(ev map[string]any) bool { return ev["reason"] == "InvalidTimestamp" })
		}
	}
	p.send(map[string]any{"type": "ping", "nonce": 7})
	if pong := p.readType("pong"); pong["nonce"] != float64(7) {
		t.Errorf("session unusable after a future block: %v", pong)
	}

	// A duplicate message on block 3 costs the sender: an error frame and a close.
	for _, c := range v.Invalid {
		if c.Reason != "DuplicateMessage" {
			continue
		}
		q, _ := dialPeer(t, addr, v.GenesisD8Hash)
		q.send(map[string]any{"type": "block", "block": c.Block})
		errFrame := q.readType("error")
		if reason, _ := errFrame["reason"].(string); !strings.HasPrefix(reason, "DuplicateMessage: ") {
			t.Errorf("error frame %v", errFrame)
		}
		node.waitFor("block_rejected", 10*time.Second, func(ev map[string]any) bool { return ev["reason"] == "DuplicateMessage" })
		node.waitFor("peer_penalized", 10*time.Second, nil)
	}
	// The first peer is still served.
	p.send(map[string]any{"type": "ping", "nonce": 8})
	if pong := p.readType("pong"); pong["nonce"] != float64(8) {
		t.Errorf("honest peer not served after another was penalised: %v", pong)
	}

	// /get-blockchaindata: one message, then a normal close.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/get-blockchaindata", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(8 << 20)
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		WalletAuthor   string           `json:"WalletAuthor"`
		BlockChainData []map[string]any `json:"BlockChainData"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.WalletAuthor != started["sender"] || len(doc.BlockChainData) != 4 ||
		doc.BlockChainData[0]["hash"] != v.GenesisD8Hash || doc.BlockChainData[3]["hash"] != tipHash {
		t.Fatalf("get-blockchaindata: author %s, %d blocks", doc.WalletAuthor, len(doc.BlockChainData))
	}
	_, _, err = conn.Read(ctx)
	if status := websocket.CloseStatus(err); status != websocket.StatusNormalClosure {
		t.Errorf("get-blockchaindata closed with %v (%v), want 1000", status, err)
	}

	// Another network's hello: an error frame and close 1008.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	other, _, err := websocket.Dial(ctx2, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.CloseNow()
	wrong := &wirePeer{t: t, conn: other, ctx: ctx2}
	wrong.send(map[string]any{"type": "hello", "version": 1, "genesis": strings.Repeat("0", 64), "node_id": randomID(),
		"listen": "", "height": 0, "tip": strings.Repeat("0", 64), "work": "0", "agent": "x"})
	sawError := false
	for {
		_, data, err := other.Read(ctx2)
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
				t.Errorf("wrong genesis closed with %v (%v), want 1008", st, err)
			}
			break
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("frame is not JSON: %s", data)
		}
		switch m["type"] {
		case "error":
			sawError = true
		case "hello":
		default:
			t.Errorf("unexpected frame before the close: %s", data)
		}
	}
	if !sawError {
		t.Error("no error frame before the close")
	}
}

// authPeer is an outside peer that proves its node id as PROTOCOL.md section
// 2 says: node_key and challenge in its hello, then an auth frame.
type authPeer struct {
	key       *secp256k1.PrivateKey
	pub       []byte
	id        string
	challenge []byte
}

func newAuthPeer(t *testing.T) *authPeer {
	t.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PubKey().SerializeCompressed()
	sum := sha256.Sum256(pub)
	ch := make([]byte, 32)
	rand.Read(ch)
	return &authPeer{key: k, pub: pub, id: hex.EncodeToString(sum[:]), challenge: ch}
}

func (a *authPeer) hello(genesis string) map[string]any {
	return map[string]any{"type": "hello", "version": 1, "genesis": genesis, "node_id": a.id,
		"listen": "", "height": 0, "tip": genesis, "work": "0", "agent": "protocol-test/1",
		"node_key": hex.EncodeToString(a.pub), "challenge": hex.EncodeToString(a.challenge)}
}

// authDigest is SHA-256("meshchain/auth/v1" || genesis || the peer's
// challenge || own node key || the peer's node key).
func authDigest(t *testing.T, genesis, peerChallenge, own, peer string) []byte {
	t.Helper()
	h := sha256.New()
	h.Write([]byte("meshchain/auth/v1"))
	for _, s := range []string{genesis, peerChallenge, own, peer} {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%q is not hex", s)
		}
		h.Write(b)
	}
	return h.Sum(nil)
}

func (a *authPeer) sign(t *testing.T, genesis string, server map[string]any) map[string]any {
	t.Helper()
	d := authDigest(t, genesis, server["challenge"].(string), hex.EncodeToString(a.pub), server["node_key"].(string))
	sig := ecdsa.Sign(a.key, d)
	var rs [64]byte
	r, s := sig.R(), sig.S()
	r.PutBytesUnchecked(rs[:32])
	s.PutBytesUnchecked(rs[32:])
	return map[string]any{"type": "auth", "signature": hex.EncodeToString(rs[:])}
}

// The binary proves its node id to a peer that sends node_key, asks it to
// prove its own, and refuses a bad proof with AuthFailed and close 1008.
func TestAuthenticatedPeerAgainstTheBinary(t *testing.T) {
	v := loadVectors(t)
	g := v.GenesisD8Hash
	node := startHeadless(t, "--data-dir", t.TempDir(), "--difficulty", "8", "--listen", "127.0.0.1:0", "--threads", "1")
	addr := node.waitFor("started", 20*time.Second, nil)["listen"].(string)

	dial := func() *wirePeer {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.CloseNow() })
		return &wirePeer{t: t, conn: conn, ctx: ctx}
	}

	me := newAuthPeer(t)
	p := dial()
	p.send(me.hello(g))
	hello := p.read()
	key, _ := hello["node_key"].(string)
	ch, _ := hello["challenge"].(string)
	pub, err := hex.DecodeString(key)
	if err != nil || len(pub) != 33 || len(ch) != 64 {
		t.Fatalf("hello without a node_key and challenge: %v", hello)
	}
	if sum := sha256.Sum256(pub); hello["node_id"] != hex.EncodeToString(sum[:]) {
		t.Errorf("node_id %v is not the hash of node_key %s", hello["node_id"], key)
	}
	auth := p.read()
	if auth["type"] != "auth" {
		t.Fatalf("second frame %v, want auth", auth)
	}
	sigHex, _ := auth["signature"].(string)
	rs, err := hex.DecodeString(sigHex)
	if err != nil || len(rs) != 64 {
		t.Fatalf("auth signature %q is not 128 hex", sigHex)
	}
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(rs[:32])
	s.SetByteSlice(rs[32:])
	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	digest := authDigest(t, g, hex.EncodeToString(me.challenge), key, hex.EncodeToString(me.pub))
	if s.IsOverHalfOrder() || !ecdsa.NewSignature(&r, &s).Verify(digest, pk) {
		t.Fatal("the binary's auth signature does not verify (or is not low-S)")
	}
	p.send(me.sign(t, g, hello))
	online := node.waitFor("peer_online", 10*time.Second, nil)
	if online["node_id"] != me.id || online["proven"] != true {
		t.Errorf("peer_online %v, want node_id %s proven", online, me.id)
	}
	// A tool without node_key is served too, its node_id shown as a claim.
	tool, _ := dialPeer(t, addr, g)
	toolOnline := node.waitFor("peer_online", 10*time.Second, nil)
	if toolOnline["proven"] != false || toolOnline["node_id"] == me.id {
		t.Errorf("peer_online of a tool: %v", toolOnline)
	}
	tool.send(map[string]any{"type": "ping", "nonce": 8})
	if pong := tool.readType("pong"); pong["nonce"] != float64(8) {
		t.Errorf("tool's pong %v", pong)
	}
	p.send(map[string]any{"type": "ping", "nonce": 7})
	if pong := p.readType("pong"); pong["nonce"] != float64(7) {
		t.Errorf("pong %v", pong)
	}

	// A proof signed by another key than the hello names.
	liar := newAuthPeer(t)
	q := dial()
	q.send(liar.hello(g))
	qHello := q.read()
	liar.key, _ = secp256k1.GeneratePrivateKey()
	q.send(liar.sign(t, g, qHello))
	refused := false
	for {
		typ, data, err := q.conn.Read(q.ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("ended with %v, want an AuthFailed error frame and close 1008", err)
			}
			break
		}
		var m map[string]any
		if typ == websocket.MessageText && json.Unmarshal(data, &m) == nil && m["type"] == "error" {
			reason, _ := m["reason"].(string)
			refused = strings.HasPrefix(reason, "AuthFailed")
			if !refused {
				t.Errorf("error %q, want AuthFailed", reason)
			}
		}
	}
	if !refused {
		t.Error("closed without an AuthFailed error frame")
	}
}
