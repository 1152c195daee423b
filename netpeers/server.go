package netpeers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/time/rate"
)

// Status is what hello and tip frames announce about a node's best chain.
type Status struct {
	Height uint64
	Tip    string
	Work   string
}

// PeerRef names a peer. ID is its node id when the peer proved it (Proven);
// an unproven peer (no node_key in its hello) is known by its connection,
// the remote "ip:port", whatever id its hello claims, so that nothing it
// does can be charged to the node it names. Addr is where the peer is: the
// address we dialled, a proven peer's listen address, else the connection.
type PeerRef struct {
	ID     string
	Addr   string
	Proven bool
}

// Handler is implemented by the node. Calls must return quickly. No
// netpeers lock is held during a call, and no Server method waits for one,
// so a handler may call Send, Broadcast, Penalize or Peers.
type Handler interface {
	// Status is the node's best tip, announced in hello frames.
	Status() Status
	// HandleFrame receives Tip, BlockMsg, GetBlocks and Blocks frames, from
	// the session's goroutine, after that session's PeerOnline event.
	// Ping, pong, hello, get_peers, peers and error frames stay inside netpeers.
	HandleFrame(from PeerRef, frame any)
	// PeerEvent reports sessions going online and offline and penalties,
	// one call at a time from a single goroutine, in order.
	PeerEvent(ev PeerEvent)
	// WriteChainData writes the complete /get-blockchaindata JSON object
	// to w as it reads it, without holding the whole of it in memory. It
	// returns once written, or with ctx's error when the client stalls.
	WriteChainData(ctx context.Context, w io.Writer) error
}

// PeerEventKind says what happened to a peer.
type PeerEventKind int

// The peer events.
const (
	PeerOnline PeerEventKind = iota + 1
	PeerOffline
	PeerPenalized
	// PeerDialFailed: a dial or its handshake failed (Reason in plain
	// words, Err the raw error), once per failed attempt: attempts are
	// spaced by the backoff. Only for addresses that were configured,
	// given to Connect or online before; gossip that never answered
	// fails quietly.
	PeerDialFailed
)

func (k PeerEventKind) String() string {
	switch k {
	case PeerOnline:
		return "peer_online"
	case PeerOffline:
		return "peer_offline"
	case PeerPenalized:
		return "peer_penalized"
	case PeerDialFailed:
		return "peer_dial_failed"
	}
	return fmt.Sprintf("PeerEventKind(%d)", int(k))
}

// PeerEvent is one change in the set of peers. For a given node id, online
// and offline events alternate, online first.
type PeerEvent struct {
	Kind    PeerEventKind
	Peer    PeerRef
	Hello   Hello // PeerOnline: the peer's hello (claims, unless Peer.Proven), with Listen made dialable
	Inbound bool
	Reason  string    // PeerOffline, PeerPenalized, PeerDialFailed: why, in plain words
	Until   time.Time // PeerPenalized: refused until then
	// PeerDialFailed: the raw error (for the log), when the next dial is
	// due, and how many dials in a row have failed.
	Err      string
	NextDial time.Time
	Attempts int
}

// AddressStore persists the address book. SavePeers receives the whole
// persistent book each time (dialable addresses only) and may keep
// records it no longer receives; DeletePeer removes one for good (Forget).
type AddressStore interface {
	LoadPeers() ([]PeerRecord, error)
	SavePeers(recs ...PeerRecord) error
	DeletePeer(addr string) error
}

// PeerRecord is one persisted address-book entry.
type PeerRecord struct {
	Addr                       string
	NodeID                     string
	LastRTT, SmoothRTT, MinRTT time.Duration
	Status                     string
	LastChange                 time.Time
	Failures                   int
	Penalty                    string
	PenaltyUntil, LastSeen     time.Time
}

// The peer states of PeerInfo.Status.
const (
	StatusOnline     = "online"
	StatusOffline    = "offline"
	StatusConnecting = "connecting"
	StatusPenalised  = "penalised"
)

// StatusRank is the one order of peer statuses, for every list of peers:
// online, connecting, offline, then penalised (refused, so the least
// useful); an unknown status sorts last.
func StatusRank(status string) int {
	switch status {
	case StatusOnline:
		return 0
	case StatusConnecting:
		return 1
	case StatusOffline:
		return 2
	case StatusPenalised:
		return 3
	}
	return 4
}

