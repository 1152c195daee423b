package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/internal/attackfig"
	"github.com/meshchain/meshchain/netpeers"
	"github.com/meshchain/meshchain/wallet"
)

// rawSession is a peer session written by hand: a hello without a node key,
// then whatever the test sends. Frames from the node are read and dropped.
type rawSession struct {
	c      *websocket.Conn
	closed chan struct{} // the node closed the session
}

func dialRawSession(t *testing.T, addr string) *rawSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetReadLimit(64 << 20)
	g := chain.Genesis(testDifficulty)
	hello := fmt.Sprintf(`{"type":"hello","version":1,"genesis":%q,"node_id":%q,"listen":"","height":0,"tip":%q,"work":"0","agent":"raw/1"}`,
		g.Hash, netpeers.NewNodeID(), g.Hash)
	if err := c.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		t.Fatalf("hello: %v", err)
	}
	p := &rawSession{c: c, closed: make(chan struct{})}
	go func() {
		defer close(p.closed)
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = c.CloseNow() })
	return p
}

// send writes a frame; false once the node has closed the session.
func (p *rawSession) send(frame string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.c.Write(ctx, websocket.MessageText, []byte(frame)) == nil
}

// TestGetBlocksFloodDoesNotStarveAnHonestSync: four sessions ask for
// blocks as fast as they can; an honest node syncing from the same node is
// still served, and the flooders are penalised.
func TestGetBlocksFloodDoesNotStarveAnHonestSync(t *testing.T) {
	a := startNode(t, "a")
	blocks := mineChain(t, chain.Genesis(testDifficulty), 60, "served", testDifficulty)
	(*handler)(a.Node).HandleFrame(netpeers.PeerRef{ID: "miner", Addr: "192.0.2.1:8333"}, netpeers.Blocks{Blocks: blocks})
	a.waitTip(blocks[len(blocks)-1].Hash, 20*time.Second)

	g := chain.Genesis(testDifficulty)
	req := fmt.Sprintf(`{"type":"get_blocks","locator":[%q],"limit":500}`, g.Hash)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := attackfig.Start("get_blocks flood, 4 sessions")
	honestPings(t, m, a.Addr())
	floods := make(chan int, 4)
	for i := 0; i < 4; i++ {
		p := dialRawSession(t, a.Addr())
		go func() {
			sent := 0
			for ctx.Err() == nil && p.send(req) {
				sent++
			}
			floods <- sent
		}()
	}
	// The honest node joins during the flood, with a short sync timeout.
	joined := time.Now()
	b := startNode(t, "b", withPeers(a.Addr()))
	b.waitTip(blocks[len(blocks)-1].Hash, 20*time.Second)
	t.Logf("honest node synced %d blocks in %v during the flood", len(blocks), time.Since(joined).Round(time.Millisecond))
	for i := 0; i < 4; i++ {
		pen := a.waitFor("flood penalised", 20*time.Second, isKind("peer_penalized")).(PeerPenalized)
		if !strings.HasPrefix(pen.Reason, "Flood") {
			t.Fatalf("penalised for %q, want a flood", pen.Reason)
		}
	}
	m.End()
	cancel()
	total := 0
	for i := 0; i < 4; i++ {
		total += <-floods
	}
	t.Logf("flooders sent %d get_blocks (%d bytes each) before they were closed", total, len(req))
	t.Log(m.Report())
}

// TestReplayedBlocksCostNothingAndArePenalised: the same valid 500-block
// frame sent again and again is recognised by hash (no validation) and
// its sender penalised.
func TestReplayedBlocksCostNothingAndArePenalised(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	blocks := mineChain(t, chain.Genesis(testDifficulty), chain.MaxBlocksPerReply, "replayed", testDifficulty)
	peer := netpeers.PeerRef{ID: "replayer", Addr: "192.0.2.66:8333"}
	(*handler)(a.Node).HandleFrame(peer, netpeers.Blocks{Blocks: blocks})
	a.waitTip(blocks[len(blocks)-1].Hash, 30*time.Second)
	start := time.Now()
	for i := 0; i < 40; i++ {
		(*handler)(a.Node).HandleFrame(peer, netpeers.Blocks{Blocks: blocks})
	}
	pen := a.waitFor("replayer penalised", 20*time.Second, isKind("peer_penalized")).(PeerPenalized)
	if !strings.HasPrefix(pen.Reason, "UselessFrames") {
		t.Fatalf("penalised for %q", pen.Reason)
	}
	// 40 replays of 500 blocks: 20,000 signatures if they were checked.
	t.Logf("40 replays taken in and their sender penalised in %v", time.Since(start).Round(time.Millisecond))
	// What a replay leaves to validate, decided by hash before any
	// signature is checked: nothing.
	var left []chain.Block
	var known int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.do(ctx, func() { left, known, _ = a.unseen(blocks) }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 || known != len(blocks) {
		t.Fatalf("a replay leaves %d of %d blocks to validate (%d known)", len(left), len(blocks), known)
	}
}

// futureBlock is a valid block on parent signed at ts.
func futureBlock(t *testing.T, parent chain.Block, ts time.Time) chain.Block {
	t.Helper()
	w, err := wallet.New()
	if err != nil {
		t.Fatal(err)
	}
	sender, stamp, sig := w.SignMessage("from the future", ts.UnixMilli())
	b := chain.Block{Number: parent.Number + 1, PrevHash: parent.Hash, Message: "from the future",
		Sender: sender, TimeStamp: stamp, Difficulty: testDifficulty, Signature: sig}
	p, err := b.Parse()
	if err != nil {
		t.Fatal(err)
	}
	nonce, h, _, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<30)
	b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
	return b
}

