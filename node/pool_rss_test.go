package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/wallet"
)

// rssChildDir names, in a child process's environment, the data directory
// TestPoolRSSChild runs a node on.
const rssChildDir = "MESHCHAIN_RSS_CHILD_DIR"

// TestPoolRSSChild is not a test of its own: BenchmarkThreeReorgsOf4KB runs
// the test binary again with only this, so the node whose memory it reads
// is alone in its process. It runs a node on the directory named in the
// environment, listening on loopback, and writes lines to standard output:
// "ADDR addr" once started, "REORG depth returned height" and "TIP height
// hash" as they happen, and "STATS ..." for each "stats" line read on
// standard input. It stops when standard input closes.
func TestPoolRSSChild(t *testing.T) {
	dir := os.Getenv(rssChildDir)
	if dir == "" {
		t.Skip("run by BenchmarkThreeReorgsOf4KB as its child process")
	}
	nd, err := Open(Config{DataDir: dir, Listen: "127.0.0.1:0", Difficulty: testDifficulty, Threads: 1, SyncTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := nd.Subscribe(ctx)
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx) }()
	<-nd.Started()
	out := make(chan string, 1024)
	go func() {
		for ev := range events {
			switch p := ev.Payload.(type) {
			case Reorg:
				out <- fmt.Sprintf("REORG %d %d %d", p.Depth, p.Returned, p.NewHeight)
			case TipChanged:
				out <- fmt.Sprintf("TIP %d %s", p.Height, p.Hash)
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			var line string
			err := nd.do(ctx, func() {
				line = fmt.Sprintf("STATS own=%d others=%d bytes=%d height=%d pruned=%d",
					nd.pool.ownLen(), nd.pool.otherLen(), nd.pool.bytes(), nd.index.Height(), nd.side.pruned)
			})
			if err != nil {
				break
			}
			// The live heap: what a collection leaves (RSS also counts
			// freed memory the runtime has not yet given back).
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			out <- fmt.Sprintf("%s live=%.1fMB", line, float64(ms.HeapAlloc)/1e6)
		}
		cancel()
	}()
	fmt.Println("ADDR", nd.Addr())
	for {
		select {
		case line := <-out:
			fmt.Println(line)
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

// rssChild is the node of TestPoolRSSChild, seen from its parent.
type rssChild struct {
	tb    testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	addr  string
}

func startRSSChild(tb testing.TB, dir string) *rssChild {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolRSSChild$", "-test.bench=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), rssChildDir+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &rssChild{tb: tb, cmd: cmd, stdin: stdin, lines: make(chan string, 1<<16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	c.addr = strings.TrimPrefix(c.next("ADDR ", time.Minute), "ADDR ")
	return c
}

// next returns the next line starting with prefix, failing after d.
func (c *rssChild) next(prefix string, d time.Duration) string {
	c.tb.Helper()
	deadline := time.After(d)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				c.tb.Fatalf("the child ended while waiting for %q", prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-deadline:
			c.tb.Fatalf("no %q from the child within %v", prefix, d)
		}
	}
}

func (c *rssChild) stats() string {
	c.tb.Helper()
	if _, err := io.WriteString(c.stdin, "stats\n"); err != nil {
		c.tb.Fatal(err)
	}
	return strings.TrimPrefix(c.next("STATS ", time.Minute), "STATS ")
}

// memKB reads VmRSS, VmHWM (the peak) and RssAnon (the part that is not
// mapped files: the heap, not bbolt's map of chain.db) of a process, in KiB.
func memKB(tb testing.TB, pid int) (rss, peak, anon int) {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Skipf("no /proc to read memory from: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			peak = v
		case "RssAnon:":
			anon = v
		}
	}
	return rss, peak, anon
}

// fileKB is a file's size in KiB.
func fileKB(tb testing.TB, path string) int64 {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size() / 1024
}

// BenchmarkThreeReorgsOf4KB is issue 8.5's case, measured: a node whose
// best chain is 1,000 blocks of another author's 4 KB messages meets, three
// times, a heavier branch that forks below them (1,001 small blocks, then
// the next 1,000 blocks of 4 KB messages, which the next round's branch
// forks below in turn), so each round returns 1,000 messages of 4 KB that
// only their author mines. The issue saw the pool keep all 3,000 records,
// chain.db grow from 0.1 to 50 MiB and RSS from 18 to 120 MB. The node
// runs in a process of its own (this test binary again, TestPoolRSSChild);
// the heavier branches come from a node in this process that dials it.
// After the third round one more block comes, which prunes the branch the
// round left behind. It logs, per round, the pool (records, bytes), the
// height, chain.db's size and the node's RSS, and the peak RSS.
//
//	go test -run '^$' -bench ThreeReorgsOf4KB -benchtime 1x -v ./node/
func BenchmarkThreeReorgsOf4KB(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("no /proc to read memory from")
	}
	g := chain.Genesis(testDifficulty)
	other, heavyBy := newWallet(b), newWallet(b)
	big := func(prefix string) func(i int) string {
		return func(i int) string {
			head := fmt.Sprintf("%s %d ", prefix, i)
			return head + strings.Repeat("x", 4000-len(head))
		}
	}
	build := func(parent chain.Block, n int, by *wallet.Wallet, text func(int) string, base int64) []chain.Block {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = text(i)
		}
		return chainOf(b, parent, ts, func(int) *wallet.Wallet { return by }, base)
	}
	small := func(prefix string) func(int) string {
		return func(i int) string { return fmt.Sprintf("%s %d", prefix, i) }
	}
	base := time.Now().Add(-time.Hour).UnixMilli()
	var light, heavy [3][]chain.Block
	parent := g
	for r := range 3 {
		light[r] = build(parent, 1000, other, big(fmt.Sprintf("light %d", r)), base+int64(r)*10000)
		heavy[r] = build(parent, 1001, heavyBy, small(fmt.Sprintf("heavy %d", r)), base+int64(r)*10000+5000)
		parent = heavy[r][len(heavy[r])-1]
	}

	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		storeChain(b, dir, light[0])
		db := StorePath(dir)
		child := startRSSChild(b, dir)
		pid := child.cmd.Process.Pid
		type row struct {
			what       string
			stats      string
			dbKB, rss  int64
			peak, anon int
			reorgDepth string
		}
		rssNow := func() (int64, int, int) { r, p, a := memKB(b, pid); return int64(r), p, a }
		r0, _, a0 := rssNow()
		rows := []row{{what: "start (1,000 blocks of 4 KB)", stats: child.stats(), dbKB: fileKB(b, db), rss: r0, anon: a0}}
		for r := range 3 {
			// The peer's chain: every heavy branch so far, then the
			// next light one (the last round: the heavy one only).
			var peer []chain.Block
			for k := 0; k <= r; k++ {
				peer = append(peer, heavy[k]...)
			}
			if r < 2 {
				peer = append(peer, light[r+1]...)
			}
			pdir := b.TempDir()
			storeChain(b, pdir, peer)
			p, err := Open(Config{DataDir: pdir, Peers: []string{child.addr}, Difficulty: testDifficulty, Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			stop := runOpen(b, p)
			reorg := child.next("REORG 1000 ", 5*time.Minute)
			want := peer[len(peer)-1].Hash
			for tip := ""; !strings.HasSuffix(tip, want); {
				tip = child.next("TIP ", 5*time.Minute)
			}
			if r == 2 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := p.Post(ctx, "one more"); err != nil {
					b.Fatal(err)
				}
				cancel()
				child.next(fmt.Sprintf("TIP %d ", len(peer)+1), 5*time.Minute)
			}
			stop()
			rss, peak, anon := rssNow()
			rows = append(rows, row{what: fmt.Sprintf("after reorg %d", r+1), stats: child.stats(), dbKB: fileKB(b, db),
				rss: rss, peak: peak, anon: anon, reorgDepth: reorg})
		}
		if err := child.stdin.Close(); err != nil {
			b.Fatal(err)
		}
		if err := child.cmd.Wait(); err != nil {
			b.Fatalf("the child node: %v", err)
		}
		for _, r := range rows {
			b.Logf("%-30s %-74s chain.db %5.1f MiB  RSS %5.1f MB (anon %5.1f)  peak %5.1f MB  %s",
				r.what, r.stats, float64(r.dbKB)/1024, float64(r.rss)/1024, float64(r.anon)/1024, float64(r.peak)/1024, r.reorgDepth)
		}
		last := rows[len(rows)-1]
		b.ReportMetric(float64(last.rss)/1024, "rss-MB")
		b.ReportMetric(float64(slices.MaxFunc(rows, func(a, b row) int { return a.peak - b.peak }).peak)/1024, "peak-MB")
		b.ReportMetric(float64(last.dbKB)/1024, "chaindb-MiB")
		b.StartTimer()
	}
}
