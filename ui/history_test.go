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
