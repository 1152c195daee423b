package netpeers

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// closeSelf and closeDuplicate are the close reasons of the two handshake
// outcomes that are nobody's fault.
const (
	closeSelf      = "self"
	closeDuplicate = "duplicate"
)

// prioQueue bounds the queue of pongs, which jump ahead of other frames.
const prioQueue = 64

// maxQueueBytes bounds the bytes queued for one peer. SendQueue alone
// counts frames, and 512 blocks answers of up to 4 MiB each let one peer
// that asks and never reads hold 2 GiB.
const maxQueueBytes = 32 << 20

// maxPendingPings bounds the pings awaiting their pong.
const maxPendingPings = 16

// A peer's get_peers are answered in a burst of getPeersBurst, then one per
// getPeersEvery; the rest are ignored. Each answer sorts the whole book
// under the server's lock, so a peer asking in a loop would stall every
// other session.
const (
	getPeersBurst = 10
	getPeersEvery = time.Second
)

var (
	errDuplicate = errors.New("netpeers: duplicate session")
	errBusy      = errors.New("netpeers: every inbound place is taken by a protected peer")
	errForgotten = errors.New("netpeers: the address was forgotten")
)

// refusedError is a handshake refused because of a penalty; its text goes
// into the error frame after "Penalized: ".
type refusedError struct{ b ban }

func (e refusedError) Error() string {
	return fmt.Sprintf("refused until %s: %s", e.b.until.UTC().Format(time.RFC3339), e.b.reason)
}

func (e refusedError) Unwrap() error { return ErrPenalized }

type sessionParams struct {
	inbound  bool
	remote   netip.AddrPort // the TCP peer
	dialAddr string         // outbound: the address dialled
	attempt  *dialAttempt   // outbound: reports the handshake to Connect
	slot     *inboundSlot   // inbound: its place under the inbound limits
}

// session is one WebSocket with a peer. Its reader runs in the goroutine
// that called runSession; its writer, which owns every write and the close,
// runs in a second goroutine that runSession waits for.
type session struct {
	s        *Server
	conn     *websocket.Conn
	inbound  bool
	remote   netip.AddrPort
	dialAddr string

	// Set by the handshake, read-only afterwards.
	hello     Hello
	challenge [32]byte // ours, sent in our hello
	proven    bool     // the peer signed our challenge with the key of its node_id
	ref       PeerRef  // ID: the node id when proven, else the connection
	banAddr   string   // the address refused when this peer is penalised: one we dialled
	bookAddr  string   // the address the book learns: dialled, or a proven peer's listen
	slot      *inboundSlot

	// Guarded by s.mu.
	entry    *entry
	since    time.Time // when the session went online
	usefulAt time.Time // when it last delivered something valid (MarkUseful)

	queue chan []byte
	prio  chan []byte
	// qmu guards queued and qEnded: the bytes waiting in queue, counted
	// here and in Server.queuedTotal until written or the queue is dropped.
	qmu    sync.Mutex
	queued int64
	qEnded bool

	closing    atomic.Bool
	closeReq   chan struct{} // closed by shutdown: the writer closes gracefully
	ended      chan struct{} // closed when runSession returns, the session detached
	readDone   chan struct{} // closed when the reader saw the connection end
	writerDone chan struct{}
	closeOnce  sync.Once
	// Set before closeReq is closed.
	closeCode   websocket.StatusCode
	closeReason string
	errFrame    []byte

	lastRecv atomic.Int64 // unix nanoseconds of the last frame received
	// Frames and their bytes, each way, over the session.
	framesIn, bytesIn, framesOut, bytesOut atomic.Int64
	healthy                                atomic.Bool // a ping round trip completed

	mu sync.Mutex
	// Why the session ended: localReason is a decision of ours (penalty,
	// duplicate, timeout, full queue, shutdown) and wins; otherwise the most
	// telling thing observed: the peer's error frame, its close, an I/O error.
	localReason    string
	observed       string
	observedWeight int
	pings          map[uint64]time.Time
	peersAsked     int // our get_peers without their answer yet

	peersAllowed *rate.Limiter // the get_peers this peer may ask
}

func (s *Server) ourHello(challenge [32]byte) Hello {
	st := s.h.Status()
	listen := s.Addr()
	if ap, err := netip.ParseAddrPort(listen); err == nil && ap.Addr().IsUnspecified() {
		// A wildcard listener ("[::]:8333" from ":8333"): peers put the
		// address they see us at in place of 0.0.0.0.
		listen = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()).String()
	}
	h := Hello{
		Version: ProtocolVersion,
		Genesis: s.cfg.Genesis,
		NodeID:  s.cfg.NodeID,
		Listen:  listen,
		Height:  st.Height,
		Tip:     st.Tip,
		Work:    st.Work,
		Agent:   s.cfg.Agent,
	}
	if s.cfg.NodeKey != nil {
		h.NodeKey = hex.EncodeToString(s.nodeKey[:])
		h.Challenge = hex.EncodeToString(challenge[:])
	}
	return h
}

