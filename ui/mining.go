package ui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/progress"
	"charm.land/lipgloss/v2"

	"github.com/meshchain/meshchain/node"
)

// miningPane shows the miner: the message being mined, attempts against the
// expected 2^difficulty, hash rate, time left and the queue; "idle" when
// there is nothing to mine.
type miningPane struct {
	st      *Styles
	w, h    int
	focused bool

	mining    *node.MiningState
	queue     int
	pending   []node.PendingMessage
	lastMined *node.BlockMined
	offset    int
	bar       progress.Model
	// lastRate is the latest hash rate seen, shown while a new job has
	// not measured its own yet rather than blanking the figure.
	lastRate float64
	// hist feeds the charts drawn when the pane has rows to spare.
	hist *history
	now  time.Time
}

// pctWidth is the room right of the progress bar for " 0.6×" (or " 12.3×").
const pctWidth = 5

func newMiningPane(st *Styles) miningPane {
	return miningPane{
		st: st,
		bar: progress.New(
			progress.WithFillCharacters('█', '░'),
			progress.WithColors(st.BarFull),
			progress.WithoutPercentage(),
		),
	}
}

// restyle makes the bar again in the styles' colours after the palette
// changed.
func (p *miningPane) restyle() {
	p.bar = newMiningPane(p.st).bar
	p.SetSize(p.w, p.h)
}

func (p *miningPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.bar.SetWidth(max(1, w-4-pctWidth))
	p.bar.EmptyColor = p.st.BarEmpty
}

func (p *miningPane) visible() int { return max(1, p.h-2) }

func (p *miningPane) Scroll(delta int) {
	p.offset = clamp(p.offset+delta, 0, max(0, len(p.pending)-1))
}

func (p *miningPane) View() string {
	note := fmt.Sprintf("queue %d", p.queue)
	return p.st.box("Mining", note, "", p.lines(p.w-4, p.h-2), p.w, p.h, p.focused)
}

// line is a line of the pane with a priority: when the pane is short the
// least important lines go first, the rest keep their order.
type line struct {
	text string
	prio int
}

func (p *miningPane) lines(w, room int) []string {
	var ls []line
	if m := p.mining; m != nil {
		ratio := 0.0
		if m.Expected > 0 {
			ratio = float64(m.Attempts) / m.Expected
		}
		// Mining is memoryless: work done so far does not bring the block
		// nearer, so no countdown. The bar fills to the expected work; the
		// figures say how lucky the search has been so far.
		luck := fitRight(fmt.Sprintf("%.1f×", ratio), pctWidth)
		ls = append(ls,
			line{p.st.Label.Render(fmt.Sprintf("mining #%s ", commas(m.Height))) + p.st.Value.Render(quote(m.Message)), 0},
			line{p.bar.ViewAs(min(ratio, 1)) + luck, 1},
		)
		attempts := firstFit(w,
			fmt.Sprintf("%s attempts, %.2f× the expected %s", humanCount(float64(m.Attempts)), ratio, humanCount(m.Expected)),
			fmt.Sprintf("%s of ~%s attempts", humanCount(float64(m.Attempts)), humanCount(m.Expected)))
		if ratio > 1 {
			attempts = firstFit(w,
				fmt.Sprintf("%s attempts, %.1f× expected work: unlucky so far", humanCount(float64(m.Attempts)), ratio),
				fmt.Sprintf("%.1f× expected work: unlucky", ratio),
				fmt.Sprintf("%.1f× expected", ratio))
		}
		ls = append(ls, line{p.st.Dim.Render(attempts), 4})
		rate := m.HashRate
		if rate <= 0 {
			rate = p.lastRate
		}
		speed := hashRate(rate)
		per := ""
		if rate > 0 && m.Expected > 0 {
			per = "~" + seconds(m.Expected/rate) + " per block"
		}
		threads := ""
		if m.Threads > 0 {
			threads = fmt.Sprintf("%d %s", m.Threads, plural(uint64(m.Threads), "thread", "threads"))
		}
		ls = append(ls, line{firstFit(w, join(" · ", speed, per, threads), join(" · ", speed, per), per, speed), 2})
	} else {
		idle := "idle: nothing to mine"
		if p.queue > 0 {
			idle = fmt.Sprintf("not mining now; %d %s queued", p.queue, plural(uint64(p.queue), "message", "messages"))
		}
		ls = append(ls, line{p.st.Dim.Render(idle), 0})
		if p.queue == 0 {
			ls = append(ls, line{p.st.Dim.Render("press i to write a message"), 3})
		}
	}
	if p.lastMined != nil {
		b := p.lastMined
		found := fmt.Sprintf("last found #%s %s", commas(b.Height), shortHash(b.Hash))
		took := " in " + seconds(b.Seconds)
		ls = append(ls, line{p.st.OK.Render(firstFit(w,
			found+took+", "+humanCount(float64(b.Attempts))+" attempts",
			found+took,
			fmt.Sprintf("last found #%s%s", commas(b.Height), took))), 5})
	}
	var waiting []node.PendingMessage
	for _, pm := range p.pending {
		if p.mining == nil || pm.MessageID != p.mining.MessageID {
			waiting = append(waiting, pm)
		}
	}
	for i, pm := range waiting {
		who := ""
		if !pm.Own {
			who = p.st.Dim.Render(" (relayed)")
		}
		head := fmt.Sprintf("waiting %d: ", len(waiting))
		lead := strings.Repeat(" ", len(head))
		prio := 6
		if i == 0 {
			lead = p.st.Label.Render(head)
			prio = 3
		}
		if i < p.offset && i > 0 {
			continue
		}
		ls = append(ls, line{lead + quote(pm.Message) + who, prio})
	}
	out := keepImportant(ls, room)
	return append(out, p.charts(w, room-len(out))...)
}

