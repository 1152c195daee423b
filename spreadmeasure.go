package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/netpeers"
	"github.com/meshchain/meshchain/wallet"
)

// How a block's spread across a mesh of nodes is measured, by `meshchain
// bench` and BenchmarkSpread8Procs alike: an observer connected to every
// node, as a plain unauthenticated peer, stamps each block frame as it
// arrives. The node that has the block first sends it to the observer as it
// sends it to everyone; each other node relays it to the observer when it
// relays it on. A block's spread is the last arrival minus the first.

type spreadArrival struct {
	node    int
	message string
	at      time.Time
}

// observe connects to a node as an unauthenticated peer at genesis, answers
// its pings and reports every block frame's arrival time on out.
//
// A frame is stamped with the time the kernel received it (stampConn), not
// the time the observer read it: on a machine whose cores are all busy,
// the observer may not run for milliseconds while frames wait for it.
func observe(ctx context.Context, addr, genesis string, node int, out chan<- spreadArrival) error {
	var sc *stampConn
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialStamped(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sc = c
		return c, nil
	}}
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		return err
	}
	c.SetReadLimit(netpeers.MaxFrameBytes)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "version": 1, "genesis": genesis,
		"node_id": netpeers.NewNodeID(), "listen": "", "height": 0, "tip": genesis, "work": "0", "agent": "spread-observer"})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		return err
	}
	go func() {
		defer c.CloseNow()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			at := sc.arrival()
			// The observer shares the machine's 2 cores with the nodes it
			// measures: tip frames, the bulk of what else arrives, are
			// passed over without decoding them.
			if bytes.HasPrefix(data, []byte(`{"type":"tip"`)) {
				continue
			}
			var f struct {
				Type  string          `json:"type"`
				Nonce json.RawMessage `json:"nonce"`
				Block struct {
					Message string `json:"message"`
				} `json:"block"`
			}
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch f.Type {
			case "ping":
				pong := []byte(`{"type":"pong","nonce":` + string(f.Nonce) + `}`)
				if c.Write(ctx, websocket.MessageText, pong) != nil {
					return
				}
			case "block":
				select {
				case out <- spreadArrival{node: node, message: f.Block.Message, at: at}:
				default:
				}
			}
		}
	}()
	return nil
}

// spreadOf starts a block on its way with send and waits until every one
// of size nodes has relayed the block carrying msg; it returns first to
// last arrival and each node's offset from the first.
func spreadOf(size int, msg string, arrivals <-chan spreadArrival, send func() error) (time.Duration, []string, error) {
	if err := send(); err != nil {
		return 0, nil, err
	}
	got := map[int]time.Time{}
	deadline := time.After(60 * time.Second)
	for len(got) < size {
		select {
		case a := <-arrivals:
			if a.message == msg {
				if _, dup := got[a.node]; !dup {
					got[a.node] = a.at
				}
			}
		case <-deadline:
			return 0, nil, fmt.Errorf("block %q reached the observer from %d of %d nodes in 60 s", msg, len(got), size)
		}
	}
	var first, last time.Time
	for _, at := range got {
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	offs := make([]string, 0, size)
	for i := range size {
		offs = append(offs, fmt.Sprintf("%d:%.2f", i, float64(got[i].Sub(first).Microseconds())/1000))
	}
	return last.Sub(first), offs, nil
}

// spreadChain mines n blocks on genesis, each with a message of its own,
// for the plain nodes.
func spreadChain(n int, difficulty uint32) ([]chain.Block, error) {
	w, err := wallet.New()
	if err != nil {
		return nil, err
	}
	prev := chain.Genesis(difficulty).Hash
	ts := time.Now().Add(-time.Minute).UnixMilli()
	out := make([]chain.Block, n)
	for i := range out {
		msg := fmt.Sprintf("plain spread %d", i)
		sender, stamp, sig := w.SignMessage(msg, ts+int64(i))
		bl := chain.Block{Number: uint64(i + 1), PrevHash: prev, Message: msg, Sender: sender,
			TimeStamp: stamp, Difficulty: difficulty, Signature: sig}
		p, err := bl.Parse()
		if err != nil {
			return nil, err
		}
		nonce, h, ok, tried := pow.NewTemplate(p.Header, difficulty).Search(0, 1, 1<<30)
		if !ok {
			return nil, fmt.Errorf("block %d: no nonce", i+1)
		}
		bl.Nonce, bl.ProofOfWork, bl.Hash = nonce, tried, h.String()
		prev = bl.Hash
		out[i] = bl
	}
	return out, nil
}

// dialPlainPeer connects to a node as an unauthenticated peer at genesis
// that answers pings and ignores everything else.
func dialPlainPeer(ctx context.Context, addr, genesis string) (*websocket.Conn, error) {
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "version": 1, "genesis": genesis,
		"node_id": netpeers.NewNodeID(), "listen": "", "height": 0, "tip": genesis, "work": "0", "agent": "spread-feed"})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		c.CloseNow()
		return nil, err
	}
	go func() {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var f struct {
				Type  string          `json:"type"`
				Nonce json.RawMessage `json:"nonce"`
			}
			if json.Unmarshal(data, &f) == nil && f.Type == "ping" {
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong","nonce":`+string(f.Nonce)+`}`))
			}
		}
	}()
	return c, nil
}

// blockFrame is a block frame as every node writes it.
func blockFrame(b chain.Block) []byte {
	frame, _ := json.Marshal(struct {
		Type  string      `json:"type"`
		Block chain.Block `json:"block"`
	}{"block", b})
	return frame
}
