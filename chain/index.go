package chain

import (
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Node is the index's record of one valid block: enough to choose the best
// chain and detect duplicate messages without holding the block itself.
type Node struct {
	Hash      Hash
	Parent    *Node
	Height    uint64
	Work      *big.Int // chain work from genesis up to and including this block
	MessageID Hash
	Time      int64 // Unix milliseconds of the message
}

// MaxOrphans bounds the orphan pool. When it is full, the oldest orphan of
// the sender holding the most goes first, so a flooding peer evicts only its
// own.
const MaxOrphans = 1024

// MaxForkDepth is how far below the best tip a side branch may fork and
// still be kept: deeper branches with less work than the best chain are
// refused when they arrive unasked and pruned when the tip leaves them
// behind. A heavier chain is never refused for its depth.
const MaxForkDepth = 100

// RelayWindow is how many blocks' work a side block may trail the best tip
// by and still be relayed: those are the competitors fork choice may yet
// pick; anything further behind is kept (within MaxForkDepth) but not
// passed on.
const RelayWindow = 6

// maxInvalid bounds how many invalid block hashes are remembered.
const maxInvalid = 8192

// Index is the block tree: every valid block known, side chains included,
// with the best chain and a bounded pool of orphans. It is not safe for
// concurrent use; the node's loop owns it.
type Index struct {
	difficulty uint32
	nodes      map[Hash]*Node
	best       []*Node         // best chain by height; best[0] is genesis
	bestMsgs   map[Hash]uint64 // message id -> height, for blocks on the best chain
	side       map[Hash]*Node  // valid blocks off the best chain, for pruning

	orphans     map[Hash]*orphan  // by block hash
	orphanKids  map[Hash][]Hash   // parent hash -> orphan hashes
	orphanOrder map[string][]Hash // owner -> its orphans in arrival order, for eviction
	invalid     map[Hash]ErrorCode
	invalidFIFO []Hash

	// storedWork is BlockWork(storedWorkD), kept for AppendStoredParsed.
	storedWork  *big.Int
	storedWorkD uint32
}

// NewIndex starts an index holding only the genesis block of difficulty d.
func NewIndex(d uint32) *Index {
	g := Genesis(d)
	gh, _ := ParseHash(g.Hash)
	root := &Node{Hash: gh, Work: new(big.Int)}
	ts, _ := ParseTime(GenesisTime)
	root.Time = ts
	return &Index{
		difficulty:  d,
		nodes:       map[Hash]*Node{gh: root},
		best:        []*Node{root},
		bestMsgs:    map[Hash]uint64{},
		side:        map[Hash]*Node{},
		orphans:     map[Hash]*orphan{},
		orphanKids:  map[Hash][]Hash{},
		orphanOrder: map[string][]Hash{},
		invalid:     map[Hash]ErrorCode{},
	}
}

// orphan is a held block whose parent is unknown, with the key of whoever
// sent it (the pool is shared out by owner).
type orphan struct {
	block *Block
	owner string
}

// Difficulty is the network's difficulty.
func (ix *Index) Difficulty() uint32 { return ix.difficulty }

// Genesis is block 0.
func (ix *Index) Genesis() *Node { return ix.best[0] }

// Tip is the last block of the best chain.
func (ix *Index) Tip() *Node { return ix.best[len(ix.best)-1] }

// Height is the tip's height.
func (ix *Index) Height() uint64 { return uint64(len(ix.best) - 1) }

// Node returns the index's record of a valid block, or nil.
func (ix *Index) Node(h Hash) *Node { return ix.nodes[h] }

// Has reports whether h is a known valid block or a held orphan.
func (ix *Index) Has(h Hash) bool {
	_, ok := ix.nodes[h]
	if !ok {
		_, ok = ix.orphans[h]
	}
	return ok
}

// InvalidCode returns the reason a block hash was refused, or 0.
func (ix *Index) InvalidCode(h Hash) ErrorCode { return ix.invalid[h] }

// AtHeight returns the best chain's block at height h, or nil.
func (ix *Index) AtHeight(h uint64) *Node {
	if h >= uint64(len(ix.best)) {
		return nil
	}
	return ix.best[h]
}

// OnBest reports whether n is on the best chain.
func (ix *Index) OnBest(n *Node) bool {
	return n != nil && n.Height < uint64(len(ix.best)) && ix.best[n.Height] == n
}

// HasMessage reports the best-chain height holding a message id.
func (ix *Index) HasMessage(id Hash) (uint64, bool) {
	h, ok := ix.bestMsgs[id]
	return h, ok
}

// Orphans is how many blocks wait for their parent.
func (ix *Index) Orphans() int { return len(ix.orphans) }

// OrphanRoot follows an orphan's ancestry to the first missing parent.
func (ix *Index) OrphanRoot(h Hash) Hash {
	for i := 0; i < MaxOrphans; i++ {
		o, ok := ix.orphans[h]
		if !ok {
			return h
		}
		p, err := ParseHash(o.block.PrevHash)
		if err != nil {
			return h
		}
		h = p
	}
	return h
}

// Better reports whether chain tip a beats tip b: more work, then the
// smaller hash.
func Better(a, b *Node) bool {
	if c := a.Work.Cmp(b.Work); c != 0 {
		return c > 0
	}
	return a.Hash.Less(b.Hash)
}

// Accepted is a block the index took in.
type Accepted struct {
	Block  *Block
	Parsed *Parsed
	Node   *Node
}

// Rejected is a held orphan that proved invalid once its parent came.
type Rejected struct {
	Block *Block
	Err   error
}

// Result says what one Add changed.
type Result struct {
	Known    bool       // the block was already held
	Orphan   bool       // the block waits for its parent (MissedBlock)
	Missing  Hash       // with Orphan: the first ancestor to fetch
	Accepted []Accepted // the block and any orphans it connected, in order
	Rejected []Rejected // orphans that turned out invalid
	Fork     bool       // the block did not extend the tip it found
	OldTip   *Node      // best tip before
	NewTip   *Node      // best tip after
	// Disconnected lists the blocks that left the best chain, tip first;
	// Connected the blocks that joined it, in ascending height.
	Disconnected []*Node
	Connected    []*Node
}

// TipChanged reports whether the best tip moved.
func (r *Result) TipChanged() bool { return r.OldTip != r.NewTip }

// Reorg reports whether blocks left the best chain.
func (r *Result) Reorg() bool { return len(r.Disconnected) > 0 }

// Add validates a block against its parent and takes it in. A block whose
// parent is unknown is held as an orphan; a block that breaks a rule returns
// a *RuleError and changes nothing.
func (ix *Index) Add(b *Block, now time.Time) (*Result, error) {
	return ix.AddFrom(b, nil, "", now)
}

// AddVerified takes in a block that the caller already passed through
// Validate against its parent in this index (so signatures can be checked
// in parallel outside). Duplicate messages are still checked here.
func (ix *Index) AddVerified(b *Block, p *Parsed, now time.Time) (*Result, error) {
	return ix.AddFrom(b, p, "", now)
}

// AddFrom is Add (pre nil) or AddVerified (pre set) for a block sent by
// owner, a key naming its sender: if the block is held as an orphan it
// counts against that owner's share of the pool.
func (ix *Index) AddFrom(b *Block, pre *Parsed, owner string, now time.Time) (*Result, error) {
	res := &Result{OldTip: ix.Tip()}
	res.NewTip = res.OldTip
	claimed, err := ParseHash(b.Hash)
	if err != nil {
		return res, ruleErrorf(InvalidBlockHash, "hash: %v", err)
	}
	if ix.Has(claimed) {
		res.Known = true
		return res, nil
	}
	if code := ix.invalid[claimed]; code != 0 {
		return res, ruleErrorf(code, "block %s was already refused", claimed.Short())
	}
	prev, err := ParseHash(b.PrevHash)
	if err != nil {
		return res, ruleErrorf(PreviousHashBlockError, "prev_hash: %v", err)
	}
	if code := ix.invalid[prev]; code != 0 {
		// Not remembered: the claimed hash is unchecked, and remembering
		// it would let anyone get a real block refused by naming it.
		return res, ruleErrorf(PreviousHashBlockError, "parent %s is invalid (%v)", prev.Short(), code)
	}
	parent := ix.nodes[prev]
	if parent == nil {
		if err := ix.holdOrphan(b, claimed, prev, owner, now); err != nil {
			ix.rememberInvalid(claimed, err)
			return res, err
		}
		res.Orphan = true
		res.Missing = ix.OrphanRoot(claimed)
		return res, nil
	}
	res.Fork = parent != res.OldTip
	acc, err := ix.connect(b, pre, parent, now)
	if err != nil {
		ix.rememberInvalid(claimed, err)
		return res, err
	}
	res.Accepted = append(res.Accepted, acc)
	ix.adoptOrphans(res, acc.Node, now)
	ix.finish(res)
	return res, nil
}

// connect validates b on parent and links it into the tree. It does not
// move the best chain; finish does.
func (ix *Index) connect(b *Block, pre *Parsed, parent *Node, now time.Time) (Accepted, error) {
	p := pre
	if p == nil {
		var err error
		p, err = Validate(b, Parent{Number: parent.Height, Hash: parent.Hash}, ix.difficulty, now)
		if err != nil {
			return Accepted{}, err
		}
	} else if b.Number != parent.Height+1 || p.Prev != parent.Hash {
		// Validated against some other claimed parent: rule 1 fails here.
		return Accepted{}, ruleErrorf(PreviousHashBlockError, "number_of_block %d does not follow parent %d (%s)", b.Number, parent.Height, parent.Hash.Short())
	}
	if h, dup := ix.ancestorHasMessage(parent, p.MessageID); dup {
		return Accepted{}, afterHash{ruleErrorf(DuplicateMessage, "message %s is already in block %d of this chain", p.MessageID.Short(), h)}
	}
	n := ix.link(b, p, parent)
	if Better(n, ix.Tip()) {
		ix.setTip(n)
	}
	return Accepted{Block: b, Parsed: p, Node: n}, nil
}

// link records a checked block as a child of parent.
func (ix *Index) link(b *Block, p *Parsed, parent *Node) *Node {
	n := &Node{
		Hash:      p.Hash,
		Parent:    parent,
		Height:    parent.Height + 1,
		Work:      new(big.Int).Add(parent.Work, BlockWork(b.Difficulty)),
		MessageID: p.MessageID,
		Time:      p.Time,
	}
	ix.nodes[n.Hash] = n
	ix.side[n.Hash] = n // until setTip or AppendStored puts it on the best chain
	return n
}

// ancestorHasMessage checks whether id appears on the chain ending at n:
// the side branch is walked, the best-chain part is a map lookup.
func (ix *Index) ancestorHasMessage(n *Node, id Hash) (uint64, bool) {
	for ; n != nil && !ix.OnBest(n); n = n.Parent {
		if n.MessageID == id {
			return n.Height, true
		}
	}
	if n == nil {
		return 0, false
	}
	if h, ok := ix.bestMsgs[id]; ok && h <= n.Height {
		return h, true
	}
	return 0, false
}

// setTip makes n the best tip, rewriting the best chain from the fork point.
func (ix *Index) setTip(n *Node) {
	var path []*Node
	fork := n
	for ; !ix.OnBest(fork); fork = fork.Parent {
		path = append(path, fork)
	}
	for _, old := range ix.best[fork.Height+1:] {
		delete(ix.bestMsgs, old.MessageID)
		ix.side[old.Hash] = old
	}
	ix.best = ix.best[:fork.Height+1]
	for i := len(path) - 1; i >= 0; i-- {
		ix.best = append(ix.best, path[i])
		ix.bestMsgs[path[i].MessageID] = path[i].Height
		delete(ix.side, path[i].Hash)
	}
}

// finish records how the best chain moved between OldTip and the new tip.
func (ix *Index) finish(res *Result) {
	res.NewTip = ix.Tip()
	if res.NewTip == res.OldTip {
		return
	}
	res.Disconnected, res.Connected = Diff(res.OldTip, res.NewTip)
}

// Diff walks from two tips to their common ancestor: disconnected lists the
// blocks only on from's chain, tip first; connected the blocks only on to's
// chain, in ascending height.
func Diff(from, to *Node) (disconnected, connected []*Node) {
	for from != to {
		if from.Height >= to.Height {
			disconnected = append(disconnected, from)
			from = from.Parent
		} else {
			connected = append(connected, to)
			to = to.Parent
		}
	}
	for i, j := 0, len(connected)-1; i < j; i, j = i+1, j-1 {
		connected[i], connected[j] = connected[j], connected[i]
	}
	return disconnected, connected
}

func (ix *Index) holdOrphan(b *Block, h, prev Hash, owner string, now time.Time) error {
	// An orphan cannot be checked against its parent yet, but everything
	// else can: its hash and work, its message, its signature and its time.
	// Only a block that may really be valid takes a place in the pool.
	if b.Difficulty != ix.difficulty {
		return ruleErrorf(InvalidDifficulty, "difficulty %d, the network's is %d", b.Difficulty, ix.difficulty)
	}
	p, err := b.Parse()
	if err != nil {
		return err
	}
	if err := checkHash(b, p); err != nil {
		// A block that names an unknown parent and whose hash does not
		// verify either is no orphan worth keeping: it does not link.
		return ruleErrorf(PreviousHashBlockError, "prev_hash %s names no known block, and %v", prev.Short(), err)
	}
	if err := checkMessage(b.Message); err != nil {
		return afterHash{err}
	}
	if err := VerifySignature(p.Sender, p.Signature, p.MessageID); err != nil {
		return afterHash{err}
	}
	if limit := now.Add(MaxFutureDrift).UnixMilli(); p.Time > limit {
		return afterHash{ruleErrorf(InvalidTimestamp, "timeStamp %s is more than %v ahead of this node's clock", b.TimeStamp, MaxFutureDrift)}
	}
	if len(ix.orphans) >= MaxOrphans {
		ix.dropOrphan(ix.orphanOrder[ix.largestOwner(owner)][0])
	}
	cp := *b
	ix.orphans[h] = &orphan{block: &cp, owner: owner}
	ix.orphanKids[prev] = append(ix.orphanKids[prev], h)
	ix.orphanOrder[owner] = append(ix.orphanOrder[owner], h)
	return nil
}

// largestOwner is the owner holding the most orphans; between equals the
// newcomer's own share goes first, then the smallest key, so the choice
// does not depend on map order.
func (ix *Index) largestOwner(newcomer string) string {
	best, most := "", -1
	for o, hs := range ix.orphanOrder {
		switch n := len(hs); {
		case n > most, n == most && o == newcomer, n == most && best != newcomer && o < best:
			best, most = o, n
		}
	}
	return best
}

// OrphansOf is how many held orphans owner sent.
func (ix *Index) OrphansOf(owner string) int { return len(ix.orphanOrder[owner]) }

func (ix *Index) dropOrphan(h Hash) {
	o, ok := ix.orphans[h]
	if !ok {
		return
	}
	delete(ix.orphans, h)
	prev, _ := ParseHash(o.block.PrevHash)
	if kids := without(ix.orphanKids[prev], h); len(kids) == 0 {
		delete(ix.orphanKids, prev)
	} else {
		ix.orphanKids[prev] = kids
	}
	if order := without(ix.orphanOrder[o.owner], h); len(order) == 0 {
		delete(ix.orphanOrder, o.owner)
	} else {
		ix.orphanOrder[o.owner] = order
	}
}

// without removes the first h from hs, copying so that no other slice
// sharing the array sees the change.
func without(hs []Hash, h Hash) []Hash {
	for i, k := range hs {
		if k == h {
			return append(hs[:i:i], hs[i+1:]...)
		}
	}
	return hs
}

// adoptOrphans connects held orphans that descend from n, breadth first.
func (ix *Index) adoptOrphans(res *Result, n *Node, now time.Time) {
	queue := []*Node{n}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		kids := append([]Hash(nil), ix.orphanKids[parent.Hash]...)
		for _, k := range kids {
			b := ix.orphans[k].block
			ix.dropOrphan(k)
			acc, err := ix.connect(b, nil, parent, now)
			if err != nil {
				ix.rememberInvalid(k, err)
				res.Rejected = append(res.Rejected, Rejected{Block: b, Err: err})
				continue
			}
			res.Accepted = append(res.Accepted, acc)
			queue = append(queue, acc.Node)
		}
	}
}

