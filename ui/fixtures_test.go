package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
)

// fakeNode is the dashboard's input in tests: fixed snapshots, a channel of
// events, and a record of the commands the dashboard sent. It is not a
// network mock; the real node satisfies the same interface.
type fakeNode struct {
	mu        sync.Mutex
	snap      node.Snapshot
	snapErr   error
	events    chan node.Event
	blocks    map[string]chain.Block
	posts     []string
	postErr   error
	syncs     int
	connects  []string
	snapshots int
	actions   []string
	bans      []node.BanInfo
}

var _ Node = (*fakeNode)(nil)

func newFakeNode(s node.Snapshot, events ...node.Event) *fakeNode {
	f := &fakeNode{snap: s, events: make(chan node.Event, len(events)+16), blocks: map[string]chain.Block{}}
	for _, ev := range events {
		f.events <- ev
	}
	return f
}

func (f *fakeNode) Subscribe(context.Context) <-chan node.Event { return f.events }

func (f *fakeNode) Snapshot(context.Context) (node.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots++
	return f.snap, f.snapErr
}

func (f *fakeNode) Peers() []node.PeerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]node.PeerInfo(nil), f.snap.Peers...)
}

func (f *fakeNode) Post(_ context.Context, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, text)
	return f.postErr
}

func (f *fakeNode) Sync(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	return nil
}

func (f *fakeNode) Connect(_ context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connects = append(f.connects, addr)
	return nil
}

func (f *fakeNode) Block(_ context.Context, hash string) (chain.Block, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.blocks[hash]
	if !ok {
		return chain.Block{}, errors.New("block not found")
	}
	return b, nil
}

// Fixed clock for every fixture: golden files must not depend on when the
// tests run.
var fixedNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// hexOf is a deterministic 64-hex-digit "hash" of a label.
func hexOf(label string) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:])
}

// hashAt makes block hashes that look mined (leading zeros).
func hashAt(label string) string { return "0000" + hexOf(label)[4:] }

var (
	genesisHash = hashAt("genesis")
	aliceKey    = "02" + hexOf("alice")
	bobKey      = "03" + hexOf("bob")
	carolKey    = "02" + hexOf("carol")
)

var fixtureMessages = []string{
	"hello mesh", "gm from the lab", "block party tonight", "testing 1 2 3",
	"the quick brown fox jumps over the lazy dog", "ping", "who is mining?",
	"devnet is up", "🚀 to the moon", "remember to back up your words",
	"latency check", "one more", "posting from node 2", "reorg incoming?",
	"side chains are fun", "nonce hunting", "coffee break", "still here",
	"almost twenty", "twenty blocks!",
}

func summary(h uint64, prev, label, sender string) node.BlockSummary {
	return node.BlockSummary{
		Height:    h,
		Hash:      hashAt(label),
		PrevHash:  prev,
		Sender:    sender,
		TimeStamp: fixedNow.Add(-time.Duration(20-int(h)) * 37 * time.Second).Format(chain.TimeLayout),
		Message:   fixtureMessages[(int(h)+len(fixtureMessages)-1)%len(fixtureMessages)],
		MessageID: hexOf("msg-" + label),
	}
}

