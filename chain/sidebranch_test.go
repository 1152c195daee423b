package chain_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/wallet"
)

// workOf is the work of a chain of n blocks at the tests' difficulty.
func workOf(n int64) *big.Int {
	return new(big.Int).Mul(chain.BlockWork(testDifficulty), big.NewInt(n))
}

func node(t *testing.T, ix *chain.Index, b chain.Block) *chain.Node {
	t.Helper()
	h, _ := chain.ParseHash(b.Hash)
	n := ix.Node(h)
	if n == nil {
		t.Fatalf("block %s is not in the index", b.Message)
	}
	return n
}

func TestDeepForkNeedsMoreWork(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	best := branch(t, w, g, "best", chain.MaxForkDepth+10)
	ix := chain.NewIndex(testDifficulty)
	addAll(t, ix, best)
	tip := int64(len(best))
	for _, c := range []struct {
		name    string
		parent  *chain.Node
		endWork *big.Int
		deep    bool
	}{
		{"from genesis, lighter", ix.Genesis(), workOf(5), true},
		{"from genesis, one block short", ix.Genesis(), workOf(tip - 1), true},
		{"from genesis, equal work (the smaller hash may win)", ix.Genesis(), workOf(tip), false},
		{"from genesis, heavier", ix.Genesis(), workOf(tip + 1), false},
		{"from just below the depth", node(t, ix, best[8]), workOf(12), true},
		{"from the depth", node(t, ix, best[9]), workOf(12), false},
		{"from the tip", ix.Tip(), workOf(tip + 1), false},
	} {
		if got := ix.DeepFork(c.parent, c.endWork); got != c.deep {
			t.Errorf("%s (fork at %d): deep %v, want %v", c.name, c.parent.Height, got, c.deep)
		}
	}
	// A side branch's own fork point counts, not its parent's height.
	side := branch(t, w, best[8], "side", 3)
	addAll(t, ix, side)
	if !ix.DeepFork(node(t, ix, side[2]), workOf(13)) {
		t.Error("a block on a branch forking at height 9 is not deep")
	}
}

func TestPruneStaleForgetsDeepSideBranches(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	best := branch(t, w, g, "best", 50)
	deep := branch(t, w, best[9], "deep", 3)   // forks at 10
	shallow := branch(t, w, best[44], "sh", 2) // forks at 45
	ix := chain.NewIndex(testDifficulty)
	addAll(t, ix, best)
	addAll(t, ix, deep)
	addAll(t, ix, shallow)
	if got := ix.SideBlocks(); got != 5 {
		t.Fatalf("side blocks %d, want 5", got)
	}
	if got := ix.PruneStale(); len(got) != 0 {
		t.Fatalf("pruned %d blocks while every branch is within %d of the tip", len(got), chain.MaxForkDepth)
	}
	more := branch(t, w, best[49], "more", chain.MaxForkDepth-35) // tip at 115: floor 15
	addAll(t, ix, more)
	pruned := ix.PruneStale()
	if got, want := len(pruned), len(deep); got != want {
		t.Fatalf("pruned %d blocks, want %d", got, want)
	}
	for _, b := range deep {
		h, _ := chain.ParseHash(b.Hash)
		if ix.Node(h) != nil || ix.Has(h) {
			t.Errorf("pruned block %s still indexed", b.Message)
		}
	}
	for _, b := range shallow {
		node(t, ix, b)
	}
	if got := ix.SideBlocks(); got != len(shallow) {
		t.Errorf("side blocks %d, want %d", got, len(shallow))
	}
	// A pruned block is forgotten, not refused: it may come back.
	if _, err := ix.Add(&deep[0], testNow); err != nil {
		t.Errorf("re-adding a pruned block: %v", err)
	}
}

func TestSideBlocksFollowReorganisations(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	a := branch(t, w, g, "a", 3)
	b := branch(t, w, g, "b", 5)
	ix := chain.NewIndex(testDifficulty)
	addAll(t, ix, a)
	addAll(t, ix, b)
	// b won: a's 3 blocks are the side now.
	if got := ix.SideBlocks(); got != len(a) {
		t.Fatalf("side blocks %d after the reorganisation, want %d", got, len(a))
	}
	for _, blk := range a {
		if ix.OnBest(node(t, ix, blk)) {
			t.Errorf("%s still on the best chain", blk.Message)
		}
	}
}

func TestCompetesWithinTheRelayWindow(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	best := branch(t, w, g, "best", 20)
	near := branch(t, w, best[20-chain.RelayWindow-1], "near", 1) // trails by RelayWindow
	far := branch(t, w, best[20-chain.RelayWindow-3], "far", 1)   // trails by RelayWindow+2
	ix := chain.NewIndex(testDifficulty)
	addAll(t, ix, best)
	addAll(t, ix, near)
	addAll(t, ix, far)
	for _, c := range []struct {
		b    chain.Block
		want bool
	}{{best[19], true}, {best[3], true}, {near[0], true}, {far[0], false}} {
		if got := ix.Competes(node(t, ix, c.b)); got != c.want {
			t.Errorf("%s competes %v, want %v", c.b.Message, got, c.want)
		}
	}
}

