package netpeers

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/meshchain/meshchain/chain"
)

var testGenesis = chain.Genesis(1).Hash

// testHandler is a real Handler: it records what netpeers gives it into
// channels and a log that tests read.
type testHandler struct {
	status    Status
	chainData []byte

	events chan PeerEvent
	frames chan receivedFrame

	// Optional hooks, set before Run, for handlers that call back into
	// the server as a node does.
	onEvent func(PeerEvent)
	onFrame func(PeerRef, any)

	mu     sync.Mutex
	log    []PeerEvent
	drops  int
	frameN int
}

type receivedFrame struct {
	from  PeerRef
	frame any
}

func newTestHandler() *testHandler {
	return &testHandler{
		status:    Status{Height: 0, Tip: testGenesis, Work: "0"},
		chainData: []byte(`{"WalletAuthor":"02ab","BlockChainData":[]}`),
		events:    make(chan PeerEvent, 4096),
		frames:    make(chan receivedFrame, 4096),
	}
}

func (h *testHandler) Status() Status { return h.status }

func (h *testHandler) HandleFrame(from PeerRef, frame any) {
	if h.onFrame != nil {
		h.onFrame(from, frame)
	}
	h.mu.Lock()
	h.frameN++
	h.mu.Unlock()
	select {
	case h.frames <- receivedFrame{from, frame}:
	default:
		h.mu.Lock()
		h.drops++
		h.mu.Unlock()
	}
}

func (h *testHandler) PeerEvent(ev PeerEvent) {
	if h.onEvent != nil {
		h.onEvent(ev)
	}
	h.mu.Lock()
	h.log = append(h.log, ev)
	h.mu.Unlock()
	select {
	case h.events <- ev:
	default:
		h.mu.Lock()
		h.drops++
		h.mu.Unlock()
	}
}

func (h *testHandler) WriteChainData(ctx context.Context, w io.Writer) error {
	_, err := w.Write(h.chainData)
	return err
}

// eventLog is a copy of every event so far.
func (h *testHandler) eventLog() []PeerEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]PeerEvent(nil), h.log...)
}

// waitEvent consumes events until one matches, failing the test at the deadline.
func (h *testHandler) waitEvent(t *testing.T, timeout time.Duration, what string, match func(PeerEvent) bool) PeerEvent {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-h.events:
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no %s within %v; events so far: %+v", what, timeout, h.eventLog())
			return PeerEvent{}
		}
	}
}

func (h *testHandler) waitOnline(t *testing.T, id string) PeerEvent {
	t.Helper()
	return h.waitEvent(t, 10*time.Second, "peer_online of "+short(id), func(ev PeerEvent) bool {
		return ev.Kind == PeerOnline && ev.Peer.ID == id
	})
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// newIdentity is a fresh node key and the node id it proves.
func newIdentity() (*secp256k1.PrivateKey, string) {
	k, err := NewNodeKey()
	if err != nil {
		panic(err)
	}
	return k, NodeIDOf(k.PubKey())
}

// testConfig is a configuration with test timings on 127.0.0.1:0, and a
// node key, as every meshchain node has.
func testConfig() Config {
	key, id := newIdentity()
	cfg := Config{
		Listen:           "127.0.0.1:0",
		Genesis:          testGenesis,
		NodeID:           id,
		NodeKey:          key,
		Agent:            "meshchain/test",
		PingInterval:     100 * time.Millisecond,
		OfflineAfter:     3 * time.Second,
		HandshakeTimeout: 3 * time.Second,
		RedialMin:        50 * time.Millisecond,
		RedialMax:        400 * time.Millisecond,
		SaveInterval:     20 * time.Millisecond,
	}
	if os.Getenv("NETPEERS_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// startServer runs a server until the test ends, then checks that Run
// returned and closed every connection.
func startServer(t *testing.T, cfg Config) (*Server, *testHandler) {
	t.Helper()
	return startServerWith(t, cfg, newTestHandler(), nil)
}

// startServerWith lets the test set the handler's hooks (via setup, which
// sees the server) before Run starts.
func startServerWith(t *testing.T, cfg Config, h *testHandler, setup func(*Server)) (*Server, *testHandler) {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "" {
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
		if n := s.liveConns.Load(); n != 0 {
			t.Errorf("%d peer connections still open after Run returned", n)
		}
	})
	return s, h
}

func connect(t *testing.T, from *Server, to string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := from.Connect(ctx, to); err != nil {
		t.Fatalf("Connect(%s): %v", to, err)
	}
}

// waitFor polls cond (a state of the servers, not a timing guess) until it
// holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func peerInfo(s *Server, id string) (PeerInfo, bool) {
	for _, p := range s.Peers() {
		if p.NodeID == id {
			return p, true
		}
	}
	return PeerInfo{}, false
}

func onlineCount(s *Server) int {
	n := 0
	for _, p := range s.Peers() {
		if p.Status == StatusOnline {
			n++
		}
	}
	return n
}

// rawPeer is a WebSocket client speaking the protocol by hand, as an
// outside tool would. With a key (the default) it proves its id: its
// hellos carry node_key and challenge, and once both hellos have passed it
// sends its auth frame. Without one (dialRawAnon) it is an unauthenticated
// tool, which the server knows by its connection, local.
type rawPeer struct {
	t     *testing.T
	c     *websocket.Conn
	id    string
	key   *secp256k1.PrivateKey
	local string // our end of the connection: an unproven peer's PeerRef.ID

	challenge [32]byte
	sent, got *Hello // the hellos, for the auth frame
	authed    bool
}

func dialRaw(t *testing.T, addr, path string) *rawPeer {
	t.Helper()
	r := dialRawAnon(t, addr, path)
	r.key, r.id = newIdentity()
	return r
}

// dialRawAnon dials as a tool that sends no node_key.
func dialRawAnon(t *testing.T, addr, path string) *rawPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var local string
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, a)
			if err == nil {
				local = c.LocalAddr().String()
			}
			return c, err
		},
	}}
	c, _, err := websocket.Dial(ctx, "ws://"+addr+path, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial %s%s: %v", addr, path, err)
	}
	c.SetReadLimit(2 * MaxFrameBytes)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &rawPeer{t: t, c: c, id: NewNodeID(), local: local, challenge: newChallenge()}
}