// rememberInvalid keeps a refused hash so it is not fetched again. Only a
// block whose hash was verified before it failed is remembered: a block
// that fails earlier may carry another block's hash. A time too far ahead
// may become valid later and is not remembered either.
func (ix *Index) rememberInvalid(h Hash, err error) {
	if HashVerified(err) && !TooFarAhead(err) {
		ix.markInvalid(h, CodeOf(err))
	}
}

func (ix *Index) markInvalid(h Hash, code ErrorCode) {
	if _, ok := ix.invalid[h]; ok {
		return
	}
	if len(ix.invalidFIFO) >= maxInvalid {
		delete(ix.invalid, ix.invalidFIFO[0])
		ix.invalidFIFO = ix.invalidFIFO[1:]
	}
	ix.invalid[h] = code
	ix.invalidFIFO = append(ix.invalidFIFO, h)
}

// ErrNotTip is returned by AppendStored for a block that does not extend the tip.
var ErrNotTip = errors.New("stored block does not extend the best chain")

// AppendStored extends the best chain with a block read back from this
// node's own store: it checks the link, hash and proof of work but not the
// signature, which was verified before the block was stored.
func (ix *Index) AppendStored(b *Block) (*Node, error) {
	tip := ix.Tip()
	p, err := CheckStored(b, Parent{Number: tip.Height, Hash: tip.Hash})
	if err != nil {
		return nil, err
	}
	if b.Difficulty != ix.difficulty {
		return nil, ruleErrorf(InvalidDifficulty, "difficulty %d, the network's is %d", b.Difficulty, ix.difficulty)
	}
	if h, dup := ix.bestMsgs[p.MessageID]; dup {
		return nil, ruleErrorf(DuplicateMessage, "message %s is already in block %d", p.MessageID.Short(), h)
	}
	n := ix.link(b, p, tip)
	delete(ix.side, n.Hash)
	ix.best = append(ix.best, n)
	ix.bestMsgs[n.MessageID] = n.Height
	return n, nil
}

