package plainnode

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/wallet"
)

const difficulty = 8

// TestPlainNodesVerifyStoreAndRelay: three plain nodes in a complete
// graph and a peer on each. A forged copy of a block (another signature
// under the same hash) goes nowhere; the valid block, sent after it to the
// first node, reaches the other nodes' peers once each (never back to its
// sender) and is the one line of every node's file.
func TestPlainNodesVerifyStoreAndRelay(t *testing.T) {
	const size = 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	addrs := freeAddrs(t, size)
	online := make(chan struct{}, size*size)
	var wg sync.WaitGroup
	rctx, stop := context.WithCancel(ctx)
	defer func() { stop(); wg.Wait() }()
	for i := range size {
		cfg := Config{Listen: addrs[i], Peers: addrs[:i], Difficulty: difficulty,
			Path: filepath.Join(dir, fmt.Sprintf("n%d.jsonl", i)), OnPeer: func() { online <- struct{}{} }}
		wg.Go(func() { _ = Run(rctx, cfg) })
	}
	for range size * (size - 1) {
		select {
		case <-online:
		case <-ctx.Done():
			t.Fatal("the plain nodes did not connect")
		}
	}
	genesis := chain.Genesis(difficulty).Hash
	got := make(chan string, 64) // "node:hash" per block frame a peer receives
	var feed *websocket.Conn
	for i, a := range addrs {
		c := dialPeer(t, ctx, a, genesis)
		if i == 0 {
			feed = c
		}
		wg.Go(func() {
			for {
				_, data, err := c.Read(rctx)
				if err != nil {
					return
				}
				var f struct {
					Type  string      `json:"type"`
					Block chain.Block `json:"block"`
				}
				if json.Unmarshal(data, &f) == nil && f.Type == "block" {
					got <- fmt.Sprintf("%d:%s", i, f.Block.Hash)
				}
			}
		})
	}
	for range size {
		<-online // the peers said hello too
	}

	blocks := mine(t, 1)
	bad := blocks[0]
	bad.Signature = strings.Repeat("1", 128) // its hash field is the valid block's: refused, it must not keep that one out
	send(t, ctx, feed, bad)
	send(t, ctx, feed, blocks[0])
	// Node 0 relays to the peers on nodes 1 and 2 as they relay it on, and
	// to its own peer except when that peer is the sender (it is: feed).
	want := map[string]bool{"1:" + blocks[0].Hash: true, "2:" + blocks[0].Hash: true}
	seen := map[string]bool{}
	for len(seen) < len(want) {
		select {
		case g := <-got:
			if !want[g] {
				t.Fatalf("a peer got %s; want only %v", g, want)
			}
			if seen[g] {
				t.Fatalf("a peer got %s twice", g)
			}
			seen[g] = true
		case <-ctx.Done():
			t.Fatalf("peers got %v of %v", seen, want)
		}
	}
	for i := range size {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d.jsonl", i)))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		var lines []string
		for sc.Scan() {
			var b chain.Block
			if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, b.Hash)
		}
		if len(lines) != 1 || lines[0] != blocks[0].Hash {
			t.Errorf("node %d stored %v, want the one valid block", i, lines)
		}
	}
}

func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

func dialPeer(t *testing.T, ctx context.Context, addr, genesis string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	hello, _ := json.Marshal(map[string]any{"type": "hello", "version": 1, "genesis": genesis,
		"node_id": strings.Repeat("ab", 32), "listen": "", "height": 0, "tip": genesis, "work": "0", "agent": "test"})
	if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(t *testing.T, ctx context.Context, c *websocket.Conn, b chain.Block) {
	t.Helper()
	frame, _ := json.Marshal(struct {
		Type  string      `json:"type"`
		Block chain.Block `json:"block"`
	}{"block", b})
	if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
		t.Fatal(err)
	}
}

func mine(t *testing.T, n int) []chain.Block {
	t.Helper()
	w, err := wallet.New()
	if err != nil {
		t.Fatal(err)
	}
	prev := chain.Genesis(difficulty).Hash
	ts := time.Now().Add(-time.Minute).UnixMilli()
	var out []chain.Block
	for i := range n {
		msg := fmt.Sprintf("plain %d", i)
		sender, stamp, sig := w.SignMessage(msg, ts+int64(i))
		b := chain.Block{Number: uint64(i + 1), PrevHash: prev, Message: msg, Sender: sender,
			TimeStamp: stamp, Difficulty: difficulty, Signature: sig}
		p, err := b.Parse()
		if err != nil {
			t.Fatal(err)
		}
		nonce, h, ok, tried := pow.NewTemplate(p.Header, difficulty).Search(0, 1, 1<<30)
		if !ok {
			t.Fatal("no nonce")
		}
		b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
		prev = b.Hash
		out = append(out, b)
	}
	return out
}