// PeerInfo is one address-book entry as the node and the dashboard see it.
type PeerInfo struct {
	Addr    string
	NodeID  string
	Status  string // "online", "offline", "connecting", "penalised"
	Inbound bool
	// Dialing: a dial is under way. A redial of a peer that failed or was
	// online before keeps its status (offline), so LastChange stays the
	// time it went offline; "connecting" is a first dial or Connect's.
	Dialing    bool
	LastRTT    time.Duration // 0 when never measured
	SmoothRTT  time.Duration
	MinRTT     time.Duration
	Height     uint64
	Tip        string
	Work       string
	LastChange time.Time // when Status last changed
	Failures   int       // dials (or sessions without a ping answer) failed in a row
	Penalty    string
	Proven     bool // NodeID is proven; else it names the connection
	// ClaimedID is the node_id the peer's last hello named: NodeID when
	// Proven; else a claim, to be shown as one and never trusted.
	ClaimedID string
	// Agent is the agent its last hello announced (a claim).
	Agent string
	// ConnectedSince is when the current session went online; zero offline.
	ConnectedSince time.Time
	// LastError is why the last dial failed, in plain words ("refused:
	// nothing listens there"); LastErrorRaw is the error itself. Both are
	// cleared when a session goes online.
	LastError    string
	LastErrorRaw string
	LastErrorAt  time.Time
	LastAttempt  time.Time // when the last dial started
	// NextDial is when the dialer will try again (the end of the backoff
	// or of a penalty); zero while online or dialing.
	NextDial time.Time
	// Frames and bytes received from it and sent to it over the current
	// session (pings and pongs included); zero offline.
	FramesIn, FramesOut, BytesIn, BytesOut int64
}