// charts fills rows the pane has to spare (a tall pane on a large
// terminal) with the hash rate over the last minutes and the intervals
// between the newest blocks; nothing when fewer than four rows are free.
func (p *miningPane) charts(w, spare int) []string {
	if p.hist == nil || spare < 4 || w < 20 {
		return nil
	}
	var out []string
	iv := p.hist.intervals()
	ivRows := 0
	if len(iv) >= 2 && spare >= 7 {
		ivRows = 2 // a title and a one-row sparkline
	}
	rateRows := min(8, spare-1-1-ivRows) // a blank line, the title
	if cols := p.hist.rateColumns(p.now, w); rateRows >= 2 && maxOf(cols) > 0 {
		peak := maxOf(cols)
		title := firstFit(w, fmt.Sprintf("hash rate, last %d min · peak %s", int(rateWindow.Minutes()), hashRate(peak)),
			"hash rate · peak "+hashRate(peak), "hash rate")
		out = append(out, "", p.st.Label.Render(title))
		for _, r := range chart(cols, w, rateRows, peak) {
			out = append(out, p.st.Accent.Render(r))
		}
	}
	if ivRows > 0 {
		sorted := append([]float64(nil), iv...)
		sort.Float64s(sorted)
		med := sorted[len(sorted)/2]
		n := min(len(iv), w)
		title := firstFit(w, fmt.Sprintf("block interval, last %d · median %s · longest %s", n, seconds(med), seconds(maxOf(iv[len(iv)-n:]))),
			fmt.Sprintf("block interval · median %s", seconds(med)), "block interval")
		out = append(out, p.st.Label.Render(title), p.st.OK.Render(chart(iv, w, 1, maxOf(iv[len(iv)-n:]))[0]))
	}
	return out
}

// keepImportant drops the least important lines until the rest fit in room.
func keepImportant(ls []line, room int) []string {
	for len(ls) > room && room >= 0 {
		worst := 0
		for i, l := range ls {
			if l.prio >= ls[worst].prio {
				worst = i
			}
		}
		ls = append(ls[:worst], ls[worst+1:]...)
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.text
	}
	return out
}

// firstFit returns the first of variants (longest first) that fits in w
// cells, or the last one.
func firstFit(w int, variants ...string) string {
	for _, v := range variants {
		if lipgloss.Width(v) <= w {
			return v
		}
	}
	return variants[len(variants)-1]
}

// join joins the non-empty parts with sep.
func join(sep string, parts ...string) string {
	var kept []string
	for _, s := range parts {
		if s != "" {
			kept = append(kept, s)
		}
	}
	return strings.Join(kept, sep)
}