// AppendStoredParsed is AppendStored for a block whose b.Parse() result p
// the caller has already computed (on other cores, while reading the
// store). p must come from b itself; nil makes it AppendStored. The
// checks are AppendStored's: link, hash, proof of work, difficulty and
// duplicate messages; only the parsing moves. It keeps neither b nor p
// (the store's walk reuses them).
func (ix *Index) AppendStoredParsed(b *Block, p *Parsed) (*Node, error) {
	if p == nil {
		return ix.AppendStored(b)
	}
	tip := ix.Tip()
	// p.Prev is b.PrevHash decoded from lowercase hex, so comparing it is
	// comparing the strings, as CheckStored does.
	if b.Number != tip.Height+1 || p.Prev != tip.Hash {
		return nil, ruleErrorf(PreviousHashBlockError, "block %d does not link to its parent %s", b.Number, tip.Hash)
	}
	if err := checkHash(b, p); err != nil {
		return nil, err
	}
	if b.Difficulty != ix.difficulty {
		return nil, ruleErrorf(InvalidDifficulty, "difficulty %d, the network's is %d", b.Difficulty, ix.difficulty)
	}
	if h, dup := ix.bestMsgs[p.MessageID]; dup {
		return nil, ruleErrorf(DuplicateMessage, "message %s is already in block %d", p.MessageID.Short(), h)
	}
	if ix.storedWork == nil || ix.storedWorkD != b.Difficulty {
		ix.storedWork, ix.storedWorkD = BlockWork(b.Difficulty), b.Difficulty
	}
	n := &Node{
		Hash:      p.Hash,
		Parent:    tip,
		Height:    tip.Height + 1,
		Work:      new(big.Int).Add(tip.Work, ix.storedWork),
		MessageID: p.MessageID,
		Time:      p.Time,
	}
	ix.nodes[n.Hash] = n
	ix.best = append(ix.best, n)
	ix.bestMsgs[n.MessageID] = n.Height
	return n, nil
}

