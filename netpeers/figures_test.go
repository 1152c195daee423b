package netpeers

import (
	"testing"

	"github.com/meshchain/meshchain/internal/attackfig"
)

// honestPings brings an honest peer online at s and has m ping s through
// it while the attack runs (the meter answers s's pings too).
func honestPings(t *testing.T, s *Server, h *testHandler, m *attackfig.Meter) *rawPeer {
	t.Helper()
	r := onlineRaw(t, s, h)
	m.Ping(r.c)
	return r
}
