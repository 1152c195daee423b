package node

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// recordingServer is a peer that holds a chain and hands each get_blocks
// it receives to the test, which decides when to answer.
type recordingServer struct {
	srv    *netpeers.Server
	chain  []chain.Block // genesis first
	status netpeers.Status
	reqs   chan askedBlocks
}

type askedBlocks struct {
	from netpeers.PeerRef
	req  netpeers.GetBlocks
}

func (s *recordingServer) Status() netpeers.Status { return s.status }
func (s *recordingServer) HandleFrame(from netpeers.PeerRef, f any) {
	if req, ok := f.(netpeers.GetBlocks); ok {
		s.reqs <- askedBlocks{from, req}
	}
}
func (s *recordingServer) PeerEvent(netpeers.PeerEvent)                    {}
func (s *recordingServer) WriteChainData(context.Context, io.Writer) error { return nil }

// answer sends what a node would: the blocks after the first locator hash
// it holds, at most 500.
func (s *recordingServer) answer(a askedBlocks) {
	start := 0
find:
	for _, h := range a.req.Locator {
		for i, b := range s.chain {
			if b.Hash == h {
				start = i
				break find
			}
		}
	}
	end := min(start+1+chain.MaxBlocksPerReply, len(s.chain))
	_ = s.srv.Send(a.from.ID, netpeers.Blocks{Blocks: s.chain[start+1 : end]})
}

func (s *recordingServer) next(t *testing.T, d time.Duration, what string) askedBlocks {
	t.Helper()
	select {
	case a := <-s.reqs:
		return a
	case <-time.After(d):
		t.Fatalf("no get_blocks within %v: %s", d, what)
	}
	panic("unreachable")
}

// TestSyncAsksForTheNextBatchBeforeStoringThisOne: sync is a pipeline. The
// node's loop, which stores what sync verified, is held busy as the first
// 500-block answer arrives; the request for the next batch must still go
// out, its locator led by the last hash of the answer not yet taken in.
// When each batch was verified and stored before the next request, that
// request waited for the loop and never came.
func TestSyncAsksForTheNextBatchBeforeStoringThisOne(t *testing.T) {
	g := chain.Genesis(testDifficulty)
	blocks := mineChain(t, g, 2*chain.MaxBlocksPerReply+50, "pipelined", testDifficulty)
	full := append([]chain.Block{g}, blocks...)
	s := &recordingServer{chain: full, status: chainStatus(full), reqs: make(chan askedBlocks, 64)}
	srv, err := netpeers.New(netpeers.Config{Listen: "127.0.0.1:0", Genesis: g.Hash,
		NodeID: netpeers.NewNodeID(), Agent: "recording/1", PingInterval: 200 * time.Millisecond}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	s.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	l := startNode(t, "l", func(c *Config) { c.SyncTimeout = 30 * time.Second })
	connect(t, l, srv.Addr())
	first := s.next(t, 20*time.Second, "the node never started to sync")

	// Hold the loop, then answer.
	held, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = l.do(ctx, func() { close(held); <-release })
	}()
	<-held
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	s.answer(first)
	second := s.next(t, 10*time.Second, "the next batch was not asked for while the loop was busy: sync is not pipelined")
	close(release)
	released = true
	if len(second.req.Locator) == 0 || second.req.Locator[0] != full[chain.MaxBlocksPerReply].Hash {
		t.Fatalf("second locator starts %v, want the first answer's last block %s", second.req.Locator[:min(1, len(second.req.Locator))], full[chain.MaxBlocksPerReply].Hash)
	}
	s.answer(second)
	go func() {
		for {
			select {
			case a := <-s.reqs:
				s.answer(a)
			case <-ctx.Done():
				return
			}
		}
	}()
	l.waitTip(full[len(full)-1].Hash, 60*time.Second)
}
