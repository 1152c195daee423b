package node

import (
	"math/big"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
)

func TestRankSyncPeers(t *testing.T) {
	ms := time.Millisecond
	peer := func(id, addr string, rtt time.Duration, work int64, status string) netpeers.PeerInfo {
		return netpeers.PeerInfo{NodeID: id, Addr: addr, SmoothRTT: rtt, Work: big.NewInt(work).String(), Status: status}
	}
	first := func(int) int { return 0 }
	last := func(n int) int { return n - 1 }
	peers := []netpeers.PeerInfo{
		peer("far", "10.0.9.1:8333", 90*ms, 50, "online"),
		peer("near", "10.0.1.1:8333", 10*ms, 50, "online"),
		peer("tie", "10.0.2.1:8333", 10*ms+900*time.Microsecond, 50, "online"),
		peer("behind", "10.0.3.1:8333", 1*ms, 5, "online"),
		peer("off", "10.0.4.1:8333", 1*ms, 99, "offline"),
		peer("unmeasured", "10.0.5.1:8333", 0, 99, "online"),
		peer("same24a", "10.0.1.2:8333", 20*ms, 50, "online"),
	}
	ours := big.NewInt(10)
	for _, c := range []struct {
		name   string
		tried  []string
		recent []string
		pick   func(int) int
		class  func(netpeers.PeerInfo) int
		want   string
		none   bool
	}{
		{name: "nearest with more work", pick: first, want: "near"},
		{name: "near tie within 10% may go either way", pick: last, want: "tie"},
		{name: "backtrack to the next nearest", tried: []string{"near", "tie"}, pick: first, want: "same24a"},
		{name: "no third in a row from one /24", tried: []string{"near", "tie"}, recent: []string{"10.0.1.0", "10.0.1.0"}, pick: first, want: "far"},
		{name: "unmeasured peers last", tried: []string{"near", "tie", "same24a", "far"}, pick: first, want: "unmeasured"},
		{name: "a peer that delivered before goes first", pick: first, want: "far",
			class: func(p netpeers.PeerInfo) int { return map[bool]int{true: 0, false: 1}[p.NodeID == "far"] }},
		{name: "a peer that stalled goes last", pick: first, want: "tie",
			class: func(p netpeers.PeerInfo) int { return map[bool]int{true: 3, false: 1}[p.NodeID == "near"] }},
		{name: "nobody left", tried: []string{"near", "tie", "same24a", "far", "unmeasured"}, pick: first, none: true},
	} {
		tried := map[string]bool{}
		for _, id := range c.tried {
			tried[id] = true
		}
		got, ok := rankSyncPeers(peers, ours, "ff", tried, c.recent, c.pick, c.class)
		if c.none {
			if ok {
				t.Errorf("%s: got %s, want none", c.name, got.NodeID)
			}
			continue
		}
		if !ok || got.NodeID != c.want {
			t.Errorf("%s: got %q (ok %v), want %q", c.name, got.NodeID, ok, c.want)
		}
	}
	if netPrefix("[2001:db8::1]:8333") != netPrefix("[2001:db8::ffff]:8333") || netPrefix("[2001:db8::1]:8333") == netPrefix("[2001:db8:0:1::1]:8333") {
		t.Error("IPv6 peers are grouped by /64")
	}
}

func TestLostWhy(t *testing.T) {
	one := big.NewInt(1)
	small, large := &chain.Node{Hash: chain.Hash{1}, Work: one}, &chain.Node{Hash: chain.Hash{2}, Work: one}
	heavier := &chain.Node{Hash: chain.Hash{0}, Work: big.NewInt(2)}
	for _, c := range []struct {
		side, rival *chain.Node
		want        string
	}{
		{large, small, "equal work, larger hash"},
		{small, heavier, "less work"},
		{small, nil, "less work"},
	} {
		if got := lostWhy(c.side, c.rival); got != c.want {
			t.Errorf("lostWhy(%s vs %v) = %q, want %q", c.side.Hash.Short(), c.rival, got, c.want)
		}
	}
}
