package netpeers

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// maxUpgradeLimiters bounds the table of per-IP connection rates.
const maxUpgradeLimiters = 10000

// Eviction protects, of the inbound sessions, at most this many by each
// criterion (and never more than a quarter of them by one), as Bitcoin
// Core's AttemptToEvictConnection does; half of the rest are protected by
// uptime, proven peers first.
const (
	protectUseful  = 4
	protectLatency = 8
)

type slotKind int

const (
	slotPending  slotKind = iota + 1 // a peer session before its handshake ends
	slotSession                      // a peer session online
	slotDownload                     // a /get-blockchaindata download
)

// inboundSlot is one inbound connection counted against the limits.
// Fields are guarded by Server.mu.
type inboundSlot struct {
	ip       netip.Addr
	since    time.Time
	kind     slotKind
	conn     *websocket.Conn // once accepted
	evicted  bool
	released bool
	// greeted: a pending session whose hello has arrived. It is working
	// through its handshake, not idling, and goes after every idle one
	// when room must be made.
	greeted bool
}

// upgradeAllowed takes one connection from ip's rate. Loopback is never
// limited: many nodes and tools share 127.0.0.1.
func (s *Server) upgradeAllowed(ip netip.Addr, now time.Time) bool {
	if ip.IsLoopback() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.upgrades[ip]
	if l == nil {
		if len(s.upgrades) >= maxUpgradeLimiters {
			// Forget the IPs whose allowance is full again: they are
			// as if never seen.
			for k, v := range s.upgrades {
				if v.TokensAt(now) >= float64(s.cfg.UpgradeBurst) {
					delete(s.upgrades, k)
				}
			}
			for k := range s.upgrades {
				if len(s.upgrades) < maxUpgradeLimiters {
					break
				}
				delete(s.upgrades, k)
			}
		}
		l = rate.NewLimiter(s.cfg.UpgradeRate, s.cfg.UpgradeBurst)
		s.upgrades[ip] = l
	}
	return l.AllowN(now, 1)
}

func (s *Server) perIPLimit(ip netip.Addr) int {
	if ip.IsLoopback() {
		return s.cfg.MaxInboundLocal
	}
	return s.cfg.MaxInboundPerIP
}

// reserveInbound counts a new inbound connection from ip, or returns nil
// when the limits refuse it. A download has places of its own, so that
// peers cannot lock /get-blockchaindata out. A peer session starts pending:
// at the pending limits the oldest pending connection that has sent no
// hello (of ip when ip's own limit is reached, else of the IP with most
// pending) is closed to make room, so idle handshakes cannot lock honest
// peers out, nor push out a newcomer that is proving its id; one that has
// sent its hello goes only when no idle one is left. It is refused only
// when no place could be made for it once its handshake ends.
func (s *Server) reserveInbound(ip netip.Addr, session bool, now time.Time) *inboundSlot {
	s.mu.Lock()
	if !session {
		perIP := s.cfg.MaxChainData
		if !ip.IsLoopback() {
			perIP = max(1, s.cfg.MaxChainData/4)
		}
		if s.dlTotal >= s.cfg.MaxChainData || s.dlByIP[ip] >= perIP {
			s.mu.Unlock()
			return nil
		}
		s.dlTotal++
		s.dlByIP[ip]++
		s.mu.Unlock()
		return &inboundSlot{ip: ip, since: now, kind: slotDownload}
	}
	if (s.inByIP[ip] >= s.perIPLimit(ip) && s.evictionVictimLocked(ip) == nil) ||
		(s.inTotal >= s.cfg.MaxInbound && s.evictionVictimLocked(netip.Addr{}) == nil) {
		s.mu.Unlock()
		return nil
	}
	// Loopback is everyone's IP (honest tools and nodes too): its pending
	// connections are bounded by the total only, which gives a newcomer
	// the most time for its hello under a flood.
	pendingPerIP := s.perIPLimit(ip)
	if ip.IsLoopback() {
		pendingPerIP = s.cfg.MaxPendingInbound
	}
	var victim *inboundSlot
	if s.pendingByIP[ip] >= pendingPerIP {
		victim = s.oldestPendingLocked(ip)
	} else if len(s.pendingIn) >= s.cfg.MaxPendingInbound {
		var busiest netip.Addr
		for a, n := range s.pendingByIP {
			if n > s.pendingByIP[busiest] {
				busiest = a
			}
		}
		victim = s.oldestPendingLocked(busiest)
	}
	var victimConn *websocket.Conn
	if victim != nil {
		victim.evicted = true
		victimConn = victim.conn
		s.releaseLocked(victim)
	}
	slot := &inboundSlot{ip: ip, since: now, kind: slotPending}
	s.pendingIn[slot] = struct{}{}
	s.pendingByIP[ip]++
	s.mu.Unlock()
	if victimConn != nil {
		s.log.Debug("idle handshake closed to make room", "remote", victim.ip, "since", victim.since)
		_ = victimConn.CloseNow()
	}
	return slot
}

// oldestPendingLocked is the pending slot of ip to close for a newcomer:
// the oldest that has sent no hello, else the oldest.
func (s *Server) oldestPendingLocked(ip netip.Addr) *inboundSlot {
	var oldest *inboundSlot
	for v := range s.pendingIn {
		if v.ip != ip {
			continue
		}
		if oldest == nil || (oldest.greeted && !v.greeted) ||
			(oldest.greeted == v.greeted && v.since.Before(oldest.since)) {
			oldest = v
		}
	}
	return oldest
}