// runSession runs a WebSocket from handshake to close. It returns when the
// connection is closed and the writer has stopped.
func (s *Server) runSession(ctx context.Context, c *websocket.Conn, p sessionParams) {
	s.liveConns.Add(1)
	defer s.liveConns.Add(-1)
	defer func() { _ = c.CloseNow() }()
	c.SetReadLimit(MaxFrameBytes + 1) // our own limit reader reports oversize frames first

	ss := &session{
		s:            s,
		conn:         c,
		inbound:      p.inbound,
		remote:       p.remote,
		dialAddr:     p.dialAddr,
		queue:        make(chan []byte, s.cfg.SendQueue),
		prio:         make(chan []byte, prioQueue),
		closeReq:     make(chan struct{}),
		ended:        make(chan struct{}),
		readDone:     make(chan struct{}),
		writerDone:   make(chan struct{}),
		pings:        map[uint64]time.Time{},
		slot:         p.slot,
		peersAllowed: rate.NewLimiter(rate.Every(getPeersEvery), getPeersBurst),
	}
	ss.challenge = newChallenge()
	ss.lastRecv.Store(time.Now().UnixNano())
	defer close(ss.ended)
	defer ss.dropQueue()

	var online <-chan struct{}
	err := ss.handshake(ctx)
	if err == nil {
		online, err = s.attach(ss)
		switch {
		case errors.Is(err, errDuplicate):
			_ = c.Close(websocket.StatusNormalClosure, closeDuplicate)
		case errors.Is(err, errBusy):
			_ = c.Close(websocket.StatusTryAgainLater, "too many peers")
		case errors.Is(err, ErrPenalized):
			ss.refuse(websocket.StatusPolicyViolation, ReasonPenalized+": "+err.Error())
		}
	}
	if err != nil {
		if !p.inbound {
			nodeID := ""
			if ss.proven {
				nodeID = ss.hello.NodeID
			}
			outcome := err
			if errors.Is(err, errDuplicate) && ss.proven {
				outcome = nil // reachable, and online through the other session
			}
			s.finishDial(p.dialAddr, nodeID, outcome)
			if outcome != nil {
				outcome = fmt.Errorf("netpeers: handshake with %s: %w", p.dialAddr, err)
			}
			p.attempt.finish(outcome)
		}
		s.log.Debug("handshake ended", "remote", p.remote, "dial", p.dialAddr, "err", err)
		return
	}
	if p.attempt != nil {
		p.attempt.finish(nil) // Connect returns now, whatever the handler is doing
	}

	go ss.writeLoop(ctx)
	ss.askPeers()
	// The node hears of the peer before it hears from it.
	select {
	case <-online:
	case <-ctx.Done():
	}
	violated := ss.readLoop()
	if !violated {
		close(ss.readDone)
	}
	<-ss.writerDone
	s.detach(ss)
}

