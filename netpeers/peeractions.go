package netpeers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// userBanPrefix starts the penalty text of a ban the user asked for; a ban
// kept in the stored book is known as the user's again at the next start.
const userBanPrefix = "banned by the user"

// userBan is a ban the user asked for, with what it refuses besides the
// address: the node id (proven) and the IP (never a loopback one).
type userBan struct {
	ban
	nodeID string
	ip     netip.Addr
}

// BanInfo is one refusal in force: a ban the user asked for (ByUser) or a
// penalty for a broken rule, by address.
type BanInfo struct {
	Addr   string
	NodeID string // also refused, when proven
	IP     string // also refused (never a loopback IP); empty when not
	Reason string
	Until  time.Time
	ByUser bool
}

// sessionAtLocked finds the online session a user's address names: the
// book entry's (the address shown for the peer), else a session known by
// that address, its connection or its node id.
func (s *Server) sessionAtLocked(addr string) *session {
	if e := s.book[addr]; e != nil && e.sess != nil && !e.sess.closing.Load() {
		return e.sess
	}
	for _, ss := range s.peerSet().list {
		if ss.closing.Load() {
			continue
		}
		if ss.ref.Addr == addr || ss.connKey() == addr || ss.ref.ID == addr {
			return ss
		}
	}
	return nil
}

// waitEnded waits for a session to close and leave the registry.
func waitEnded(ctx context.Context, ss *session) error {
	select {
	case <-ss.ended:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("netpeers: session with %s still closing: %w", ss.ref.Addr, ctx.Err())
	}
}

// userAddr normalises an address given by the user; a node id is accepted
// as it is, for sessions known by it.
func userAddr(addr string) (string, error) {
	if isHex(addr, 64) {
		return addr, nil
	}
	a, err := normalizeAddr(addr)
	if err != nil {
		return "", fmt.Errorf("netpeers: address %q: %w", addr, err)
	}
	return a, nil
}