// greeted marks a pending slot whose session's hello has arrived.
func (s *Server) greeted(slot *inboundSlot) {
	if slot == nil {
		return
	}
	s.mu.Lock()
	slot.greeted = true
	s.mu.Unlock()
}

// slotConn records the accepted connection of a slot; false when the slot
// was evicted meanwhile.
func (s *Server) slotConn(slot *inboundSlot, c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot.conn = c
	return !slot.evicted
}

// promoteLocked turns a pending slot into an online session's place,
// evicting an unprotected inbound session when every place is taken (of
// the newcomer's IP when that IP's places are the ones taken); it returns
// errBusy when there is none.
func (s *Server) promoteLocked(slot *inboundSlot, now time.Time) error {
	if slot.kind != slotPending {
		return nil
	}
	var among netip.Addr // every IP
	if s.inByIP[slot.ip] >= s.perIPLimit(slot.ip) {
		among = slot.ip
	}
	if among.IsValid() || s.inTotal >= s.cfg.MaxInbound {
		victim := s.evictionVictimLocked(among)
		if victim == nil {
			return errBusy
		}
		s.log.Info("inbound peer evicted to make room", "peer", victim.ref.ID, "addr", victim.ref.Addr, "since", victim.since)
		victim.shutdown(websocket.StatusTryAgainLater, "evicted", "", "evicted to make room for a newcomer")
		s.releaseLocked(victim.slot)
	}
	s.releaseLocked(slot)
	slot.released = false
	slot.kind = slotSession
	slot.since = now
	s.inTotal++
	s.inByIP[slot.ip]++
	return nil
}

func (s *Server) releaseInbound(slot *inboundSlot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked(slot)
}

func (s *Server) releaseLocked(slot *inboundSlot) {
	if slot == nil || slot.released {
		return
	}
	slot.released = true
	dec := func(m map[netip.Addr]int) {
		if m[slot.ip]--; m[slot.ip] <= 0 {
			delete(m, slot.ip)
		}
	}
	switch slot.kind {
	case slotPending:
		delete(s.pendingIn, slot)
		dec(s.pendingByIP)
	case slotSession:
		s.inTotal--
		dec(s.inByIP)
	case slotDownload:
		s.dlTotal--
		dec(s.dlByIP)
	}
}

// evictionVictimLocked picks the inbound session (from ip, when valid) to
// close for a newcomer, or nil when every one is protected. Protected are
// the peers that most recently delivered something valid, those with the
// lowest latency, and half of the rest (rounded up) by uptime, proven peers
// first: an attacker can open many sessions, but not cheaply be useful,
// near and old. Of the others, the youngest of the largest network group
// goes, so that one network cannot hold every place.
func (s *Server) evictionVictimLocked(ip netip.Addr) *session {
	var cands []*session
	for _, ss := range s.peerSet().list {
		if ip.IsValid() && ss.remote.Addr() != ip {
			continue
		}
		if ss.inbound && ss.slot != nil && ss.slot.kind == slotSession && !ss.slot.released && !ss.closing.Load() {
			cands = append(cands, ss)
		}
	}
	n := len(cands)
	cands = protect(cands, min(protectUseful, n/4), func(ss *session) bool { return !ss.usefulAt.IsZero() },
		func(a, b *session) int { return b.usefulAt.Compare(a.usefulAt) })
	cands = protect(cands, min(protectLatency, n/4), func(ss *session) bool { return ss.entry != nil && ss.entry.minRTT > 0 },
		func(a, b *session) int { return cmp.Compare(a.entry.minRTT, b.entry.minRTT) })
	cands = protect(cands, (len(cands)+1)/2, func(*session) bool { return true },
		func(a, b *session) int {
			if a.proven != b.proven {
				if a.proven {
					return -1
				}
				return 1
			}
			return a.since.Compare(b.since)
		})
	if len(cands) == 0 {
		return nil
	}
	groups := map[string][]*session{}
	for _, ss := range cands {
		g := netGroup(ss.remote.Addr())
		groups[g] = append(groups[g], ss)
	}
	youngest := func(ss []*session) *session {
		return slices.MaxFunc(ss, func(a, b *session) int { return a.since.Compare(b.since) })
	}
	var pick []*session
	for _, g := range groups {
		if pick == nil || len(g) > len(pick) || (len(g) == len(pick) && youngest(g).since.After(youngest(pick).since)) {
			pick = g
		}
	}
	return youngest(pick)
}

// protect removes from cands up to k sessions that qualify, first by order.
func protect(cands []*session, k int, qualifies func(*session) bool, order func(a, b *session) int) []*session {
	if k <= 0 {
		return cands
	}
	sorted := slices.Clone(cands)
	slices.SortStableFunc(sorted, order)
	kept := map[*session]bool{}
	for _, ss := range sorted {
		if len(kept) == k {
			break
		}
		if qualifies(ss) {
			kept[ss] = true
		}
	}
	out := cands[:0:0]
	for _, ss := range cands {
		if !kept[ss] {
			out = append(out, ss)
		}
	}
	return out
}

// netGroup is the network an address belongs to for eviction: its /16
// (IPv4) or /32 (IPv6); all of loopback is one group.
func netGroup(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.Is4():
		p, _ := ip.Prefix(16)
		return p.String()
	default:
		p, _ := ip.Prefix(32)
		return p.String()
	}
}