// TestBlockTooFarAheadIsRefusedOnce: copies of a block dated three hours
// ahead are refused once (one event), then dropped by hash.
func TestBlockTooFarAheadIsRefusedOnce(t *testing.T) {
	a := startNode(t, "a", withoutListen())
	g := chain.Genesis(testDifficulty)
	future := futureBlock(t, g, time.Now().Add(3*time.Hour))
	peer := netpeers.PeerRef{ID: "early", Addr: "192.0.2.5:8333"}
	for i := 0; i < 50; i++ {
		(*handler)(a.Node).HandleFrame(peer, netpeers.BlockMsg{Block: future})
	}
	copies := make([]chain.Block, 200)
	for i := range copies {
		copies[i] = future
	}
	(*handler)(a.Node).HandleFrame(peer, netpeers.Blocks{Blocks: copies})
	// Frames are taken in order: once this block is in, the copies were seen.
	honest := mineChain(t, g, 1, "now", testDifficulty)[0]
	(*handler)(a.Node).HandleFrame(netpeers.PeerRef{ID: "honest", Addr: "192.0.2.6:8333"}, netpeers.BlockMsg{Block: honest})
	refusals := 0
	a.waitFor("honest block", 20*time.Second, func(p Payload) bool {
		if r, ok := p.(BlockRejected); ok && r.Hash == future.Hash {
			refusals++
		}
		acc, ok := p.(BlockAccepted)
		return ok && acc.Hash == honest.Hash
	})
	if refusals != 1 {
		t.Fatalf("the block dated ahead was refused %d times, want once", refusals)
	}
}

// TestMalformedBlockIsReported: a block netpeers cannot decode gives a
// block_rejected event with its reason, as well as the penalty.
func TestMalformedBlockIsReported(t *testing.T) {
	a := startNode(t, "a")
	p := dialRawSession(t, a.Addr())
	a.waitFor("raw peer online", 10*time.Second, isKind("peer_online"))
	p.send(`{"type":"block","block":{"number_of_block":"one"}}`)
	rej := a.waitFor("rejection", 10*time.Second, isKind("block_rejected")).(BlockRejected)
	if rej.Reason != "MalformedBlock" || rej.Peer == "" {
		t.Fatalf("rejected %+v, want MalformedBlock with the peer", rej)
	}
	a.waitFor("penalty", 10*time.Second, isKind("peer_penalized"))
}

// bigChainDir makes a data directory holding a chain of n blocks with
// messages of msgLen bytes, written straight to the store: its signatures
// are not valid (loading does not check them), which does not matter to
// serving it.
func bigChainDir(t *testing.T, n, msgLen int) string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := wallet.New()
	if err != nil {
		t.Fatal(err)
	}
	const d = testDifficulty
	sender, _, sig := w.SignMessage("x", 0)
	parent := chain.Genesis(d)
	ts := time.Now().Add(-24 * time.Hour).UnixMilli()
	filler := strings.Repeat("m", msgLen)
	u := store.Update{}
	for i := 0; i < n; i++ {
		b := &chain.Block{Number: parent.Number + 1, PrevHash: parent.Hash, Message: filler,
			Sender: sender, TimeStamp: chain.FormatTime(ts + int64(i)), Difficulty: d, Signature: sig}
		p, err := b.Parse()
		if err != nil {
			t.Fatal(err)
		}
		nonce, h, _, tried := pow.NewTemplate(p.Header, d).Search(0, 1, 1<<30)
		b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
		u.Blocks = append(u.Blocks, b)
		u.Connect = append(u.Connect, store.Entry{Height: b.Number, Hash: h, MessageID: p.MessageID})
		parent = *b
	}
	if err := st.Apply(u); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stuckDownload asks for /get-blockchaindata with a tiny receive buffer
