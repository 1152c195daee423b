package netpeers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxBook bounds the address book, so that neither gossip nor inbound
// peers announcing ever new listen addresses can make it grow without end.
const maxBook = 2000

// maxPeersAnswer is the most addresses a peers frame carries.
const maxPeersAnswer = 1000

type entrySource int

const (
	sourceLearned entrySource = iota
	sourceStored
	sourceInbound
	sourceConfigured
)

// entry is one address in the book. All fields are guarded by Server.mu.
type entry struct {
	addr   string
	nodeID string
	source entrySource
	// transient marks an inbound peer that announced no listen address: it
	// cannot be dialled and is forgotten when its session ends.
	transient bool
	self      bool     // the address turned out to be this node
	sess      *session // the online session at this address, if any
	inbound   bool
	proven    bool // nodeID was proven by its last session
	// claimedID is the node_id its last hello named: nodeID when proven;
	// else only a claim, shown but never used (nodeID is the connection).
	claimedID string

	lastRTT, smoothRTT, minRTT time.Duration
	height                     uint64
	tip, work                  string

	status       string // last computed status, to stamp lastChange
	lastChange   time.Time
	lastSeen     time.Time
	failures     int
	penalty      string
	penaltyUntil time.Time
	nextDial     time.Time

	agent       string // from its last hello
	lastErr     string // why the last dial failed, in plain words
	lastErrRaw  string
	lastErrAt   time.Time
	lastAttempt time.Time // when the last dial started
}

func (e *entry) dialable() bool { return !e.transient && !e.self }

// dialID is the node id a dial to the entry would reach, as far as we
// know: the id found there when we dialled it. A listen address is only
// what an inbound peer said, so its id refuses nothing before the dial;
// the handshake refuses a penalised node whatever address it answers at.
func (e *entry) dialID() string {
	if e.inbound {
		return ""
	}
	return e.nodeID
}

type ban struct {
	until  time.Time
	reason string
}

// normalizeAddr checks a "host:port" address and puts IP literals in
// canonical form, so one address has one book key.
func normalizeAddr(a string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(a))
	if err != nil {
		return "", err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return "", errors.New("no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return "", errors.New("zoned addresses are not supported")
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(p)).String(), nil
	}
	host = strings.ToLower(host)
	if len(host) > 253 {
		return "", errors.New("host name too long")
	}
	for _, c := range host {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return "", fmt.Errorf("bad host name %q", host)
		}
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

// hostUnspecified reports whether addr's host is 0.0.0.0 or ::, which nobody can dial.
func hostUnspecified(addr string) bool {
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && ap.Addr().IsUnspecified()
}

// dialableListen turns a hello's listen address into one we can dial: an
// empty or unspecified host ("0.0.0.0:8333", ":8333") is replaced by the IP
// the session comes from. So is any other host when the session does not
// come from loopback: only the peer's own IP is believed, because the
// address is a key of penalties (naming an honest node's address and then
// breaking a rule would get that node refused) and tells the node which
// network a peer is in.
func dialableListen(listen string, remote netip.Addr) (string, bool) {
	if listen == "" || len(listen) > 300 {
		return "", false
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", false
	}
	ip, ipErr := netip.ParseAddr(host)
	unspecified := host == "" || (ipErr == nil && ip.IsUnspecified())
	foreign := remote.IsValid() && !remote.IsLoopback() && (ipErr != nil || ip.Unmap() != remote.Unmap())
	if unspecified || foreign {
		if !remote.IsValid() {
			return "", false
		}
		host = remote.Unmap().String()
	}
	addr, err := normalizeAddr(net.JoinHostPort(host, port))
	if err != nil {
		return "", false
	}
	return addr, true
}