// Config is the transport's configuration; zero fields take the defaults below.
type Config struct {
	Listen string // "host:port"; "" = no server (dial only)
	// Listener, when set, is Listen already listening: the server serves
	// on it (and closes it) instead of listening itself, so the port is
	// never free between being chosen and being served (a devnet picks its
	// ports before it starts its nodes).
	Listener net.Listener
	Genesis  string // our genesis hash hex; peers of another genesis are refused
	NodeID   string // 64 hex; with NodeKey, hex(SHA-256(its public key)) (may be left empty)
	// NodeKey proves NodeID to peers (PROTOCOL.md "Authenticated node
	// ids"). Nil: hellos carry no node_key, and peers take this node for an
	// unauthenticated tool; only tests and tools run so.
	NodeKey          *secp256k1.PrivateKey
	Agent            string        // "meshchain/<version>"
	Peers            []string      // addresses to dial at start
	MaxPeers         int           // sessions the dialer fills up to; default 32
	PingInterval     time.Duration // default 10s
	OfflineAfter     time.Duration // a peer silent this long is offline; default 30s
	HandshakeTimeout time.Duration // default 10s
	MaxInboundPerIP  int           // default 8, for non-loopback addresses
	MaxInboundLocal  int           // per-IP limit for loopback addresses; default 64
	MaxInbound       int           // peer sessions from outside; at the limit one is evicted for a newcomer; default 2*MaxPeers
	// MaxPendingInbound bounds inbound connections that have not finished
	// their handshake; at the limit the oldest of them is closed for a
	// newcomer. Default 4*MaxInbound.
	MaxPendingInbound int
	MaxChainData      int           // /get-blockchaindata downloads at once, apart from peer places; default 8
	UpgradeRate       rate.Limit    // connections per second from one IP (never loopback); default 2
	UpgradeBurst      int           // default 8
	SendQueue         int           // frames queued per peer (32 MiB at most); overflow drops the peer; default 512
	MaxQueuedTotal    int64         // bytes queued for all peers together; above it the peer with most is dropped; default 128 MiB
	PenaltyTime       time.Duration // default 10m
	RedialMin         time.Duration // first redial delay; default 1s
	RedialMax         time.Duration // redial backoff cap; default 5m
	SaveInterval      time.Duration // address book saves at most this often; default 5s
	// LinkDelay (devnet) is a one-way delay added in both directions on
	// connections we dial to addr, in the net.Conn layer.
	LinkDelay func(addr string) time.Duration
	Book      AddressStore // optional persistence of the address book
	Logger    *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxPeers <= 0 {
		c.MaxPeers = 32
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = 30 * time.Second
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.MaxInboundPerIP <= 0 {
		c.MaxInboundPerIP = 8
	}
	if c.MaxInboundLocal <= 0 {
		c.MaxInboundLocal = 64
	}
	if c.MaxInbound <= 0 {
		c.MaxInbound = 2 * c.MaxPeers
	}
	if c.MaxPendingInbound <= 0 {
		c.MaxPendingInbound = 4 * c.MaxInbound
	}
	if c.MaxChainData <= 0 {
		c.MaxChainData = 8
	}
	if c.UpgradeRate <= 0 {
		c.UpgradeRate = 2
	}
	if c.UpgradeBurst <= 0 {
		c.UpgradeBurst = 8
	}
	if c.MaxQueuedTotal <= 0 {
		c.MaxQueuedTotal = 128 << 20
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 512
	}
	if c.PenaltyTime <= 0 {
		c.PenaltyTime = 10 * time.Minute
	}
	if c.RedialMin <= 0 {
		c.RedialMin = time.Second
	}
	if c.RedialMax <= 0 {
		c.RedialMax = 5 * time.Minute
	}
	if c.RedialMax < c.RedialMin {
		c.RedialMax = c.RedialMin
	}
	if c.SaveInterval <= 0 {
		c.SaveInterval = 5 * time.Second
	}
	if c.Agent == "" {
		c.Agent = "meshchain/dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Errors callers can test for.
var (
	ErrClosed      = errors.New("netpeers: server is not running")
	ErrSelf        = errors.New("netpeers: that address is this node")
	ErrPenalized   = errors.New("netpeers: peer is penalised")
	ErrUnknownPeer = errors.New("netpeers: no online session with that peer")
	ErrQueueFull   = errors.New("netpeers: send queue full, peer dropped")
	ErrUnknownAddr = errors.New("netpeers: address not in the address book")
	ErrNotBanned   = errors.New("netpeers: address is not banned")
)

// NewNodeID returns a random node id: 64 lowercase hex digits.
func NewNodeID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Server is one node's peer-to-peer endpoint: listener, dialer, sessions and
// address book.
type Server struct {
	cfg Config
	h   Handler
	log *slog.Logger

	genesis [32]byte // cfg.Genesis, for auth digests
	nodeKey [33]byte // our public node key, when cfg.NodeKey is set

	// peers is the set of online sessions, owned by peerLoop (peerloop.go),
	// which alone replaces it; the others only read it.
	peers    atomic.Pointer[peerSet]
	attachc  chan attachReq
	detachc  chan detachReq
	peersc   chan peersReq
	loopDone chan struct{} // closed when peerLoop has returned

	mu       sync.Mutex
	ln       net.Listener
	book     map[string]*entry // address -> entry
	dialing  map[string]*dialAttempt
	bansID   map[string]ban
	bansAddr map[string]ban
	bansIP   map[netip.Addr]ban
	// userBans are the bans the user asked for (Ban), by address; their
	// refusals are in the three tables above too.
	userBans map[string]userBan
	// forgotten are addresses the user removed (Forget) in this run:
	// gossip and inbound peers' listen addresses do not bring them back,
	// Connect does.
	forgotten map[string]struct{}
	// saveMu orders saves of the book with Forget's delete from the
	// store, so that a save in flight cannot put a forgotten address back.
	saveMu sync.Mutex
	// Inbound places, three kinds apart: sessions online, connections
	// still in their handshake (the oldest makes room for a newcomer),
	// and /get-blockchaindata downloads.
	inByIP      map[netip.Addr]int
	inTotal     int
	pendingIn   map[*inboundSlot]struct{}
	pendingByIP map[netip.Addr]int
	dlByIP      map[netip.Addr]int
	dlTotal     int
	upgrades    map[netip.Addr]*rate.Limiter // per non-loopback IP
	// events waits for the dispatcher, in the order of the registry
	// changes that made them (both under mu).
	events   []pendingEvent
	running  bool
	stopping bool
	// runCtx is the context of the current Run call. Sessions started by
	// HTTP handlers and Connect belong to it, as requests belong to an
	// http.Server's BaseContext.
	runCtx context.Context
	wg     sync.WaitGroup

	started     chan struct{} // closed when Run has started
	kick        chan struct{} // wakes the dialer
	dirty       chan struct{} // wakes the address-book saver
	eventSignal chan struct{} // wakes the event dispatcher

	bookLimit       int   // maxBook; tests lower it
	queueLimit      int64 // maxQueueBytes; tests lower it
	totalQueueLimit int64 // cfg.MaxQueuedTotal
	banLimit        int   // maxBans; tests lower it

	queuedTotal atomic.Int64 // bytes queued for all peers

	liveConns  atomic.Int64 // open peer WebSocket connections, for tests
	handshakes atomic.Int64 // hello exchanges completed, for tests
}

// New checks the configuration and loads the address book.
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("netpeers: nil handler")
	}
	if cfg.Genesis == "" {
		return nil, errors.New("netpeers: genesis hash is empty")
	}
	var genesis [32]byte
	var nodeKey [33]byte
	if cfg.NodeKey != nil {
		if g, err := hex.DecodeString(cfg.Genesis); err != nil || len(g) != 32 {
			return nil, fmt.Errorf("netpeers: genesis %q is not 64 hex digits", cfg.Genesis)
		} else {
			copy(genesis[:], g)
		}
		copy(nodeKey[:], cfg.NodeKey.PubKey().SerializeCompressed())
		if id := NodeIDOf(cfg.NodeKey.PubKey()); cfg.NodeID == "" {
			cfg.NodeID = id
		} else if cfg.NodeID != id {
			return nil, fmt.Errorf("netpeers: node id %s is not the node key's (%s)", cfg.NodeID, id)
		}
	}
	if !isHex(cfg.NodeID, 64) {
		return nil, fmt.Errorf("netpeers: node id %q is not 64 lowercase hex digits", cfg.NodeID)
	}
	cfg.setDefaults()
	cfg.Peers = append([]string(nil), cfg.Peers...)
	s := &Server{
		cfg:             cfg,
		genesis:         genesis,
		nodeKey:         nodeKey,
		h:               h,
		log:             cfg.Logger,
		attachc:         make(chan attachReq),
		detachc:         make(chan detachReq),
		peersc:          make(chan peersReq),
		loopDone:        make(chan struct{}),
		book:            map[string]*entry{},
		dialing:         map[string]*dialAttempt{},
		bansID:          map[string]ban{},
		bansAddr:        map[string]ban{},
		bansIP:          map[netip.Addr]ban{},
		userBans:        map[string]userBan{},
		forgotten:       map[string]struct{}{},
		inByIP:          map[netip.Addr]int{},
		pendingIn:       map[*inboundSlot]struct{}{},
		pendingByIP:     map[netip.Addr]int{},
		dlByIP:          map[netip.Addr]int{},
		upgrades:        map[netip.Addr]*rate.Limiter{},
		started:         make(chan struct{}),
		kick:            make(chan struct{}, 1),
		dirty:           make(chan struct{}, 1),
		eventSignal:     make(chan struct{}, 1),
		bookLimit:       maxBook,
		queueLimit:      maxQueueBytes,
		totalQueueLimit: cfg.MaxQueuedTotal,
		banLimit:        maxBans,
	}
	s.peers.Store(emptyPeerSet)
	if cfg.Book != nil {
		recs, err := cfg.Book.LoadPeers()
		if err != nil {
			return nil, fmt.Errorf("netpeers: load address book: %w", err)
		}
		s.loadRecords(recs, time.Now())
	}
	for _, a := range cfg.Peers {
		addr, err := normalizeAddr(a)
		if err != nil {
			return nil, fmt.Errorf("netpeers: peer address %q: %w", a, err)
		}
		s.addAddr(addr, sourceConfigured)
	}
	return s, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Listen binds the listener so that Addr is known before Run. Run calls it
// when it has not been called and Config.Listen is set.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if s.cfg.Listener != nil {
		s.ln, s.cfg.Listener = s.cfg.Listener, nil
		return nil
	}
	if s.cfg.Listen == "" {
		return errors.New("netpeers: no listen address configured")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("netpeers: listen: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr is the actual listen address, or "" when the server does not listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrLocked()
}

func (s *Server) addrLocked() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// NodeID is this node's id.
func (s *Server) NodeID() string { return s.cfg.NodeID }

// Run serves peers, dials the book, pings, redials with backoff and saves the
// book. It returns when ctx ends, once every goroutine it started has
// stopped and every session is closed. A Server runs once.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.Listen != "" {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	s.mu.Lock()
	if s.running || s.stopping {
		s.mu.Unlock()
		return errors.New("netpeers: Run called twice")
	}
	s.running = true
	s.runCtx = ctx
	ln := s.ln
	s.mu.Unlock()

	// The dispatcher outlives every other goroutine of Run, so that the
	// events of the last sessions are delivered.
	stopEvents, eventsDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eventsDone)
		s.dispatchEvents(stopEvents)
	}()
	// The peer loop outlives the sessions, which all attach and detach
	// through it, and stops before the dispatcher.
	stopLoop := make(chan struct{})
	go s.peerLoop(stopLoop)
	close(s.started)

	var httpSrv *http.Server
	serveErr := make(chan error, 1)
	if ln != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("/", s.servePeer)
		mux.HandleFunc("/get-blockchaindata", s.serveChainData)
		httpSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: s.cfg.HandshakeTimeout,
			// Without it a kept-alive connection (after a 404 or a refusal)
			// waits for its next request for ever.
			IdleTimeout: s.cfg.HandshakeTimeout,
			ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
				cancel()
			}
		}()
	}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.dialLoop(ctx) }()
	go func() { defer s.wg.Done(); s.saveLoop(ctx) }()
	go func() { defer s.wg.Done(); s.maintainLoop(ctx) }()
	s.kickDialer()

	<-ctx.Done()

	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	if httpSrv != nil {
		_ = httpSrv.Close() // hijacked session connections are ours; they end with ctx
	}
	s.wg.Wait()
	close(stopLoop)
	<-s.loopDone
	close(stopEvents)
	<-eventsDone
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	s.saveBook()

	select {
	case err := <-serveErr:
		return fmt.Errorf("netpeers: serve: %w", err)
	default:
		return nil
	}
}