// busySnapshot is a devnet node in full swing: 20 blocks, a lost side
// branch, six peers in every state, mining in progress.
func busySnapshot() node.Snapshot {
	senders := []string{aliceKey, bobKey, carolKey}
	var best []node.BlockSummary // ascending
	prev := genesisHash
	for h := uint64(1); h <= 20; h++ {
		b := summary(h, prev, fmt.Sprintf("best-%d", h), senders[h%3])
		best = append(best, b)
		prev = b.Hash
	}
	recent := make([]node.BlockSummary, 0, len(best))
	for i := len(best) - 1; i >= 0; i-- {
		recent = append(recent, best[i])
	}

	// Side branch off #16: #17' and #18' lost on work.
	side17 := summary(17, best[15].Hash, "side-17", bobKey)
	side17.Message = "my fork"
	side18 := summary(18, side17.Hash, "side-18", bobKey)
	side18.Message = "my fork grows"
	var tree []node.TreeNode
	for h := uint64(14); h <= 20; h++ {
		tn := node.TreeNode{BlockSummary: best[h-1], OnBest: true}
		tn.ReorgAt = h == 16
		tn.MiningOn = h == 20
		tree = append(tree, tn)
		switch h {
		case 17:
			tree = append(tree, node.TreeNode{BlockSummary: side17})
		case 18:
			tree = append(tree, node.TreeNode{BlockSummary: side18, LostWhy: "less work"})
		}
	}

	peers := []node.PeerInfo{
		{Addr: "127.0.0.1:8334", Status: node.PeerOnlineStatus, LastRTT: 900 * time.Microsecond, SmoothRTT: 1200 * time.Microsecond, MinRTT: 700 * time.Microsecond, Height: 20, LastChange: fixedNow.Add(-3 * time.Minute)},
		{Addr: "10.0.0.7:8333", Status: node.PeerOnlineStatus, LastRTT: 48 * time.Millisecond, SmoothRTT: 45 * time.Millisecond, MinRTT: 41 * time.Millisecond, Height: 20, LastChange: fixedNow.Add(-12 * time.Minute), Inbound: true},
		{Addr: "127.0.0.1:8335", Status: node.PeerOnlineStatus, LastRTT: 2 * time.Millisecond, SmoothRTT: 2500 * time.Microsecond, MinRTT: 1800 * time.Microsecond, Height: 19, LastChange: fixedNow.Add(-90 * time.Second)},
		{Addr: "192.168.1.20:8333", Status: node.PeerConnectingStatus, LastChange: fixedNow.Add(-2 * time.Second), Failures: 2},
		{Addr: "203.0.113.9:8333", Status: node.PeerOfflineStatus, LastRTT: 180 * time.Millisecond, SmoothRTT: 175 * time.Millisecond, MinRTT: 150 * time.Millisecond, Height: 12, LastChange: fixedNow.Add(-2 * time.Hour)},
		{Addr: "198.51.100.4:8333", Status: node.PeerPenalizedStatus, SmoothRTT: 60 * time.Millisecond, Height: 25, LastChange: fixedNow.Add(-40 * time.Second), Penalty: "InvalidSignature: block #19"},
	}
	return node.Snapshot{
		Listen:  "127.0.0.1:8333",
		NodeID:  hexOf("node-1"),
		Genesis: hexOf("genesis-net"),
		Sender:  aliceKey,
		DataDir: "/tmp/devnet/node1",
		Height:  20,
		Tip:     best[19].Hash,
		Work:    "1310720",
		Peers:   peers,
		Sync:    node.SyncState{Online: 3, Known: 6},
		Mining: &node.MiningState{
			MessageID: hexOf("msg-21"), Message: "hello from node 1", Height: 21,
			Parent: best[19].Hash, Attempts: 40_000, Expected: 65_536, HashRate: 250_000,
			ETASeconds: 0.1, Threads: 4, Started: fixedNow.Add(-time.Second),
		},
		Queue: 2,
		Pending: []node.PendingMessage{
			{MessageID: hexOf("msg-21"), Message: "hello from node 1", Own: true},
			{MessageID: hexOf("msg-22"), Message: "second thought", Own: true},
		},
		Recent: recent,
		Tree:   tree,
		Seq:    uint64(len(busyEvents())),
	}
}

