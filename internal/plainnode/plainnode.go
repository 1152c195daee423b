// Package plainnode is a node written from PROTOCOL.md alone, as plainly as
// the protocol allows, to be the baseline of the spread benchmark (issue 10:
// "a plain node written from the protocol alone, that verifies, fsyncs and
// then relays"). It accepts and dials peers, says hello (unauthenticated,
// which the protocol allows), answers and sends pings, and on a block frame
// it has not seen whose parent it holds: decodes it, validates it
// (chain.Validate), appends it to a file and fsyncs, and only then relays
// the frame to every other peer. Blocks are taken one at a time.
//
// It is a measuring stick, not a node to run: it keeps no best chain, does
// not fetch orphans (get_blocks), does not check the duplicate-message rule
// and answers no other request. It must not grow into one: what it costs
// per block is the point of it.
package plainnode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
)

// Config says where a plain node listens, whom it dials and where it
// keeps its blocks.
type Config struct {
	Listen     string    `json:"listen"`     // host:port to accept peers on
	Peers      []string  `json:"peers"`      // host:port of peers to dial
	Path       string    `json:"path"`       // file the accepted blocks are appended to, one JSON line each
	Difficulty uint32    `json:"difficulty"` // the network's
	Events     io.Writer `json:"-"`          // one JSON line per peer that said hello; nil for none
	OnPeer     func()    `json:"-"`          // called once per peer that said hello; nil for none
}

const (
	maxFrame     = 4 << 20
	pingEvery    = 5 * time.Second
	dialRetry    = 50 * time.Millisecond
	sendQueue    = 256
	agent        = "meshchain-plainnode/1"
	protocolV1   = 1
	typeHello    = "hello"
	typeBlock    = "block"
	typePing     = "ping"
	typePong     = "pong"
	closePolicy  = websocket.StatusPolicyViolation
	helloTimeout = 10 * time.Second
)

// node is one plain node's state.
type node struct {
	cfg     Config
	genesis string
	id      string
	file    *os.File

	mu    sync.Mutex        // taken for each block, so blocks go one at a time
	known map[string]uint64 // hash of every valid block held -> its height
	peers map[*peer]bool

	evMu sync.Mutex
}

type peer struct {
	addr string
	out  chan []byte
}

// Run runs a plain node until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	f, err := os.OpenFile(cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	g := chain.Genesis(cfg.Difficulty)
	var id [32]byte
	_, _ = rand.Read(id[:])
	n := &node{cfg: cfg, genesis: g.Hash, id: hex.EncodeToString(id[:]), file: f,
		known: map[string]uint64{g.Hash: 0}, peers: map[*peer]bool{}}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		n.session(ctx, c, r.RemoteAddr)
	})}
	wg.Go(func() { _ = srv.Serve(ln) })
	for _, addr := range cfg.Peers {
		wg.Go(func() { n.dial(ctx, addr) })
	}
	<-ctx.Done()
	_ = srv.Close()
	wg.Wait()
	return nil
}

// dial connects to addr, retrying until it answers (it may not listen
// yet), and runs the session.
func (n *node) dial(ctx context.Context, addr string) {
	for {
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
		if err == nil {
			n.session(ctx, c, addr)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(dialRetry):
		}
	}
}

