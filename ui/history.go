package ui

import (
	"strings"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
)

// history is what the charts draw, folded from the node's events like
// State: the hash rate over the last minutes and the times of the newest
// best-chain blocks.
type history struct {
	rates  []ratePoint // newest last, at most one a second
	blocks []time.Time // best-chain block timestamps, ascending
	peers  map[string]*peerStats
}

// peerStats is what the dashboard saw of one peer (by address) since it
// started: its round trips as they were measured, the blocks it delivered
// that were verified and taken (first copies), those refused, its
// penalties and the sync backtracks it caused.
type peerStats struct {
	rtts       []float64 // ms, oldest first
	lastRTT    time.Duration
	blocks     int
	refused    int
	penalties  []penaltyRec // newest last
	backtracks int
	backReason string
}

type penaltyRec struct {
	at     time.Time
	reason string
	until  string
}

const (
	keepRTTs      = 60
	keepPenalties = 10
	keepPeerStats = 512 // peers remembered; a flood of addresses cannot grow it
)

// peer is addr's stats, made on first use.
func (h *history) peer(addr string) *peerStats {
	if h.peers == nil {
		h.peers = map[string]*peerStats{}
	}
	ps := h.peers[addr]
	if ps == nil {
		if len(h.peers) >= keepPeerStats {
			for k := range h.peers { // forget one at random
				delete(h.peers, k)
				break
			}
		}
		ps = &peerStats{}
		h.peers[addr] = ps
	}
	return ps
}

// peersRead notes each peer's newest round trip from a read of the book.
func (h *history) peersRead(peers []node.PeerInfo) {
	for _, p := range peers {
		if p.LastRTT <= 0 {
			continue
		}
		ps := h.peer(p.Addr)
		if p.LastRTT == ps.lastRTT {
			continue // not measured again since
		}
		ps.lastRTT = p.LastRTT
		ps.rtts = append(ps.rtts, float64(p.LastRTT)/float64(time.Millisecond))
		if len(ps.rtts) > keepRTTs {
			ps.rtts = ps.rtts[len(ps.rtts)-keepRTTs:]
		}
	}
}

type ratePoint struct {
	at   time.Time
	rate float64
}

const (
	keepRates  = 3600 // an hour of one-second points
	keepBlocks = 200
	rateWindow = 5 * time.Minute // what the hash-rate chart spans
)

// Apply folds one event in.
func (h *history) Apply(ev node.Event) {
	switch e := ev.Payload.(type) {
	case node.MiningProgress:
		h.rate(ev.Time, e.HashRate)
	case node.BlockMined:
		h.rate(ev.Time, e.HashRate)
	case node.MiningIdle:
		h.rate(ev.Time, 0)
	case node.BlockRejected:
		if e.Peer != "" {
			h.peer(e.Peer).refused++
		}
	case node.PeerPenalized:
		ps := h.peer(e.Peer)
		ps.penalties = append(ps.penalties, penaltyRec{ev.Time, e.Reason, e.Until})
		if len(ps.penalties) > keepPenalties {
			ps.penalties = ps.penalties[1:]
		}
	case node.SyncBacktrack:
		ps := h.peer(e.Peer)
		ps.backtracks++
		ps.backReason = e.Reason
	case node.BlockAccepted:
		if e.Peer != "" {
			h.peer(e.Peer).blocks++
		}
		if !e.OnBest {
			return
		}
		t, err := time.Parse(chain.TimeLayout, e.TimeStamp)
		if err != nil || len(h.blocks) > 0 && !t.After(h.blocks[len(h.blocks)-1]) {
			return
		}
		h.blocks = append(h.blocks, t)
		if len(h.blocks) > keepBlocks {
			h.blocks = h.blocks[len(h.blocks)-keepBlocks:]
		}
	}
}

func (h *history) rate(at time.Time, r float64) {
	if at.IsZero() || r < 0 {
		return
	}
	if n := len(h.rates); n > 0 && at.Truncate(time.Second).Equal(h.rates[n-1].at.Truncate(time.Second)) {
		h.rates[n-1] = ratePoint{at, r}
		return
	}
	h.rates = append(h.rates, ratePoint{at, r})
	if len(h.rates) > keepRates {
		h.rates = h.rates[len(h.rates)-keepRates:]
	}
}

// rateColumns resamples the hash rate to n columns over the window ending
// at now: each column is the rate last reported before its end (0 before
// the first report).
func (h *history) rateColumns(now time.Time, n int) []float64 {
	out := make([]float64, n)
	j := 0
	for i := range out {
		end := now.Add(-rateWindow + time.Duration(i+1)*rateWindow/time.Duration(n))
		for j < len(h.rates) && !h.rates[j].at.After(end) {
			j++
		}
		if j > 0 {
			out[i] = h.rates[j-1].rate
		}
	}
	return out
}

// intervals is the seconds between consecutive best-chain blocks, oldest
// first.
func (h *history) intervals() []float64 {
	var out []float64
	for i := 1; i < len(h.blocks); i++ {
		out = append(out, h.blocks[i].Sub(h.blocks[i-1]).Seconds())
	}
	return out
}

// bars are the eighths of a cell a column chart is drawn with.
var bars = []rune(" ▁▂▃▄▅▆▇█")

// chart draws vals as columns h rows high, scaled so that top fills the
// chart; one column per value, the last w values.
func chart(vals []float64, w, h int, top float64) []string {
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	rows := make([][]rune, h)
	for r := range rows {
		rows[r] = []rune(strings.Repeat(" ", len(vals)))
	}
	for c, v := range vals {
		eighths := 0
		if top > 0 && v > 0 {
			eighths = max(1, int(v/top*float64(8*h)+0.5)) // a value above 0 always shows
		}
		eighths = min(eighths, 8*h)
		for r := h - 1; r >= 0 && eighths > 0; r-- {
			rows[r][c] = bars[min(eighths, 8)]
			eighths -= 8
		}
	}
	out := make([]string, h)
	for r := range rows {
		out[r] = string(rows[r])
	}
	return out
}

func maxOf(vals []float64) float64 {
	m := 0.0
	for _, v := range vals {
		m = max(m, v)
	}
	return m
}
