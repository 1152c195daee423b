// Package node is a meshchain full node: it wires the chain, its store, the
// wallet, the peer network and the miner together. One loop owns all mutable
// chain state; commands go in as typed calls, events come out through
// Subscribe. It never imports the UI.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/sync/errgroup"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/netpeers"
	"github.com/meshchain/meshchain/wallet"
)

// Version is the agent version announced to peers.
const Version = "0.1.0"

// Config is everything a node needs to start.
type Config struct {
	DataDir string
	Listen  string // "" = do not accept peers
	// Listener, when set, is Listen already open: Run serves on it and
	// closes it (netpeers.Config.Listener). Used once: a node opened
	// again with the same Config listens on Listen itself.
	Listener     net.Listener
	Peers        []string
	Difficulty   uint32
	Threads      int           // mining threads; 0 = all cores
	PingInterval time.Duration // 0: netpeers' default
	MaxPeers     int           // 0: netpeers' default
	Name         string        // devnet: the node's name in events
	// LinkDelay adds a one-way delay to connections this node dials (devnet).
	LinkDelay func(addr string) time.Duration
	// SyncTimeout bounds one get_blocks request during sync.
	SyncTimeout time.Duration
	// Clock gives the time messages are signed at and blocks are judged
	// against (the 2-hour rule); nil means time.Now. Tests fix it.
	Clock  func() time.Time
	Logger *slog.Logger
}

// Node is a running full node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	wallet  *wallet.Wallet
	net     *netpeers.Server
	events  *broker
	nodeID  string // proven by nodeKey: hex(SHA-256(its public key))
	nodeKey *secp256k1.PrivateKey
	genesis chain.Hash

	walletCreated bool
	recovered     string
	salvaged      bool // load moved a damaged store aside already

	// Owned by the loop goroutine.
	index       *chain.Index
	pool        *pool
	orphanAsked map[string]time.Time            // when each peer was last asked for an orphan's ancestors
	orphanFrom  map[chain.Hash]netpeers.PeerRef // who sent each held orphan
	fatal       error                           // a store failure that stops the node
	miner       *miner
	idle        bool  // the miner has nothing to do and said so
	lastPost    int64 // signing time of the last post, Unix ms

	side sideState // side branches kept or pruned, re-asks of chains ahead of our clock

	cmds    chan func()
	inbox   chan inbound
	found   chan foundBlock
	syncReq chan chan struct{}

	tipChanged chan struct{} // the tip changed: announceLoop tells the peers

	status   atomic.Pointer[netpeers.Status]
	syncing  atomic.Pointer[SyncState]
	waitMu   sync.Mutex
	waiting  map[string]chan netpeers.Blocks // sync requests in flight, by peer id
	started  chan struct{}
	stopping chan struct{}

	chainDataSlots chan struct{} // bounds the /get-blockchaindata answers written at once
	serveQ         *fairQueue    // get_blocks answers for serveLoop, peer by peer
	intake         *intake       // per-peer limits on the frames that reach the loop
	farAhead       *farAhead     // blocks refused as too far ahead (owned by the loop)
	arrivals       arrivals      // first arrivals of relayed blocks (owned by the loop)
	recent         *seenBlocks   // the latest blocks taken in, for session goroutines
}

type inbound struct {
	from  netpeers.PeerRef
	frame any
	at    time.Time // when the session took the frame in
}

