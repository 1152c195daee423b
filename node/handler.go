package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/netpeers"
)

// handler is the node seen by the network: calls arrive on session
// goroutines and are handed to the loop.
type handler Node

var _ netpeers.Handler = (*handler)(nil)

func (h *handler) node() *Node { return (*Node)(h) }

func (h *handler) Status() netpeers.Status { return *h.status.Load() }

// HandleFrame runs on the sender's session goroutine. Requests over the
// sender's rate are dropped here, before they cost the loop anything, and
// a frame waits for room in the inbox's byte budget: a peer that sends
// faster than the node takes its frames in is slowed down (its session
// stops reading), and only that peer.
//
// A block frame of a block just taken in, or a tip frame naming one, is
// dropped here: for the loop it would be a block it knows (not counted
// against the sender: every peer relays each block once, and others may
// have been first; reported as BlockSeenAgain, as the loop does) or a tip
// it holds (no sync to start).
func (h *handler) HandleFrame(from netpeers.PeerRef, frame any) {
	n := h.node()
	at := time.Now()
	switch f := frame.(type) {
	case netpeers.GetBlocks:
		if !n.allowGetBlocks(from) {
			return
		}
	case netpeers.BlockMsg:
		if first, ok := n.recent.first(f.Block.Hash); ok {
			n.emitSeenAgain(&f.Block, from, at, first)
			return
		}
	case netpeers.Tip:
		if n.recent.known(f.Tip) {
			return
		}
	}
	if bl, ok := frame.(netpeers.Blocks); ok && n.deliverSync(from.ID, bl) {
		return
	}
	size := frameSize(frame)
	if !n.intake.acquire(peerKey(from), size, n.stopping) {
		return
	}
	select {
	case n.inbox <- inbound{from: from, frame: frame, at: at}:
	case <-n.stopping:
		n.intake.release(peerKey(from), size)
	}
}

func (h *handler) PeerEvent(ev netpeers.PeerEvent) {
	n := h.node()
	switch ev.Kind {
	case netpeers.PeerOnline:
		// An unproven peer's node_id is what its hello claims, shown as such.
		n.emit(PeerOnline{Peer: ev.Peer.Addr, NodeID: ev.Hello.NodeID, Proven: ev.Peer.Proven,
			Height: ev.Hello.Height, Agent: ev.Hello.Agent, Inbound: ev.Inbound})
		if st := n.status.Load(); ahead(workOf(ev.Hello.Work), ev.Hello.Tip, workOf(st.Work), st.Tip) {
			n.triggerSync()
		}
	case netpeers.PeerOffline:
		n.intake.forget(peerKey(ev.Peer))
		n.serveQ.drop(peerKey(ev.Peer)) // its answers could not be sent
		n.emit(PeerOffline{Peer: ev.Peer.Addr, Reason: ev.Reason})
	case netpeers.PeerPenalized:
		until := ""
		if !ev.Until.IsZero() {
			until = ev.Until.UTC().Format(time.RFC3339)
		}
		if strings.HasPrefix(ev.Reason, netpeers.ReasonMalformedBlock) {
			// netpeers refused the block while decoding it, so it never
			// reached accept: report it as every other refused block is.
			n.emit(BlockRejected{Reason: chain.MalformedBlock.String(), Detail: ev.Reason, Peer: ev.Peer.Addr})
		}
		n.emit(PeerPenalized{Peer: ev.Peer.Addr, Reason: ev.Reason, Until: until})
	case netpeers.PeerDialFailed:
		n.dialFailed(ev)
	}
}