// junkOrphan is a block with valid proof of work and signature whose parent
// nobody has.
func junkOrphan(t *testing.T, w *wallet.Wallet, i int, msg string) chain.Block {
	t.Helper()
	parent := chain.Block{Number: 7, Hash: chain.Hash{0xee, byte(i >> 8), byte(i)}.String()}
	return mine(t, w, parent, msg, 1795329000000+int64(i))
}

func TestFloodingPeerEvictsOnlyItsOwnOrphans(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	honest := branch(t, w, g, "honest", 2) // the second arrives first: an orphan
	ix := chain.NewIndex(testDifficulty)
	r, err := ix.AddFrom(&honest[1], nil, "honest", testNow)
	if err != nil || !r.Orphan {
		t.Fatalf("honest orphan: %+v, %v", r, err)
	}
	// One signed message under ever new parents: each copy is a distinct
	// block with valid work and signature, and signing once keeps the test
	// fast (the pool still verifies every copy).
	junk := junkOrphan(t, w, 0, "junk")
	start := time.Now()
	flood := 2000
	if raceDetector {
		flood = chain.MaxOrphans + 64 // still evicts 65 times
	}
	for i := 0; i < flood; i++ {
		junk.PrevHash = chain.Hash{0xee, byte(i >> 8), byte(i)}.String()
		reseal(t, &junk)
		if _, err := ix.AddFrom(&junk, nil, "flood", testNow); err != nil {
			t.Fatalf("junk %d: %v", i, err)
		}
	}
	t.Logf("%d junk orphans in %v", flood, time.Since(start))
	if got := ix.Orphans(); got != chain.MaxOrphans {
		t.Errorf("pool holds %d orphans, want the bound %d", got, chain.MaxOrphans)
	}
	if got := ix.OrphansOf("honest"); got != 1 {
		t.Fatalf("the honest peer's orphan was evicted by the flood (it holds %d)", got)
	}
	// Its parent arrives: the held orphan connects.
	r, err = ix.AddFrom(&honest[0], nil, "honest", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Tip().Hash.String() != honest[1].Hash || len(r.Accepted) != 2 {
		t.Fatalf("tip at height %d after the parent came, want the held orphan on it", ix.Height())
	}
	if got := ix.OrphansOf("honest"); got != 0 {
		t.Errorf("the connected orphan still counts for its sender (%d)", got)
	}
}

func TestOrphanIsCheckedBeforeItIsHeld(t *testing.T) {
	w := testWallet(t)
	ix := chain.NewIndex(testDifficulty)

	forged := junkOrphan(t, w, 1, "signed by someone else")
	other := mine(t, w, chain.Genesis(testDifficulty), "another message", 1795329000000)
	forged.Signature = other.Signature
	reseal(t, &forged)
	_, err := ix.AddFrom(&forged, nil, "peer", testNow)
	if chain.CodeOf(err) != chain.InvalidSignature {
		t.Fatalf("orphan with a bad signature: %v, want InvalidSignature", err)
	}
	h, _ := chain.ParseHash(forged.Hash)
	if ix.Orphans() != 0 || ix.Has(h) {
		t.Fatal("an orphan with a bad signature is held")
	}
	if ix.InvalidCode(h) != chain.InvalidSignature {
		t.Error("the bad orphan's hash, which was verified, is not remembered as invalid")
	}

	// A time too far ahead is refused but not remembered: it may be valid later.
	ahead := junkOrphan(t, w, 2, "from the future")
	ahead.TimeStamp = chain.FormatTime(testNow.Add(chain.MaxFutureDrift + time.Second).UnixMilli())
	sender, stamp, sig := w.SignMessage(ahead.Message, testNow.Add(chain.MaxFutureDrift+time.Second).UnixMilli())
	ahead.Sender, ahead.TimeStamp, ahead.Signature = sender, stamp, sig
	reseal(t, &ahead)
	_, err = ix.AddFrom(&ahead, nil, "peer", testNow)
	if !chain.TooFarAhead(err) {
		t.Fatalf("orphan too far ahead: %v, want InvalidTimestamp", err)
	}
	ah, _ := chain.ParseHash(ahead.Hash)
	if ix.Orphans() != 0 || ix.InvalidCode(ah) != 0 {
		t.Errorf("orphans %d, remembered %v: a future orphan must be neither held nor remembered", ix.Orphans(), ix.InvalidCode(ah))
	}
	if r, err := ix.AddFrom(&ahead, nil, "peer", testNow.Add(time.Second)); err != nil || !r.Orphan {
		t.Errorf("the same orphan once its time came: %+v, %v", r, err)
	}
}
