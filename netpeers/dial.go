package netpeers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// dialAttempt is one dial in flight; Connect callers wait on it.
type dialAttempt struct {
	done chan struct{}
	once sync.Once
	err  error
	user bool // Connect asked for it (guarded by Server.mu)
}

func newDialAttempt() *dialAttempt { return &dialAttempt{done: make(chan struct{})} }

// finish reports the handshake's outcome; only the first call counts.
func (a *dialAttempt) finish(err error) {
	a.once.Do(func() {
		a.err = err
		close(a.done)
	})
}

// Connect adds addr to the book and dials it now, ignoring backoff and
// MaxPeers. It returns once the handshake is done (nil also when the peer
// turns out to be online through another session) or with the error.
// It waits for Run to start.
func (s *Server) Connect(ctx context.Context, addr string) error {
	a, err := normalizeAddr(addr)
	if err != nil {
		return fmt.Errorf("netpeers: connect %q: %w", addr, err)
	}
	select {
	case <-s.started:
	case <-ctx.Done():
		return ctx.Err()
	}
	now := time.Now()
	s.mu.Lock()
	if !s.running || s.stopping {
		s.mu.Unlock()
		return ErrClosed
	}
	e := s.addAddrLocked(a, sourceConfigured, now)
	if e == nil || e.self {
		s.mu.Unlock()
		return ErrSelf
	}
	if b, banned := s.bannedLocked(e.dialID(), a, netip.Addr{}, now); banned {
		s.mu.Unlock()
		return fmt.Errorf("netpeers: connect %s: %w", a, refusedError{b})
	}
	if e.sess != nil || (e.nodeID != "" && s.peerSet().byID[e.nodeID] != nil) {
		s.mu.Unlock()
		return nil
	}
	att := s.dialing[a]
	if att == nil {
		att = newDialAttempt()
		att.user = true
		if !s.startDialLocked(a, att, now) {
			s.mu.Unlock()
			return ErrClosed
		}
	} else if !att.user {
		att.user = true
		s.touchLocked(e, now)
	}
	s.mu.Unlock()
	select {
	case <-att.done:
		return att.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startDialLocked marks addr as being dialled and starts the dial in a
// goroutine owned by Run.
func (s *Server) startDialLocked(addr string, att *dialAttempt, now time.Time) bool {
	if !s.running || s.stopping {
		return false
	}
	s.dialing[addr] = att
	if e := s.book[addr]; e != nil {
		e.lastAttempt = now
		s.touchLocked(e, now)
	}
	ctx := s.runCtx
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.dialAndRun(ctx, addr, att)
	}()
	return true
}

// dialLoop dials due addresses whenever it is kicked or a backoff ends.
func (s *Server) dialLoop(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		t.Reset(s.startDueDials(time.Now()))
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// startDueDials starts dials for the nearest due addresses while sessions
// and dials in flight stay under MaxPeers, and returns when to look again.
func (s *Server) startDueDials(now time.Time) time.Duration {
	next := time.Second
	s.mu.Lock()
	defer s.mu.Unlock()
	online := s.peerSet().byID
	slots := s.cfg.MaxPeers - len(online) - len(s.dialing)
	var due []*entry
	for _, e := range s.book {
		if !e.dialable() || e.sess != nil || s.dialing[e.addr] != nil {
			continue
		}
		if e.nodeID != "" && online[e.nodeID] != nil {
			continue
		}
		if _, banned := s.bannedLocked(e.dialID(), e.addr, netip.Addr{}, now); banned {
			continue
		}
		if wait := e.nextDial.Sub(now); wait > 0 {
			next = min(next, wait)
			continue
		}
		due = append(due, e)
	}
	if slots <= 0 || len(due) == 0 {
		return next
	}
	// Nearest first: measured latency, then fewer failures.
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i], due[j]
		if la, lb := latencyKey(a), latencyKey(b); la != lb {
			return la < lb
		}
		if a.failures != b.failures {
			return a.failures < b.failures
		}
		return a.addr < b.addr
	})
	for _, e := range due {
		if slots == 0 {
			break
		}
		if !s.startDialLocked(e.addr, newDialAttempt(), now) {
			break
		}
		slots--
	}
	return next
}