// handleInbound runs on the loop.
func (n *Node) handleInbound(in inbound) {
	defer n.intake.release(peerKey(in.from), frameSize(in.frame))
	switch f := in.frame.(type) {
	case netpeers.BlockMsg:
		blocks, known, refused := n.unseen([]chain.Block{f.Block})
		n.noteBlockArrival(&f.Block, in.from, in.at, known > 0)
		if refused > 0 {
			// Sent again although refused: no honest peer relays a block
			// it cannot accept either. A known block is not counted: every
			// peer relays each block once, and others may have been first.
			n.useless(in.from, 1, "a block refused for its time, again")
		}
		if len(blocks) == 0 {
			return
		}
		_, err := n.accept(blocks, in.from, fromRelay)
		n.noteTooFarAhead(blocks, err)
	case netpeers.Blocks:
		blocks, known, refused := n.unseen(f.Blocks)
		if len(blocks) == 0 {
			switch {
			case known+refused > 0:
				n.useless(in.from, 1+(known+refused)/100, fmt.Sprintf("%d blocks we hold or refused", known+refused))
			case !n.askedRecently(in.from):
				n.useless(in.from, 1, "an empty blocks frame nobody asked for")
			}
			return
		}
		added, err := n.accept(blocks, in.from, fromBatch)
		n.noteTooFarAhead(blocks, err)
		// A full answer that moved us on means there is more to fetch.
		if err == nil && added > 0 && len(f.Blocks) >= chain.MaxBlocksPerReply {
			delete(n.orphanAsked, in.from.ID)
			n.askForAncestors(in.from)
		}
	case netpeers.GetBlocks:
		n.serveBlocks(in.from, f)
	case netpeers.Tip:
		tip := n.index.Tip()
		if ahead(workOf(f.Work), f.Tip, tip.Work, tip.Hash.String()) && n.index.Node(parseHashOrZero(f.Tip)) == nil {
			n.triggerSync()
		}
	}
}

func parseHashOrZero(s string) chain.Hash {
	h, _ := chain.ParseHash(s)
	return h
}

// askedRecently reports whether we asked the peer for blocks lately, so
// that an answer from it is expected.
func (n *Node) askedRecently(from netpeers.PeerRef) bool {
	t, ok := n.orphanAsked[from.ID]
	return ok && time.Since(t) < 30*time.Second
}

// serveBlocks answers get_blocks from the best chain. The loop only picks
// the hashes; reading and sending the blocks is left to serveLoop, which
// takes the peers' requests in turn, so a peer asking often cannot delay
// another's answer. A peer with a few requests already waiting loses the
// next one: it may ask again.
func (n *Node) serveBlocks(from netpeers.PeerRef, req netpeers.GetBlocks) {
	var loc []chain.Hash
	for _, s := range req.Locator {
		if h, err := chain.ParseHash(s); err == nil {
			loc = append(loc, h)
		}
	}
	nodes := n.index.After(loc, req.Limit)
	job := serveJob{to: from, hashes: make([]chain.Hash, len(nodes))}
	for i, nd := range nodes {
		job.hashes[i] = nd.Hash
	}
	if !n.serveQ.push(peerKey(from), job) {
		n.log.Debug("get_blocks dropped: the peer has answers waiting", "peer", from.Addr)
	}
}

// serveJob is a get_blocks answer to read from the store and send.
type serveJob struct {
	to     netpeers.PeerRef
	hashes []chain.Hash
}

// serveLoop reads and sends get_blocks answers, one peer after another,
// until ctx ends. Blocks are immutable by hash, so reading them outside
// the loop is safe.
func (n *Node) serveLoop(ctx context.Context) {
	for ctx.Err() == nil {
		job, ok := n.serveQ.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-n.serveQ.ready:
			}
			continue
		}
		out := make([]chain.Block, 0, len(job.hashes))
		for _, h := range job.hashes {
			b, err := n.store.Block(h)
			if err != nil {
				n.log.Error("serve get_blocks: read block", "hash", h, "err", err)
				break
			}
			out = append(out, *b)
		}
		_ = n.net.Send(job.to.ID, netpeers.Blocks{Blocks: out})
	}
}

// bookAdapter stores the network's address book in the node's store.
type bookAdapter struct{ st *store.Store }

func (b bookAdapter) LoadPeers() ([]netpeers.PeerRecord, error) {
	recs, err := b.st.Peers()
	if err != nil {
		return nil, err
	}
	out := make([]netpeers.PeerRecord, len(recs))
	for i, r := range recs {
		out[i] = netpeers.PeerRecord(r)
	}
	return out, nil
}

func (b bookAdapter) SavePeers(recs ...netpeers.PeerRecord) error {
	out := make([]store.PeerRecord, len(recs))
	for i, r := range recs {
		out[i] = store.PeerRecord(r)
	}
	return b.st.PutPeers(out...)
}