// session runs one peer session until the connection or ctx ends.
func (n *node) session(ctx context.Context, c *websocket.Conn, addr string) {
	defer c.CloseNow()
	c.SetReadLimit(maxFrame)
	hello, _ := json.Marshal(map[string]any{"type": typeHello, "version": protocolV1, "genesis": n.genesis,
		"node_id": n.id, "listen": n.cfg.Listen, "height": 0, "tip": n.genesis, "work": "0", "agent": agent})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, helloTimeout)
	_, data, err := c.Read(hctx)
	cancel()
	if err != nil {
		return
	}
	var h struct {
		Type    string `json:"type"`
		Version int    `json:"version"`
		Genesis string `json:"genesis"`
		NodeID  string `json:"node_id"`
	}
	if json.Unmarshal(data, &h) != nil || h.Type != typeHello || h.Version != protocolV1 || h.Genesis != n.genesis || h.NodeID == n.id {
		_ = c.Close(closePolicy, "bad hello")
		return
	}

	p := &peer{addr: addr, out: make(chan []byte, sendQueue)}
	n.mu.Lock()
	n.peers[p] = true
	n.mu.Unlock()
	n.event(map[string]any{"event": "peer_online", "peer": addr, "node_id": h.NodeID})
	if n.cfg.OnPeer != nil {
		n.cfg.OnPeer()
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { n.writeLoop(sctx, c, p) })
	defer func() {
		n.mu.Lock()
		delete(n.peers, p)
		n.mu.Unlock()
		stop()
		wg.Wait()
	}()
	for {
		_, data, err := c.Read(sctx)
		if err != nil {
			return
		}
		var f struct {
			Type  string          `json:"type"`
			Nonce json.RawMessage `json:"nonce"`
			Block *chain.Block    `json:"block"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			_ = c.Close(closePolicy, "MalformedFrame")
			return
		}
		switch f.Type {
		case typePing:
			p.send([]byte(`{"type":"pong","nonce":` + string(f.Nonce) + `}`))
		case typeBlock:
			if f.Block != nil {
				n.block(p, f.Block, data)
			}
		}
	}
}

// writeLoop sends what is queued for the peer, and a ping now and then.
func (n *node) writeLoop(ctx context.Context, c *websocket.Conn, p *peer) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	var nonce uint64
	for {
		var data []byte
		select {
		case <-ctx.Done():
			return
		case data = <-p.out:
		case <-t.C:
			nonce++
			data = fmt.Appendf(nil, `{"type":"ping","nonce":%d}`, nonce)
		}
		if err := c.Write(ctx, websocket.MessageText, data); err != nil {
			c.CloseNow()
			return
		}
	}
}

// send queues a frame; a peer whose queue is full misses it.
func (p *peer) send(data []byte) {
	select {
	case p.out <- data:
	default:
	}
}

// block takes a block frame: unseen, with a known parent and valid, it is
// stored (fsynced) and then relayed to every peer but its sender.
func (n *node) block(from *peer, b *chain.Block, frame []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, seen := n.known[b.Hash]; seen {
		return
	}
	height, ok := n.known[b.PrevHash]
	if !ok {
		return // an orphan: a full node would ask for its ancestors
	}
	ph, err := chain.ParseHash(b.PrevHash)
	if err != nil {
		return
	}
	if _, err := chain.Validate(b, chain.Parent{Number: height, Hash: ph}, n.cfg.Difficulty, time.Now()); err != nil {
		return
	}
	line, err := json.Marshal(b)
	if err != nil {
		return
	}
	if _, err := n.file.Write(append(line, '\n')); err != nil {
		return
	}
	if err := n.file.Sync(); err != nil {
		return
	}
	n.known[b.Hash] = b.Number
	for p := range n.peers {
		if p != from {
			p.send(frame)
		}
	}
}

func (n *node) event(ev map[string]any) {
	if n.cfg.Events == nil {
		return
	}
	ev["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	line, err := json.Marshal(ev)
	if err != nil {
		return
	}
	n.evMu.Lock()
	defer n.evMu.Unlock()
	_, _ = n.cfg.Events.Write(append(line, '\n'))
}

// ParseConfig reads a Config from its JSON form (Events is not part of it).
func ParseConfig(spec string) (Config, error) {
	var cfg Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		return Config{}, fmt.Errorf("plainnode config: %w", err)
	}
	if cfg.Listen == "" || cfg.Path == "" {
		return Config{}, errors.New("plainnode config: listen and path are needed")
	}
	return cfg, nil
}