// Disconnect closes the session with the peer at addr (its address as
// Peers shows it) and returns once it is closed. The peer stays in the
// book: the dialer may dial it again after the usual backoff, and it may
// dial us. ErrUnknownPeer when no session is online there.
func (s *Server) Disconnect(ctx context.Context, addr string) error {
	key, err := userAddr(addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	ss := s.sessionAtLocked(key)
	s.mu.Unlock()
	if ss == nil {
		return fmt.Errorf("netpeers: disconnect %s: %w", key, ErrUnknownPeer)
	}
	s.log.Info("disconnecting peer", "peer", ss.ref.ID, "addr", ss.ref.Addr)
	ss.shutdown(websocket.StatusNormalClosure, "disconnected", "", "disconnected by the user")
	return waitEnded(ctx, ss)
}

// Ban refuses the peer at addr for d: its address, its node id when proven
// and its IP unless loopback (many nodes and tools share 127.0.0.1, so on
// loopback the address and node id carry the ban). Its session, if any, is
// closed before Ban returns. The ban is kept in the book's penalty, so it
// outlasts a restart for a dialable address.
func (s *Server) Ban(ctx context.Context, addr string, d time.Duration, reason string) (BanInfo, error) {
	key, err := userAddr(addr)
	if err != nil {
		return BanInfo{}, err
	}
	if d <= 0 {
		return BanInfo{}, fmt.Errorf("netpeers: ban %s: duration %v is not positive", key, d)
	}
	text := userBanPrefix
	if r := strings.TrimSpace(reason); r != "" {
		text += ": " + r
	}
	now := time.Now()
	ub := userBan{ban: ban{until: now.Add(d), reason: text}}
	s.mu.Lock()
	ss := s.sessionAtLocked(key)
	if e := s.book[key]; e != nil && isHex(e.nodeID, 64) {
		ub.nodeID = e.nodeID
	}
	if ss != nil {
		if ss.proven {
			ub.nodeID = ss.ref.ID
		}
		ub.ip = ss.remote.Addr()
	} else if ap, err := netip.ParseAddrPort(key); err == nil {
		ub.ip = ap.Addr()
	}
	if ub.ip.IsLoopback() {
		ub.ip = netip.Addr{}
	}
	addBan(s.bansAddr, key, ub.ban, s.banLimit)
	if ub.nodeID != "" {
		addBan(s.bansID, ub.nodeID, ub.ban, s.banLimit)
	}
	if ub.ip.IsValid() {
		addBan(s.bansIP, ub.ip, ub.ban, s.banLimit)
	}
	s.userBans[key] = ub
	for _, e := range s.book {
		if e.addr == key || (ub.nodeID != "" && e.nodeID == ub.nodeID) {
			e.penalty, e.penaltyUntil = ub.reason, ub.until
			s.touchLocked(e, now)
		}
	}
	s.mu.Unlock()
	s.markDirty()
	info := ub.info(key)
	s.log.Info("peer banned", "addr", key, "node_id", ub.nodeID, "ip", info.IP, "until", ub.until, "reason", ub.reason)
	if ss != nil {
		refusal := ReasonPenalized + ": " + refusedError{ub.ban}.Error()
		ss.shutdown(websocket.StatusPolicyViolation, refusal, refusal, ub.reason)
		if err := waitEnded(ctx, ss); err != nil {
			return info, err
		}
	}
	return info, nil
}

func (ub userBan) info(addr string) BanInfo {
	b := BanInfo{Addr: addr, NodeID: ub.nodeID, Reason: ub.reason, Until: ub.until, ByUser: true}
	if ub.ip.IsValid() {
		b.IP = ub.ip.String()
	}
	return b
}

// Unban lifts the user's ban or a penalty on addr (and on the node id and
// IP refused with it) and lets the dialer try it at once. ErrNotBanned
// when nothing refuses addr.
func (s *Server) Unban(addr string) error {
	key, err := userAddr(addr)
	if err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	found := false
	ub, ok := s.userBans[key]
	if ok {
		delete(s.userBans, key)
		found = true
		if ub.nodeID != "" {
			delete(s.bansID, ub.nodeID)
		}
		if ub.ip.IsValid() {
			delete(s.bansIP, ub.ip)
		}
	}
	if b, ok := s.bansAddr[key]; ok {
		delete(s.bansAddr, key)
		found = found || b.until.After(now)
	}
	id := ub.nodeID
	if e := s.book[key]; e != nil {
		if e.penaltyUntil.After(now) {
			found = true
		}
		if id == "" {
			id = e.nodeID
		}
	}
	if id != "" {
		delete(s.bansID, id)
	}
	for _, e := range s.book {
		if e.addr == key || (id != "" && e.nodeID == id) {
			e.penalty, e.penaltyUntil = "", time.Time{}
			e.nextDial = now
			s.touchLocked(e, now)
		}
	}
	s.mu.Unlock()
	if !found {
		return fmt.Errorf("netpeers: unban %s: %w", key, ErrNotBanned)
	}
	s.markDirty()
	s.kickDialer()
	s.log.Info("peer unbanned", "addr", key)
	return nil
}

// Bans lists the refusals in force by address: the user's bans and the
// penalties of addresses in the book, the longest-lasting first.
func (s *Server) Bans() []BanInfo {
	now := time.Now()
	s.mu.Lock()
	out := make([]BanInfo, 0, len(s.userBans))
	for addr, ub := range s.userBans {
		if ub.until.After(now) {
			out = append(out, ub.info(addr))
		}
	}
	for addr, e := range s.book {
		if _, user := s.userBans[addr]; user || !e.penaltyUntil.After(now) {
			continue
		}
		out = append(out, BanInfo{Addr: addr, NodeID: e.nodeID, Reason: e.penalty, Until: e.penaltyUntil})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b BanInfo) int {
		if c := b.Until.Compare(a.Until); c != 0 {
			return c
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	return out
}

// maxForgotten bounds the addresses remembered as forgotten in one run.
const maxForgotten = maxBook

// Forget removes addr from the address book and the store and stops
// dialing it; a session online there is closed before Forget returns. In
// this run gossip and peers' announced listen addresses do not bring it
// back; after a restart it is not loaded again, though a peer may gossip
// it anew. Connect, or a configured peer address, adds it again.
func (s *Server) Forget(ctx context.Context, addr string) error {
	key, err := normalizeAddr(addr)
	if err != nil {
		return fmt.Errorf("netpeers: forget %q: %w", addr, err)
	}
	s.saveMu.Lock()
	s.mu.Lock()
	e := s.book[key]
	if e == nil {
		s.mu.Unlock()
		s.saveMu.Unlock()
		return fmt.Errorf("netpeers: forget %s: %w", key, ErrUnknownAddr)
	}
	delete(s.book, key)
	if len(s.forgotten) >= maxForgotten {
		for k := range s.forgotten {
			delete(s.forgotten, k)
			break
		}
	}
	s.forgotten[key] = struct{}{}
	ss := e.sess
	s.mu.Unlock()
	var serr error
	if s.cfg.Book != nil {
		serr = s.cfg.Book.DeletePeer(key)
	}
	s.saveMu.Unlock()
	s.log.Info("address forgotten", "addr", key)
	if ss != nil {
		ss.shutdown(websocket.StatusNormalClosure, "forgotten", "", "forgotten by the user")
		if err := waitEnded(ctx, ss); err != nil {
			serr = errors.Join(serr, err)
		}
	}
	if serr != nil {
		return fmt.Errorf("netpeers: forget %s: %w", key, serr)
	}
	return nil
}

// NormalizeAddr checks a "host:port" address and returns the form the
// address book keys it by (IP literals canonical, host names lower case).
func NormalizeAddr(addr string) (string, error) { return normalizeAddr(addr) }