// handshake sends our hello, reads the peer's and, when both hellos carry
// node_key and challenge, exchanges auth frames. It closes the connection
// itself when it returns an error. Whatever goes wrong here, the peer is
// not proven yet: a fault costs the connection and its IP, never the node
// id or listen address the hello claims.
func (ss *session) handshake(ctx context.Context) error {
	s := ss.s
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	data, err := Encode(s.ourHello(ss.challenge))
	if err != nil {
		_ = ss.conn.CloseNow()
		return err
	}
	if err := ss.conn.Write(hctx, websocket.MessageText, data); err != nil {
		_ = ss.conn.CloseNow()
		return fmt.Errorf("send hello: %w", err)
	}
	raw, err := readFrame(hctx, ss.conn)
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) {
			ss.violation(fe.Error())
			return err
		}
		_ = ss.conn.CloseNow()
		return fmt.Errorf("read hello: %w", err)
	}
	f, err := Decode(raw)
	if err != nil {
		if v, ok := helloVersion(raw); ok && v != ProtocolVersion {
			// Another version's hello need not have our fields: not an offence.
			reason := fmt.Sprintf("%s: version %d, this node speaks %d", ReasonUnsupportedVersion, v, ProtocolVersion)
			ss.refuse(websocket.StatusPolicyViolation, reason)
			return errors.New(reason)
		}
		ss.violation(err.Error())
		return err
	}
	h, ok := f.(Hello)
	if !ok {
		if e, isErr := f.(Error); isErr {
			// The peer refuses us before its hello: not a violation.
			_ = ss.conn.Close(websocket.StatusNormalClosure, "")
			return fmt.Errorf("peer error: %s", e.Reason)
		}
		reason := fmt.Sprintf("%s: first frame is %s, not hello", ReasonExpectedHello, frameName(f))
		ss.violation(reason)
		return errors.New(reason)
	}
	ss.setHello(h)
	s.greeted(ss.slot) // no longer an idle connection: evicted last
	s.handshakes.Add(1)
	if h.Version != ProtocolVersion {
		reason := fmt.Sprintf("%s: version %d, this node speaks %d", ReasonUnsupportedVersion, h.Version, ProtocolVersion)
		ss.refuse(websocket.StatusPolicyViolation, reason)
		return errors.New(reason)
	}
	if h.Genesis != s.cfg.Genesis {
		reason := fmt.Sprintf("%s: genesis %.64s, this network's is %s", ReasonWrongGenesis, h.Genesis, s.cfg.Genesis)
		ss.violation(reason)
		return errors.New(reason)
	}
	if !isHex(h.NodeID, 64) {
		reason := fmt.Sprintf("%s: hello: node_id must be 64 lowercase hex digits, got %.80q", ReasonMalformedFrame, h.NodeID)
		ss.violation(reason)
		return errors.New(reason)
	}
	// The keys are checked before the self check: a hello naming our id
	// with another node_key is malformed, not us.
	keys, err := parseHelloKeys(h)
	if err != nil {
		reason := fmt.Sprintf("%s: hello: %v", ReasonMalformedFrame, err)
		ss.violation(reason)
		return errors.New(reason)
	}
	if h.NodeID == s.cfg.NodeID {
		_ = ss.conn.Close(websocket.StatusPolicyViolation, closeSelf)
		// Only our own key (or, without one, our own random id) shows that
		// the address is ours: anyone may name our id.
		if s.cfg.NodeKey == nil || keys.hasKey {
			return ErrSelf
		}
		return errors.New("peer claims our node id")
	}
	proven := false
	if s.cfg.NodeKey != nil && keys.hasKey && keys.hasChal {
		if err := ss.authenticate(hctx, keys); err != nil {
			return err
		}
		proven = true
	}
	ss.setIdentity(proven)
	return nil
}

// authenticate sends our auth frame and checks the peer's, which must be
// its next frame and arrive within the handshake's time.
func (ss *session) authenticate(ctx context.Context, keys helloKeys) error {
	s := ss.s
	sig := signAuth(s.cfg.NodeKey, s.genesis, keys.challenge, keys.key)
	data, err := Encode(Auth{Signature: hex.EncodeToString(sig[:])})
	if err != nil {
		_ = ss.conn.CloseNow()
		return err
	}
	if err := ss.conn.Write(ctx, websocket.MessageText, data); err != nil {
		_ = ss.conn.CloseNow()
		return fmt.Errorf("send auth: %w", err)
	}
	raw, late, err := ss.readBefore(ctx)
	if late {
		// Refused, but not penalised: the fault may be the load on either side.
		reason := fmt.Sprintf("%s: no auth frame within %v", ReasonAuthFailed, s.cfg.HandshakeTimeout)
		ss.refuse(websocket.StatusPolicyViolation, reason)
		<-raw
		return errors.New(reason)
	}
	if err != nil {
		var fe *FrameError
		if errors.As(err, &fe) {
			ss.violation(ReasonAuthFailed + ": " + fe.Error())
			return err
		}
		_ = ss.conn.CloseNow()
		return fmt.Errorf("read auth: %w", err)
	}
	f, err := Decode(<-raw)
	if err != nil {
		ss.violation(ReasonAuthFailed + ": " + err.Error())
		return err
	}
	a, ok := f.(Auth)
	if !ok {
		if e, isErr := f.(Error); isErr {
			_ = ss.conn.Close(websocket.StatusNormalClosure, "")
			return fmt.Errorf("peer error: %s", e.Reason)
		}
		reason := fmt.Sprintf("%s: the frame after hello is %s, not auth", ReasonAuthFailed, frameName(f))
		ss.violation(reason)
		return errors.New(reason)
	}
	if err := verifyAuth(a.Signature, s.genesis, ss.challenge, keys.key, s.nodeKey); err != nil {
		reason := fmt.Sprintf("%s: %v", ReasonAuthFailed, err)
		ss.violation(reason)
		return errors.New(reason)
	}
	return nil
}

// readBefore reads one frame unless ctx ends first (late). A read whose
// context ends closes the connection, so the read has no deadline of its
// own: a late peer can still be sent an error frame and a close, which end
// the read. The frame comes on the channel, which is closed once the read
// has returned, whichever way.
func (ss *session) readBefore(ctx context.Context) (frame <-chan []byte, late bool, err error) {
	type result struct {
		raw []byte
		err error
	}
	done := make(chan result, 1)
	out := make(chan []byte, 1)
	go func() {
		raw, err := readFrame(context.Background(), ss.conn)
		done <- result{raw, err}
	}()
	select {
	case r := <-done:
		out <- r.raw
		close(out)
		return out, false, r.err
	case <-ctx.Done():
		go func() { <-done; close(out) }()
		return out, true, nil
	}
}