// ReserveStored makes room for n more best-chain blocks before they are
// appended from the store, so the maps are not grown and rehashed step by
// step on the way. It does nothing once the index holds more than genesis.
func (ix *Index) ReserveStored(n int) {
	if len(ix.nodes) != 1 || len(ix.best) != 1 || n <= 0 {
		return
	}
	nodes := make(map[Hash]*Node, n+1)
	for h, nd := range ix.nodes {
		nodes[h] = nd
	}
	ix.nodes = nodes
	ix.bestMsgs = make(map[Hash]uint64, n)
	best := make([]*Node, 1, n+1)
	best[0] = ix.best[0]
	ix.best = best
}

// LocatorHeights lists the heights of a locator for a chain whose tip is at
// height tip: the 10 newest one by one, then doubling steps, ending at 0.
func LocatorHeights(tip uint64) []uint64 {
	var out []uint64
	step := uint64(1)
	h := tip
	for {
		out = append(out, h)
		if h == 0 {
			return out
		}
		if len(out) >= 10 {
			step *= 2
		}
		if h < step {
			h = 0
		} else {
			h -= step
		}
	}
}

// Locator lists best-chain hashes at LocatorHeights of the tip.
func (ix *Index) Locator() []Hash {
	hs := LocatorHeights(ix.Height())
	out := make([]Hash, len(hs))
	for i, h := range hs {
		out[i] = ix.best[h].Hash
	}
	return out
}

