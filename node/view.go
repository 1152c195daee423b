package node

import (
	"context"
	"sort"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

// recentBlocks is how many best-chain blocks a snapshot carries (the
// dashboard keeps as many), and snapshotSide how many side blocks.
const (
	recentBlocks = 1000
	snapshotSide = 512
)

// treeDepth is how many heights below the tip the fork view covers.
const treeDepth = 24

// Snapshot copies what the dashboard shows. The loop gathers the index
// state; block bodies are read from the store afterwards.
func (n *Node) Snapshot(ctx context.Context) (Snapshot, error) {
	var s Snapshot
	var recent []*chain.Node
	var tree []*chain.Node
	var miningOn chain.Hash
	err := n.do(ctx, func() {
		s.Seq = n.events.lastSeq()
		tip := n.index.Tip()
		s.Height, s.Tip, s.Work = tip.Height, tip.Hash.String(), tip.Work.String()
		for nd := tip; nd != nil && len(recent) < recentBlocks; nd = nd.Parent {
			recent = append(recent, nd)
		}
		floor := sat(tip.Height, treeDepth)
		for _, nd := range recent {
			if nd.Height >= floor {
				tree = append(tree, nd)
			}
		}
		// The side branches beside the recent blocks, newest first; the
		// dashboard keeps its own history of forks and reorganisations
		// from events, so the node keeps no view-only state.
		side := n.index.SideNodes(sat(tip.Height, uint64(len(recent))))
		sort.Slice(side, func(i, j int) bool { return side[i].Height > side[j].Height })
		tree = append(tree, side[:min(len(side), snapshotSide)]...)
		if j := n.miner.current(); j != nil {
			s.Mining = j.state(n.miner.threads)
			miningOn = j.parent.Hash
		}
		for _, p := range n.pool.list() {
			s.Pending = append(s.Pending, PendingMessage{MessageID: p.MessageID.String(), Message: p.Message, TimeStamp: p.TimeStamp, Own: p.Own})
		}
		s.Queue = n.pool.ownLen()
	})
	if err != nil {
		return Snapshot{}, err
	}
	s.Listen, s.NodeID, s.Genesis, s.Sender, s.DataDir = n.Addr(), n.nodeID, n.Genesis(), n.Sender(), n.cfg.DataDir
	s.DroppedEvents = n.events.Dropped()

	// The bodies in one store read: a transaction each was a thousand
	// for the first frame, each mapping a page-cache folio of its own.
	var hs []chain.Hash
	asked := map[chain.Hash]bool{}
	for _, nds := range [][]*chain.Node{recent, tree} {
		for _, nd := range nds {
			if !isGenesisNode(nd) && !asked[nd.Hash] {
				asked[nd.Hash] = true
				hs = append(hs, nd.Hash)
			}
		}
	}
	bodies := make(map[chain.Hash]*chain.Block, len(hs))
	blocks, _ := n.store.Blocks(hs)
	for i, b := range blocks {
		if b != nil {
			bodies[hs[i]] = b
		}
	}
	summaries := map[chain.Hash]BlockSummary{}
	summary := func(nd *chain.Node) BlockSummary {
		if bs, ok := summaries[nd.Hash]; ok {
			return bs
		}
		bs := BlockSummary{Height: nd.Height, Hash: nd.Hash.String(), MessageID: nd.MessageID.String()}
		b := bodies[nd.Hash]
		if isGenesisNode(nd) {
			g := chain.Genesis(n.cfg.Difficulty)
			b = &g
		}
		if b != nil {
			bs.PrevHash, bs.Sender, bs.TimeStamp, bs.Message = b.PrevHash, b.Sender, b.TimeStamp, b.Message
		}
		summaries[nd.Hash] = bs
		return bs
	}
	for _, nd := range recent {
		s.Recent = append(s.Recent, summary(nd))
	}
	// Side-branch tips say why they lost.
	hasChild := map[chain.Hash]bool{}
	for _, nd := range tree {
		if nd.Parent != nil {
			hasChild[nd.Parent.Hash] = true
		}
	}
	onBest := map[chain.Hash]bool{}
	bestAt := map[uint64]*chain.Node{}
	for _, nd := range recent {
		onBest[nd.Hash] = true
		bestAt[nd.Height] = nd
	}
	for _, nd := range tree {
		tn := TreeNode{BlockSummary: summary(nd), OnBest: onBest[nd.Hash], Work: nd.Work.String(),
			MiningOn: nd.Hash == miningOn}
		if !tn.OnBest && !hasChild[nd.Hash] {
			tn.LostWhy = lostWhy(nd, bestAt[nd.Height])
		}
		s.Tree = append(s.Tree, tn)
	}
	sort.SliceStable(s.Tree, func(i, j int) bool {
		if s.Tree[i].Height != s.Tree[j].Height {
			return s.Tree[i].Height > s.Tree[j].Height
		}
		return s.Tree[i].OnBest && !s.Tree[j].OnBest
	})

	if n.net != nil {
		s.Peers = peerInfos(n.net.Peers())
	}
	st := n.syncing.Load()
	if st != nil {
		s.Sync = *st
	}
	for i := range s.Peers {
		s.Sync.Known++
		if s.Peers[i].Status == PeerOnlineStatus {
			s.Sync.Online++
		}
		if st != nil && s.Peers[i].Addr == st.Peer {
			s.Peers[i].SyncPeer = true
		}
	}
	return s, nil
}

// lastSeq is the last event's sequence number. The loop reads it for
// snapshots: every event the loop emitted before is numbered up to it.
func (b *broker) lastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// lostWhy says why a side-branch tip lost to the best chain's block at its
// height: with the same work there, the tie went to the smaller hash.
func lostWhy(side, rival *chain.Node) string {
	if rival != nil && side.Work.Cmp(rival.Work) == 0 && rival.Hash.Less(side.Hash) {
		return "equal work, larger hash"
	}
	return "less work"
}

func peerInfos(ps []netpeers.PeerInfo) []PeerInfo {
	out := make([]PeerInfo, len(ps))
	for i, p := range ps {
		out[i] = PeerInfo{Addr: p.Addr, NodeID: p.NodeID, Proven: p.Proven, ClaimedID: p.ClaimedID, Status: PeerStatus(p.Status), Inbound: p.Inbound,
			Dialing: p.Dialing, LastRTT: p.LastRTT, SmoothRTT: p.SmoothRTT, MinRTT: p.MinRTT, Height: p.Height, Work: p.Work,
			LastChange: p.LastChange, Failures: p.Failures, Penalty: p.Penalty, Agent: p.Agent,
			ConnectedSince: p.ConnectedSince, LastError: p.LastError, LastErrorAt: p.LastErrorAt,
			LastAttempt: p.LastAttempt, NextDial: p.NextDial,
			FramesIn: p.FramesIn, FramesOut: p.FramesOut, BytesIn: p.BytesIn, BytesOut: p.BytesOut}
	}
	return out
}

// Peers returns the address book, nearest first.
func (n *Node) Peers() []PeerInfo {
	if n.net == nil {
		return nil
	}
	return peerInfos(n.net.Peers())
}