// setHello records the peer's hello, its listen address made dialable.
func (ss *session) setHello(h Hello) {
	listen, ok := dialableListen(h.Listen, ss.remote.Addr())
	if ok {
		ss.s.mu.Lock()
		ok = !ss.s.isSelfAddrLocked(listen) // a confused or lying peer
		ss.s.mu.Unlock()
	}
	if !ok {
		listen = ""
	}
	h.Listen = listen
	if len(h.Agent) > 256 {
		h.Agent = h.Agent[:256]
	}
	ss.hello = h
}

// connKey names a session by its connection: the remote address and port.
func (ss *session) connKey() string {
	if ss.remote.IsValid() {
		return ss.remote.String()
	}
	return ss.dialAddr
}

// setIdentity sets the names the session goes by. A proven peer is its
// node id, and its listen address is learned; an unproven one is its
// connection, whatever its hello claims. An address we dialled is ours to
// refuse whoever answers there.
func (ss *session) setIdentity(proven bool) {
	ss.proven = proven
	ss.ref = PeerRef{ID: ss.connKey(), Addr: ss.remote.String(), Proven: proven}
	if proven {
		ss.ref.ID = ss.hello.NodeID
	}
	switch {
	case !ss.inbound:
		ss.ref.Addr, ss.banAddr, ss.bookAddr = ss.dialAddr, ss.dialAddr, ss.dialAddr
	case proven && ss.hello.Listen != "":
		ss.ref.Addr, ss.bookAddr = ss.hello.Listen, ss.hello.Listen
	}
}

// violation answers bad input during the handshake: error frame, close
// 1008, and a penalty on what is known for sure: the connection's IP
// (never loopback) and, when we dialled, the address.
func (ss *session) violation(reason string) {
	ss.refuse(websocket.StatusPolicyViolation, reason)
	ref := PeerRef{ID: ss.connKey(), Addr: ss.remote.String()}
	banAddr := ""
	if !ss.inbound {
		ref.Addr, banAddr = ss.dialAddr, ss.dialAddr
	}
	ss.s.penalize(ref, banAddr, ss.remote.Addr(), reason, nil)
}

// refuse sends an error frame and closes, from the goroutine that reads.
func (ss *session) refuse(code websocket.StatusCode, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if data, err := Encode(Error{Reason: reason}); err == nil {
		_ = ss.conn.Write(ctx, websocket.MessageText, data)
	}
	_ = ss.conn.Close(code, closeText(reason))
}

// closeText fits a reason into a close frame (at most 123 bytes).
func closeText(reason string) string {
	if len(reason) <= 123 {
		return reason
	}
	cut := 120
	for cut > 0 && reason[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return reason[:cut] + "..."
}

// readFrame reads one message of at most MaxFrameBytes. Frames are text
// messages (PROTOCOL.md section 2); a binary one is malformed.
func readFrame(ctx context.Context, c *websocket.Conn) ([]byte, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		// Read to its end, so the close that follows is not stuck behind it.
		if _, err := io.Copy(io.Discard, io.LimitReader(r, MaxFrameBytes+1)); err != nil {
			return nil, err
		}
		return nil, malformed("a binary message: frames are text messages")
	}
	buf := readBufs.Get().(*bytes.Buffer)
	defer func() {
		// A buffer grown by a rare large frame (up to twice MaxFrameBytes)
		// is left to the collector, not kept.
		if buf.Cap() <= 1<<20 {
			readBufs.Put(buf)
		}
	}()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r, MaxFrameBytes+1)); err != nil {
		return nil, err
	}
	if buf.Len() > MaxFrameBytes {
		return nil, &FrameError{Code: ReasonFrameTooLarge, Detail: fmt.Sprintf("frame is larger than %d bytes", MaxFrameBytes)}
	}
	// The frame is the caller's to keep: a copy of its exact size.
	return bytes.Clone(buf.Bytes()), nil
}

