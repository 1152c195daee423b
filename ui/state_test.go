package ui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/meshchain/meshchain/node"
)

// chainOf makes summaries for heights from..to on top of prev, labelled
// branch-height, with message ids msg-<branch>-<height>.
func chainOf(branch string, from, to uint64, prev string, sender string) []node.BlockSummary {
	var out []node.BlockSummary
	for h := from; h <= to; h++ {
		b := node.BlockSummary{Height: h, Hash: hashAt(fmt.Sprintf("%s-%d", branch, h)), PrevHash: prev, Sender: sender,
			Message: fmt.Sprintf("%s %d", branch, h), MessageID: hexOf(fmt.Sprintf("msg-%s-%d", branch, h))}
		out = append(out, b)
		prev = b.Hash
	}
	return out
}

func accepted(b node.BlockSummary, onBest bool) node.Event {
	return node.Event{Payload: node.BlockAccepted{Height: b.Height, Hash: b.Hash, PrevHash: b.PrevHash, Sender: b.Sender,
		Message: b.Message, TimeStamp: b.TimeStamp, MessageID: b.MessageID, OnBest: onBest}}
}

func tipChanged(b node.BlockSummary) node.Event {
	return node.Event{Payload: node.TipChanged{Height: b.Height, Hash: b.Hash}}
}

// seeded is a state seeded with genesis and a1..a3, our own chain.
func seeded(t *testing.T) (State, []node.BlockSummary) {
	t.Helper()
	g := node.BlockSummary{Height: 0, Hash: genesisHash, Message: "meshchain genesis"}
	a := append([]node.BlockSummary{g}, chainOf("a", 1, 3, g.Hash, aliceKey)...)
	snap := node.Snapshot{Sender: aliceKey, Height: 3, Tip: a[3].Hash}
	for i := len(a) - 1; i >= 0; i-- {
		snap.Recent = append(snap.Recent, a[i])
	}
	s := NewState()
	s.Seed(snap)
	return s, a
}

func hashes(bs []node.BlockSummary) string {
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%d:%s", b.Height, b.Hash[4:8]))
	}
	return strings.Join(out, " ")
}

// TestStateReorg: a scripted sequence with a reorganisation gives the
// expected best chain, fork tree and pool, with no snapshot.
func TestStateReorg(t *testing.T) {
	s, a := seeded(t)
	a4 := chainOf("a", 4, 4, a[3].Hash, aliceKey)[0] // our own message, mined
	b := chainOf("b", 4, 5, a[3].Hash, bobKey)       // a heavier branch from a3
	c6 := node.BlockSummary{Height: 6, Hash: hashAt("c-6"), PrevHash: b[1].Hash, Sender: aliceKey, Message: a4.Message, MessageID: a4.MessageID}

	script := []node.Event{
		accepted(a4, true), tipChanged(a4),
		accepted(b[0], false),
		accepted(b[1], true), // best through a reorganisation: TipChanged walks it
		{Payload: node.Reorg{Depth: 1, OldTip: a4.Hash, NewTip: b[1].Hash, OldHeight: 4, NewHeight: 5, Returned: 1}},
		tipChanged(b[1]),
		{Payload: node.MessageQueued{MessageID: a4.MessageID, Message: a4.Message, Queue: 1, Requeued: true}},
	}
	for i, ev := range script {
		if s.Apply(ev) {
			t.Fatalf("event %d (%s) asked for a snapshot", i, ev.Payload.Kind())
		}
	}
	want := []node.BlockSummary{a[0], a[1], a[2], a[3], b[0], b[1]}
	if got := hashes(s.best); got != hashes(want) {
		t.Errorf("best chain\n got %s\nwant %s", got, hashes(want))
	}
	if s.Height != 5 || s.Tip != b[1].Hash {
		t.Errorf("tip = #%d %s", s.Height, s.Tip)
	}
	if len(s.Pending) != 1 || s.Pending[0].MessageID != a4.MessageID || !s.Pending[0].Own {
		t.Errorf("pool = %+v, want our a4 message back once", s.Pending)
	}
	tree, older := s.Tree()
	if older != 0 {
		t.Errorf("older = %d", older)
	}
	var lines []string
	for _, tn := range tree {
		lines = append(lines, fmt.Sprintf("%d best=%v reorg=%v lost=%q remined=%d", tn.Height, tn.OnBest, tn.ReorgAt, tn.LostWhy, tn.Remined))
	}
	wantTree := []string{
		`5 best=true reorg=false lost="" remined=0`,
		`4 best=true reorg=false lost="" remined=0`,
		`4 best=false reorg=false lost="less work" remined=0`,
		`3 best=true reorg=true lost="" remined=0`,
	}
	if got := strings.Join(lines[:4], "\n"); got != strings.Join(wantTree, "\n") {
		t.Errorf("tree\n got:\n%s\nwant:\n%s", got, strings.Join(wantTree, "\n"))
	}

	// Re-mined on top: the pool empties and the lost block says where its
	// message went.
	for _, ev := range []node.Event{accepted(c6, true), tipChanged(c6)} {
		if s.Apply(ev) {
			t.Fatal("a block on the tip asked for a snapshot")
		}
	}
	if len(s.Pending) != 0 {
		t.Errorf("pool = %+v after the message was mined again", s.Pending)
	}
	tree, _ = s.Tree()
	for _, tn := range tree {
		if tn.Hash == a4.Hash && tn.Remined != 6 {
			t.Errorf("lost block's message re-mined at %d, want 6", tn.Remined)
		}
	}
}

