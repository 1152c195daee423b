package node

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/netpeers"
)

// origin says where blocks came from, which decides relaying and penalties.
type origin int

const (
	fromMiner origin = iota // mined here
	fromRelay               // a block frame: relay on to every other peer
	fromBatch               // a blocks answer (sync or orphan fetch): announce the tip instead
)

// accept validates blocks, signatures in parallel, takes them into the
// index in order and stores everything that changed in one transaction.
// It stops at the first invalid block and returns its rule error; blocks
// before it are kept, as they are valid.
func (n *Node) accept(blocks []chain.Block, from netpeers.PeerRef, how origin) (added int, err error) {
	return n.acceptChecked(blocks, nil, from, how)
}

// acceptChecked is accept for blocks some of which were already validated
// (sync checks its batches on all cores outside the loop): pre[i], when
// set, is blocks[i] parsed and validated against the parent it names, and
// is not checked again; nil entries are validated here. pre nil validates
// every block.
func (n *Node) acceptChecked(blocks []chain.Block, pre []*chain.Parsed, from netpeers.PeerRef, how origin) (added int, err error) {
	if len(blocks) == 0 {
		return 0, nil
	}
	now := n.cfg.Clock()
	oldTip := n.index.Tip()
	strict := n.strictForks(from, how)
	if strict && n.deepFork(blocks, 0) {
		// Before any signature is checked: a flood of such blocks costs
		// a map lookup and a walk to the fork each.
		n.ignoreDeep(&blocks[0], from)
		return 0, nil
	}
	if pre == nil {
		pre = n.validateAll(blocks, now)
	}

	var accepted []chain.Accepted
	var orphanMissing *chain.Hash
	for i := range blocks {
		b := &blocks[i]
		if strict && n.deepFork(blocks, i) {
			// Not invalid, just not worth keeping; what follows in the
			// batch builds on it.
			n.ignoreDeep(b, from)
			break
		}
		res, aerr := n.index.AddFrom(b, pre[i], orphanOwner(from), now)
		if aerr != nil {
			n.reject(b, from, aerr)
			err = aerr
			break
		}
		for _, r := range res.Rejected {
			// Blame whoever sent the orphan, not the sender of its parent.
			h, _ := chain.ParseHash(r.Block.Hash)
			n.reject(r.Block, n.orphanFrom[h], r.Err)
		}
		for _, a := range res.Accepted {
			delete(n.orphanFrom, a.Node.Hash)
		}
		if res.Orphan {
			m := res.Missing
			orphanMissing = &m
			n.noteOrphan(b.Hash, from)
			continue
		}
		for _, a := range res.Accepted {
			if res.Fork && a.Block == b {
				n.emit(Fork{Height: a.Node.Height, Hash: a.Node.Hash.String(), Parent: b.PrevHash,
					Tip: res.OldTip.Hash.String(), Peer: from.Addr})
			}
		}
		accepted = append(accepted, res.Accepted...)
	}
	if len(accepted) > 0 {
		if n.storesSide(oldTip, accepted) {
			n.noteSideStored() // before the side blocks are written
		}
		if serr := n.commit(oldTip, accepted, from, how); serr != nil && err == nil {
			err = serr
		}
		if err == nil {
			n.pruneSide()
		}
	}
	if orphanMissing != nil && from.ID != "" {
		n.askForAncestors(from)
	}
	// A peer whose blocks moved our best chain on proved useful: netpeers
	// evicts it last when inbound places run out.
	if from.ID != "" && n.net != nil && n.index.Tip() != oldTip {
		n.net.MarkUseful(from.ID)
	}
	return len(accepted), err
}

// validateAll checks, in parallel on all cores, every block whose parent is
// known or is the block before it in the batch. Blocks that fail are left
// for the index to refuse with the same reason, in order.
func (n *Node) validateAll(blocks []chain.Block, now time.Time) []*chain.Parsed {
	parents := make([]*chain.Parent, len(blocks))
	for i := range blocks {
		prev, err := chain.ParseHash(blocks[i].PrevHash)
		if err != nil {
			continue
		}
		if p := n.index.Node(prev); p != nil {
			parents[i] = &chain.Parent{Number: p.Height, Hash: p.Hash}
		} else if i > 0 && blocks[i-1].Hash == blocks[i].PrevHash && !n.index.Has(prev) {
			// The previous block of the batch, unless a held orphan already
			// goes by that hash: then the index checks against the real one.
			parents[i] = &chain.Parent{Number: blocks[i-1].Number, Hash: prev}
		}
	}
	return validateParallel(blocks, parents, n.cfg.Difficulty, now)
}