// readBufs hold frames as they are read: a 500-block answer (~250 KB)
// read by io.ReadAll grew its slice a dozen times from 512 bytes, copying
// and clearing twice its size, for every answer of a sync.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// attachInLoop makes a handshaken session online under its key (its node
// id when proven, else its connection), applying the duplicate rule and
// the inbound limits, and queues its PeerOnline event; the channel closes
// once the handler has had it. Only the peer loop calls it.
func (s *Server) attachInLoop(ss *session) (<-chan struct{}, error) {
	now := time.Now()
	key := ss.ref.ID
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.peerSet()
	if ss.slot != nil && ss.slot.evicted {
		return nil, errors.New("closed to make room while its hello arrived")
	}
	banID := ""
	if ss.proven {
		banID = key // a claimed id is nobody's to refuse
	}
	if b, banned := s.bannedLocked(banID, ss.banAddr, ss.remote.Addr(), now); banned {
		return nil, refusedError{b}
	}
	if _, forgotten := s.forgotten[ss.dialAddr]; forgotten && !ss.inbound {
		return nil, errForgotten // forgotten while its dial was under way
	}
	old := set.byID[key]
	if !ss.proven {
		// An unproven newcomer never displaces a session: not the node it
		// names, nor another unproven one naming the same id.
		if old != nil && !old.closing.Load() {
			return nil, errDuplicate
		}
		for _, o := range set.list {
			if o.hello.NodeID == ss.hello.NodeID && !o.closing.Load() {
				return nil, errDuplicate
			}
		}
	} else if old != nil && !old.closing.Load() && !s.keepNew(old, ss, now) {
		return nil, errDuplicate
	}
	if ss.slot != nil {
		if err := s.promoteLocked(ss.slot, now); err != nil {
			return nil, err
		}
	}
	if old != nil {
		// The old session leaves the registry here, so its offline event is
		// queued here too, before the new session's online event.
		reason := closeDuplicate
		if old.closing.Load() {
			reason = old.offline()
		}
		old.shutdown(websocket.StatusNormalClosure, closeDuplicate, "", closeDuplicate)
		if e := old.entry; e != nil && e.sess == old {
			e.sess = nil
			s.touchLocked(e, now)
		}
		s.emitLocked(PeerEvent{Kind: PeerOffline, Peer: old.ref, Inbound: old.inbound, Reason: reason})
	}
	// promoteLocked may have closed a session to make room; it stays in
	// the set until its detach, as before.
	s.publishLocked(withSession(s.peerSet(), key, ss))
	ss.since = now
	if !ss.inbound {
		delete(s.dialing, ss.dialAddr)
	}
	e := s.entryForLocked(ss, now)
	e.nodeID = key
	e.proven = ss.proven
	e.claimedID = ss.hello.NodeID
	e.sess = ss
	e.inbound = ss.inbound
	e.height, e.tip, e.work = ss.hello.Height, ss.hello.Tip, ss.hello.Work
	e.lastSeen = now
	e.agent = ss.hello.Agent
	e.lastErr, e.lastErrRaw, e.lastErrAt = "", "", time.Time{}
	ss.entry = e
	s.touchLocked(e, now)
	s.log.Info("peer online", "peer", key, "addr", ss.ref.Addr, "inbound", ss.inbound, "proven", ss.proven,
		"claimed_id", ss.hello.NodeID, "agent", ss.hello.Agent)
	return s.emitLocked(PeerEvent{Kind: PeerOnline, Peer: ss.ref, Hello: ss.hello, Inbound: ss.inbound}), nil
}

// keepNew applies PROTOCOL.md's rule to two proven sessions with one node:
// the session dialled by the node with the smaller node id stays. When one
// node dialled both, the existing one stays unless it has gone quiet.
func (s *Server) keepNew(old, cur *session, now time.Time) bool {
	dialler := func(x *session) string {
		if x.inbound {
			return x.hello.NodeID
		}
		return s.cfg.NodeID
	}
	smaller := min(s.cfg.NodeID, cur.hello.NodeID)
	oldKeep, curKeep := dialler(old) == smaller, dialler(cur) == smaller
	if oldKeep != curKeep {
		return curKeep
	}
	return now.Sub(old.lastRecvTime()) > 2*s.cfg.PingInterval
}

// entryForLocked finds or makes the book entry a session reports into.
// Only an address we dialled, or a proven peer's listen address, becomes a
// lasting entry; any other session has a transient one under its
// connection, forgotten when it ends.
func (s *Server) entryForLocked(ss *session, now time.Time) *entry {
	key, src := ss.ref.Addr, sourceInbound
	if !ss.inbound {
		src = sourceConfigured
	}
	if e := s.book[key]; e != nil {
		if e.sess == nil || e.nodeID == ss.ref.ID {
			if ss.bookAddr != "" && e.transient {
				e.transient = false
			}
			return e
		}
		// Another node is online under that address: keep this one apart.
		key = ss.connKey()
		ss.ref.Addr = key
	}
	if e := s.book[key]; e != nil && e.sess == nil {
		return e
	}
	_, forgotten := s.forgotten[key]
	transient := (ss.inbound && key != ss.bookAddr) || forgotten
	if !transient && len(s.book) >= s.bookLimit && !s.makeRoomLocked() {
		transient = true // a full book: known only while online
	}
	e := &entry{addr: key, source: src, lastChange: now, transient: transient}
	s.book[key] = e
	return e
}