// isSelfAddrLocked reports whether addr is our own listen address.
func (s *Server) isSelfAddrLocked(addr string) bool {
	if s.ln == nil {
		return false
	}
	own := s.ln.Addr().String()
	if addr == own {
		return true
	}
	ownAP, err := netip.ParseAddrPort(own)
	if err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != strconv.Itoa(int(ownAP.Port())) {
		return false
	}
	ownIP := ownAP.Addr().Unmap()
	if host == "localhost" {
		return ownIP.IsLoopback() || ownIP.IsUnspecified()
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	if ip == ownIP {
		return true
	}
	// A wildcard listener is reached through every loopback address.
	return ownIP.IsUnspecified() && (ip.IsLoopback() || ip.IsUnspecified())
}

// addAddrLocked puts addr in the book (or upgrades its source) and returns
// its entry; nil when it is our own address or the book is full.
func (s *Server) addAddrLocked(addr string, src entrySource, now time.Time) *entry {
	if src == sourceConfigured {
		delete(s.forgotten, addr) // the user gives it again
	}
	if e := s.book[addr]; e != nil {
		if src > e.source {
			e.source = src
		}
		if e.transient && src != sourceLearned {
			e.transient = false
		}
		return e
	}
	if s.isSelfAddrLocked(addr) {
		return nil
	}
	if len(s.book) >= s.bookLimit {
		// Gossip and the stored book (nearest first) fill free places
		// only; what the user configures gets in.
		if src <= sourceStored {
			return nil
		}
		s.makeRoomLocked()
	}
	e := &entry{addr: addr, source: src, lastChange: now}
	s.book[addr] = e
	s.touchLocked(e, now)
	return e
}

// makeRoomLocked forgets the least useful entry to make room in a full
// book: never a configured address, an online peer or one being dialled;
// the one with the most failures, then the longest unseen. It reports
// whether it found one.
func (s *Server) makeRoomLocked() bool {
	var victim *entry
	for _, e := range s.book {
		if e.source == sourceConfigured || e.sess != nil || s.dialing[e.addr] != nil {
			continue
		}
		if victim == nil || e.failures > victim.failures ||
			(e.failures == victim.failures && e.lastSeen.Before(victim.lastSeen)) {
			victim = e
		}
	}
	if victim == nil {
		return false
	}
	delete(s.book, victim.addr)
	s.markDirty()
	return true
}

func (s *Server) addAddr(addr string, src entrySource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addAddrLocked(addr, src, time.Now())
}

// learn adds addresses from a peers frame and wakes the dialer.
func (s *Server) learn(addrs []string) {
	now := time.Now()
	added := 0
	s.mu.Lock()
	for i, a := range addrs {
		if i >= maxPeersAnswer {
			break
		}
		addr, err := normalizeAddr(a)
		if err != nil || hostUnspecified(addr) {
			continue
		}
		if _, banned := s.bansAddr[addr]; banned {
			continue
		}
		if _, forgotten := s.forgotten[addr]; forgotten {
			continue
		}
		if s.book[addr] == nil && s.addAddrLocked(addr, sourceLearned, now) != nil {
			added++
		}
	}
	s.mu.Unlock()
	if added > 0 {
		s.log.Debug("learned addresses", "count", added)
		s.kickDialer()
	}
}

// peerAddrsFor answers get_peers: addresses seen online, nearest first,
// never the asker's own.
func (s *Server) peerAddrsFor(asker *session) []string {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var es []*entry
	for _, e := range s.book {
		if !e.dialable() || e.lastSeen.IsZero() || e.penaltyUntil.After(now) {
			continue
		}
		if e.addr == asker.ref.Addr || e.addr == asker.dialAddr || (e.nodeID != "" && e.nodeID == asker.ref.ID) {
			continue
		}
		es = append(es, e)
	}
	s.sortEntriesLocked(es, now)
	out := make([]string, 0, min(len(es), maxPeersAnswer))
	for _, e := range es {
		if len(out) == maxPeersAnswer {
			break
		}
		out = append(out, e.addr)
	}
	return out
}

// statusLocked computes an entry's status now. A redial of an address
// that failed before or was online is no change of status: the peer stays
// offline while the dialer retries it, so its LastChange says how long it
// has been offline, not when the last attempt began (PeerInfo.Dialing and
// LastAttempt say that). Connecting is a first dial, or one the user asked
// for with Connect.
func (s *Server) statusLocked(e *entry, now time.Time) string {
	switch {
	case e.sess != nil:
		return StatusOnline
	case e.penaltyUntil.After(now):
		return StatusPenalised
	}
	if att := s.dialing[e.addr]; att != nil && (att.user || (e.failures == 0 && e.lastSeen.IsZero())) {
		return StatusConnecting
	}
	return StatusOffline
}

// touchLocked stamps lastChange when the entry's status changed.
func (s *Server) touchLocked(e *entry, now time.Time) {
	if st := s.statusLocked(e, now); st != e.status {
		e.status = st
		e.lastChange = now
		s.markDirty()
	}
}

// sortEntriesLocked orders entries online first, then by smoothed latency
// (unmeasured last), then by address.
func (s *Server) sortEntriesLocked(es []*entry, now time.Time) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		ra, rb := StatusRank(s.statusLocked(a, now)), StatusRank(s.statusLocked(b, now))
		if ra != rb {
			return ra < rb
		}
		if la, lb := latencyKey(a), latencyKey(b); la != lb {
			return la < lb
		}
		return a.addr < b.addr
	})
}