// Open loads or creates the data directory: wallet, store, chain. It checks
// the stored chain's links, hashes and proof of work (not its signatures)
// and keeps its valid prefix when the rest is damaged.
func Open(cfg Config) (*Node, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("no data directory")
	}
	if cfg.Threads <= 0 {
		cfg.Threads = runtime.NumCPU()
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	n := &Node{
		cfg:            cfg,
		log:            cfg.Logger,
		events:         newBroker(),
		orphanAsked:    map[string]time.Time{},
		orphanFrom:     map[chain.Hash]netpeers.PeerRef{},
		cmds:           make(chan func()),
		inbox:          make(chan inbound, 256),
		found:          make(chan foundBlock, 1),
		syncReq:        make(chan chan struct{}, 8),
		tipChanged:     make(chan struct{}, 1),
		waiting:        map[string]chan netpeers.Blocks{},
		started:        make(chan struct{}),
		chainDataSlots: make(chan struct{}, chainDataSlots),
		serveQ:         newFairQueue(),
		intake:         newIntake(),
		recent:         newSeenBlocks(seenBlocksKept),
		farAhead:       newFarAhead(),
		stopping:       make(chan struct{}),
	}
	var err error
	if n.wallet, n.walletCreated, err = wallet.LoadOrCreate(cfg.DataDir); err != nil {
		return nil, err
	}
	if n.walletCreated {
		n.log.Warn("created a new wallet; write its words down with `meshchain wallet show --words`",
			"path", wallet.Path(cfg.DataDir), "sender", n.wallet.SenderHex())
	}
	// The node key proves our node id to peers; it is not the wallet's.
	if n.nodeKey, err = netpeers.LoadOrCreateNodeKey(filepath.Join(cfg.DataDir, netpeers.NodeKeyFile), n.log); err != nil {
		return nil, err
	}
	n.nodeID = netpeers.NodeIDOf(n.nodeKey.PubKey())
	if n.store, n.recovered, err = openStore(cfg.DataDir, n.wallet.SenderHex(), n.log); err != nil {
		return nil, err
	}
	if err := n.load(); err != nil {
		n.store.Close()
		return nil, err
	}
	if err := n.pruneStoredSide(); err != nil {
		n.log.Warn("could not delete side-branch blocks left by the last run", "err", err)
	}
	n.trimPool()
	// The network is made here, not in Run, so that Connect, Peers and
	// Addr, called from other goroutines, never see it change.
	if n.net, err = netpeers.New(n.netConfig(), (*handler)(n)); err != nil {
		n.store.Close()
		return nil, err
	}
	return n, nil
}

// StorePath is the bbolt file inside a data directory.
func StorePath(dataDir string) string { return filepath.Join(dataDir, "chain.db") }

// openStore opens the data directory's store. A file bbolt cannot open is
// salvaged (what still reads is carried into a new file, the damaged one
// moved aside) or, when nothing reads, moved aside for a new one: the node
// runs and fetches the chain again rather than refuse to start. The string
// returned tells the user what happened, if anything did.
func openStore(dataDir, own string, log *slog.Logger) (*store.Store, string, error) {
	path := StorePath(dataDir)
	st, err := store.Open(path)
	if err == nil && st.WasEmpty() {
		log.Error("chain store was an empty file; its chain is gone, started a new one", "path", path)
		return st, fmt.Sprintf("the chain database %s was an empty file (0 bytes): the chain, pending messages and peers it held are gone. "+
			"A new one was started and the chain is fetched again from peers; messages posted but not yet mined must be posted again", path), nil
	}
	if err == nil || !errors.Is(err, store.ErrCorrupt) {
		return st, "", err
	}
	if st, note, ok, serr := salvageOnOpen(dataDir, err, own, log); ok {
		return st, note, serr
	}
	// Nothing reads: keep the file for inspection and start afresh.
	aside := asideName(path, time.Now())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, "", fmt.Errorf("%w (and moving it aside failed: %v)", err, rerr)
	}
	log.Error("store is corrupt and unreadable; moved aside, starting a new one", "err", err, "moved_to", aside)
	note := fmt.Sprintf("the chain database was damaged beyond reading (%v); it was moved to %s and a new one started: the chain will be fetched again from peers, and pending messages in the old file were not recovered (post them again)", err, aside)
	st, err = store.Open(path)
	return st, note, err
}

const (
	metaDifficulty = "difficulty"
)

// load reads meta, the best chain and the pending pool from the store.
// Damage that the store cannot take in place (a damaged page: bbolt's own
// structure, not a record) is salvaged once into a new file, which is then
// loaded.
func (n *Node) load() error {
	err := n.checkMarked()
	if err == nil {
		err = n.loadStored()
	}
	if err == nil || !errors.Is(err, store.ErrCorrupt) || n.salvaged {
		return err
	}
	top := uint64(math.MaxUint64)
	if n.index != nil {
		top = n.index.Height() // the valid prefix, when the damage is above it
	}
	st, note, serr := salvage(n.cfg.DataDir, n.store, top, err, n.wallet.SenderHex(), n.log)
	if st != nil {
		n.store = st
	} // else Open closes the old store again, which bbolt allows
	if serr != nil {
		return serr
	}
	n.salvaged = true
	n.recovered = joinNotes(n.recovered, note)
	return n.loadStored()
}

