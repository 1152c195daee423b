package ui

import (
	"sort"

	"github.com/meshchain/meshchain/node"
)

// Bounds of what the dashboard remembers: the newest best-chain blocks and
// the side-branch blocks it has seen. Older ones fall off the front; the
// fork view says how many forks it no longer draws.
const (
	keepBest = 1000
	keepSide = 512
)

// State is what the dashboard knows of its node, built from the node's
// events by Apply, a reducer with no I/O: a received block reaches the
// screen from its BlockAccepted event alone, with no round trip to the node
// or its store. A snapshot seeds it when the dashboard subscribes and again
// only when the event stream says events were lost.
type State struct {
	Listen, NodeID, Genesis, Sender, DataDir string

	Height uint64
	Tip    string
	Work   string

	Pending []node.PendingMessage // the pool, oldest first
	Mining  *node.MiningState     // nil when idle
	Queue   int                   // own messages waiting
	Sync    node.SyncState
	// syncTarget is the height the running round set out to reach (its
	// start height and distance), for "N blocks behind" when the peer's
	// own height is not in the table.
	syncTarget uint64
	Peers      []node.PeerInfo // nearest first

	best    []node.BlockSummary // the best chain's newest blocks, ascending
	bestIdx map[string]int      // hash -> height, for the blocks in best
	msgAt   map[string]uint64   // message id -> height, for the blocks in best
	side    []node.BlockSummary // side-branch blocks, oldest first
	sideIdx map[string]bool
	reorgAt map[string]bool // blocks where the best chain switched branches
	lastSeq uint64          // the newest event folded in (or the snapshot's)
	spread  *spreadBook     // who delivered each new block first, and how late the others
}

// NewState is an empty state; Apply and Seed fill it.
func NewState() State {
	return State{bestIdx: map[string]int{}, msgAt: map[string]uint64{}, sideIdx: map[string]bool{}, reorgAt: map[string]bool{},
		spread: newSpreadBook()}
}

// Seed replaces what a snapshot holds, keeping the side-branch history and
// the reorganisation marks, which a snapshot does not carry in full.
func (s *State) Seed(snap node.Snapshot) {
	s.Listen, s.NodeID, s.Genesis, s.Sender, s.DataDir = snap.Listen, snap.NodeID, snap.Genesis, snap.Sender, snap.DataDir
	s.Height, s.Tip, s.Work = snap.Height, snap.Tip, snap.Work
	s.lastSeq = snap.Seq
	s.Pending = append([]node.PendingMessage(nil), snap.Pending...)
	s.Mining, s.Queue = snap.Mining, snap.Queue
	s.Sync = snap.Sync
	s.Peers = append([]node.PeerInfo(nil), snap.Peers...)
	s.markSyncPeer()

	s.best, s.bestIdx, s.msgAt = nil, map[string]int{}, map[string]uint64{}
	for i := len(snap.Recent) - 1; i >= 0; i-- {
		s.pushBest(snap.Recent[i])
	}
	if len(s.best) == 0 && snap.Tip != "" {
		s.pushBest(node.BlockSummary{Height: snap.Height, Hash: snap.Tip})
	}
	for _, tn := range snap.Tree {
		if tn.OnBest {
			if tn.ReorgAt {
				s.reorgAt[tn.Hash] = true
			}
			continue
		}
		s.addSide(tn.BlockSummary)
	}
	// Blocks that were side blocks and are best now are no longer side.
	s.dropSideOnBest()
}