func latencyKey(e *entry) time.Duration {
	if e.smoothRTT > 0 {
		return e.smoothRTT
	}
	return 1<<63 - 1
}

// Peers lists the address book: online peers first, then by smoothed
// latency (unmeasured last), then the offline ones. While Run runs, the
// peer loop answers, between two changes of the peer set.
func (s *Server) Peers() []PeerInfo {
	if out, err := s.peersFromLoop(); err == nil {
		return out
	}
	return s.peersNow()
}

// peersNow is Peers, from the calling goroutine.
func (s *Server) peersNow() []PeerInfo {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	online := s.peerSet().byID
	es := make([]*entry, 0, len(s.book))
	for _, e := range s.book {
		if e.self {
			continue
		}
		// A node online through another address is shown once.
		if e.sess == nil && e.nodeID != "" && online[e.nodeID] != nil {
			continue
		}
		es = append(es, e)
	}
	s.sortEntriesLocked(es, now)
	out := make([]PeerInfo, 0, len(es))
	for _, e := range es {
		st := s.statusLocked(e, now)
		info := PeerInfo{
			Addr: e.addr, NodeID: e.nodeID, Status: st, Inbound: e.inbound,
			Dialing: s.dialing[e.addr] != nil,
			LastRTT: e.lastRTT, SmoothRTT: e.smoothRTT, MinRTT: e.minRTT,
			Height: e.height, Tip: e.tip, Work: e.work,
			LastChange: e.lastChange, Failures: e.failures, Proven: e.proven, ClaimedID: e.claimedID,
			Agent:     e.agent,
			LastError: e.lastErr, LastErrorRaw: e.lastErrRaw, LastErrorAt: e.lastErrAt,
			LastAttempt: e.lastAttempt,
		}
		if st == StatusPenalised {
			info.Penalty = e.penalty
		}
		if e.sess != nil {
			info.ConnectedSince = e.sess.since
			info.FramesIn, info.BytesIn = e.sess.framesIn.Load(), e.sess.bytesIn.Load()
			info.FramesOut, info.BytesOut = e.sess.framesOut.Load(), e.sess.bytesOut.Load()
		} else if !info.Dialing && e.dialable() {
			info.NextDial = e.nextDial
			if e.penaltyUntil.After(info.NextDial) {
				info.NextDial = e.penaltyUntil
			}
			if info.NextDial.Before(now) {
				info.NextDial = now // due: the dialer takes it when a place is free
			}
		}
		out = append(out, info)
	}
	return out
}

// backoff is the delay before redial number n (n >= 1): RedialMin doubling
// up to RedialMax, with +-25% jitter so that nodes do not redial in step.
func (s *Server) backoff(n int) time.Duration {
	d := s.cfg.RedialMin
	for i := 1; i < n && d < s.cfg.RedialMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.RedialMax)
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}

// bannedLocked reports whether a node id, address or IP is refused now.
func (s *Server) bannedLocked(id, addr string, ip netip.Addr, now time.Time) (ban, bool) {
	if b, ok := s.bansID[id]; ok && id != "" && b.until.After(now) {
		return b, true
	}
	if b, ok := s.bansAddr[addr]; ok && addr != "" && b.until.After(now) {
		return b, true
	}
	if ip.IsValid() && !ip.IsLoopback() {
		if b, ok := s.bansIP[ip]; ok && b.until.After(now) {
			return b, true
		}
	}
	return ban{}, false
}