// MaxBlocksPerReply caps a blocks answer.
const MaxBlocksPerReply = 500

// After answers get_blocks: the best chain after the first locator hash on
// it (genesis if none), ascending, at most min(limit, 500) blocks.
func (ix *Index) After(locator []Hash, limit int) []*Node {
	limit = min(max(limit, 0), MaxBlocksPerReply)
	start := uint64(0)
	for _, h := range locator {
		if n := ix.nodes[h]; ix.OnBest(n) {
			start = n.Height
			break
		}
	}
	end := start + uint64(limit)
	if end > ix.Height() {
		end = ix.Height()
	}
	out := make([]*Node, 0, end-start)
	for h := start + 1; h <= end; h++ {
		out = append(out, ix.best[h])
	}
	return out
}

// BestChain returns the best chain's nodes from genesis to tip (a copy).
func (ix *Index) BestChain() []*Node { return append([]*Node(nil), ix.best...) }

// String describes the tip, for logs.
func (ix *Index) String() string {
	t := ix.Tip()
	return fmt.Sprintf("height %d tip %s work %s", t.Height, t.Hash.Short(), t.Work)
}

// LocatorFrom lists hashes at LocatorHeights of n's height along n's own
// chain, which need not be the best one: syncing a long side branch
// continues from where the last answer ended.
func (ix *Index) LocatorFrom(n *Node) []Hash {
	hs := LocatorHeights(n.Height)
	out := make([]Hash, 0, len(hs))
	for _, h := range hs {
		for n.Height > h {
			n = n.Parent
		}
		out = append(out, n.Hash)
	}
	return out
}