// sameNode makes r speak as other's node (same id and key).
func (r *rawPeer) sameNode(other *rawPeer) { r.id, r.key = other.id, other.key }

func (r *rawPeer) hello(listen string) Hello {
	h := Hello{Version: 1, Genesis: testGenesis, NodeID: r.id, Listen: listen, Tip: testGenesis, Work: "0", Agent: "rawpeer"}
	if r.key != nil {
		h.NodeKey = hex.EncodeToString(r.key.PubKey().SerializeCompressed())
		h.Challenge = hex.EncodeToString(r.challenge[:])
	}
	return h
}

// authFrame is r's auth frame for the server's hello.
func (r *rawPeer) authFrame(server Hello) Auth {
	var g, ch [32]byte
	var peer [33]byte
	mustHex(r.t, g[:], testGenesis)
	mustHex(r.t, ch[:], server.Challenge)
	mustHex(r.t, peer[:], server.NodeKey)
	sig := signAuth(r.key, g, ch, peer)
	return Auth{Signature: hex.EncodeToString(sig[:])}
}

func mustHex(t *testing.T, dst []byte, s string) {
	t.Helper()
	if n, err := hex.Decode(dst, []byte(s)); err != nil || n != len(dst) {
		t.Fatalf("%q is not %d bytes of hex", s, len(dst))
	}
}

// maybeAuth sends the auth frame once both hellos carry keys and challenges.
func (r *rawPeer) maybeAuth() {
	r.t.Helper()
	if r.authed || r.key == nil || r.sent == nil || r.got == nil ||
		r.sent.NodeKey == "" || r.sent.Challenge == "" || r.got.NodeKey == "" || r.got.Challenge == "" {
		return
	}
	r.authed = true
	r.send(r.authFrame(*r.got))
}

func (r *rawPeer) send(frame any) {
	r.t.Helper()
	data, err := Encode(frame)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendRaw(data)
	if h, ok := frame.(Hello); ok {
		r.sent = &h
		r.maybeAuth()
	}
}

func (r *rawPeer) sendRaw(data []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.Write(ctx, websocket.MessageText, data); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// next reads one frame; a close comes back as the error.
func (r *rawPeer) next(timeout time.Duration) (any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, data, err := r.c.Read(ctx)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data)
	if err != nil {
		r.t.Fatalf("server sent an undecodable frame %q: %v", data, err)
	}
	return f, nil
}

// expectBusy dials a peer session at addr and expects it refused with
// HTTP 503; if it is let in, the test fails with accepted.
func expectBusy(t *testing.T, addr, accepted string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal(accepted)
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("refusal: %v %v, want HTTP 503", resp, err)
	}
}

// answerPings reads and answers pings in the background until the
// connection ends, as a live peer does; r must not be read from after.
func (r *rawPeer) answerPings() {
	go func() {
		for {
			_, data, err := r.c.Read(context.Background())
			if err != nil {
				return
			}
			if f, err := Decode(data); err == nil {
				if p, ok := f.(Ping); ok {
					pong, _ := Encode(Pong(p))
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = r.c.Write(ctx, websocket.MessageText, pong)
					cancel()
				}
			}
		}
	}()
}

// expectPong reads until the pong of nonce; if the session ends first the
// test fails with what and the error.
func (r *rawPeer) expectPong(nonce uint64, timeout time.Duration, what string) {
	r.t.Helper()
	for {
		f, err := r.next(timeout)
		if err != nil {
			r.t.Fatalf("%s: %v", what, err)
		}
		if p, ok := f.(Pong); ok && p.Nonce == nonce {
			return
		}
	}
}