// validateParallel applies chain.Validate to every block that has a parent
// given, on all cores; the others, and those that fail, are left nil. It
// touches no node state, so it runs on any goroutine.
func validateParallel(blocks []chain.Block, parents []*chain.Parent, difficulty uint32, now time.Time) []*chain.Parsed {
	out := make([]*chain.Parsed, len(blocks))
	if len(blocks) == 1 {
		if parents[0] != nil {
			out[0], _ = chain.Validate(&blocks[0], *parents[0], difficulty, now)
		}
		return out
	}
	// Workers take chunks off a shared counter: a channel send per block
	// costs more than a small block's checks around its signature.
	const chunk = 16
	workers := min(runtime.NumCPU(), (len(blocks)+chunk-1)/chunk)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(blocks) {
					return
				}
				for i := lo; i < min(lo+chunk, len(blocks)); i++ {
					if parents[i] != nil {
						out[i], _ = chain.Validate(&blocks[i], *parents[i], difficulty, now)
					}
				}
			}
		})
	}
	wg.Wait()
	return out
}

// reject reports an invalid block and penalises the peer that sent it.
func (n *Node) reject(b *chain.Block, from netpeers.PeerRef, err error) {
	code := chain.CodeOf(err)
	reason := code.String()
	if code == 0 {
		reason = "Error"
	}
	n.emit(BlockRejected{Hash: b.Hash, Height: b.Number, Reason: reason, Detail: err.Error(), Peer: from.Addr})
	n.log.Warn("block rejected", "hash", b.Hash, "height", b.Number, "reason", reason, "err", err, "peer", from.Addr)
	// A time too far ahead may be our clock's fault, not the peer's: ask
	// again once it is valid.
	if chain.TooFarAhead(err) {
		n.refetchLater(b, from)
		return
	}
	if from.ID != "" && n.net != nil {
		n.net.Penalize(from.ID, err.Error())
	}
}