// checkMarked reads the whole file when the store met a damaged page
// before (in a part load does not read, the run that met it stopped): a
// damaged file is then salvaged like one found damaged now.
func (n *Node) checkMarked() error {
	if !n.store.DamageSeen() {
		return nil
	}
	if err := n.store.CheckPages(); err != nil {
		return fmt.Errorf("the last run met a damaged page, and it is still there: %w", err)
	}
	return store.ClearDamageSeen(n.store.Path())
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// loadStored is load on the store as it is.
func (n *Node) loadStored() error {
	d := strconv.FormatUint(uint64(n.cfg.Difficulty), 10)
	if stored, err := n.store.Meta(metaDifficulty); err != nil {
		return err
	} else if stored != nil && string(stored) != d {
		return fmt.Errorf("data directory %s holds a chain of difficulty %s, not %s: a different network (use another --data-dir, or --difficulty %s to use this one)", n.cfg.DataDir, stored, d, stored)
	} else if stored == nil {
		if err := n.store.SetMeta(metaDifficulty, []byte(d)); err != nil {
			return err
		}
	}

	n.index = chain.NewIndex(n.cfg.Difficulty)
	n.genesis = n.index.Genesis().Hash
	// Room for the stored chain up front (bounded: a damaged height must
	// not make a huge allocation); an error here is met again by the walk.
	if top, ok, err := n.store.BestHeight(); err == nil && ok {
		n.index.ReserveStored(int(min(top, 1<<22)))
	}
	err := n.store.ForEachBestParsed(func(height uint64, b *chain.Block, p *chain.Parsed) error {
		if _, err := n.index.AppendStoredParsed(b, p); err != nil {
			return fmt.Errorf("stored block %d: %w", height, err)
		}
		return nil
	})
	if err != nil && (errors.Is(err, store.ErrDamagedPage) || n.store.CheckPages() != nil) {
		// The file itself is damaged: truncating in place would write to
		// it; load carries the valid prefix over to a new file instead.
		return fmt.Errorf("read the stored chain: %w", err)
	}
	if err != nil {
		good := n.index.Height()
		n.recovered += fmt.Sprintf("the stored chain is damaged at height %d (%v); kept the valid prefix of %d blocks and will fetch the rest from peers", good+1, err, good)
		n.log.Error("stored chain damaged; keeping valid prefix", "height", good, "err", err)
		rescued := rescueMessages(n.store, good, n.wallet.SenderHex(), func(id chain.Hash) bool {
			_, dup := n.index.HasMessage(id)
			return dup
		})
		if err := n.store.TruncateBest(good); err != nil {
			return fmt.Errorf("cut the damaged chain back to height %d: %w", good, err)
		}
		for _, p := range rescued {
			if err := n.store.AddPending(p); err != nil {
				return fmt.Errorf("return a message of the damaged chain to the pool: %w", err)
			}
		}
		if len(rescued) > 0 {
			n.recovered += fmt.Sprintf("; %d of this wallet's messages from the blocks cut off went back to the queue", len(rescued))
		}
	}
	pending, err := n.store.Pending()
	if err != nil {
		return fmt.Errorf("read pending messages: %w", err)
	}
	// The network reads the address book later; damage there is found
	// now, while load can still carry everything else to a new file.
	if _, err := n.store.Peers(); errors.Is(err, store.ErrCorrupt) {
		return fmt.Errorf("read the address book: %w", err)
	}
	n.pool = newPool(n.wallet.SenderHex())
	var stale []chain.Hash
	for _, p := range pending {
		if _, onChain := n.index.HasMessage(p.MessageID); onChain {
			stale = append(stale, p.MessageID)
			continue
		}
		n.pool.add(p)
	}
	if len(stale) > 0 {
		if err := n.store.RemovePending(stale...); err != nil {
			return err
		}
	}
	n.lastPost = n.pool.lastTime()
	n.publishStatus()
	return nil
}

// Close releases a node that was opened but will not Run (Run closes its
// own store when it returns).
func (n *Node) Close() error { return n.store.Close() }

// NodeID is this node's random, persistent id.
func (n *Node) NodeID() string { return n.nodeID }

// Sender is the wallet's public key hex.
func (n *Node) Sender() string { return n.wallet.SenderHex() }

// Genesis is the network's genesis hash.
func (n *Node) Genesis() string { return n.genesis.String() }

// Addr is the address the node listens on, once Run has started it.
func (n *Node) Addr() string {
	if n.net == nil {
		return ""
	}
	return n.net.Addr()
}

// Subscribe returns the node's events until ctx ends.
func (n *Node) Subscribe(ctx context.Context) <-chan Event { return n.events.subscribe(ctx) }

func (n *Node) emit(p Payload) {
	var droppable bool
	switch p.(type) {
	case MiningProgress, BlockSeenAgain: // frequent, and nothing is lost with one
		droppable = true
	}
	n.events.publish(Event{Time: time.Now(), Node: n.cfg.Name, Payload: p}, droppable)
}

// Started is closed once Run listens and serves commands.
func (n *Node) Started() <-chan struct{} { return n.started }

// netConfig is the network's configuration.
func (n *Node) netConfig() netpeers.Config {
	return netpeers.Config{
		Listen:       n.cfg.Listen,
		Genesis:      n.Genesis(),
		NodeID:       n.nodeID,
		NodeKey:      n.nodeKey,
		Agent:        "meshchain/" + Version,
		Peers:        n.cfg.Peers,
		MaxPeers:     n.cfg.MaxPeers,
		Listener:     n.cfg.Listener,
		PingInterval: n.cfg.PingInterval,
		LinkDelay:    n.cfg.LinkDelay,
		Book:         bookAdapter{n.store},
		Logger:       n.log.With("part", "net"),
	}
}

// Run serves until ctx ends, then stops the miner and the network and
// closes the store.
func (n *Node) Run(ctx context.Context) error {
	defer n.store.Close()
	srv := n.net
	if n.cfg.Listen != "" {
		if err := srv.Listen(); err != nil {
			return fmt.Errorf("listen on %s: %w", n.cfg.Listen, err)
		}
	}
	n.miner = newMiner(n.cfg.Threads, n.cfg.Difficulty, n.found, n.emit)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx) })
	g.Go(func() error { n.syncLoop(gctx); return nil })
	g.Go(func() error { n.serveLoop(gctx); return nil })
	g.Go(func() error { n.announceLoop(gctx); return nil })
	g.Go(func() error { return n.loop(gctx) })
	err := g.Wait()
	n.miner.stop()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// loop owns the index, the pool and the miner's templates.