// Apply folds one event into the state. It reports whether the state can no
// longer follow the node from events alone (events were lost, or a new tip
// hangs off blocks it never saw): the caller then takes a snapshot.
func (s *State) Apply(ev node.Event) (resnapshot bool) {
	if ev.Missed > 0 {
		resnapshot = true
	}
	if ev.Seq != 0 {
		if ev.Seq <= s.lastSeq {
			return resnapshot // the snapshot already holds it
		}
		s.lastSeq = ev.Seq
	}
	if s.spread == nil {
		s.spread = newSpreadBook()
	}
	switch e := ev.Payload.(type) {
	case node.Started:
		s.Listen, s.NodeID, s.Genesis, s.Sender, s.DataDir = e.Listen, e.NodeID, e.Genesis, e.Sender, e.DataDir
		if s.Tip != e.Tip {
			s.Height, s.Tip = e.Height, e.Tip
			resnapshot = resnapshot || len(s.best) > 0
		}
	case node.BlockAccepted:
		b := node.BlockSummary{Height: e.Height, Hash: e.Hash, PrevHash: e.PrevHash, Sender: e.Sender,
			TimeStamp: e.TimeStamp, Message: e.Message, MessageID: e.MessageID}
		// Blocks asked for (a sync round, a missing parent) were not raced
		// for: they say nothing about which peer relays quickest.
		if !s.Sync.Syncing && !e.Fetched {
			s.spread.first(e.Hash, e.Height, e.Peer, e.Peer == "", ev.Time)
		}
		switch {
		case e.OnBest && (e.PrevHash == s.Tip || len(s.best) == 0):
			s.pushBest(b)
			s.Height, s.Tip = b.Height, b.Hash
			s.removePending(e.MessageID)
		case e.OnBest:
			// It joins the best chain through a reorganisation; the
			// TipChanged that follows walks the new branch.
			s.addSide(b)
		default:
			s.addSide(b)
		}
	case node.BlockSeenAgain:
		s.spread.again(e, ev.Time)
	case node.TipChanged:
		s.Work = e.Work
		if e.Hash != s.Tip && !s.switchTo(e.Hash) {
			s.Height, s.Tip = e.Height, e.Hash
			resnapshot = true
		}
	case node.MessageQueued:
		s.Queue = e.Queue
		if !s.hasPending(e.MessageID) {
			s.Pending = append(s.Pending, node.PendingMessage{MessageID: e.MessageID, Message: e.Message, Own: true})
		}
	case node.MiningProgress:
		prev := s.Mining
		s.Mining = &node.MiningState{
			MessageID: e.MessageID, Message: e.Message, Height: e.Height,
			Attempts: e.Attempts, Expected: e.Expected, HashRate: e.HashRate,
			ETASeconds: e.ETASeconds, Threads: e.Threads,
		}
		if e.Height > 0 {
			if b, ok := s.bestAt(e.Height - 1); ok {
				s.Mining.Parent = b.Hash
			}
		}
		if prev != nil && prev.MessageID == e.MessageID && prev.Height == e.Height {
			s.Mining.Started = prev.Started
		} else {
			// The node counts the queue when a job starts and repeats that
			// figure in every report of the job; messages queued since
			// are counted by their own events.
			s.Queue = e.Queue
		}
	case node.MiningIdle:
		s.Mining, s.Queue = nil, 0 // idle means the queue is empty
	case node.BlockMined:
		s.Mining, s.Queue = nil, e.QueueLength
		s.removePending(e.MessageID)
	case node.SyncStarted:
		if e.Peer != "" {
			s.Sync.Syncing, s.Sync.Peer, s.Sync.Behind = true, e.Peer, e.Behind
			s.syncTarget = e.Height + e.Behind
		}
		s.markSyncPeer()
	case node.SyncBacktrack:
		s.Sync.Peer = e.Next
		s.markSyncPeer()
	case node.SyncFinished:
		s.Sync.Syncing, s.Sync.Peer, s.Sync.Behind, s.syncTarget = false, "", 0, 0
		s.markSyncPeer()
	}
	return resnapshot
}

// SetPeers takes the address book the dashboard reads each second.
func (s *State) SetPeers(peers []node.PeerInfo) {
	s.Peers = append(s.Peers[:0:0], peers...)
	s.Sync.Online, s.Sync.Known = 0, len(peers)
	for i := range s.Peers {
		if s.Peers[i].Status == node.PeerOnlineStatus {
			s.Sync.Online++
		}
	}
	s.markSyncPeer()
}