// and never reads the answer.
func stuckDownload(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /get-blockchaindata HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	r := bufio.NewReaderSize(c, 16)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("upgrade: %q %v", status, err)
	}
	return c
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestChainDataDownloadsThatNeverReadHoldLittle: /get-blockchaindata is
// written from the store as the client takes it, so clients that never
// read hold a few buffers each, not the chain's JSON (about 4.5 MiB here),
// and give them back when they go; an honest download still gets the
// bytes json.Marshal gives.
func TestChainDataDownloadsThatNeverReadHoldLittle(t *testing.T) {
	const blocks, msgLen, stuck = 1000, 4000, 6
	dir := bigChainDir(t, blocks, msgLen)
	a := startNode(t, "a", withDataDir(dir))
	if a.height() != blocks {
		t.Fatalf("height %d", a.height())
	}
	before := heapInuse()
	m := attackfig.Start(fmt.Sprintf("%d /get-blockchaindata downloads that never read", stuck))
	honestPings(t, m, a.Addr())
	var conns []net.Conn
	for i := 0; i < stuck; i++ {
		conns = append(conns, stuckDownload(t, a.Addr()))
	}
	// Wait until every download is under way (holding its slot) or the
	// heap shows the old behaviour, whichever comes first.
	const bound = 24 << 20
	deadline := time.Now().Add(30 * time.Second)
	var peak uint64
	for {
		h := heapInuse()
		peak = max(peak, h)
		if len(a.chainDataSlots) == stuck || h > before+bound || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	for i := 0; i < 5; i++ {
		peak = max(peak, heapInuse())
	}
	if peak > before+bound {
		t.Fatalf("%d stuck downloads hold %d MiB", stuck, (peak-before)>>20)
	}
	if len(a.chainDataSlots) != stuck {
		t.Fatalf("%d downloads under way, want %d", len(a.chainDataSlots), stuck)
	}
	m.End()
	for _, c := range conns {
		c.Close()
	}
	// The stuck downloads end with their connections.
	for len(a.chainDataSlots) > 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	after := heapInuse()
	t.Log(m.Report())
	t.Logf("heap in use: %d MiB before, %d MiB with %d stuck downloads, %d MiB after", before>>20, peak>>20, stuck, after>>20)
	if n := len(a.chainDataSlots); n > 0 || after > before+bound {
		t.Fatalf("%d downloads still under way, heap %d MiB after", n, after>>20)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+a.Addr()+"/get-blockchaindata", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 30)
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after the message: %v, want close 1000", err)
	}
	chainBlocks, err := a.BestChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(struct {
		WalletAuthor   string        `json:"WalletAuthor"`
		BlockChainData []chain.Block `json:"BlockChainData"`
	}{a.Sender(), chainBlocks})
	if string(got) != string(want) {
		t.Fatalf("download of %d bytes differs from json.Marshal's %d bytes", len(got), len(want))
	}
}

