package node

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/netpeers"
	"github.com/meshchain/meshchain/wallet"
)

// benchPending makes n pool entries with distinct ids, signing times a
// millisecond apart from base; every third is own. Signatures are not
// checked by the pool or the store, so they are left as placeholders.
func benchPending(n int, base int64, sender, other string) []store.Pending {
	out := make([]store.Pending, n)
	for i := range out {
		s := other
		if i%3 == 0 {
			s = sender
		}
		out[i] = store.Pending{
			MessageID: sha256.Sum256(fmt.Appendf(nil, "bench %d %d", base, i)),
			Message:   fmt.Sprintf("pending message number %d of the benchmark pool", i),
			Sender:    s,
			TimeStamp: chain.FormatTime(base + int64(i)),
			Signature: "00",
			Own:       s == sender,
		}
	}
	return out
}

const (
	benchSender = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	benchOther  = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// BenchmarkPoolAddRemove10kAt30k adds 10,000 messages to a pool holding
// 30,000 (the reorg that returns them) and removes them again (the blocks
// that mine them), interleaved with the older ones by signing time.
//
//	go test -run '^$' -bench PoolAddRemove -count 6 ./node/
func BenchmarkPoolAddRemove10kAt30k(b *testing.B) {
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	held := benchPending(30000, base, benchSender, benchOther)
	// Signing times fall between the held ones, so each lands mid-pool.
	moving := benchPending(10000, base+1, benchSender, benchOther)
	for i := range moving {
		moving[i].MessageID = sha256.Sum256(fmt.Appendf(nil, "moving %d", i))
		moving[i].TimeStamp = chain.FormatTime(base + int64(3*i) + 1)
	}
	ids := make([]chain.Hash, len(moving))
	for i, m := range moving {
		ids[i] = m.MessageID
	}
	p := newPool(benchSender)
	for _, m := range held {
		p.add(m)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, m := range moving {
			p.add(m)
		}
		for _, id := range ids {
			p.remove(id)
		}
	}
	if p.ownLen() != 10000 {
		b.Fatalf("own %d, want 10000", p.ownLen())
	}
}

// BenchmarkOpen30kPending measures opening a data directory whose pending
// pool holds 30,000 messages (a third of them own): reading the pool back
// and building the in-memory one.
//
//	go test -run '^$' -bench Open30kPending -benchtime 3x -count 3 ./node/
func BenchmarkOpen30kPending(b *testing.B) {
	dir := b.TempDir()
	nd, err := Open(Config{DataDir: dir, Difficulty: testDifficulty, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	ps := benchPending(30000, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), nd.Sender(), benchOther)
	if err := nd.store.Apply(store.Update{AddPending: ps}); err != nil {
		b.Fatal(err)
	}
	if err := nd.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nd, err := Open(Config{DataDir: dir, Difficulty: testDifficulty, Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		if got := nd.pool.ownLen(); got != 10000 {
			b.Fatalf("own pending %d, want 10000", got)
		}
		b.StopTimer()
		if err := nd.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// chainOf builds valid blocks on parent, one per text, each signed by the
// wallet signer picks for it, signing times a millisecond apart from base.
func chainOf(t testing.TB, parent chain.Block, texts []string, signer func(i int) *wallet.Wallet, base int64) []chain.Block {
	t.Helper()
	out := make([]chain.Block, 0, len(texts))
	for i, text := range texts {
		sender, stamp, sig := signer(i).SignMessage(text, base+int64(i))
		b := chain.Block{Number: parent.Number + 1, PrevHash: parent.Hash, Message: text,
			Sender: sender, TimeStamp: stamp, Difficulty: testDifficulty, Signature: sig}
		p, err := b.Parse()
		if err != nil {
			t.Fatal(err)
		}
		nonce, h, ok, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<30)
		if !ok {
			t.Fatal("no nonce")
		}
		b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
		out = append(out, b)
		parent = b
	}
	return out
}

func newWallet(t testing.TB) *wallet.Wallet {
	t.Helper()
	w, err := wallet.New()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func texts(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

// storedPending reads the store's pool: own count, others' count, ids.
func storedPending(t testing.TB, nd *Node) (own, others int, ids map[chain.Hash]bool) {
	t.Helper()
	ps, err := nd.store.Pending()
	if err != nil {
		t.Fatal(err)
	}
	ids = map[chain.Hash]bool{}
	for _, p := range ps {
		ids[p.MessageID] = true
		if p.Own {
			own++
		} else {
			others++
		}
	}
	return own, others, ids
}

// acceptAll feeds blocks to a node that is open but not running, as one
// batch per call, and fails on any refusal.
func acceptAll(t testing.TB, nd *Node, blocks []chain.Block) {
	t.Helper()
	if _, err := nd.accept(blocks, netpeers.PeerRef{}, fromBatch); err != nil {
		t.Fatal(err)
	}
}

// checkPoolMatchesStore fails unless memory and disk hold the same pool.
func checkPoolMatchesStore(t testing.TB, nd *Node) {
	t.Helper()
	own, others, ids := storedPending(t, nd)
	if own != nd.pool.ownLen() || others != nd.pool.otherLen() {
		t.Fatalf("store holds %d own + %d others, memory %d + %d", own, others, nd.pool.ownLen(), nd.pool.otherLen())
	}
	for id := range ids {
		if !nd.pool.has(id) {
			t.Fatalf("stored pending %s is not in memory", id.Short())
		}
	}
}

// TestPoolBoundAfterReorg reorganises out more of other authors' messages
// than the pool may hold, with own messages among them and posted: the
// pool, in memory and on disk, stays within its bounds, drops the oldest
// arrivals of others first and keeps every own message. The bounds are
// lowered so the test stays fast; TestPoolPlanDefaults checks the real
// ones on the pool alone.
func TestPoolBoundAfterReorg(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxOthers int
		maxBytes  int
		size      int // message length
	}{
		{"count", 150, maxPoolBytes, 40},
		{"bytes", maxOtherPending, 150 * 1024, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nd, err := Open(Config{DataDir: t.TempDir(), Difficulty: testDifficulty, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer nd.Close()
			nd.pool.maxOthers, nd.pool.maxBytes = tc.maxOthers, tc.maxBytes
			other, heavy := newWallet(t), newWallet(t)
			base := time.Now().Add(-time.Hour).UnixMilli()
			pad := strings.Repeat("p", tc.size)

			// Two reorgs of 200 blocks each, every tenth block own.
			const depth = 200
			parent := chain.Genesis(testDifficulty)
			first := chainOf(t, parent, []string{"common"}, func(int) *wallet.Wallet { return heavy }, base)
			acceptAll(t, nd, first)
			parent = first[0]
			for round := 0; round < 2; round++ {
				lost := chainOf(t, parent, texts(depth, fmt.Sprintf("lost %d/%%d ", round)+pad), func(i int) *wallet.Wallet {
					if i%10 == 0 {
						return nd.wallet
					}
					return other
				}, base+int64(10000*round)+1000)
				acceptAll(t, nd, lost)
				nd.post(fmt.Sprintf("posted %d", round))
				win := chainOf(t, parent, texts(depth+1, fmt.Sprintf("won %d/%%d", round)), func(int) *wallet.Wallet { return heavy }, base+int64(10000*round)+5000)
				acceptAll(t, nd, win)
				parent = win[len(win)-1]
				if _, onChain := nd.index.HasMessage(chain.MessageID(heavy.Sender(), base+int64(10000*round)+5000+depth, fmt.Sprintf("won %d/%d", round, depth))); !onChain {
					t.Fatalf("round %d: the heavier branch did not win", round)
				}
				if nd.pool.otherLen() > tc.maxOthers || nd.pool.bytes() > tc.maxBytes {
					t.Fatalf("round %d: pool holds %d others, %d bytes; bounds %d, %d",
						round, nd.pool.otherLen(), nd.pool.bytes(), tc.maxOthers, tc.maxBytes)
				}
				if want := (round + 1) * (depth/10 + 1); nd.pool.ownLen() != want {
					t.Fatalf("round %d: %d own messages pending, want all %d", round, nd.pool.ownLen(), want)
				}
				checkPoolMatchesStore(t, nd)
			}
			// The second reorg alone overflows the bound: the first one's
			// messages, older arrivals, are all gone, some of the second's kept.
			if nd.pool.otherLen() == 0 {
				t.Fatal("no other author's message kept at all")
			}
			for _, p := range nd.pool.list() {
				if !p.Own && !strings.HasPrefix(p.Message, "lost 1/") {
					t.Fatalf("kept %q of the first reorg, an older arrival than the second's", p.Message[:10])
				}
			}
		})
	}
}

// TestPoolExpiry returns other authors' messages by a reorg and checks that
// they leave the pool and the store once they have waited 144 blocks, or
// 24 hours by the node's clock, whichever comes first; own messages stay.
func TestPoolExpiry(t *testing.T) {
	start := time.Now()
	for _, tc := range []struct {
		name    string
		advance func(clock *atomic.Int64)
		blocks  int // further blocks after the advance: the first reaches expiry
	}{
		{"blocks", func(*atomic.Int64) {}, otherExpiryBlocks},
		{"hours", func(c *atomic.Int64) { c.Add(int64(time.Minute)) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock atomic.Int64 // offset from start
			nd, err := Open(Config{DataDir: t.TempDir(), Difficulty: testDifficulty, Threads: 1,
				Clock: func() time.Time { return start.Add(time.Duration(clock.Load())) }})
			if err != nil {
				t.Fatal(err)
			}
			defer nd.Close()
			other, heavy := newWallet(t), newWallet(t)
			base := start.Add(-time.Hour).UnixMilli()
			g := chain.Genesis(testDifficulty)
			lost := chainOf(t, g, texts(10, "lost %d"), func(i int) *wallet.Wallet {
				if i == 0 {
					return nd.wallet
				}
				return other
			}, base)
			acceptAll(t, nd, lost)
			win := chainOf(t, g, texts(11+tc.blocks, "won %d"), func(int) *wallet.Wallet { return heavy }, base+100)
			acceptAll(t, nd, win[:11])
			if nd.pool.otherLen() != 9 || nd.pool.ownLen() != 1 {
				t.Fatalf("after the reorg: %d others, %d own pending; want 9 and 1", nd.pool.otherLen(), nd.pool.ownLen())
			}
			// Just short of expiry nothing goes.
			clock.Add(int64(otherExpiry - time.Minute))
			acceptAll(t, nd, win[11:10+tc.blocks])
			if nd.pool.otherLen() != 9 {
				t.Fatalf("%d blocks and %v after the reorg: %d others left, want all 9",
					tc.blocks-1, time.Duration(clock.Load()), nd.pool.otherLen())
			}
			tc.advance(&clock)
			acceptAll(t, nd, win[10+tc.blocks:])
			if nd.pool.otherLen() != 0 || nd.pool.ownLen() != 1 {
				t.Fatalf("at expiry: %d others, %d own pending; want 0 and 1", nd.pool.otherLen(), nd.pool.ownLen())
			}
			checkPoolMatchesStore(t, nd)
		})
	}
}

// TestPoolPlanDefaults drives the pool alone with the real bounds: 6,000
// others and 1,000 own messages of 4 KB arrive; at most 5,000 others and
// 8 MiB stay, the oldest arrivals go first, and no own message is dropped
// even when own messages alone fill the bytes.
func TestPoolPlanDefaults(t *testing.T) {
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(time.Hour)
	p := newPool(benchSender)
	small := benchPending(9000, base.UnixMilli(), benchSender, benchOther) // 6,000 others
	for i := range small {
		small[i].AddedAt = base.UnixMilli() + int64(i)
		small[i].AddedHeight = 100
	}
	evict, keep := p.plan(nil, small, 100, now)
	if len(evict) != 0 {
		t.Fatalf("evicted %d from an empty pool", len(evict))
	}
	for _, m := range keep {
		p.add(m)
	}
	if p.otherLen() != maxOtherPending || p.ownLen() != 3000 {
		t.Fatalf("pool holds %d others, %d own; want %d and 3000", p.otherLen(), p.ownLen(), maxOtherPending)
	}
	// Dropped from the batch: the oldest signed.
	if p.has(small[1].MessageID) || !p.has(small[len(small)-1].MessageID) {
		t.Fatal("the batch kept its oldest others rather than its newest")
	}

	// 2,000 own messages of 4 KB: more than 8 MiB on their own.
	big := strings.Repeat("b", 4000)
	var own []store.Pending
	for i := 0; i < 2000; i++ {
		own = append(own, store.Pending{MessageID: sha256.Sum256(fmt.Appendf(nil, "own %d", i)), Message: big,
			Sender: benchSender, TimeStamp: chain.FormatTime(base.UnixMilli() + int64(i)), Signature: "00",
			AddedAt: now.UnixMilli(), AddedHeight: 100})
	}
	evict, keep = p.plan(nil, own, 100, now)
	if len(keep) != len(own) {
		t.Fatalf("kept %d of %d own messages", len(keep), len(own))
	}
	if len(evict) != maxOtherPending {
		t.Fatalf("evicted %d others to make room for own messages, want all %d", len(evict), maxOtherPending)
	}
	p.remove(evict...)
	for _, m := range keep {
		p.add(m)
	}
	if p.otherLen() != 0 || p.ownLen() != 5000 {
		t.Fatalf("pool holds %d others, %d own; want 0 and 5000", p.otherLen(), p.ownLen())
	}
	if p.bytes() <= maxPoolBytes {
		t.Fatalf("pool bytes %d: the test meant own messages to exceed the bound", p.bytes())
	}
	// Next own message to mine is still the oldest signed.
	if m, ok := p.next(); !ok || m.TimeStamp != chain.FormatTime(base.UnixMilli()) {
		t.Fatalf("next own message %v %v, want the oldest signed", m.TimeStamp, ok)
	}
}

// TestPoolOrder checks the pool's orders: mining takes own messages by
// signing time whatever order they arrive in, list gives everything by
// signing time then arrival, and removals keep both.
func TestPoolOrder(t *testing.T) {
	p := newPool(benchSender)
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	ms := benchPending(30, base, benchSender, benchOther)
	for _, i := range []int{5, 29, 0, 17, 3, 12, 9, 28, 1, 2, 4, 6, 7, 8, 10, 11, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27} {
		p.add(ms[i])
	}
	p.remove(ms[0].MessageID, ms[9].MessageID, ms[1].MessageID)
	var gotOwn []string
	for {
		m, ok := p.next()
		if !ok {
			break
		}
		gotOwn = append(gotOwn, m.TimeStamp)
		if got := p.list(); len(got) != 27-len(gotOwn)+1 || got[0].TimeStamp > m.TimeStamp {
			t.Fatalf("list of %d starts at %s while mining %s", len(got), got[0].TimeStamp, m.TimeStamp)
		}
		p.remove(m.MessageID)
	}
	if !slices.IsSorted(gotOwn) || len(gotOwn) != 8 {
		t.Fatalf("own messages mined in order %v, want 8 by signing time", gotOwn)
	}
	got := p.list()
	for i := 1; i < len(got); i++ {
		if got[i-1].TimeStamp > got[i].TimeStamp {
			t.Fatalf("list out of order at %d: %s after %s", i, got[i].TimeStamp, got[i-1].TimeStamp)
		}
	}
}

// TestPoolTrimmedAtOpen: a pool stored by a version that bounded nothing
// (other authors' messages with no entry time, more than the bound) is cut
// to its bounds when the node opens, before the loop runs, in memory and
// on disk; own messages all stay. It used to wait for the loop's first
// transaction, which held the loop while it dropped them all.
func TestPoolTrimmedAtOpen(t *testing.T) {
	dir := t.TempDir()
	nd, err := Open(Config{DataDir: dir, Difficulty: testDifficulty, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := benchPending(900, now.Add(-48*time.Hour).UnixMilli(), nd.Sender(), benchOther) // 300 own, 600 others
	fresh := benchPending(maxOtherPending+200, now.Add(-time.Hour).UnixMilli(), "", benchOther)
	for i := range fresh {
		fresh[i].MessageID = sha256.Sum256(fmt.Appendf(nil, "fresh %d", i))
		fresh[i].Sender, fresh[i].Own = benchOther, false
		fresh[i].AddedAt = now.Add(-time.Hour).UnixMilli() + int64(i)
	}
	if err := nd.store.Apply(store.Update{AddPending: append(old, fresh...)}); err != nil {
		t.Fatal(err)
	}
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}

	nd, err = Open(Config{DataDir: dir, Difficulty: testDifficulty, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	if nd.pool.ownLen() != 300 || nd.pool.otherLen() != maxOtherPending {
		t.Fatalf("opened with %d own and %d others pending; want all 300 own and the bound %d of others",
			nd.pool.ownLen(), nd.pool.otherLen(), maxOtherPending)
	}
	for i, m := range fresh {
		if kept := nd.pool.has(m.MessageID); kept != (i >= 200) {
			t.Fatalf("fresh message %d kept %v: the oldest arrivals go first", i, kept)
		}
	}
	checkPoolMatchesStore(t, nd)
}