// busyEvents is what such a node might have said in the last minutes,
// oldest first.
func busyEvents() []node.Event {
	at := func(sec int) time.Time { return fixedNow.Add(time.Duration(sec-300) * time.Second) }
	seq := uint64(0)
	// Numbered as the node numbers them; busySnapshot was taken after them.
	ev := func(sec int, p node.Payload) node.Event {
		seq++
		return node.Event{Time: at(sec), Payload: p, Seq: seq}
	}
	return []node.Event{
		ev(0, node.Started{Listen: "127.0.0.1:8333", Genesis: hexOf("genesis-net"), Sender: aliceKey, Height: 12, Tip: hashAt("best-12")}),
		ev(5, node.PeerOnline{Peer: "127.0.0.1:8334", Height: 15, Agent: "meshchain/0.1.0"}),
		ev(6, node.SyncStarted{Peer: "127.0.0.1:8334", Latency: "1.2ms", Height: 15, Behind: 3}),
		ev(8, node.SyncFinished{Peer: "127.0.0.1:8334", Blocks: 3, Height: 15, Tip: hashAt("best-15")}),
		ev(30, node.PeerOnline{Peer: "10.0.0.7:8333", Height: 15, Agent: "meshchain/0.1.0", Inbound: true}),
		ev(60, node.Fork{Height: 17, Hash: hashAt("side-17"), Parent: hashAt("best-16"), Tip: hashAt("best-17"), Peer: "127.0.0.1:8335"}),
		ev(61, node.BlockRejected{Hash: hashAt("bad-19"), Height: 19, Reason: "InvalidSignature", Detail: "signature does not verify", Peer: "198.51.100.4:8333"}),
		ev(62, node.PeerPenalized{Peer: "198.51.100.4:8333", Reason: "InvalidSignature: block #19", Until: "12:10:00"}),
		ev(90, node.Reorg{Depth: 2, OldTip: hashAt("side-18"), NewTip: hashAt("best-18"), OldHeight: 18, NewHeight: 18, Returned: 1}),
		ev(120, node.PeerOffline{Peer: "203.0.113.9:8333", Reason: "no pong for 30s"}),
		ev(200, node.MessageQueued{MessageID: hexOf("msg-20"), Message: "twenty blocks!", Queue: 1}),
		ev(240, node.BlockMined{Height: 20, Hash: hashAt("best-20"), Message: "twenty blocks!", Attempts: 70_123, Seconds: 0.4, HashRate: 175_000, QueueLength: 0}),
		ev(250, node.BlockAccepted{Height: 19, Hash: hashAt("best-19"), Sender: bobKey, Message: "almost twenty", Peer: "127.0.0.1:8335", OnBest: true}),
		ev(280, node.MessageQueued{MessageID: hexOf("msg-21"), Message: "hello from node 1", Queue: 2}),
		ev(290, node.MiningProgress{MessageID: hexOf("msg-21"), Message: "hello from node 1", Height: 21, Attempts: 40_000, Expected: 65_536, HashRate: 250_000, ETASeconds: 0.1, Queue: 2, Threads: 4}),
	}
}

// emptySnapshot is a node that just started alone: genesis only, no peers.
func emptySnapshot() node.Snapshot {
	g := chain.Genesis(16)
	return node.Snapshot{
		Listen:  "127.0.0.1:8333",
		NodeID:  hexOf("node-0"),
		Genesis: g.Hash,
		Sender:  carolKey,
		Height:  0,
		Tip:     g.Hash,
		Work:    "0",
		Recent: []node.BlockSummary{{
			Height: 0, Hash: g.Hash, PrevHash: g.PrevHash, Sender: g.Sender,
			TimeStamp: g.TimeStamp, Message: g.Message,
		}},
	}
}

// fullBlock is the chain.Block behind a summary, for the detail view.
func fullBlock(b node.BlockSummary) chain.Block {
	return chain.Block{
		Number:      b.Height,
		PrevHash:    b.PrevHash,
		Message:     b.Message,
		Sender:      b.Sender,
		TimeStamp:   b.TimeStamp,
		Difficulty:  16,
		Nonce:       48_213,
		ProofOfWork: 48_214,
		Signature:   hexOf("sig-r") + hexOf("sig-s"),
		Hash:        b.Hash,
	}
}

func (f *fakeNode) Disconnect(_ context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, "disconnect "+addr)
	return nil
}

func (f *fakeNode) Ban(_ context.Context, addr string, d time.Duration, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, "ban "+addr+" "+d.String())
	return nil
}

func (f *fakeNode) Unban(_ context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, "unban "+addr)
	return nil
}

func (f *fakeNode) Forget(_ context.Context, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, "forget "+addr)
	return nil
}

func (f *fakeNode) Bans() []node.BanInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]node.BanInfo(nil), f.bans...)
}