// ipBanned reports whether connections from ip are refused; never for loopback.
func (s *Server) ipBanned(ip netip.Addr, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bannedLocked("", "", ip, now)
	return b.until, ok
}

// expireLocked forgets bans that ended and updates the entries they held.
func (s *Server) expireLocked(now time.Time) (changed bool) {
	for k, b := range s.bansID {
		if !b.until.After(now) {
			delete(s.bansID, k)
		}
	}
	for k, b := range s.bansAddr {
		if !b.until.After(now) {
			delete(s.bansAddr, k)
		}
	}
	for k, b := range s.bansIP {
		if !b.until.After(now) {
			delete(s.bansIP, k)
		}
	}
	for k, b := range s.userBans {
		if !b.until.After(now) {
			delete(s.userBans, k)
		}
	}
	for addr, e := range s.book {
		if e.penalty != "" && !e.penaltyUntil.After(now) {
			e.penalty, e.penaltyUntil = "", time.Time{}
			changed = true
		}
		// Gossip (or a stored address) that never led anywhere is forgotten.
		if e.source <= sourceStored && e.lastSeen.IsZero() && e.failures >= maxLearnedFailures &&
			e.sess == nil && s.dialing[addr] == nil {
			delete(s.book, addr)
			s.markDirty()
			continue
		}
		s.touchLocked(e, now)
	}
	return changed
}

// maxLearnedFailures is how many failed dials a gossiped or stored address
// that was never online gets before it leaves the book.
const maxLearnedFailures = 8

// loadRecords fills the book from the store at New.
func (s *Server) loadRecords(recs []PeerRecord, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		addr, err := normalizeAddr(r.Addr)
		if err != nil || hostUnspecified(addr) {
			continue
		}
		e := s.addAddrLocked(addr, sourceStored, now)
		if e == nil {
			continue
		}
		e.nodeID = r.NodeID
		e.lastRTT, e.smoothRTT, e.minRTT = r.LastRTT, r.SmoothRTT, r.MinRTT
		e.lastSeen = r.LastSeen
		e.failures = r.Failures
		if r.PenaltyUntil.After(now) {
			e.penalty, e.penaltyUntil = r.Penalty, r.PenaltyUntil
			b := ban{until: r.PenaltyUntil, reason: r.Penalty}
			s.bansAddr[addr] = b
			if r.NodeID != "" {
				s.bansID[r.NodeID] = b
			}
			if strings.HasPrefix(r.Penalty, userBanPrefix) {
				s.userBans[addr] = userBan{ban: b, nodeID: r.NodeID}
			}
		}
		e.status = ""
		s.touchLocked(e, now)
		if !r.LastChange.IsZero() && e.status == r.Status {
			e.lastChange = r.LastChange
		}
	}
}

// records is the persistent part of the book, nearest first.
func (s *Server) records() []PeerRecord {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	es := make([]*entry, 0, len(s.book))
	for _, e := range s.book {
		if e.dialable() {
			es = append(es, e)
		}
	}
	s.sortEntriesLocked(es, now)
	out := make([]PeerRecord, 0, len(es))
	for _, e := range es {
		id := e.nodeID
		if !isHex(id, 64) {
			id = "" // an unproven peer's connection is no id to keep
		}
		out = append(out, PeerRecord{
			Addr: e.addr, NodeID: id,
			LastRTT: e.lastRTT, SmoothRTT: e.smoothRTT, MinRTT: e.minRTT,
			Status: s.statusLocked(e, now), LastChange: e.lastChange,
			Failures: e.failures, Penalty: e.penalty,
			PenaltyUntil: e.penaltyUntil, LastSeen: e.lastSeen,
		})
	}
	return out
}

func (s *Server) saveBook() {
	if s.cfg.Book == nil {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if err := s.cfg.Book.SavePeers(s.records()...); err != nil {
		s.log.Warn("address book not saved", "err", err)
	}
}