// detachInLoop removes an ended session, reports it and schedules the
// redial. A session that never completed a ping round trip, or that the
// peer ended with an error frame, counts as a failure, so that a peer
// refusing us is redialled with growing backoff. Only the peer loop calls
// it.
func (s *Server) detachInLoop(ss *session) {
	now := time.Now()
	id := ss.ref.ID
	reason := ss.offline()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := ss.entry; e != nil && e.sess == ss {
		e.sess = nil
		e.lastSeen = now
		if e.transient {
			delete(s.book, e.addr)
		} else {
			if !ss.healthy.Load() || ss.peerErrored() {
				e.failures++
			}
			e.nextDial = now.Add(s.backoff(max(e.failures, 1)))
			s.touchLocked(e, now)
		}
	}
	if set := s.peerSet(); set.byID[id] == ss {
		s.publishLocked(withoutSession(set, id))
		s.log.Info("peer offline", "peer", id, "addr", ss.ref.Addr, "reason", reason)
		s.emitLocked(PeerEvent{Kind: PeerOffline, Peer: ss.ref, Inbound: ss.inbound, Reason: reason})
	}
	s.kickDialer()
}

func (ss *session) lastRecvTime() time.Time { return time.Unix(0, ss.lastRecv.Load()) }

// setClosing marks the session as closing by our decision; the first
// reason given is the one its PeerOffline event carries.
func (ss *session) setClosing(reason string) {
	ss.mu.Lock()
	if ss.localReason == "" {
		ss.localReason = reason
	}
	ss.mu.Unlock()
	ss.closing.Store(true)
}

// Weights of observed reasons for a session's end.
const (
	endIO = iota + 1
	endPeerClose
	endPeerError
)

// observe records what was seen as the session ended; a heavier
// observation replaces a lighter one.
func (ss *session) observe(reason string, weight int) {
	ss.mu.Lock()
	if weight > ss.observedWeight {
		ss.observed, ss.observedWeight = reason, weight
	}
	ss.mu.Unlock()
	ss.closing.Store(true)
}

func (ss *session) peerErrored() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.observedWeight == endPeerError
}

func (ss *session) offline() string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.localReason != "":
		return ss.localReason
	case ss.observed != "":
		return ss.observed
	}
	return "closed"
}

// shutdown asks the writer to send an error frame (when errReason is set)
// and close with code. It does not block.
func (ss *session) shutdown(code websocket.StatusCode, closeReason, errReason, offlineReason string) {
	ss.closeOnce.Do(func() {
		ss.closeCode = code
		ss.closeReason = closeText(closeReason)
		if errReason != "" {
			ss.errFrame, _ = Encode(Error{Reason: errReason})
		}
		ss.setClosing(offlineReason)
		close(ss.closeReq)
	})
}

// abort drops the session at once, without a close handshake.
func (ss *session) abort(reason string) {
	ss.setClosing(reason)
	_ = ss.conn.CloseNow()
}

// enqueue queues an encoded frame without blocking; a full queue drops the
// peer. When the bytes queued for all peers together pass their bound, the
// peer with the most queued is dropped, whoever is being sent to now.
func (ss *session) enqueue(data []byte) error {
	s := ss.s
	size := int64(len(data))
	ss.qmu.Lock()
	if ss.qEnded || ss.closing.Load() {
		ss.qmu.Unlock()
		return ErrUnknownPeer
	}
	full := ss.queued+size > s.queueLimit
	if !full {
		select {
		case ss.queue <- data:
			ss.queued += size
		default:
			full = true
		}
	}
	ss.qmu.Unlock()
	if full {
		s.log.Warn("send queue full, dropping peer", "peer", ss.ref.ID, "addr", ss.ref.Addr)
		ss.abort("send queue full")
		ss.dropQueue()
		return ErrQueueFull
	}
	if s.queuedTotal.Add(size) > s.totalQueueLimit {
		s.shedQueue()
	}
	if ss.closing.Load() {
		return ErrQueueFull // shed: it was the worst
	}
	return nil
}

// dequeued counts a frame the writer took from the queue.
func (ss *session) dequeued(size int64) {
	ss.qmu.Lock()
	defer ss.qmu.Unlock()
	if !ss.qEnded {
		ss.queued -= size
		ss.s.queuedTotal.Add(-size)
	}
}

// dropQueue stops the queue: what is still in it no longer counts, and
// nothing more is taken.
func (ss *session) dropQueue() {
	ss.qmu.Lock()
	defer ss.qmu.Unlock()
	if !ss.qEnded {
		ss.qEnded = true
		ss.s.queuedTotal.Add(-ss.queued)
		ss.queued = 0
	}
}

