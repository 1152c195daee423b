package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
)

func filled(col []string, c int) int {
	n := 0
	for _, row := range col {
		r := []rune(row)
		if c < len(r) && r[c] != ' ' {
			n++
		}
	}
	return n
}

func TestChartColumns(t *testing.T) {
	rows := chart([]float64{0, 1, 5, 10, 0.01}, 10, 4, 10)
	if len(rows) != 4 || len([]rune(rows[0])) != 5 {
		t.Fatalf("chart shape %q", rows)
	}
	if filled(rows, 0) != 0 {
		t.Errorf("0 drew something: %q", rows)
	}
	if filled(rows, 3) != 4 || []rune(rows[0])[3] != '█' {
		t.Errorf("the top value does not fill its column: %q", rows)
	}
	if !(filled(rows, 1) <= filled(rows, 2) && filled(rows, 2) <= filled(rows, 3)) {
		t.Errorf("larger values are not drawn taller: %q", rows)
	}
	if []rune(rows[3])[4] != '▁' {
		t.Errorf("a tiny value above 0 vanished: %q", rows)
	}
	if got := chart([]float64{1, 2, 3}, 2, 1, 3); len([]rune(got[0])) != 2 || []rune(got[0])[1] != '█' {
		t.Errorf("only the newest w values are drawn: %q", got)
	}
}

func TestHistoryFromEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var h history
	ev := func(at time.Duration, p node.Payload) node.Event { return node.Event{Time: t0.Add(at), Payload: p} }
	block := func(at time.Duration, best bool) node.Payload {
		return node.BlockAccepted{OnBest: best, TimeStamp: t0.Add(at).Format(chain.TimeLayout)}
	}
	for _, e := range []node.Event{
		ev(0, node.MiningProgress{HashRate: 100}),
		ev(500*time.Millisecond, node.MiningProgress{HashRate: 200}), // same second: replaces
		ev(60*time.Second, node.MiningProgress{HashRate: 400}),
		ev(120*time.Second, node.MiningIdle{}),
		ev(0, block(0, true)),
		ev(0, block(30*time.Second, true)),
		ev(0, block(20*time.Second, true)),  // older than the last: ignored
		ev(0, block(90*time.Second, false)), // a side block: ignored
		ev(0, block(100*time.Second, true)),
	} {
		h.Apply(e)
	}
	if len(h.rates) != 3 || h.rates[0].rate != 200 {
		t.Fatalf("rates %+v", h.rates)
	}
	// Five columns of a minute each, ending 2m30s after t0: each shows
	// the rate last reported before its end.
	got := h.rateColumns(t0.Add(150*time.Second), 5)
	want := []float64{0, 0, 200, 400, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rate columns %v, want %v", got, want)
		}
	}
	if iv := h.intervals(); len(iv) != 2 || iv[0] != 30 || iv[1] != 70 {
		t.Errorf("intervals %v, want [30 70]", iv)
	}
}

// TestMiningPaneChartsUseSpareRows: a tall Mining pane draws the hash rate
// and the block intervals under its lines; a short one does not.
func TestMiningPaneChartsUseSpareRows(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	h := &history{}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 20 * time.Second)
		h.Apply(node.Event{Time: at, Payload: node.MiningProgress{HashRate: float64(1000 * (i + 1))}})
		h.Apply(node.Event{Time: at, Payload: node.BlockAccepted{OnBest: true, TimeStamp: at.Format(chain.TimeLayout)}})
	}
	p := newMiningPane(newStyles(true))
	p.hist, p.now = h, t0.Add(200*time.Second)
	p.mining = &node.MiningState{Height: 5, Message: "m", Attempts: 10, Expected: 100, HashRate: 10_000}
	p.SetSize(60, 24)
	tall := strings.Join(p.lines(56, 22), "\n")
	for _, want := range []string{"hash rate, last 5 min · peak 10.0 kH/s", "block interval, last 9 · median 20s", "█"} {
		if !strings.Contains(tall, want) {
			t.Errorf("tall pane lacks %q:\n%s", want, tall)
		}
	}
	if short := strings.Join(p.lines(56, 5), "\n"); strings.Contains(short, "hash rate") {
		t.Errorf("a pane with no rows to spare drew a chart:\n%s", short)
	}
}

