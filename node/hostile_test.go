package node

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/netpeers"
)

func TestUnsolicitedFullBlocksFrame(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	blocks := mineChain(t, chain.Genesis(testDifficulty), chain.MaxBlocksPerReply, "unasked", testDifficulty)
	(*handler)(a.Node).HandleFrame(netpeers.PeerRef{ID: "someone", Addr: "192.0.2.1:8333"}, netpeers.Blocks{Blocks: blocks})
	a.waitTip(blocks[len(blocks)-1].Hash, 20*time.Second)
}

func TestOrphanThatTurnsOutInvalidBlamesItsSender(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	g := chain.Genesis(testDifficulty)
	honest := mineChain(t, g, 1, "honest", testDifficulty)
	// The attacker's orphan: the honest block's signed message mined again
	// as its child, a duplicate, sent before its parent.
	dup := honest[0]
	dup.Number, dup.PrevHash = 2, honest[0].Hash
	p, _ := dup.Parse()
	nonce, h, _, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<30)
	dup.Nonce, dup.ProofOfWork, dup.Hash = nonce, tried, h.String()

	attacker := netpeers.PeerRef{ID: "attacker", Addr: "192.0.2.66:8333"}
	relayer := netpeers.PeerRef{ID: "relayer", Addr: "192.0.2.7:8333"}
	(*handler)(a.Node).HandleFrame(attacker, netpeers.BlockMsg{Block: dup})
	(*handler)(a.Node).HandleFrame(relayer, netpeers.BlockMsg{Block: honest[0]})
	rej := a.waitFor("rejection", 10*time.Second, isKind("block_rejected")).(BlockRejected)
	if rej.Reason != "DuplicateMessage" || rej.Peer != attacker.Addr {
		t.Fatalf("rejected %+v, want DuplicateMessage blamed on the attacker", rej)
	}
	a.waitTip(honest[0].Hash, 10*time.Second)
}

// looper announces a far better chain, serves two real blocks, then answers
// every get_blocks with one of them again, forever.
type looper struct {
	srv    *netpeers.Server
	blocks []chain.Block
	calls  atomic.Int64
	status netpeers.Status
}

func (l *looper) Status() netpeers.Status { return l.status }
func (l *looper) HandleFrame(from netpeers.PeerRef, f any) {
	if _, ok := f.(netpeers.GetBlocks); ok {
		k := l.calls.Add(1)
		reply := l.blocks
		if k > 1 {
			reply = l.blocks[k%2 : k%2+1]
		}
		_ = l.srv.Send(from.ID, netpeers.Blocks{Blocks: reply})
	}
}
func (l *looper) PeerEvent(netpeers.PeerEvent)                    {}
func (l *looper) WriteChainData(context.Context, io.Writer) error { return nil }

func TestPeerThatLeadsNowhereIsBacktracked(t *testing.T) {
	g := chain.Genesis(testDifficulty)
	blocks := mineChain(t, g, 2, "loop", testDifficulty)
	work := chain.BlockWork(testDifficulty)
	work.Lsh(work, 20)
	l := &looper{blocks: blocks, status: netpeers.Status{Height: 1000, Tip: "ff" + g.Hash[2:], Work: work.String()}}
	srv, err := netpeers.New(netpeers.Config{Listen: "127.0.0.1:0", Genesis: g.Hash, NodeID: netpeers.NewNodeID(),
		Agent: "looper/1", PingInterval: 200 * time.Millisecond}, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	a := startNode(t, "a", withPeers(srv.Addr()))
	bt := a.waitFor("backtrack", 20*time.Second, isKind("sync_backtrack")).(SyncBacktrack)
	if bt.Peer != srv.Addr() {
		t.Errorf("backtracked from %s", bt.Peer)
	}
	a.waitFor("sync finished", 20*time.Second, isKind("sync_finished"))
	if n := l.calls.Load(); n > 10 {
		t.Errorf("the node asked %d times before giving up on the peer", n)
	}
	if a.height() != 2 {
		t.Errorf("height %d: the two real blocks should be kept", a.height())
	}
}

func TestForgedNumberCannotSneakInThroughAKnownOrphan(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	g := chain.Genesis(testDifficulty)
	real := mineChain(t, g, 2, "real", testDifficulty) // P, X
	// Y: a real, signed child of X that claims height 100.
	y := mineChain(t, real[1], 1, "child", testDifficulty)[0]
	y.Number = 100
	p, _ := y.Parse()
	nonce, h, _, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<30)
	y.Nonce, y.ProofOfWork, y.Hash = nonce, tried, h.String()
	forged := real[1]
	forged.Number = 99

	peer := netpeers.PeerRef{ID: "attacker", Addr: "192.0.2.66:8333"}
	(*handler)(a.Node).HandleFrame(peer, netpeers.BlockMsg{Block: real[1]}) // X, an orphan for now
	(*handler)(a.Node).HandleFrame(peer, netpeers.Blocks{Blocks: []chain.Block{real[0], forged, y}})
	a.waitFor("Y refused", 10*time.Second, func(p Payload) bool {
		r, ok := p.(BlockRejected)
		return ok && r.Hash == y.Hash
	})
	a.waitTip(real[1].Hash, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	yh, _ := chain.ParseHash(y.Hash)
	var held bool
	if err := a.do(ctx, func() { held = a.index.Node(yh) != nil }); err != nil {
		t.Fatal(err)
	}
	if held || a.height() != 2 {
		t.Fatalf("height %d, Y held %v: a block claiming height 100 was linked at 3", a.height(), held)
	}
}

func TestSameTextPostedAgainRightAfterItsBlockGetsANewID(t *testing.T) {
	// A stopped clock: every post falls in the same millisecond.
	stopped := time.Now()
	a := startNode(t, "a", withoutListen(), func(c *Config) { c.Clock = func() time.Time { return stopped } })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var first, second chain.Hash
	var err error
	// All on the loop: post, mine the block at once (the pool is empty
	// again), post the same text again.
	derr := a.do(ctx, func() {
		if err = a.Node.post("same words"); err != nil {
			return
		}
		msg, _ := a.pool.next()
		first = msg.MessageID
		j, jerr := a.newJob(msg, a.index.Tip())
		if jerr != nil {
			err = jerr
			return
		}
		nonce, h, _, tried := pow.NewTemplate(j.header, testDifficulty).Search(0, 1, 1<<30)
		b := j.block
		b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
		if _, err = a.accept([]chain.Block{b}, netpeers.PeerRef{}, fromMiner); err != nil {
			return
		}
		if err = a.Node.post("same words"); err != nil {
			return
		}
		again, ok := a.pool.next()
		if !ok {
			err = context.Canceled // the second post vanished from the pool
			return
		}
		second = again.MessageID
	})
	if derr != nil || err != nil {
		t.Fatalf("do: %v, post/mine: %v", derr, err)
	}
	if first == second {
		t.Fatal("the repeated post got the id of the message already on the chain")
	}
	a.waitFor("second copy mined", 20*time.Second, func(p Payload) bool {
		m, ok := p.(BlockMined)
		return ok && m.MessageID == second.String()
	})
	if got := bestMessages(t, a.Node); len(got) != 2 {
		t.Fatalf("chain holds %q, want the text twice", got)
	}
}