// ForkPoint is the last block that n's chain shares with the best chain (n
// itself when it is on the best chain).
func (ix *Index) ForkPoint(n *Node) *Node {
	for !ix.OnBest(n) {
		n = n.Parent
	}
	return n
}

// DeepFork reports whether a branch through parent, whose last block would
// reach endWork, forks from the best chain more than MaxForkDepth blocks
// below the tip while carrying less work than the tip: a branch not worth
// keeping unless asked for. Equal work is kept, as the smaller tip hash may
// win it.
func (ix *Index) DeepFork(parent *Node, endWork *big.Int) bool {
	tip := ix.Tip()
	if endWork.Cmp(tip.Work) >= 0 {
		return false
	}
	return ix.ForkPoint(parent).Height+MaxForkDepth < tip.Height
}

// Competes reports whether n is on the best chain or trails the tip by at
// most RelayWindow blocks' work: a block fork choice may still pick, and so
// one worth relaying.
func (ix *Index) Competes(n *Node) bool {
	if ix.OnBest(n) {
		return true
	}
	lag := new(big.Int).Sub(ix.Tip().Work, n.Work)
	window := new(big.Int).Mul(BlockWork(ix.difficulty), big.NewInt(RelayWindow))
	return lag.Cmp(window) <= 0
}

// SideNodes returns the valid blocks off the best chain at or above height
// min, in no particular order.
func (ix *Index) SideNodes(min uint64) []*Node {
	var out []*Node
	for _, n := range ix.side {
		if n.Height >= min {
			out = append(out, n)
		}
	}
	return out
}

// SideBlocks is how many valid blocks off the best chain the index holds.
func (ix *Index) SideBlocks() int { return len(ix.side) }

// PruneStale forgets every side block whose branch forks from the best
// chain more than MaxForkDepth blocks below the tip, and returns them, so
// the caller can delete them from its store too. Side blocks have less
// work than the tip (or equal work and a larger hash), so these are
// branches fork choice has left behind for good, unless they are extended,
// and then they arrive again.
func (ix *Index) PruneStale() []*Node {
	tip := ix.Tip()
	if tip.Height <= MaxForkDepth || len(ix.side) == 0 {
		return nil
	}
	floor := tip.Height - MaxForkDepth
	// Fork heights are memoised: a branch's blocks share theirs.
	forkAt := map[*Node]uint64{}
	forkHeight := func(n *Node) uint64 {
		var path []*Node
		for !ix.OnBest(n) {
			if h, ok := forkAt[n]; ok {
				for _, p := range path {
					forkAt[p] = h
				}
				return h
			}
			path = append(path, n)
			n = n.Parent
		}
		for _, p := range path {
			forkAt[p] = n.Height
		}
		return n.Height
	}
	var out []*Node
	for _, n := range ix.side {
		if forkHeight(n) < floor {
			out = append(out, n)
		}
	}
	for _, n := range out {
		delete(ix.side, n.Hash)
		delete(ix.nodes, n.Hash)
	}
	return out
}