// TestNetworkIsSetBeforeRun: Connect, Addr and Peers may be called from
// any goroutine while Run starts (the race detector checks this).
func TestNetworkIsSetBeforeRun(t *testing.T) {
	n, err := Open(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Difficulty: testDifficulty, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	// Calls from another goroutine while Run starts, and after.
	for started := false; !started; {
		select {
		case <-n.Started():
			started = true
		case err := <-done:
			t.Fatalf("Run: %v", err)
		default:
		}
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		_ = n.Connect(cctx, "127.0.0.1:1")
		ccancel()
		_ = n.Addr()
		_ = n.Peers()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// staller announces a chain with far more work than anyone's and never
// answers get_blocks. It has no node key, so each connection is a new
// identity to the node, as a staller changing its id would be.
type staller struct{ status netpeers.Status }

func (s *staller) Status() netpeers.Status                         { return s.status }
func (s *staller) HandleFrame(netpeers.PeerRef, any)               {}
func (s *staller) PeerEvent(netpeers.PeerEvent)                    {}
func (s *staller) WriteChainData(context.Context, io.Writer) error { return nil }

func startStaller(t *testing.T, target string) {
	t.Helper()
	g := chain.Genesis(testDifficulty)
	work := chain.BlockWork(testDifficulty)
	work.Lsh(work, 40)
	s := &staller{status: netpeers.Status{Height: 1 << 30, Tip: "00" + g.Hash[2:], Work: work.String()}}
	srv, err := netpeers.New(netpeers.Config{Genesis: g.Hash, NodeID: netpeers.NewNodeID(), Agent: "staller/1",
		Peers: []string{target}, PingInterval: 200 * time.Millisecond, RedialMin: 50 * time.Millisecond}, s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestStallingPeersDoNotStarveSync: two peers nearer than the honest one
// announce huge work and never answer (and come back under new ids when
// dropped); the honest chain is still fetched within a few seconds.
func TestStallingPeersDoNotStarveSync(t *testing.T) {
	h := startNode(t, "honest")
	blocks := mineChain(t, chain.Genesis(testDifficulty), 5, "honest", testDifficulty)
	(*handler)(h.Node).HandleFrame(netpeers.PeerRef{ID: "miner", Addr: "192.0.2.1:8333"}, netpeers.Blocks{Blocks: blocks})
	h.waitTip(blocks[len(blocks)-1].Hash, 10*time.Second)
	hAddr := h.Addr()
	n := startNode(t, "n", withDelay(func(addr string) time.Duration {
		if addr == hAddr {
			return 30 * time.Millisecond // the honest peer is the farthest
		}
		return 0
	}))
	m := attackfig.Start("2 stalling sync peers that come back under new ids")
	honestPings(t, m, n.Addr())
	startStaller(t, n.Addr())
	startStaller(t, n.Addr())
	n.waitFor("a round against the stallers", 10*time.Second, isKind("sync_started"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Connect(ctx, hAddr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n.waitTip(blocks[len(blocks)-1].Hash, 8*time.Second)
	t.Logf("honest chain fetched %v after the honest peer was added", time.Since(start).Round(time.Millisecond))
	t.Log(m.Report())
}

func TestServeQueueTakesPeersInTurn(t *testing.T) {
	q := newFairQueue()
	job := func(peer string) serveJob { return serveJob{to: netpeers.PeerRef{ID: peer}} }
	for i := 0; i < 10; i++ {
		q.push("flooder", job("flooder"))
	}
	if !q.push("honest", job("honest")) {
		t.Fatal("the honest peer's request was refused")
	}
	var order []string
	for {
		j, ok := q.pop()
		if !ok {
			break
		}
		order = append(order, j.to.ID)
	}
	want := []string{"flooder", "honest", "flooder", "flooder", "flooder"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("served %v, want %v: %d per peer, in turn", order, want, servePerPeer)
	}
}

func TestInboxBytesAreBoundedPerPeer(t *testing.T) {
	in := newIntake()
	stop := make(chan struct{})
	defer close(stop)
	big := int64(netpeers.MaxFrameBytes)
	for i := 0; i < 2; i++ {
		if !in.acquire("flooder", big, stop) {
			t.Fatal("a full frame of a peer with room refused")
		}
	}
	third := make(chan bool, 1)
	go func() { third <- in.acquire("flooder", big, stop) }()
	// Another peer is not held up by the flooder's full share.
	if !in.acquire("honest", 1000, stop) {
		t.Fatal("honest frame refused")
	}
	select {
	case <-third:
		t.Fatal("a third full frame of the same peer got in while two wait")
	default:
	}
	in.release("flooder", big)
	select {
	case ok := <-third:
		if !ok {
			t.Fatal("third frame refused")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the third frame did not get in once room was made")
	}
}

// The answers waiting for a peer that went away are dropped, not read from
// the store and sent to no one.
func TestServeQueueDropsAGonePeer(t *testing.T) {
	q := newFairQueue()
	job := func(peer string) serveJob { return serveJob{to: netpeers.PeerRef{ID: peer}} }
	for i := 0; i < servePerPeer; i++ {
		q.push("gone", job("gone"))
	}
	q.push("honest", job("honest"))
	q.drop("gone")
	q.drop("never queued")
	var order []string
	for {
		j, ok := q.pop()
		if !ok {
			break
		}
		order = append(order, j.to.ID)
	}
	if fmt.Sprint(order) != "[honest]" {
		t.Fatalf("served %v after the gone peer's answers were dropped, want [honest]", order)
	}
	if !q.push("gone", job("gone")) {
		t.Fatal("a peer that comes back cannot queue again")
	}
}

// serveLoop stops when the node stops, with answers still waiting: it
// neither reads them from the store nor sends them (a flood of get_blocks
// made stopping take 8 to 14 s, serving answers one by one to peers that
// were gone). The node here has no store and no network: touching either
// would panic.
func TestServeLoopStopsWithAnswersWaiting(t *testing.T) {
	n := &Node{serveQ: newFairQueue()}
	for i := 0; i < 3; i++ {
		n.serveQ.push(fmt.Sprint("peer", i), serveJob{to: netpeers.PeerRef{ID: fmt.Sprint("peer", i)}, hashes: []chain.Hash{{1}}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.serveLoop(ctx)
	if _, ok := n.serveQ.pop(); !ok {
		t.Fatal("the answers were taken after the node stopped")
	}
}

// slowServer holds a real chain and answers get_blocks slowBy after each
// request: late, but within the node's timeout, so it never counts as a
// stall (no penalty, no backoff). Nearest, it holds the sync slot.
type slowServer struct {
	srv      *netpeers.Server
	ctx      context.Context
	status   netpeers.Status
	blocks   []chain.Block
	slowBy   time.Duration
	asked    chan struct{} // closed at the first get_blocks
	once     sync.Once
	answered atomic.Bool // an answer went out
}

func (s *slowServer) Status() netpeers.Status { return s.status }
func (s *slowServer) HandleFrame(from netpeers.PeerRef, f any) {
	if _, ok := f.(netpeers.GetBlocks); !ok {
		return
	}
	s.once.Do(func() { close(s.asked) })
	go func() {
		select {
		case <-time.After(s.slowBy): // the peer's slowness, not the test's synchronisation
		case <-s.ctx.Done():
			return
		}
		s.answered.Store(true)
		_ = s.srv.Send(from.ID, netpeers.Blocks{Blocks: s.blocks})
	}()
}
func (s *slowServer) PeerEvent(netpeers.PeerEvent)                    {}
func (s *slowServer) WriteChainData(context.Context, io.Writer) error { return nil }

// TestSlowSyncPeerIsHedged isolates the hedge of issue 9.5: the nearest
// peer answers every request late but within its deadline, so the stall
// rules never act on it. The honest peer (farther) must be asked while the
// slow peer's request is still pending, and the chain must come from it:
// without the hedge the round waits for the slow peer, whose answer comes
// first, and this test fails.
func TestSlowSyncPeerIsHedged(t *testing.T) {
	const syncTimeout = 20 * time.Second // hedge after 4 s; a new peer's deadline 6.7 s
	g := chain.Genesis(testDifficulty)
	blocks := mineChain(t, g, 5, "hedged", testDifficulty)
	last := blocks[len(blocks)-1]

	h := startNode(t, "honest")
	(*handler)(h.Node).HandleFrame(netpeers.PeerRef{ID: "miner", Addr: "192.0.2.1:8333"}, netpeers.Blocks{Blocks: blocks})
	h.waitTip(last.Hash, 10*time.Second)
	hAddr := h.Addr()

	ctx, cancel := context.WithCancel(context.Background())
	work := chain.BlockWork(testDifficulty)
	work.Mul(work, big.NewInt(int64(len(blocks))))
	slow := &slowServer{ctx: ctx, blocks: blocks, slowBy: 6 * time.Second, asked: make(chan struct{}),
		status: netpeers.Status{Height: uint64(len(blocks)), Tip: last.Hash, Work: work.String()}}
	srv, err := netpeers.New(netpeers.Config{Listen: "127.0.0.1:0", Genesis: g.Hash, NodeID: netpeers.NewNodeID(),
		Agent: "slow/1", PingInterval: 200 * time.Millisecond}, slow)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	slow.srv = srv
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	n := startNode(t, "n", func(c *Config) { c.SyncTimeout = syncTimeout }, withDelay(func(addr string) time.Duration {
		if addr == hAddr {
			return 30 * time.Millisecond // the honest peer is the farther
		}
		return 0
	}))
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := n.Connect(cctx, srv.Addr()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-slow.asked:
	case <-time.After(15 * time.Second):
		t.Fatal("the slow peer was never asked for blocks")
	}
	if err := n.Connect(cctx, hAddr); err != nil {
		t.Fatal(err)
	}
	n.waitTip(last.Hash, 30*time.Second)
	if slow.answered.Load() {
		t.Error("the slow peer had answered before the chain arrived: the honest peer was not asked in parallel")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	hedged := false
	var backtracks []SyncBacktrack
	for _, ev := range n.log {
		bt, ok := ev.Payload.(SyncBacktrack)
		if !ok {
			continue
		}
		backtracks = append(backtracks, bt)
		if bt.Peer == srv.Addr() && strings.HasPrefix(bt.Reason, "slow: "+hAddr) {
			hedged = true
		}
		if bt.Peer == srv.Addr() && strings.HasPrefix(bt.Reason, "stalled") {
			t.Errorf("the slow peer was taken as stalled: %+v", bt)
		}
	}
	if !hedged {
		t.Errorf("no backtrack 'slow: %s answered first' from the slow peer; backtracks: %+v", hAddr, backtracks)
	}
}