func (ss *session) queuedBytes() int64 {
	ss.qmu.Lock()
	defer ss.qmu.Unlock()
	return ss.queued
}

// shedQueue drops the peer with the most bytes queued, to bring the total
// back under Server.totalQueueLimit: peers that ask and do not read would
// otherwise each hold up to queueLimit.
func (s *Server) shedQueue() {
	var worst *session
	var most int64
	for _, ss := range s.onlineSessions() {
		if n := ss.queuedBytes(); n > most {
			worst, most = ss, n
		}
	}
	if worst == nil {
		return
	}
	s.log.Warn("queued bytes of all peers above their bound, dropping the peer with most",
		"peer", worst.ref.ID, "addr", worst.ref.Addr, "queued", most, "total", s.queuedTotal.Load())
	worst.abort("send queue full: most bytes queued while all peers' queues are full")
	worst.dropQueue()
}

func (ss *session) sendFrame(frame any) {
	data, err := Encode(frame)
	if err != nil {
		ss.s.log.Error("frame does not encode", "err", err)
		return
	}
	_ = ss.enqueue(data)
}

// sendPong queues the answer to a ping ahead of other frames. A peer with
// more pings waiting for their pong than the queue holds is flooding.
func (ss *session) sendPong(p Ping) {
	data, _ := Encode(Pong(p))
	select {
	case ss.prio <- data:
	default:
		ss.punish(fmt.Sprintf("%s: more than %d pings waiting for their pongs", ReasonFlood, prioQueue))
	}
}

// readLoop reads and dispatches frames until the connection ends or the
// peer breaks the rules; it reports the latter.
func (ss *session) readLoop() (violated bool) {
	for {
		raw, err := readFrame(context.Background(), ss.conn)
		if err != nil {
			var fe *FrameError
			if errors.As(err, &fe) {
				ss.punish(fe.Error())
				return true
			}
			ss.observe(describeEnd(err))
			return false
		}
		if ss.closing.Load() {
			continue // draining until the close handshake ends
		}
		ss.framesIn.Add(1)
		ss.bytesIn.Add(int64(len(raw)))
		ss.lastRecv.Store(time.Now().UnixNano())
		f, err := Decode(raw)
		if err != nil {
			ss.punish(err.Error())
			return true
		}
		ss.dispatch(f)
	}
}

// punish answers bad input on an online session: error frame, close 1008,
// penalty.
func (ss *session) punish(reason string) {
	ss.s.log.Info("peer broke the wire rules", "peer", ss.ref.ID, "addr", ss.ref.Addr, "reason", reason)
	ss.s.penalize(ss.ref, ss.banAddr, ss.remote.Addr(), reason, ss)
}

func describeEnd(err error) (string, int) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		if ce.Reason != "" {
			return fmt.Sprintf("peer closed (%d): %s", ce.Code, ce.Reason), endPeerClose
		}
		return fmt.Sprintf("peer closed (%d)", ce.Code), endPeerClose
	}
	return "connection lost: " + err.Error(), endIO
}

func (ss *session) dispatch(f any) {
	s := ss.s
	switch f := f.(type) {
	case Ping:
		ss.sendPong(f)
	case Pong:
		if f.text == "" { // ours are all uint64
			ss.gotPong(f.Nonce, time.Now())
		}
	case GetPeers:
		if ss.mayAskPeers(time.Now()) {
			ss.sendFrame(Peers{Peers: s.peerAddrsFor(ss)})
		}
	case Peers:
		// Only answers are learned from: unasked lists, one after another,
		// would fill the book with whatever a peer makes up.
		if ss.answeredPeers() {
			s.learn(f.Peers)
		}
	case Tip:
		s.mu.Lock()
		if e := ss.entry; e != nil && e.sess == ss {
			e.height, e.tip, e.work = f.Height, f.Tip, f.Work
		}
		s.mu.Unlock()
		s.h.HandleFrame(ss.ref, f)
	case BlockMsg, GetBlocks, Blocks:
		s.h.HandleFrame(ss.ref, f)
	case Error:
		// The sender closes next; nothing it sends until then is used.
		ss.observe("peer error: "+f.Reason, endPeerError)
		s.log.Info("peer sent an error", "peer", ss.ref.ID, "reason", f.Reason)
	case Hello, Auth, Unknown:
		// A second hello, an auth frame out of place (a peer we do not ask
		// to prove itself may still send one) or a frame type of a later
		// version: ignored.
	}
}

// askPeers sends get_peers and expects its answer.
func (ss *session) askPeers() {
	ss.mu.Lock()
	ss.peersAsked++
	ss.mu.Unlock()
	ss.sendFrame(GetPeers{})
}