// TestStateIdempotentAndGaps: events the snapshot holds are skipped, an
// event applied twice changes nothing, and what cannot be followed asks for
// a snapshot.
func TestStateIdempotentAndGaps(t *testing.T) {
	s, a := seeded(t)
	s.lastSeq = 10
	a4 := chainOf("a", 4, 4, a[3].Hash, aliceKey)[0]
	ev := accepted(a4, true)
	ev.Seq = 9 // older than the snapshot: already in it (here: deliberately not, to see it skipped)
	s.Apply(ev)
	if s.Height != 3 {
		t.Fatal("an event older than the snapshot was applied")
	}
	ev.Seq = 11
	s.Apply(ev)
	s.Apply(accepted(a4, true)) // again, unnumbered
	if got := len(s.best); got != 5 || s.Height != 4 {
		t.Errorf("best has %d blocks at height %d after the same block twice", got, s.Height)
	}
	if !s.Apply(node.Event{Payload: node.TipChanged{Height: 9, Hash: hashAt("nowhere")}}) {
		t.Error("a tip off unknown blocks did not ask for a snapshot")
	}
	if !s.Apply(node.Event{Missed: 2, Payload: node.Warning{Message: "x"}}) {
		t.Error("lost events did not ask for a snapshot")
	}
}

// TestStateBounded: the best chain and side history stay bounded, and the
// fork view counts the forks it no longer draws.
func TestStateBounded(t *testing.T) {
	s, a := seeded(t)
	side := chainOf("s", 1, 1, a[0].Hash, bobKey)[0] // forks at genesis
	s.Apply(accepted(side, false))
	blocks := chainOf("a", 4, keepBest+50, a[3].Hash, aliceKey)
	for _, b := range blocks {
		s.Apply(accepted(b, true))
	}
	for i := range keepSide + 20 {
		s.Apply(accepted(node.BlockSummary{Height: keepBest, Hash: hashAt(fmt.Sprintf("junk-%d", i)), PrevHash: blocks[len(blocks)-200].Hash}, false))
	}
	if len(s.best) != keepBest || len(s.bestIdx) != keepBest {
		t.Errorf("best keeps %d (%d indexed), want %d", len(s.best), len(s.bestIdx), keepBest)
	}
	if len(s.side) != keepSide || len(s.sideIdx) != keepSide {
		t.Errorf("side keeps %d (%d indexed), want %d", len(s.side), len(s.sideIdx), keepSide)
	}
	if s.Height != keepBest+50 {
		t.Errorf("height %d", s.Height)
	}
}

// TestStateOlderForks: a fork below the kept best chain is counted, not drawn.
func TestStateOlderForks(t *testing.T) {
	s, a := seeded(t)
	s.Apply(accepted(chainOf("s", 1, 1, a[0].Hash, bobKey)[0], false))
	for _, b := range chainOf("a", 4, keepBest+10, a[3].Hash, aliceKey) {
		s.Apply(accepted(b, true))
	}
	tree, older := s.Tree()
	if older != 1 {
		t.Errorf("older = %d, want 1", older)
	}
	for _, tn := range tree {
		if !tn.OnBest {
			t.Errorf("drew side block #%d", tn.Height)
		}
	}
	if len(tree) > treeMinRows+1 {
		t.Errorf("tree of %d rows with no fork in range, want %d", len(tree), treeMinRows+1)
	}
}

