package netpeers

import (
	"fmt"
	"testing"
)

// BenchmarkBroadcastSet is what Broadcast pays to get its list of 100
// online sessions, while another goroutine takes s.mu over and over (as
// gotPong and Peers do): one atomic load of the published set.
func BenchmarkBroadcastSet(b *testing.B) {
	s := benchSetServer(b)
	stop := benchMuLoad(s)
	defer close(stop)
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		for _, ss := range s.peerSet().list {
			if !ss.closing.Load() {
				n++
			}
		}
	}
	if n != 100*b.N {
		b.Fatal(n)
	}
}

func benchSetServer(b *testing.B) *Server {
	s, err := New(testConfig(), newTestHandler())
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]*session{}
	for i := range 100 {
		id := fmt.Sprint(i)
		m[id] = &session{ref: PeerRef{ID: id}}
	}
	s.mu.Lock()
	s.publishLocked(m)
	s.mu.Unlock()
	return s
}

// benchMuLoad takes s.mu in a loop, holding it about as long as a
// gotPong does, until the returned channel closes.
func benchMuLoad(s *Server) chan struct{} {
	stop := make(chan struct{})
	go func() {
		x := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			s.mu.Lock()
			for i := 0; i < 200; i++ {
				x += i
			}
			s.mu.Unlock()
		}
	}()
	return stop
}