// answeredPeers reports whether a peers frame answers one of our get_peers.
func (ss *session) answeredPeers() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.peersAsked == 0 {
		return false
	}
	ss.peersAsked--
	return true
}

// mayAskPeers takes one get_peers from the peer's allowance: a burst of
// getPeersBurst, then one per getPeersEvery.
func (ss *session) mayAskPeers(now time.Time) bool { return ss.peersAllowed.AllowN(now, 1) }

// gotPong turns a pong into latency figures: last, smoothed (EWMA with
// alpha 1/8, as TCP's SRTT) and minimum.
func (ss *session) gotPong(nonce uint64, now time.Time) {
	ss.mu.Lock()
	sent, ok := ss.pings[nonce]
	delete(ss.pings, nonce)
	ss.mu.Unlock()
	if !ok {
		return
	}
	rtt := max(now.Sub(sent), time.Microsecond)
	s := ss.s
	s.mu.Lock()
	if e := ss.entry; e != nil {
		if !ss.healthy.Swap(true) {
			e.failures = 0
		}
		e.lastRTT = rtt
		if e.smoothRTT == 0 {
			e.smoothRTT = rtt
		} else {
			e.smoothRTT += (rtt - e.smoothRTT) / 8
		}
		if e.minRTT == 0 || rtt < e.minRTT {
			e.minRTT = rtt
		}
	}
	s.mu.Unlock()
	s.markDirty()
}

// writeLoop owns every write after the handshake, the pings, the silence
// check and the close.
func (ss *session) writeLoop(ctx context.Context) {
	defer close(ss.writerDone)
	cfg := &ss.s.cfg
	pingT := time.NewTicker(cfg.PingInterval)
	defer pingT.Stop()
	checkT := time.NewTicker(min(max(cfg.OfflineAfter/8, 5*time.Millisecond), time.Second))
	defer checkT.Stop()
	if !ss.ping() {
		return
	}
	for {
		select {
		case <-ss.closeReq:
			ss.closeGracefully(ss.closeCode, ss.closeReason, ss.errFrame)
			return
		case data := <-ss.prio:
			if !ss.write(data) {
				return
			}
			continue
		default:
		}
		select {
		case <-ss.closeReq:
			ss.closeGracefully(ss.closeCode, ss.closeReason, ss.errFrame)
			return
		case <-ctx.Done():
			ss.setClosing("shutting down")
			ss.closeGracefully(websocket.StatusGoingAway, "shutting down", nil)
			return
		case <-ss.readDone:
			_ = ss.conn.CloseNow()
			return
		case <-pingT.C:
			if !ss.ping() {
				return
			}
		case now := <-checkT.C:
			if silent := now.Sub(ss.lastRecvTime()); silent > cfg.OfflineAfter {
				reason := fmt.Sprintf("%s: no frame for %v", ReasonTimeout, silent.Round(time.Millisecond))
				ss.setClosing("offline: " + reason)
				// The peer is not answering: no close handshake to wait for.
				data, _ := Encode(Error{Reason: reason})
				wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				_ = ss.conn.Write(wctx, websocket.MessageText, data)
				cancel()
				_ = ss.conn.CloseNow()
				return
			}
		case data := <-ss.prio:
			if !ss.write(data) {
				return
			}
		case data := <-ss.queue:
			ss.dequeued(int64(len(data)))
			if !ss.write(data) {
				return
			}
		}
	}
}

func (ss *session) write(data []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.cfg.OfflineAfter)
	defer cancel()
	if err := ss.conn.Write(ctx, websocket.MessageText, data); err != nil {
		ss.observe("write failed: "+err.Error(), endIO)
		_ = ss.conn.CloseNow()
		return false
	}
	ss.framesOut.Add(1)
	ss.bytesOut.Add(int64(len(data)))
	return true
}

// ping sends a ping and remembers when, for the pong's round trip.
func (ss *session) ping() bool {
	nonce := rand.Uint64() & (1<<53 - 1) // exact in any JSON implementation
	data, _ := Encode(Ping{Nonce: nonce})
	ss.mu.Lock()
	if len(ss.pings) >= maxPendingPings {
		var oldest uint64
		var at time.Time
		for n, t := range ss.pings {
			if at.IsZero() || t.Before(at) {
				oldest, at = n, t
			}
		}
		delete(ss.pings, oldest)
	}
	ss.pings[nonce] = time.Now()
	ss.mu.Unlock()
	return ss.write(data)
}

// closeGracefully sends the error frame, if any, and closes with the close
// handshake. The reader keeps reading meanwhile, so the peer's close frame
// ends both.
func (ss *session) closeGracefully(code websocket.StatusCode, reason string, errFrame []byte) {
	if errFrame != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = ss.conn.Write(ctx, websocket.MessageText, errFrame)
		cancel()
	}
	_ = ss.conn.Close(code, reason)
}