func (r *rawPeer) expectHello() Hello {
	r.t.Helper()
	f, err := r.next(5 * time.Second)
	if err != nil {
		r.t.Fatalf("waiting for hello: %v", err)
	}
	h, ok := f.(Hello)
	if !ok {
		r.t.Fatalf("first frame is %#v, want hello", f)
	}
	r.got = &h
	r.maybeAuth()
	return h
}

// expectErrorThenClose skips ordinary frames until an error frame, checks
// its reason code, then expects the close with code.
func (r *rawPeer) expectErrorThenClose(reasonPrefix string, code websocket.StatusCode) string {
	r.t.Helper()
	var reason string
	for reason == "" {
		f, err := r.next(10 * time.Second)
		if err != nil {
			r.t.Fatalf("waiting for an error frame %q: %v", reasonPrefix, err)
		}
		if e, ok := f.(Error); ok {
			reason = e.Reason
		}
	}
	if !strings.HasPrefix(reason, reasonPrefix) {
		r.t.Errorf("error reason %q does not start with %q", reason, reasonPrefix)
	}
	r.expectClose(code)
	return reason
}

func (r *rawPeer) expectClose(code websocket.StatusCode) {
	r.t.Helper()
	r.expectCloseReason(code, "")
}

// expectCloseReason reads until the close; reason "" accepts any.
func (r *rawPeer) expectCloseReason(code websocket.StatusCode, reason string) {
	r.t.Helper()
	for {
		f, err := r.next(10 * time.Second)
		if err == nil {
			if _, ok := f.(Error); ok {
				r.t.Errorf("second error frame before close: %#v", f)
			}
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || (reason != "" && ce.Reason != reason) {
			r.t.Fatalf("connection ended with %v, want close %d %q", err, code, reason)
		}
		return
	}
}

// scriptedPeer is a peer the test controls: a WebSocket server on
// 127.0.0.1:0 that handshakes and answers pings while up, stops answering
// while silent, and refuses connections while down.
type scriptedPeer struct {
	t    *testing.T
	id   string
	key  *secp256k1.PrivateKey
	addr string

	mu   sync.Mutex
	mode string // "up", "silent", "down"
	wake chan struct{}

	srv *http.Server
	wg  sync.WaitGroup
}

func startScriptedPeer(t *testing.T) *scriptedPeer {
	t.Helper()
	key, _ := newIdentity()
	return startScriptedPeerKey(t, key)
}

// startScriptedPeerKey starts a scripted peer proving the node key key.
func startScriptedPeerKey(t *testing.T, key *secp256k1.PrivateKey) *scriptedPeer {
	t.Helper()
	id := NodeIDOf(key.PubKey())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &scriptedPeer{t: t, id: id, key: key, addr: ln.Addr().String(), mode: "up", wake: make(chan struct{})}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = p.srv.Close()
		p.setMode("down")
		p.wg.Wait()
	})
	return p
}

func (p *scriptedPeer) setMode(m string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *scriptedPeer) state() (string, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.wake
}

func (p *scriptedPeer) serve(w http.ResponseWriter, r *http.Request) {
	p.wg.Add(1)
	defer p.wg.Done()
	if mode, _ := p.state(); mode == "down" || mode == "silent" {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var reader sync.WaitGroup
	defer func() {
		cancel()
		_ = c.CloseNow()
		reader.Wait()
	}()
	raw := &rawPeer{t: p.t, id: p.id, key: p.key, challenge: newChallenge()}
	hello, _ := Encode(raw.hello(""))
	if c.Write(ctx, websocket.MessageText, hello) != nil {
		return
	}
	sentAuth := false
	// Reads go through a goroutine so the mode can change while one waits.
	frames := make(chan []byte)
	reader.Add(1)
	go func() {
		defer reader.Done()
		defer close(frames)
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			select {
			case frames <- data:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		mode, wake := p.state()
		if mode == "down" {
			return
		}
		select {
		case data, ok := <-frames:
			if !ok {
				return
			}
			if mode != "up" {
				continue // silent: read everything, answer nothing
			}
			f, err := Decode(data)
			if err != nil {
				return
			}
			if h, isHello := f.(Hello); isHello && !sentAuth && h.NodeKey != "" && h.Challenge != "" {
				sentAuth = true // the dialler's auth is not checked: this peer is scripted, not judged
				a, _ := Encode(raw.authFrame(h))
				if c.Write(ctx, websocket.MessageText, a) != nil {
					return
				}
			}
			if ping, isPing := f.(Ping); isPing {
				pong, _ := Encode(Pong(ping))
				if c.Write(ctx, websocket.MessageText, pong) != nil {
					return
				}
			}
		case <-wake:
		}
	}
}