// commit stores what accept changed in one transaction, updates the pool,
// emits events and tells peers.
func (n *Node) commit(oldTip *chain.Node, accepted []chain.Accepted, from netpeers.PeerRef, how origin) error {
	if n.fatal != nil {
		// An earlier write failed and the index may hold blocks the store
		// does not: nothing more is written on the strength of it.
		return errStore
	}
	// Relay first: a peer needs only the header, proof of work and
	// signature checked, which they are, not our fsync or our events. A
	// crash between here and the store write loses only blocks that peers
	// now hold; nothing is reported to the user as stored before it is.
	// The sessions learn the blocks first, so that the copies the relay
	// brings back are dropped as they arrive.
	for _, a := range accepted {
		n.recent.add(a.Node.Hash, n.arrivals.first[a.Node.Hash])
	}
	n.relay(accepted, from, how)
	newTip := n.index.Tip()
	disconnected, connected := chain.Diff(oldTip, newTip)

	u := store.Update{}
	for _, a := range accepted {
		u.Blocks = append(u.Blocks, a.Block)
	}
	for _, d := range disconnected {
		u.Disconnect = append(u.Disconnect, store.Entry{Height: d.Height, Hash: d.Hash, MessageID: d.MessageID})
	}
	for _, c := range connected {
		u.Connect = append(u.Connect, store.Entry{Height: c.Height, Hash: c.Hash, MessageID: c.MessageID})
		if n.pool.has(c.MessageID) {
			u.RemovePending = append(u.RemovePending, c.MessageID)
		}
	}
	fresh := map[chain.Hash]*chain.Block{}
	for _, a := range accepted {
		fresh[a.Node.Hash] = a.Block
	}
	// The disconnected blocks whose messages go back to the pool are read
	// in one go (a deep reorganisation reads thousands).
	returning := func(d *chain.Node) bool {
		_, still := n.index.HasMessage(d.MessageID)
		return !still && !n.pool.has(d.MessageID)
	}
	var read []chain.Hash
	for _, d := range disconnected {
		if fresh[d.Hash] == nil && returning(d) {
			read = append(read, d.Hash)
		}
	}
	stored, readErrs := n.store.Blocks(read)
	for i, h := range read {
		if readErrs[i] != nil {
			n.log.Error("read disconnected block", "hash", h, "err", readErrs[i])
			continue
		}
		fresh[h] = stored[i]
	}
	var returned []store.Pending
	now := n.cfg.Clock()
	for _, d := range disconnected {
		b := fresh[d.Hash]
		if b == nil || !returning(d) {
			continue
		}
		returned = append(returned, store.Pending{MessageID: d.MessageID, Message: b.Message,
			Sender: b.Sender, TimeStamp: b.TimeStamp, Signature: b.Signature, Own: b.Sender == n.Sender(),
			AddedHeight: newTip.Height, AddedAt: now.UnixMilli()})
	}
	// Evictions and expiries go into the same transaction as the change.
	evict, returned := n.pool.plan(u.RemovePending, returned, newTip.Height, now)
	u.AddPending = returned
	u.RemovePending = append(u.RemovePending, evict...)
	if err := n.store.Apply(u); err != nil {
		n.failStore(fmt.Errorf("could not save blocks: %w", err))
		return errStore
	}
	n.pool.remove(u.RemovePending...)
	for _, p := range returned {
		n.pool.add(p)
	}
	if len(evict) > 0 {
		n.log.Info("pending pool: let go of other authors' messages (over its bound or expired)",
			"dropped", len(evict), "others_left", n.pool.otherLen(), "bytes", n.pool.bytes())
	}
	n.queueChanged()

	for _, a := range accepted {
		onBest := n.index.OnBest(a.Node)
		// A blocks answer can connect orphans that were relayed to us: those
		// have a first arrival and count as relayed, by the peer that
		// relayed them; the rest as fetched.
		first, peer := n.arrivals.first[a.Node.Hash], from.Addr
		if first.peer != "" {
			peer = first.peer
		}
		n.emit(BlockAccepted{Height: a.Node.Height, Hash: a.Node.Hash.String(), PrevHash: a.Block.PrevHash,
			Sender: a.Block.Sender, Message: a.Block.Message, TimeStamp: a.Block.TimeStamp,
			MessageID: a.Node.MessageID.String(), Peer: peer, OnBest: onBest,
			Fetched: how == fromBatch && first.at.IsZero(), Arrived: first.at})
	}
	if len(disconnected) > 0 {
		n.emit(Reorg{Depth: len(disconnected), OldTip: oldTip.Hash.String(), NewTip: newTip.Hash.String(),
			OldHeight: oldTip.Height, NewHeight: newTip.Height, Returned: len(returned)})
		for _, p := range returned {
			if p.Sender == n.Sender() {
				n.emit(MessageQueued{MessageID: p.MessageID.String(), Message: p.Message, Queue: n.pool.ownLen(), Requeued: true})
			}
		}
	}

	if newTip != oldTip {
		n.publishStatus()
		n.emit(TipChanged{Height: newTip.Height, Hash: newTip.Hash.String(), Work: newTip.Work.String()})
		n.announceTip()
		if how != fromMiner {
			n.remine() // minedBlock does, once it has reported the block
		}
	}
	return nil
}

// relay sends new blocks (mined here or relayed to us) to every other
// peer. It runs before the store write, and so before the tip frame that
// names them: a peer never starts a sync for a block already on its way.
func (n *Node) relay(accepted []chain.Accepted, from netpeers.PeerRef, how origin) {
	if n.net == nil || how == fromBatch {
		return
	}
	sent := 0
	for _, a := range accepted {
		// A side block far behind the tip competes with nothing: passing
		// it on would only carry a flood to every peer.
		if n.index.Competes(a.Node) {
			sent += n.net.Broadcast(netpeers.BlockMsg{Block: *a.Block}, from.ID)
		}
	}
	if sent > 0 {
		// What follows (the store write and its fsync, the events) can
		// wait; the relay cannot. The peers' writers were just woken on
		// this thread's queue: let them write first rather than wait for
		// another thread, which on a busy machine waits for a core. Then
		// give the core itself away once: on a machine that runs several
		// nodes, the others are still to relay this block.
		runtime.Gosched()
		yieldCPU()
	}
}