// enter registers the calling goroutine (an HTTP handler) with Run's wait.
func (s *Server) enter() (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running || s.stopping {
		return nil, false
	}
	s.wg.Add(1)
	return s.runCtx, true
}

func (s *Server) kickDialer() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Server) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

var acceptOptions = &websocket.AcceptOptions{
	InsecureSkipVerify: true, // any tool may connect; peers are not browsers
	CompressionMode:    websocket.CompressionDisabled,
}

// refuseHTTP answers a connection that is not let in, and closes it: kept
// alive, every refused connection would hold a socket for IdleTimeout, and
// a flood of them would use up the process's file descriptors.
func refuseHTTP(w http.ResponseWriter, msg string, code int) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, code)
}

// admission is an inbound HTTP connection let in by admit.
type admission struct {
	s      *Server
	ctx    context.Context
	remote netip.AddrPort // IPv4-in-IPv6 mapping removed
	slot   *inboundSlot
}

// release gives back the admission's inbound slot and its place in the
// server's wait group.
func (a *admission) release() {
	a.s.releaseInbound(a.slot)
	a.s.wg.Done()
}

// admit lets an inbound HTTP connection in, or refuses it and returns nil:
// it needs the server running, a parseable address within its rate of
// connections and not banned, and room within the inbound limits. A session
// is a peer session: its slot waits for a hello and a ban refusal says when
// the ban ends; otherwise it is a one-shot chain-data download, with places
// of its own. The caller must release an admission.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, session bool) *admission {
	ctx, ok := s.enter()
	if !ok {
		refuseHTTP(w, "shutting down", http.StatusServiceUnavailable)
		return nil
	}
	refuse := func(msg string, code int) *admission {
		refuseHTTP(w, msg, code)
		s.wg.Done()
		return nil
	}
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return refuse("bad remote address", http.StatusBadRequest)
	}
	ip := remote.Addr().Unmap()
	now := time.Now()
	if !s.upgradeAllowed(ip, now) {
		return refuse("too many connections from your address", http.StatusTooManyRequests)
	}
	if until, banned := s.ipBanned(ip, now); banned {
		msg := "penalised"
		if session {
			msg += " until " + until.UTC().Format(time.RFC3339)
		}
		return refuse(msg, http.StatusForbidden)
	}
	slot := s.reserveInbound(ip, session, now)
	if slot == nil {
		return refuse("too many connections", http.StatusServiceUnavailable)
	}
	return &admission{s: s, ctx: ctx, remote: netip.AddrPortFrom(ip, remote.Port()), slot: slot}
}