// dialAndRun dials addr and, when the handshake succeeds, runs the session
// until it ends.
func (s *Server) dialAndRun(ctx context.Context, addr string, att *dialAttempt) {
	defer att.finish(ErrClosed) // when nothing else reported an outcome
	c, remote, err := s.dialWS(ctx, addr)
	if err != nil {
		err = fmt.Errorf("netpeers: dial %s: %w", addr, err)
		s.log.Debug("dial failed", "addr", addr, "err", err)
		s.finishDial(addr, "", err)
		att.finish(err)
		return
	}
	s.runSession(ctx, c, sessionParams{dialAddr: addr, remote: remote, attempt: att})
}

// finishDial records a dial that ended without an attached session: err nil
// means the peer is reachable (it was a duplicate). A failure is kept in
// plain words on the entry and, for an address the user gave or that was
// online before, reported as a PeerDialFailed event: one per failed
// attempt, and attempts are spaced by the growing backoff.
func (s *Server) finishDial(addr, nodeID string, err error) {
	now := time.Now()
	s.mu.Lock()
	delete(s.dialing, addr)
	if e := s.book[addr]; e != nil {
		if nodeID != "" {
			e.nodeID = nodeID
		}
		switch {
		case err == nil:
			e.failures = 0
			e.nextDial = now.Add(s.backoff(1))
		case errors.Is(err, ErrSelf):
			e.self = true
		default:
			e.failures++
			e.nextDial = now.Add(s.backoff(e.failures))
			e.lastErr, e.lastErrRaw, e.lastErrAt = DescribeDialError(err), err.Error(), now
			next := e.nextDial
			if e.penaltyUntil.After(next) {
				next = e.penaltyUntil
			}
			level, why, attempts := slog.LevelDebug, e.lastErr, e.failures
			if e.source == sourceConfigured || !e.lastSeen.IsZero() {
				level = slog.LevelInfo
				s.emitLocked(PeerEvent{Kind: PeerDialFailed, Peer: PeerRef{ID: e.dialID(), Addr: addr},
					Reason: e.lastErr, Err: e.lastErrRaw, NextDial: next, Attempts: e.failures})
			}
			defer s.log.Log(context.Background(), level, "dial failed", "addr", addr, "why", why,
				"attempts", attempts, "next_try", next.Format(time.RFC3339), "err", err)
		}
		s.touchLocked(e, now)
	}
	s.mu.Unlock()
	s.kickDialer()
}

// dialWS opens the WebSocket to addr, through a link-delay wrapper when
// Config.LinkDelay asks for one.
func (s *Server) dialWS(ctx context.Context, addr string) (*websocket.Conn, netip.AddrPort, error) {
	var delay time.Duration
	if s.cfg.LinkDelay != nil {
		delay = s.cfg.LinkDelay(addr)
	}
	var (
		mu     sync.Mutex
		remote netip.AddrPort
	)
	dialer := &net.Dialer{Timeout: s.cfg.HandshakeTimeout, KeepAlive: 15 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // peers are dialled directly, whatever the environment says
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if host, _, err := net.SplitHostPort(a); err == nil && reservedInvalid(host) {
				// RFC 6761: .invalid never resolves, and resolvers should
				// say so without asking the network.
				return nil, &net.OpError{Op: "dial", Net: network,
					Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
			}
			c, err := dialer.DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
				mu.Lock()
				remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
				mu.Unlock()
			}
			if delay > 0 {
				return newDelayConn(c, delay), nil
			}
			return c, nil
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		ResponseHeaderTimeout:  s.cfg.HandshakeTimeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer tr.CloseIdleConnections()
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	u := (&url.URL{Scheme: "ws", Host: addr, Path: "/"}).String()
	c, resp, err := websocket.Dial(hctx, u, &websocket.DialOptions{
		HTTPClient:      &http.Client{Transport: tr},
		HTTPHeader:      http.Header{"User-Agent": {s.cfg.Agent}},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, netip.AddrPort{}, &httpStatusError{code: resp.StatusCode, status: resp.Status, err: err}
		}
		return nil, netip.AddrPort{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	return c, remote, nil
}

// saveLoop saves the address book after changes, at most once per SaveInterval.
func (s *Server) saveLoop(ctx context.Context) {
	if s.cfg.Book == nil {
		return
	}
	t := time.NewTimer(s.cfg.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		}
		s.saveBook()
		t.Reset(s.cfg.SaveInterval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// maintainLoop ends penalties when their time is up.
func (s *Server) maintainLoop(ctx context.Context) {
	t := time.NewTicker(min(time.Second, s.cfg.PenaltyTime/4+time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		changed := s.expireLocked(time.Now())
		s.mu.Unlock()
		if changed {
			s.kickDialer()
		}
	}
}