// TestIdleAsksNothingOfTheStore: with nothing happening, the one-second tick
// reads the peer table (in memory) and asks for no snapshot, so an idle
// dashboard costs the node's store nothing.
func TestIdleAsksNothingOfTheStore(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m.fetching = false
	for range 5 {
		var cmd tea.Cmd
		m, cmd = update(m, tickMsg{})
		if m.fetching {
			t.Fatal("a tick asked for a snapshot")
		}
		if cmd == nil {
			t.Fatal("the tick was not renewed")
		}
	}
	m, _ = update(m, peersMsg{peers: []node.PeerInfo{{Addr: "127.0.0.1:9999", Status: node.PeerOnlineStatus, Height: 3}}})
	if s := screen(m); !strings.Contains(s, "127.0.0.1:9999") || !strings.Contains(s, "peers 1/1 online") {
		t.Errorf("the peer read did not reach the screen:\n%s", s)
	}
}

// TestSyncPeerMarkFollowsTheRound: the sync peer's mark comes and goes with
// the round's events, not with the next read of the address book.
func TestSyncPeerMarkFollowsTheRound(t *testing.T) {
	var s State
	s.SetPeers([]node.PeerInfo{{Addr: "a", Status: node.PeerOnlineStatus}, {Addr: "b", Status: node.PeerOnlineStatus}})
	marked := func() string {
		for _, p := range s.Peers {
			if p.SyncPeer {
				return p.Addr
			}
		}
		return ""
	}
	s.Apply(node.Event{Payload: node.SyncStarted{Peer: "a", Behind: 3}})
	if got := marked(); got != "a" {
		t.Fatalf("round started from a: %q marked", got)
	}
	s.Apply(node.Event{Payload: node.SyncBacktrack{Peer: "a", Next: "b"}})
	if got := marked(); got != "b" {
		t.Fatalf("round moved on to b: %q marked", got)
	}
	s.Apply(node.Event{Payload: node.SyncFinished{Peer: "b"}})
	if got := marked(); got != "" {
		t.Fatalf("round over: %q still marked", got)
	}
}

// TestSyncPeerMarkOnScreen: while a round reads from a peer its row and
// the pane's title say so, and both go when the round ends.
func TestSyncPeerMarkOnScreen(t *testing.T) {
	m, _ := busyModel(t, 120, 40)
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.SyncStarted{Peer: "127.0.0.1:8334", Behind: 3}}})
	if s := screen(m); !strings.Contains(s, "▶ 127.0.0.1:8334") || !strings.Contains(s, "▶ sync peer") {
		t.Errorf("syncing from 127.0.0.1:8334, its row is not marked:\n%s", s)
	}
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.SyncFinished{Peer: "127.0.0.1:8334"}}})
	if s := screen(m); strings.Contains(s, "▶") {
		t.Errorf("the round is over, a row is still marked:\n%s", s)
	}
}

// TestSyncBehind: what is left of a round, from the sync peer's height in
// the table or the height the round set out to reach, whichever is higher.
func TestSyncBehind(t *testing.T) {
	var s State
	s.Height = 100
	s.Apply(node.Event{Payload: node.SyncStarted{Peer: "x", Height: 100, Behind: 5000}})
	if got := s.SyncBehind(); got != 5000 {
		t.Errorf("at the start: %d behind, want 5000", got)
	}
	s.Height = 3100 // the peer is not in the table: the round's target
	if got := s.SyncBehind(); got != 2000 {
		t.Errorf("peer not in the table: %d behind, want 2000", got)
	}
	s.SetPeers([]node.PeerInfo{{Addr: "x", Status: node.PeerOnlineStatus, Height: 6000}})
	if got := s.SyncBehind(); got != 2900 {
		t.Errorf("peer announces 6000: %d behind, want 2900", got)
	}
	s.SetPeers([]node.PeerInfo{{Addr: "x", Status: node.PeerOnlineStatus, Height: 50}})
	if got := s.SyncBehind(); got != 2000 {
		t.Errorf("peer's table height below the target: %d behind, want 2000", got)
	}
	s.Height = 9000
	if got := s.SyncBehind(); got != 0 {
		t.Errorf("past the target: %d behind, want 0", got)
	}
}