// TestPeerHistoryInTheDetail: a peer's measured round trips, the blocks it
// delivered and had refused, its penalties and the backtracks it caused
// are folded from events and the book's reads, and its detail shows them.
func TestPeerHistoryInTheDetail(t *testing.T) {
	m, _ := busyModel(t, 120, 40)
	addr := m.state.Peers[0].Addr
	peers := append([]node.PeerInfo(nil), m.state.Peers...)
	for _, ms := range []int{10, 10, 20, 40, 30} { // an unchanged reading is one measurement
		peers[0].LastRTT = time.Duration(ms) * time.Millisecond
		m, _ = update(m, peersMsg{peers: append([]node.PeerInfo(nil), peers...)})
	}
	for i, pl := range []node.Payload{
		node.BlockAccepted{Height: 21, Hash: hashAt("p1"), Peer: addr, OnBest: true},
		node.BlockAccepted{Height: 22, Hash: hashAt("p2"), Peer: addr},
		node.BlockRejected{Height: 23, Reason: "InvalidSignature", Peer: addr},
		node.PeerPenalized{Peer: addr, Reason: "InvalidSignature: block 23"},
		node.SyncBacktrack{Peer: addr, Reason: "no answer in 15s"},
	} {
		m, _ = update(m, eventMsg{ev: node.Event{Seq: uint64(20_000 + i), Time: fixedNow, Payload: pl}})
	}
	ps := m.hist.peers[addr]
	if ps == nil || len(ps.rtts) != 4 || ps.blocks != 2 || ps.refused != 1 || len(ps.penalties) != 1 || ps.backtracks != 1 {
		t.Fatalf("stats %+v", ps)
	}
	m, _ = update(m, keyTab)
	for range m.peers.peers {
		if pi, _ := m.peers.Selected(); pi.Addr == addr {
			break
		}
		m, _ = update(m, keyDown)
	}
	m, _ = update(m, keyEnter)
	s := screen(m)
	for _, want := range []string{"rtt history", "last 4, max 40ms", "2 verified and taken (first copies) · 1 refused",
		"1, the last: no answer in 15s", "penalties", "InvalidSignature: block 23"} {
		if !strings.Contains(s, want) {
			t.Errorf("peer detail lacks %q:\n%s", want, s)
		}
	}
}

// TestPeersTableRTTTrend: once round trips have been measured a few times,
// a wide peers table gains a trend column; a narrow one keeps its room for
// the columns it had.
func TestPeersTableRTTTrend(t *testing.T) {
	for _, c := range []struct {
		w, h  int
		trend bool
	}{{200, 60, true}, {80, 24, false}} {
		m, _ := busyModel(t, c.w, c.h)
		peers := append([]node.PeerInfo(nil), m.state.Peers...)
		for _, ms := range []int{5, 9, 30, 12} {
			peers[0].LastRTT = time.Duration(ms) * time.Millisecond
			m, _ = update(m, peersMsg{peers: append([]node.PeerInfo(nil), peers...)})
		}
		s := screen(m)
		if got := strings.Contains(s, "rtt trend"); got != c.trend {
			t.Errorf("%dx%d: trend column shown %v, want %v:\n%s", c.w, c.h, got, c.trend, s)
		}
		if c.trend {
			rows := 0
			for _, l := range strings.Split(s, "\n") {
				if strings.Contains(l, peers[0].Addr) && strings.Contains(l, "online") && !strings.Contains(l, "peer up") {
					rows++
					if !strings.Contains(l, "█") {
						t.Errorf("the measured peer's row has no trend: %q", l)
					}
				}
			}
			if rows != 1 {
				t.Errorf("%d table rows for %s", rows, peers[0].Addr)
			}
		}
	}
}
