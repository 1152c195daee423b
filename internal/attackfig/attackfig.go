// Package attackfig measures what an attack in a test costs the honest:
// the round trip of pings from an honest peer while the attack runs, and
// the process's resident memory before, at its peak and after. Tests log
// its figures (go test -v); nothing is asserted on them, as speed is for
// benchmarks. Only tests use it.
package attackfig

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// PingEvery is the pause between an honest ping's pong and the next ping.
const PingEvery = 10 * time.Millisecond

// pongTimeout counts a ping as lost.
const pongTimeout = 5 * time.Second

// Meter measures one attack. Start it before the attack, Ping on the honest
// session, End when the attack stops and Report once the attackers are gone.
type Meter struct {
	name      string
	rssBefore uint64

	stop     chan struct{} // pings
	stopRSS  chan struct{} // memory samples
	sampled  sync.WaitGroup
	done     sync.WaitGroup
	mu       sync.Mutex
	rssPeak  uint64
	rtts     []time.Duration
	lost     int
	closedBy error
	ended    bool
}

// Start notes the resident memory now and samples it until Report.
func Start(name string) *Meter {
	runtime.GC()
	debug.FreeOSMemory()
	resetPeak()
	m := &Meter{name: name, rssBefore: RSS(), stop: make(chan struct{}), stopRSS: make(chan struct{})}
	m.rssPeak = m.rssBefore
	m.sampled.Add(1)
	go func() {
		defer m.sampled.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stopRSS:
				return
			case <-t.C:
				m.notePeak(RSS())
			}
		}
	}()
	return m
}

func (m *Meter) notePeak(rss uint64) {
	m.mu.Lock()
	m.rssPeak = max(m.rssPeak, rss)
	m.mu.Unlock()
}

// Ping sends pings on c, a peer session past its handshake, one at a time,
// until End, and answers the pings it gets. The meter owns c's reads.
func (m *Meter) Ping(c *websocket.Conn) {
	pongs := make(chan uint64, 16)
	ctx, cancel := context.WithCancel(context.Background())
	m.done.Add(2)
	go func() { // reader
		defer m.done.Done()
		defer cancel()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					m.mu.Lock()
					m.closedBy = err
					m.mu.Unlock()
				}
				return
			}
			var f struct {
				Type  string      `json:"type"`
				Nonce json.Number `json:"nonce"`
			}
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch f.Type {
			case "ping":
				wctx, wcancel := context.WithTimeout(ctx, pongTimeout)
				_ = c.Write(wctx, websocket.MessageText, []byte(`{"type":"pong","nonce":`+f.Nonce.String()+`}`))
				wcancel()
			case "pong":
				if n, err := strconv.ParseUint(f.Nonce.String(), 10, 64); err == nil {
					select {
					case pongs <- n:
					default:
					}
				}
			}
		}
	}()
	go func() { // pinger
		defer m.done.Done()
		for nonce := uint64(1 << 40); ; nonce++ {
			select {
			case <-m.stop:
				cancel()
				return
			case <-ctx.Done():
				return
			case <-time.After(PingEvery):
			}
			sent := time.Now()
			wctx, wcancel := context.WithTimeout(ctx, pongTimeout)
			err := c.Write(wctx, websocket.MessageText, []byte(`{"type":"ping","nonce":`+strconv.FormatUint(nonce, 10)+`}`))
			wcancel()
			if err != nil {
				return
			}
			timeout := time.NewTimer(pongTimeout)
		wait:
			for {
				select {
				case n := <-pongs:
					if n == nonce {
						m.mu.Lock()
						m.rtts = append(m.rtts, time.Since(sent))
						m.mu.Unlock()
						break wait
					}
				case <-timeout.C:
					m.mu.Lock()
					m.lost++
					m.mu.Unlock()
					break wait
				case <-ctx.Done():
					timeout.Stop()
					return
				}
			}
			timeout.Stop()
		}
	}()
}

// End stops the pings: the attack is over. Memory is sampled on until
// Report, as the node may still work through what the attack left.
func (m *Meter) End() {
	m.mu.Lock()
	ended := m.ended
	m.ended = true
	m.mu.Unlock()
	if ended {
		return
	}
	close(m.stop)
	m.done.Wait()
}

// Figures are what a meter measured.
type Figures struct {
	Name                         string
	Pings, Lost                  int
	P50, P99, Max                time.Duration
	RSSBefore, RSSPeak, RSSAfter uint64
	HonestClosed                 error // the honest session ended during the attack
}

// Report ends the meter if need be, gives freed memory back to the system
// (GC and debug.FreeOSMemory, as the runtime's scavenger would in time)
// and returns the figures.
func (m *Meter) Report() Figures {
	m.End()
	close(m.stopRSS)
	m.sampled.Wait()
	m.notePeak(max(RSS(), hwm()))
	runtime.GC()
	debug.FreeOSMemory()
	m.mu.Lock()
	defer m.mu.Unlock()
	f := Figures{Name: m.name, Pings: len(m.rtts), Lost: m.lost, RSSBefore: m.rssBefore, RSSPeak: m.rssPeak,
		RSSAfter: RSS(), HonestClosed: m.closedBy}
	if len(m.rtts) > 0 {
		s := slices.Clone(m.rtts)
		slices.Sort(s)
		f.P50, f.P99, f.Max = s[len(s)/2], s[(len(s)*99)/100], s[len(s)-1]
	}
	return f
}

// String is one line for the test log, the same for every case:
// FIGURES <case>: honest ping p50 … p99 … max … (n pings, lost), RSS before/peak/after.
func (f Figures) String() string {
	ping := "no honest pings"
	if f.Pings > 0 || f.Lost > 0 {
		ping = fmt.Sprintf("honest ping p50 %s p99 %s max %s (%d pings, %d lost)",
			ms(f.P50), ms(f.P99), ms(f.Max), f.Pings, f.Lost)
	}
	if f.HonestClosed != nil {
		ping += fmt.Sprintf(", honest session ended: %v", f.HonestClosed)
	}
	return fmt.Sprintf("FIGURES %s: %s; RSS %s before, %s peak, %s after",
		f.Name, ping, mb(f.RSSBefore), mb(f.RSSPeak), mb(f.RSSAfter))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mb(b uint64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }

// RSS is the process's resident memory in bytes (0 where /proc is missing).
func RSS() uint64 { return statusField("VmRSS:") }

// hwm is the peak resident memory since resetPeak.
func hwm() uint64 { return statusField("VmHWM:") }

// resetPeak resets VmHWM (Linux: "5" to /proc/self/clear_refs).
func resetPeak() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func statusField(name string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
