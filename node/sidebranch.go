package node

import (
	"math/big"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/netpeers"
)

// sideState is the loop's bookkeeping for side branches and for chains
// refused only because they were ahead of our clock. Its maps are made on
// first use.
type sideState struct {
	stored  bool                    // the store may hold side blocks: the meta flag is set
	ignored uint64                  // deep low-work blocks ignored since the start
	pruned  uint64                  // side blocks pruned since the start
	future  map[string]*futureFetch // by peer id: a re-ask scheduled for when a block's time is valid
}

// metaSideBlocks is set in the store's meta bucket before a side block is
// stored, and cleared once an open has deleted them all: a node loads only
// its best chain, so side blocks left on disk would be kept forever.
const metaSideBlocks = "side_blocks"

// pruneStoredSide deletes, at open, every stored block off the best chain if
// the last run may have left some.
func (n *Node) pruneStoredSide() error {
	flag, err := n.store.Meta(metaSideBlocks)
	if err != nil || flag == nil {
		return err
	}
	start := time.Now()
	deleted, err := n.store.DeleteOffBest()
	if err != nil {
		return err
	}
	if deleted > 0 {
		n.log.Info("deleted side-branch blocks left by the last run", "blocks", deleted, "took", time.Since(start))
	}
	return n.store.SetMeta(metaSideBlocks, nil)
}

// noteSideStored sets the meta flag before side blocks reach the store. A
// failure is only logged: at worst the blocks outlive a restart.
func (n *Node) noteSideStored() {
	if n.side.stored {
		return
	}
	if err := n.store.SetMeta(metaSideBlocks, []byte("1")); err != nil {
		n.log.Warn("could not mark the store as holding side blocks", "err", err)
		return
	}
	n.side.stored = true
}

// strictForks reports whether blocks that arrived this way are refused when
// they lead onto a deep, lighter branch. Only the answers of a sync round
// are exempt: the round asked for them from a peer that announced more
// work, and a heavier chain forking deep arrives in batches whose first
// ones are lighter than ours. Stale branches a round leaves behind are
// pruned afterwards. The node's own blocks always extend its tip.
//
// accept cannot tell a sync answer from an unasked blocks frame, so while
// a round runs a batch is taken for an answer when it comes from the
// round's peer, or from any peer announcing more work than ours (the round
// may ask a second peer, whose answer can win).
func (n *Node) strictForks(from netpeers.PeerRef, how origin) bool {
	switch how {
	case fromMiner:
		return false
	case fromBatch:
		s := n.syncing.Load()
		if s == nil || from.Addr == "" {
			return true
		}
		return s.Peer != from.Addr && !n.announcesMore(from)
	}
	return true
}

// announcesMore reports whether the online peer from announces a chain
// that beats ours.
func (n *Node) announcesMore(from netpeers.PeerRef) bool {
	if n.net == nil {
		return false
	}
	tip := n.index.Tip()
	for _, p := range n.net.Peers() {
		if p.Addr == from.Addr && p.Status == string(PeerOnlineStatus) {
			return ahead(workOf(p.Work), p.Tip, tip.Work, tip.Hash.String())
		}
	}
	return false
}

// deepFork reports whether blocks[i], a new block whose parent we hold,
// leads onto a branch forking more than chain.MaxForkDepth below our tip
// that has less work than our tip even at the end of the run of linked
// blocks it starts in its batch. The run's work is counted at the network's
// difficulty, which every valid block has; should a later block of the run
// prove invalid, the ones before it are kept and pruned later like any
// stale branch. Every block is judged, not only a run's first: an answer
// to get_blocks may begin with blocks we already hold.
func (n *Node) deepFork(blocks []chain.Block, i int) bool {
	h, err := chain.ParseHash(blocks[i].Hash)
	if err != nil || n.index.Has(h) {
		return false
	}
	prev, err := chain.ParseHash(blocks[i].PrevHash)
	if err != nil {
		return false
	}
	parent := n.index.Node(prev)
	if parent == nil {
		return false // an orphan: the pool bounds those
	}
	if n.index.ForkPoint(parent).Height+chain.MaxForkDepth >= n.index.Height() {
		return false // shallow, as most are: no need to count the run
	}
	run := int64(1)
	for j := i + 1; j < len(blocks) && blocks[j].PrevHash == blocks[j-1].Hash; j++ {
		run++
	}
	end := new(big.Int).Mul(chain.BlockWork(n.cfg.Difficulty), big.NewInt(run))
	end.Add(end, parent.Work)
	return n.index.DeepFork(parent, end)
}

// ignoreDeep notes a block that was not taken in because it leads onto a
// deep, lighter branch. It is not invalid and its sender is not penalised.
func (n *Node) ignoreDeep(b *chain.Block, from netpeers.PeerRef) {
	n.side.ignored++
	n.log.Debug("side block ignored: its branch forks too deep below the tip with less work",
		"hash", b.Hash, "height", b.Number, "peer", from.Addr, "max_fork_depth", chain.MaxForkDepth, "ignored", n.side.ignored)
}

// pruneSide forgets side branches that fork more than chain.MaxForkDepth
// below the tip, in memory and on disk. Not while a sync round runs: the
// branch it is fetching may still be lighter than ours and will overtake.
func (n *Node) pruneSide() {
	if n.index.SideBlocks() == 0 || n.syncing.Load() != nil {
		return
	}
	gone := n.index.PruneStale()
	if len(gone) == 0 {
		return
	}
	n.side.pruned += uint64(len(gone))
	entries := make([]store.Entry, len(gone))
	for i, nd := range gone {
		entries[i] = store.Entry{Height: nd.Height, Hash: nd.Hash, MessageID: nd.MessageID}
	}
	deleted, err := n.store.DeleteSideBlocks(entries)
	if err != nil {
		// Only dead weight stays: the next open deletes it.
		n.log.Warn("could not delete pruned side blocks", "blocks", len(entries), "err", err)
		return
	}
	n.log.Info("pruned stale side branches", "blocks", len(gone), "deleted", deleted, "tip", n.index.Tip().Height)
	if n.index.SideBlocks() == 0 && n.side.stored {
		// Every side block stored in this run is in the index, and none
		// is left: the next open need not look for any.
		if err := n.store.SetMeta(metaSideBlocks, nil); err == nil {
			n.side.stored = false
		}
	}
}

// orphanOwner is the key the orphan pool shares its room out by.
func orphanOwner(from netpeers.PeerRef) string {
	if from.ID != "" {
		return from.ID
	}
	return from.Addr
}

// storesSide reports whether committing accepted writes side blocks: some
// of them are off the best chain, or the old tip left it.
func (n *Node) storesSide(oldTip *chain.Node, accepted []chain.Accepted) bool {
	if !n.index.OnBest(oldTip) {
		return true
	}
	for _, a := range accepted {
		if !n.index.OnBest(a.Node) {
			return true
		}
	}
	return false
}