// servePeer accepts a peer session on "/".
func (s *Server) servePeer(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	a := s.admit(w, r, true)
	if a == nil {
		return
	}
	defer a.release()
	c, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		s.log.Debug("websocket accept failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	if !s.slotConn(a.slot, c) {
		_ = c.CloseNow() // evicted while the upgrade was under way
		return
	}
	s.runSession(a.ctx, c, sessionParams{inbound: true, remote: a.remote, slot: a.slot})
}

// serveChainData answers /get-blockchaindata: one text message, then close 1000.
func (s *Server) serveChainData(w http.ResponseWriter, r *http.Request) {
	a := s.admit(w, r, false)
	if a == nil {
		return
	}
	defer a.release()
	c, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		return
	}
	// No deadline for the whole answer, which grows with the chain: each
	// part of it must be taken within chainDataStall instead.
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	stall := time.AfterFunc(chainDataStall, cancel)
	defer stall.Stop()
	mw, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		_ = c.CloseNow()
		return
	}
	if err := s.h.WriteChainData(ctx, &stallWriter{w: mw, stall: stall}); err != nil {
		s.log.Info("chain data not sent", "remote", r.RemoteAddr, "err", err)
		_ = c.CloseNow() // the message is cut short: nothing else can follow it
		return
	}
	if err := mw.Close(); err != nil {
		_ = c.CloseNow()
		return
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
}