func (n *Node) loop(ctx context.Context) error {
	tip := n.index.Tip()
	n.emit(Started{
		Listen: n.Addr(), NodeID: n.nodeID, Genesis: n.Genesis(), Sender: n.Sender(),
		DataDir: n.cfg.DataDir, Height: tip.Height, Tip: tip.Hash.String(),
		WalletCreated: n.walletCreated, WalletPath: wallet.Path(n.cfg.DataDir), Recovered: n.recovered,
		BackupWords: !wallet.WordsShown(n.cfg.DataDir),
	})
	if n.recovered != "" {
		n.emit(Warning{Message: n.recovered})
	}
	close(n.started)
	n.remine()
	for {
		select {
		case <-ctx.Done():
			close(n.stopping)
			return nil
		case f := <-n.cmds:
			f()
		case in := <-n.inbox:
			n.handleInbound(in)
		case fb := <-n.found:
			n.minedBlock(fb)
		}
		if n.fatal != nil {
			// A store write failed, so the index may be ahead of the
			// store: carrying on would act on what was never saved. The
			// miner is stopped and nothing more is written; a restart
			// reloads the stored state, pending messages included.
			n.miner.stop()
			close(n.stopping)
			n.emit(Warning{Message: "stopping: " + n.fatal.Error()})
			return n.fatal
		}
	}
}