// SyncBehind is how far the running round still has to go: to the sync
// peer's height in the table or the height the round set out to reach,
// whichever is higher; the distance at the round's start when neither is
// known.
func (s *State) SyncBehind() uint64 {
	target := s.syncTarget
	for _, p := range s.Peers {
		if p.Addr == s.Sync.Peer {
			target = max(target, p.Height)
		}
	}
	if target == 0 {
		return s.Sync.Behind
	}
	if target <= s.Height {
		return 0
	}
	return target - s.Height
}

// markSyncPeer marks the peer a sync round is reading from, as the round
// starts, moves on or ends (not only when the address book is next read:
// a row kept its mark for up to a second after the round ended).
func (s *State) markSyncPeer() {
	for i := range s.Peers {
		s.Peers[i].SyncPeer = s.Sync.Syncing && s.Peers[i].Addr == s.Sync.Peer
	}
}

// switchTo makes hash the tip by walking back from it to the best chain
// through blocks the state has seen. It returns false, changing nothing,
// when the walk meets a block it does not know.
func (s *State) switchTo(hash string) bool {
	var path []node.BlockSummary // new branch, tip first
	h := hash
	for {
		if _, ok := s.bestIdx[h]; ok {
			break
		}
		b, ok := s.sideBlock(h)
		if !ok {
			return false
		}
		path = append(path, b)
		h = b.PrevHash
	}
	fork := s.bestIdx[h]
	// The blocks above the fork point leave the best chain: they become a
	// side branch, and their messages not on the new branch go back to the
	// pool, as the node does.
	onNew := map[string]bool{}
	for _, b := range path {
		onNew[b.MessageID] = true
	}
	var left []node.BlockSummary
	for len(s.best) > 0 && s.best[len(s.best)-1].Height > uint64(fork) {
		b := s.popBest()
		left = append(left, b)
	}
	for i := len(path) - 1; i >= 0; i-- {
		s.pushBest(path[i])
		s.removePending(path[i].MessageID)
	}
	for i := len(left) - 1; i >= 0; i-- {
		b := left[i]
		s.addSide(b)
		if b.MessageID != "" && !onNew[b.MessageID] && !s.hasPending(b.MessageID) {
			s.Pending = append(s.Pending, node.PendingMessage{MessageID: b.MessageID, Message: b.Message,
				TimeStamp: b.TimeStamp, Own: b.Sender == s.Sender})
		}
	}
	s.dropSideOnBest()
	if len(left) > 0 {
		s.reorgAt[h] = true
	}
	tip := s.best[len(s.best)-1]
	s.Height, s.Tip = tip.Height, tip.Hash
	return true
}

func (s *State) pushBest(b node.BlockSummary) {
	if n := len(s.best); n > 0 && s.best[n-1].Height+1 != b.Height {
		// Not contiguous (a seed with gaps): start the window again.
		s.best, s.bestIdx, s.msgAt = nil, map[string]int{}, map[string]uint64{}
	}
	s.best = append(s.best, b)
	s.bestIdx[b.Hash] = int(b.Height)
	if b.MessageID != "" {
		s.msgAt[b.MessageID] = b.Height
	}
	if len(s.best) > keepBest {
		old := s.best[0]
		delete(s.bestIdx, old.Hash)
		if s.msgAt[old.MessageID] == old.Height {
			delete(s.msgAt, old.MessageID)
		}
		delete(s.reorgAt, old.Hash)
		// Dropped from the front, not copied: the next append that finds
		// no room copies the kept blocks once, not at every block (a
		// sync's 50,000 blocks copied 1,000 summaries each).
		s.best[0] = node.BlockSummary{}
		s.best = s.best[1:]
	}
}

func (s *State) popBest() node.BlockSummary {
	b := s.best[len(s.best)-1]
	s.best = s.best[:len(s.best)-1]
	delete(s.bestIdx, b.Hash)
	if s.msgAt[b.MessageID] == b.Height {
		delete(s.msgAt, b.MessageID)
	}
	return b
}

func (s *State) bestAt(height uint64) (node.BlockSummary, bool) {
	if len(s.best) == 0 || height < s.best[0].Height || height > s.best[len(s.best)-1].Height {
		return node.BlockSummary{}, false
	}
	return s.best[height-s.best[0].Height], true
}