// chainDataStall is how long a /get-blockchaindata client may take no
// bytes before the download is dropped.
const chainDataStall = 15 * time.Second

// stallWriter renews a download's stall timer each time bytes go out.
type stallWriter struct {
	w     io.Writer
	stall *time.Timer
}

func (s *stallWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if n > 0 && err == nil {
		s.stall.Reset(chainDataStall)
	}
	return n, err
}

// Send enqueues a frame for one online peer without blocking. A blocks
// frame above MaxFrameBytes is cut to the leading blocks that fit; any
// other frame that large is refused.
func (s *Server) Send(peerID string, frame any) error {
	data, err := encodeToSend(frame)
	if err != nil {
		return err
	}
	ss := s.peerSet().byID[peerID]
	if ss == nil || ss.closing.Load() {
		return ErrUnknownPeer
	}
	return ss.enqueue(data)
}

// Broadcast enqueues a frame for every online peer except exceptID and
// returns how many took it.
func (s *Server) Broadcast(frame any, exceptID string) int {
	data, err := encodeToSend(frame)
	if err != nil {
		s.log.Error("broadcast of a frame that does not encode", "err", err)
		return 0
	}
	n := 0
	for _, ss := range s.peerSet().list {
		if ss.ref.ID == exceptID || ss.closing.Load() {
			continue
		}
		if ss.enqueue(data) == nil {
			n++
		}
	}
	return n
}

// AnnounceTip broadcasts a tip frame to every online peer.
func (s *Server) AnnounceTip(st Status) {
	s.Broadcast(Tip(st), "")
}

// onlineSessions are the published sessions that are not closing.
func (s *Server) onlineSessions() []*session {
	set := s.peerSet()
	out := make([]*session, 0, len(set.list))
	for _, ss := range set.list {
		if !ss.closing.Load() {
			out = append(out, ss)
		}
	}
	return out
}

