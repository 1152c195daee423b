package node

import (
	"context"
	"encoding/json"
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

func (h *handler) HandleFrame(from netpeers.PeerRef, frame any) {
	n := h.node()
	if bl, ok := frame.(netpeers.Blocks); ok && n.deliverSync(from.ID, bl) {
		return
	}
	select {
	case n.inbox <- inbound{from: from, frame: frame}:
	case <-n.stopping:
	}
}

func (h *handler) PeerEvent(ev netpeers.PeerEvent) {
	n := h.node()
	switch ev.Kind {
	case netpeers.PeerOnline:
		n.emit(PeerOnline{Peer: ev.Peer.Addr, NodeID: ev.Peer.ID, Height: ev.Hello.Height, Agent: ev.Hello.Agent, Inbound: ev.Inbound})
		if st := n.status.Load(); ahead(workOf(ev.Hello.Work), ev.Hello.Tip, workOf(st.Work), st.Tip) {
			n.triggerSync()
		}
	case netpeers.PeerOffline:
		n.emit(PeerOffline{Peer: ev.Peer.Addr, Reason: ev.Reason})
	case netpeers.PeerPenalized:
		until := ""
		if !ev.Until.IsZero() {
			until = ev.Until.UTC().Format(time.RFC3339)
		}
		n.emit(PeerPenalized{Peer: ev.Peer.Addr, Reason: ev.Reason, Until: until})
	}
}

// ChainData builds the /get-blockchaindata object: the wallet's sender and
// every block of the best chain, genesis first.
func (h *handler) ChainData(ctx context.Context) ([]byte, error) {
	n := h.node()
	// The whole chain is built in memory per request: a few at a time.
	select {
	case n.chainDataSlots <- struct{}{}:
		defer func() { <-n.chainDataSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	blocks, err := n.BestChain(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		WalletAuthor   string        `json:"WalletAuthor"`
		BlockChainData []chain.Block `json:"BlockChainData"`
	}{n.Sender(), blocks})
}

// handleInbound runs on the loop.
func (n *Node) handleInbound(in inbound) {
	switch f := in.frame.(type) {
	case netpeers.BlockMsg:
		_, _ = n.accept([]chain.Block{f.Block}, in.from, fromRelay)
	case netpeers.Blocks:
		added, err := n.accept(f.Blocks, in.from, fromBatch)
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

// serveBlocks answers get_blocks from the best chain. The loop only picks
// the hashes; reading and sending the blocks is left to the server
// goroutine, so a peer asking often cannot stall the loop. When that
// goroutine is busy the request is dropped: the asker may ask again.
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
	select {
	case n.serveQ <- job:
	default:
		n.log.Warn("get_blocks dropped: answering too many", "peer", from.Addr)
	}
}

// serveJob is a get_blocks answer to read from the store and send.
type serveJob struct {
	to     netpeers.PeerRef
	hashes []chain.Hash
}

// serveLoop reads and sends get_blocks answers until ctx ends. Blocks are
// immutable by hash, so reading them outside the loop is safe.
func (n *Node) serveLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-n.serveQ:
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
