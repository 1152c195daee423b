package netpeers

import (
	"errors"
	"maps"
)

// The peer set has one owner: the peer loop, a goroutine of Run, as
// go-ethereum's p2p.Server run loop owns its peer map. Sessions ask it to
// attach them (it applies the duplicate rule and the inbound limits) and
// to detach them, by messages with a reply channel; nothing else writes
// the set. After each change the loop publishes the set as an immutable
// peerSet through Server.peers, so that Broadcast and Send read it
// without a lock or a message. Peers asks the loop, so that its answer is
// one state of the set, in its order of changes.
//
// The loop never waits on a session: closing one is a signal its writer
// acts on, and events go to a queue the dispatcher empties. Callers select
// on loopDone, so none waits on a loop that has stopped.
//
// The address book, bans, dials in flight, inbound places and the event
// queue are still guarded by Server.mu. attach and detach change them
// together with the set, so the loop takes mu for each change and
// publishes the new set before it lets mu go: code holding mu sees a set
// and a book that agree.

// peerSet is one state of the online sessions; never changed once published.
type peerSet struct {
	byID map[string]*session // PeerRef.ID -> online session
	list []*session          // the same sessions, for iteration
}

var emptyPeerSet = &peerSet{byID: map[string]*session{}}

// peerSet is the last published set of online sessions.
func (s *Server) peerSet() *peerSet { return s.peers.Load() }

// publishLocked makes byID (the loop's new map, not to be changed
// afterwards) the published set. Only the loop calls it, holding mu.
func (s *Server) publishLocked(byID map[string]*session) {
	list := make([]*session, 0, len(byID))
	for _, ss := range byID {
		list = append(list, ss)
	}
	s.peers.Store(&peerSet{byID: byID, list: list})
}

// withSession is the set with ss online under key, replacing any other.
func withSession(set *peerSet, key string, ss *session) map[string]*session {
	m := maps.Clone(set.byID)
	m[key] = ss
	return m
}

// withoutSession is the set without key.
func withoutSession(set *peerSet, key string) map[string]*session {
	m := maps.Clone(set.byID)
	delete(m, key)
	return m
}

type attachResult struct {
	online <-chan struct{}
	err    error
}

type attachReq struct {
	ss    *session
	reply chan attachResult // buffered: the loop never waits for the asker
}

type detachReq struct {
	ss   *session
	done chan struct{}
}

type peersReq struct {
	reply chan []PeerInfo // buffered
}

// peerLoop owns the peer set until quit closes; Run closes quit once every
// session has ended, so no attach or detach is left unanswered.
func (s *Server) peerLoop(quit <-chan struct{}) {
	defer close(s.loopDone)
	for {
		select {
		case r := <-s.attachc:
			online, err := s.attachInLoop(r.ss)
			r.reply <- attachResult{online, err}
		case r := <-s.detachc:
			s.detachInLoop(r.ss)
			close(r.done)
		case r := <-s.peersc:
			r.reply <- s.peersNow()
		case <-quit:
			return
		}
	}
}

// loopStarted reports whether the peer loop has started; it stops only
// after every session has ended.
func (s *Server) loopStarted() bool {
	select {
	case <-s.started:
		return true
	default:
		return false
	}
}

// attach asks the loop to make a handshaken session online (see
// attachInLoop).
func (s *Server) attach(ss *session) (<-chan struct{}, error) {
	r := attachReq{ss: ss, reply: make(chan attachResult, 1)}
	if !s.loopStarted() {
		return nil, ErrClosed
	}
	select {
	case s.attachc <- r:
	case <-s.loopDone:
		return nil, ErrClosed
	}
	res := <-r.reply
	return res.online, res.err
}

// detach asks the loop to remove an ended session (see detachInLoop) and
// returns once it has.
func (s *Server) detach(ss *session) {
	r := detachReq{ss: ss, done: make(chan struct{})}
	if !s.loopStarted() {
		return
	}
	select {
	case s.detachc <- r:
		<-r.done
	case <-s.loopDone:
	}
}

// errLoopStopped is never returned to callers; Peers answers on its own then.
var errLoopStopped = errors.New("netpeers: peer loop stopped")

// peersFromLoop asks the loop for the peer list.
func (s *Server) peersFromLoop() ([]PeerInfo, error) {
	if !s.loopStarted() {
		return nil, errLoopStopped
	}
	r := peersReq{reply: make(chan []PeerInfo, 1)}
	select {
	case s.peersc <- r:
		return <-r.reply, nil
	case <-s.loopDone:
		return nil, errLoopStopped
	}
}