// Penalize is the node's verdict that a peer broke a rule (it served an
// invalid block): the peer gets an error frame carrying reason, is closed,
// and its node id (when proven), the address we dialled it at and its
// (non-loopback) IP are refused for PenaltyTime. A PeerPenalized event
// follows. peerID is a PeerRef.ID: an unproven peer's costs only its
// connection and IP.
func (s *Server) Penalize(peerID, reason string) {
	s.mu.Lock()
	ss := s.peerSet().byID[peerID]
	ref := PeerRef{ID: peerID, Proven: isHex(peerID, 64)}
	banAddr := ""
	var ip netip.Addr
	if ss != nil {
		ref, banAddr, ip = ss.ref, ss.banAddr, ss.remote.Addr()
	} else {
		for a, e := range s.book {
			if e.nodeID == peerID && e.dialable() && e.source != sourceInbound {
				ref.Addr, banAddr = a, a
				break
			}
		}
	}
	s.mu.Unlock()
	s.penalize(ref, banAddr, ip, reason, ss)
}

// penalize records the bans, reports the penalty and closes the session
// (when there is one) with an error frame. Only a proven id is refused.
func (s *Server) penalize(ref PeerRef, banAddr string, ip netip.Addr, reason string, ss *session) {
	now := time.Now()
	until := now.Add(s.cfg.PenaltyTime)
	b := ban{until: until, reason: reason}
	s.mu.Lock()
	if ref.Proven && ref.ID != "" {
		addBan(s.bansID, ref.ID, b, s.banLimit)
	}
	if banAddr != "" {
		addBan(s.bansAddr, banAddr, b, s.banLimit)
	}
	if ip.IsValid() && !ip.IsLoopback() {
		addBan(s.bansIP, ip, b, s.banLimit)
	}
	for _, e := range s.book {
		if (ref.ID != "" && e.nodeID == ref.ID) || (banAddr != "" && e.addr == banAddr) {
			e.penalty, e.penaltyUntil = reason, until
			s.touchLocked(e, now)
		}
	}
	// Queued before the session is told to close, so it precedes PeerOffline.
	s.emitLocked(PeerEvent{Kind: PeerPenalized, Peer: ref, Reason: reason, Until: until})
	s.mu.Unlock()
	s.markDirty()
	s.log.Info("peer penalised", "peer", ref.ID, "proven", ref.Proven, "addr", ref.Addr, "ip", ip, "reason", reason, "until", until)
	if ss != nil {
		ss.shutdown(websocket.StatusPolicyViolation, reason, reason, "penalised: "+reason)
	}
}

// MarkUseful tells netpeers that a peer delivered something valid (a new
// block): such peers are the last to be evicted when inbound places run out.
func (s *Server) MarkUseful(peerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.peerSet().byID[peerID]; ss != nil {
		ss.usefulAt = time.Now()
	}
}

// maxBans bounds each table of penalties. Offenders on loopback can come
// back at once with a new node id, each offence adding an entry that lasts
// PenaltyTime: unbounded, thousands of offences a second would pile up.
const maxBans = 10000

// addBan records a penalty; a full table first forgets another one.
func addBan[K comparable](bans map[K]ban, key K, b ban, limit int) {
	if _, ok := bans[key]; !ok && len(bans) >= limit {
		for k := range bans {
			delete(bans, k)
			break
		}
	}
	bans[key] = b
}

type pendingEvent struct {
	ev        PeerEvent
	delivered chan struct{}
}

// emitLocked queues an event for the dispatcher; the channel closes once
// the handler has had it.
func (s *Server) emitLocked(ev PeerEvent) <-chan struct{} {
	done := make(chan struct{})
	s.events = append(s.events, pendingEvent{ev: ev, delivered: done})
	select {
	case s.eventSignal <- struct{}{}:
	default:
	}
	return done
}

// dispatchEvents hands queued events to the handler, one at a time, until
// stop closes and the queue is empty.
func (s *Server) dispatchEvents(stop <-chan struct{}) {
	for {
		s.mu.Lock()
		batch := s.events
		s.events = nil
		s.mu.Unlock()
		for _, pe := range batch {
			s.h.PeerEvent(pe.ev)
			close(pe.delivered)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-s.eventSignal:
		case <-stop:
			s.mu.Lock()
			empty := len(s.events) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		}
	}
}