func (s *State) addSide(b node.BlockSummary) {
	if s.sideIdx[b.Hash] {
		return
	}
	if _, onBest := s.bestIdx[b.Hash]; onBest {
		return
	}
	s.sideIdx[b.Hash] = true
	s.side = append(s.side, b)
	if len(s.side) > keepSide {
		delete(s.sideIdx, s.side[0].Hash)
		s.side = append(s.side[:0:0], s.side[1:]...)
	}
}

func (s *State) sideBlock(hash string) (node.BlockSummary, bool) {
	if !s.sideIdx[hash] {
		return node.BlockSummary{}, false
	}
	for i := len(s.side) - 1; i >= 0; i-- {
		if s.side[i].Hash == hash {
			return s.side[i], true
		}
	}
	return node.BlockSummary{}, false
}

func (s *State) dropSideOnBest() {
	kept := s.side[:0]
	for _, b := range s.side {
		if _, onBest := s.bestIdx[b.Hash]; onBest {
			delete(s.sideIdx, b.Hash)
			continue
		}
		kept = append(kept, b)
	}
	s.side = kept
}

func (s *State) hasPending(id string) bool {
	for _, p := range s.Pending {
		if p.MessageID == id {
			return true
		}
	}
	return false
}

func (s *State) removePending(id string) {
	if id == "" {
		return
	}
	for i, p := range s.Pending {
		if p.MessageID == id {
			s.Pending = append(s.Pending[:i:i], s.Pending[i+1:]...)
			return
		}
	}
}

// Recent is the best chain's newest blocks, newest first, at most n.
func (s *State) Recent(n int) []node.BlockSummary {
	out := make([]node.BlockSummary, 0, min(n, len(s.best)))
	for i := len(s.best) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, s.best[i])
	}
	return out
}

// Tree is the fork view: every remembered side branch with the best chain
// from the lowest fork point to the tip, ordered by height (newest first),
// best branch first. Side blocks whose branch forks below the remembered
// best chain are not drawn; older says how many.
func (s *State) Tree() (tree []node.TreeNode, older int) {
	if len(s.best) == 0 {
		return nil, 0
	}
	base := s.best[0].Height
	floor := s.best[len(s.best)-1].Height
	hasChild := map[string]bool{}
	var side []node.BlockSummary
	for _, b := range s.side {
		if b.Height <= base {
			older++
			continue
		}
		side = append(side, b)
		hasChild[b.PrevHash] = true
		floor = min(floor, b.Height-1)
	}
	// Always show some history, as a block list would.
	floor = min(floor, s.best[len(s.best)-1].Height-min(s.best[len(s.best)-1].Height-base, treeMinRows))
	var miningOn string
	if s.Mining != nil {
		miningOn = s.Mining.Parent
	}
	for _, b := range s.best {
		if b.Height < floor {
			continue
		}
		tree = append(tree, node.TreeNode{BlockSummary: b, OnBest: true, ReorgAt: s.reorgAt[b.Hash], MiningOn: b.Hash == miningOn})
	}
	for _, b := range side {
		tn := node.TreeNode{BlockSummary: b}
		if !hasChild[b.Hash] {
			tn.LostWhy = "less work"
			if b.Height == s.Height && s.Tip < b.Hash {
				// Constant difficulty: a tip as high as ours has as much
				// work, and the tie went to the smaller hash.
				tn.LostWhy = "equal work, larger hash"
			}
		}
		if at, ok := s.msgAt[b.MessageID]; ok && b.MessageID != "" {
			tn.Remined = at
		}
		tree = append(tree, tn)
	}
	sort.SliceStable(tree, func(i, j int) bool {
		if tree[i].Height != tree[j].Height {
			return tree[i].Height > tree[j].Height
		}
		return tree[i].OnBest && !tree[j].OnBest
	})
	return tree, older
}

// treeMinRows is how much of the best chain the fork view shows below the
// tip when no fork reaches further back.
const treeMinRows = 24