// announceTip asks announceLoop to tell the peers the current tip.
func (n *Node) announceTip() {
	select {
	case n.tipChanged <- struct{}{}:
	default: // one is due already, and will read the status then
	}
}

// announceLoop sends a tip frame to every peer when the tip changed, off
// the loop, until ctx ends. Changes that come while a frame is being
// sent go out as one frame, the latest. (Sending it 20 ms later, out of
// the way of the block's relay, was tried: no change in the spread, and
// a few percent more CPU from nodes woken for it.)
func (n *Node) announceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.tipChanged:
		}
		n.net.AnnounceTip(*n.status.Load())
	}
}

// queueChanged tells the running job how many own messages wait, for its
// progress reports.
func (n *Node) queueChanged() {
	if n.miner == nil {
		return
	}
	if j := n.miner.current(); j != nil {
		j.queue.Store(int64(n.pool.ownLen()))
	}
}

// askForAncestors asks a peer for the blocks between our best chain and an
// orphan it sent, at most once a second per peer.
func (n *Node) askForAncestors(from netpeers.PeerRef) {
	if n.net == nil {
		return
	}
	if t, ok := n.orphanAsked[from.ID]; ok && time.Since(t) < time.Second {
		return
	}
	if n.syncWaiting(from.ID) {
		return // a sync request to this peer is in flight and will carry on
	}
	n.orphanAsked[from.ID] = time.Now()
	_ = n.net.Send(from.ID, netpeers.GetBlocks{Locator: hexes(n.index.Locator()), Limit: chain.MaxBlocksPerReply})
}