// do runs f on the loop and waits for it.
func (n *Node) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case n.cmds <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopping:
		return errors.New("node is stopping")
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishStatus refreshes the lock-free copy of the tip that the network
// reads for hello and tip frames.
func (n *Node) publishStatus() {
	t := n.index.Tip()
	n.status.Store(&netpeers.Status{Height: t.Height, Tip: t.Hash.String(), Work: t.Work.String()})
}

// Post signs text, stores it durably in the pending pool, and queues it for
// mining. It returns once the message is safe on disk.
func (n *Node) Post(ctx context.Context, text string) error {
	if err := chain.CheckMessage(text); err != nil {
		return err
	}
	var err error
	derr := n.do(ctx, func() { err = n.post(text) })
	if derr != nil {
		return derr
	}
	return err
}

func (n *Node) post(text string) error {
	if n.fatal != nil {
		return fmt.Errorf("not accepted: %w", n.fatal)
	}
	// Signing times strictly increase, so posts keep their order and the
	// same text posted twice gets two message ids.
	ts := max(n.cfg.Clock().UnixMilli(), n.lastPost+1)
	id := chain.MessageID(n.wallet.Sender(), ts, text)
	for _, onChain := n.index.HasMessage(id); onChain || n.pool.has(id); _, onChain = n.index.HasMessage(id) {
		ts++
		id = chain.MessageID(n.wallet.Sender(), ts, text)
	}
	n.lastPost = ts
	sender, stamp, sig := n.wallet.SignMessage(text, ts)
	now := n.cfg.Clock()
	p := store.Pending{MessageID: id, Message: text, Sender: sender, TimeStamp: stamp, Signature: sig, Own: true,
		AddedHeight: n.index.Height(), AddedAt: now.UnixMilli()}
	// Room for it comes from other authors' messages, dropped in the same
	// transaction that stores it.
	evict, _ := n.pool.plan(nil, []store.Pending{p}, n.index.Height(), now)
	if err := n.store.UpdatePending([]store.Pending{p}, evict); err != nil {
		return fmt.Errorf("store pending message: %w", err)
	}
	n.pool.remove(evict...)
	n.pool.add(p)
	n.emit(MessageQueued{MessageID: id.String(), Message: text, Queue: n.pool.ownLen()})
	n.queueChanged()
	n.remine()
	return nil
}

// Connect dials a peer now and keeps it in the address book.
func (n *Node) Connect(ctx context.Context, addr string) error {
	if n.net == nil {
		return errors.New("node is not running")
	}
	return n.net.Connect(ctx, addr)
}

// Block returns a stored block by hash.
func (n *Node) Block(ctx context.Context, hash string) (chain.Block, error) {
	h, err := chain.ParseHash(hash)
	if err != nil {
		return chain.Block{}, err
	}
	if h == n.genesis {
		return chain.Genesis(n.cfg.Difficulty), nil
	}
	b, err := n.store.Block(h)
	if err != nil {
		return chain.Block{}, err
	}
	return *b, nil
}

// blockOf reads an indexed block back from the store.
func (n *Node) blockOf(nd *chain.Node) (*chain.Block, error) {
	if isGenesisNode(nd) {
		g := chain.Genesis(n.cfg.Difficulty)
		return &g, nil
	}
	return n.store.Block(nd.Hash)
}

// isGenesisNode reports whether nd is the index's genesis, which the store
// does not hold.
func isGenesisNode(nd *chain.Node) bool { return nd.Height == 0 && nd.Parent == nil }

// Tip returns the best tip's height and hash.
func (n *Node) Tip() (uint64, string) {
	st := n.status.Load()
	return st.Height, st.Tip
}

// BestChain returns the best chain, genesis first (for export and tests).
func (n *Node) BestChain(ctx context.Context) ([]chain.Block, error) {
	var nodes []*chain.Node
	if err := n.do(ctx, func() { nodes = n.index.BestChain() }); err != nil {
		return nil, err
	}
	out := make([]chain.Block, 0, len(nodes))
	for _, nd := range nodes {
		b, err := n.blockOf(nd)
		if err != nil {
			return nil, err
		}
		out = append(out, *b)
	}
	return out, nil
}