func hexes(hs []chain.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// remine points the miner at the first own pending message on the current
// tip, or stops it when there is nothing to mine.
func (n *Node) remine() {
	if n.miner == nil {
		return
	}
	if n.fatal != nil {
		// The index may be ahead of the store: mining on it, or dropping a
		// message it claims is mined, would act on what was never saved.
		n.miner.stop()
		return
	}
	msg, ok := n.pool.next()
	for ok {
		if _, onChain := n.index.HasMessage(msg.MessageID); !onChain {
			break
		}
		// Already on the best chain (it should have left the pool with its
		// block): mining it again would only make a duplicate. Drop it only
		// if the store agrees: the index alone may hold what was not saved.
		if _, stored, err := n.store.MessageBlock(msg.MessageID); err != nil || !stored {
			if err == nil {
				err = errors.New("its block is in memory but not in the store")
			}
			n.failStore(fmt.Errorf("pending message %s: %w", msg.MessageID.Short(), err))
			n.miner.stop()
			return
		}
		n.log.Warn("pending message already on the best chain; dropping it", "id", msg.MessageID)
		if err := n.store.RemovePending(msg.MessageID); err != nil {
			n.failStore(fmt.Errorf("drop a mined pending message: %w", err))
			n.miner.stop()
			return
		}
		n.pool.remove(msg.MessageID)
		msg, ok = n.pool.next()
	}
	cur := n.miner.current()
	tip := n.index.Tip()
	if !ok {
		n.miner.stop()
		if !n.idle {
			n.idle = true
			n.emit(MiningIdle{})
		}
		return
	}
	n.idle = false
	if cur != nil && cur.done.Load() {
		return // a nonce was found and is on its way to minedBlock, which mines on
	}
	if cur != nil && cur.msg.MessageID == msg.MessageID && cur.parent == tip {
		return
	}
	j, err := n.newJob(msg, tip)
	if err != nil {
		// A pending message that cannot be mined (damaged record): drop it
		// rather than wedge the queue, and say so.
		n.log.Error("pending message cannot be mined; dropping it", "id", msg.MessageID, "err", err)
		n.emit(Warning{Message: "dropped an unminable pending message: " + err.Error()})
		if err := n.store.RemovePending(msg.MessageID); err != nil {
			n.failStore(fmt.Errorf("drop an unminable pending message: %w", err))
			n.miner.stop()
			return
		}
		n.pool.remove(msg.MessageID)
		n.remine()
		return
	}
	j.queue.Store(int64(n.pool.ownLen()))
	n.miner.start(j)
}

// failStore records the first store failure. From then on the node writes
// nothing more (commit, remine and post refuse) and the loop stops after
// the current command; a restart reloads what the store holds.
func (n *Node) failStore(err error) {
	if errors.Is(err, store.ErrCorrupt) {
		// Load salvages a damaged file (a damaged page met here leaves a
		// mark that makes the next start check the whole file).
		err = fmt.Errorf("%w. The chain store is damaged: start the node again and it repairs it "+
			"(keeps what still reads, moves the damaged chain.db aside and fetches the rest from peers)", err)
	}
	if n.fatal == nil {
		n.log.Error("store update failed; the node stops", "err", err)
		n.fatal = err
	}
}

func (n *Node) newJob(msg store.Pending, tip *chain.Node) (*job, error) {
	b := chain.Block{
		Number:     tip.Height + 1,
		PrevHash:   tip.Hash.String(),
		Message:    msg.Message,
		Sender:     msg.Sender,
		TimeStamp:  msg.TimeStamp,
		Difficulty: n.cfg.Difficulty,
		Signature:  msg.Signature,
	}
	p, err := b.Parse()
	if err != nil {
		return nil, err
	}
	if err := chain.CheckMessage(b.Message); err != nil {
		return nil, err
	}
	if err := chain.VerifySignature(p.Sender, p.Signature, p.MessageID); err != nil {
		return nil, err
	}
	return &job{msg: msg, parent: tip, block: b, header: p.Header}, nil
}

// minedBlock finishes a found nonce into a block and takes it in.
func (n *Node) minedBlock(fb foundBlock) {
	if fb.job != n.miner.current() {
		return // the template was abandoned while the find was in flight
	}
	n.miner.stop()
	j := fb.job
	b := j.block
	b.Nonce = fb.nonce
	b.ProofOfWork = j.attempts.Load()
	b.Hash = fb.hash.String()
	elapsed := time.Since(j.started).Seconds()
	// Its first arrival is now: the copies peers relay back report how
	// late they came (BlockSeenAgain.LagMS), as for a block relayed here.
	n.arrivals.note(fb.hash, time.Now(), "")
	if _, err := n.acceptChecked([]chain.Block{b}, []*chain.Parsed{minedParsed(&b, fb.hash)}, netpeers.PeerRef{}, fromMiner); err != nil {
		if errors.Is(err, errStore) {
			return // not saved: the loop stops, and the message stays pending on disk
		}
		n.log.Error("mined block refused by own index", "err", err)
		n.emit(Warning{Message: "own mined block refused: " + err.Error()})
		n.remine()
		return
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(b.ProofOfWork) / elapsed
	}
	n.emit(BlockMined{Height: b.Number, Hash: b.Hash, MessageID: j.msg.MessageID.String(), Message: b.Message,
		Attempts: b.ProofOfWork, Seconds: elapsed, HashRate: rate, QueueLength: n.pool.ownLen()})
	n.remine()
}

// minedParsed is a block mined here, parsed, so that its signature (which
// newJob verified before mining began) is not verified again on the way
// to the peers. Nil, for a full validation, unless its hash is the one
// the miner found and meets the difficulty.
func minedParsed(b *chain.Block, found chain.Hash) *chain.Parsed {
	p, err := b.Parse()
	if err != nil || p.Hash != found || b.Hash != found.String() || !chain.MeetsDifficulty(p.Hash, b.Difficulty) {
		return nil
	}
	return p
}

// workOf parses a decimal work string; junk counts as zero.
func workOf(s string) *big.Int {
	w, ok := new(big.Int).SetString(s, 10)
	if !ok || w.Sign() < 0 {
		return new(big.Int)
	}
	return w
}

// noteOrphan remembers who sent an orphan, so that whoever is to blame if it
// proves invalid is the one penalised. The map is bounded like the pool:
// entries of orphans the pool no longer holds go first.
func (n *Node) noteOrphan(hash string, from netpeers.PeerRef) {
	h, err := chain.ParseHash(hash)
	if err != nil || from.ID == "" {
		return
	}
	if len(n.orphanFrom) >= 2*chain.MaxOrphans {
		for k := range n.orphanFrom {
			if !n.index.Has(k) {
				delete(n.orphanFrom, k)
			}
		}
	}
	n.orphanFrom[h] = from
}

var (
	errStalled = errors.New("stalled: no answer in time")
	errStore   = errors.New("the node could not save blocks")
)
