package chain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/wallet"
)

const testDifficulty = 4

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testWallet(t testing.TB) *wallet.Wallet {
	t.Helper()
	w, err := wallet.FromMnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "TREZOR")
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// mine builds a valid block with message msg on parent.
func mine(t testing.TB, w *wallet.Wallet, parent chain.Block, msg string, ts int64) chain.Block {
	t.Helper()
	sender, stamp, sig := w.SignMessage(msg, ts)
	b := chain.Block{
		Number: parent.Number + 1, PrevHash: parent.Hash, Message: msg, Sender: sender,
		TimeStamp: stamp, Difficulty: testDifficulty, Signature: sig,
	}
	reseal(t, &b)
	return b
}

// reseal mines b again after a change, so only the change makes it invalid.
func reseal(t testing.TB, b *chain.Block) {
	t.Helper()
	p, err := b.Parse()
	if err != nil {
		t.Fatal(err)
	}
	nonce, h, ok, tried := pow.NewTemplate(p.Header, testDifficulty).Search(0, 1, 1<<20)
	if !ok {
		t.Fatal("no nonce found")
	}
	b.Nonce, b.ProofOfWork, b.Hash = nonce, tried, h.String()
}

// branch mines n blocks on parent, messages prefixed by name.
func branch(t testing.TB, w *wallet.Wallet, parent chain.Block, name string, n int) []chain.Block {
	t.Helper()
	var out []chain.Block
	ts := int64(1795329000000)
	for i := 0; i < n; i++ {
		b := mine(t, w, parent, fmt.Sprintf("%s-%d", name, i+1), ts+int64(len(name))*1000+int64(i))
		out = append(out, b)
		parent = b
	}
	return out
}

func hashes(ns []*chain.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Hash.String())
	}
	return out
}

func blockHashes(bs []chain.Block) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Hash)
	}
	return out
}

func reversed(s []string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[len(s)-1-i] = s[i]
	}
	return out
}

func addAll(t *testing.T, ix *chain.Index, bs []chain.Block) []*chain.Result {
	t.Helper()
	var rs []*chain.Result
	for i := range bs {
		r, err := ix.Add(&bs[i], testNow)
		if err != nil {
			t.Fatalf("Add %s: %v", bs[i].Message, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReorganisations(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	for _, c := range []struct {
		name       string
		best, side int // lengths of the first branch and the competing one
	}{
		{"depth 1", 1, 2},
		{"depth 5", 5, 6},
		{"depth 3 to a much longer branch", 3, 9},
	} {
		t.Run(c.name, func(t *testing.T) {
			ix := chain.NewIndex(testDifficulty)
			a := branch(t, w, g, "a", c.best)
			b := branch(t, w, g, "b", c.side)
			addAll(t, ix, a)
			rs := addAll(t, ix, b)
			// The reorganisation happens when b passes a's work.
			var reorg *chain.Result
			for _, r := range rs {
				if r.Reorg() {
					if reorg != nil {
						t.Fatal("two reorganisations")
					}
					reorg = r
				}
			}
			if reorg == nil {
				t.Fatal("no reorganisation")
			}
			if got, want := hashes(reorg.Disconnected), reversed(blockHashes(a)); !equal(got, want) {
				t.Errorf("disconnected %v, want %v", got, want)
			}
			// At equal work the smaller tip hash may already win.
			k := len(reorg.Connected)
			if k != c.best && k != c.best+1 {
				t.Fatalf("connected %d blocks, want %d or %d", k, c.best, c.best+1)
			}
			if got, want := hashes(reorg.Connected), blockHashes(b[:k]); !equal(got, want) {
				t.Errorf("connected %v, want %v", got, want)
			}
			if got := ix.Tip().Hash.String(); got != b[len(b)-1].Hash {
				t.Errorf("tip %s, want b's tip", got)
			}
			for _, blk := range a {
				p, _ := blk.Parse()
				if _, on := ix.HasMessage(p.MessageID); on {
					t.Errorf("message %q of the losing branch still indexed on the best chain", blk.Message)
				}
			}
		})
	}
}

func TestEqualWorkTieInBothOrders(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	x := branch(t, w, g, "x", 2)
	y := branch(t, w, g, "yy", 2)
	want := x[1].Hash
	xh, _ := chain.ParseHash(x[1].Hash)
	yh, _ := chain.ParseHash(y[1].Hash)
	if yh.Less(xh) {
		want = y[1].Hash
	}
	for _, order := range [][]chain.Block{append(append([]chain.Block{}, x...), y...), append(append([]chain.Block{}, y...), x...)} {
		ix := chain.NewIndex(testDifficulty)
		addAll(t, ix, order)
		if got := ix.Tip().Hash.String(); got != want {
			t.Errorf("arrival order %s first: tip %s, want the smaller hash %s", order[0].Message, got, want)
		}
	}
}

func TestOrphansBeforeParents(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	bs := branch(t, w, g, "o", 4)
	ix := chain.NewIndex(testDifficulty)
	for i := 3; i >= 1; i-- {
		r, err := ix.Add(&bs[i], testNow)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Orphan {
			t.Fatalf("block %d with unknown parent was not held as an orphan", i+1)
		}
		if r.Missing.String() != bs[i].PrevHash && r.Missing.String() != bs[0].Hash {
			t.Errorf("missing %s, want an ancestor of block %d", r.Missing.Short(), i+1)
		}
	}
	if ix.Orphans() != 3 || ix.Height() != 0 {
		t.Fatalf("orphans %d height %d", ix.Orphans(), ix.Height())
	}
	r, err := ix.Add(&bs[0], testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Accepted) != 4 || len(r.Connected) != 4 || ix.Height() != 4 || ix.Orphans() != 0 {
		t.Fatalf("accepted %d connected %d height %d orphans %d", len(r.Accepted), len(r.Connected), ix.Height(), ix.Orphans())
	}
}

func TestDuplicateMessageOnlyAmongAncestors(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	a := branch(t, w, g, "a", 2)
	ix := chain.NewIndex(testDifficulty)
	addAll(t, ix, a)
	// a-1's signed message mined again on a-2: duplicate.
	again := a[0]
	again.Number, again.PrevHash = 3, a[1].Hash
	reseal(t, &again)
	_, err := ix.Add(&again, testNow)
	if chain.CodeOf(err) != chain.DuplicateMessage {
		t.Fatalf("got %v, want DuplicateMessage", err)
	}
	// The same message on a side branch from genesis is not a duplicate:
	// a block that lost a fork is mined again elsewhere.
	re := mine(t, w, g, "side-1", 1795329100000)
	if _, err := ix.Add(&re, testNow); err != nil {
		t.Fatal(err)
	}
	moved := a[1]
	moved.Number, moved.PrevHash = 2, re.Hash
	reseal(t, &moved)
	if _, err := ix.Add(&moved, testNow); err != nil {
		t.Fatalf("a-2's message on a side branch: %v", err)
	}
}

func TestInvalidBlockIsRememberedButFutureTimeIsNot(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	future := mine(t, w, g, "from the future", testNow.Add(3*time.Hour).UnixMilli())
	ix := chain.NewIndex(testDifficulty)
	if _, err := ix.Add(&future, testNow); chain.CodeOf(err) != chain.InvalidTimestamp {
		t.Fatalf("got %v, want InvalidTimestamp", err)
	}
	// Two hours later the same block is valid.
	if _, err := ix.Add(&future, testNow.Add(90*time.Minute)); err != nil {
		t.Fatalf("later: %v", err)
	}
	bad := mine(t, w, g, "tampered", 1795329000000)
	bad.Message = "tampered!"
	reseal(t, &bad)
	h, _ := chain.ParseHash(bad.Hash)
	_, err := ix.Add(&bad, testNow)
	var re *chain.RuleError
	if !errors.As(err, &re) || re.Code != chain.InvalidSignature {
		t.Fatalf("got %v, want InvalidSignature", err)
	}
	if ix.InvalidCode(h) != chain.InvalidSignature {
		t.Error("invalid block not remembered")
	}
	child := mine(t, w, bad, "child of bad", 1795329000001)
	if _, err := ix.Add(&child, testNow); chain.CodeOf(err) != chain.PreviousHashBlockError {
		t.Errorf("child of an invalid block: %v", err)
	}
}

func TestAfterAnswersGetBlocks(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	bs := branch(t, w, g, "c", 12)
	ix := chain.NewIndex(testDifficulty)
	addAll(t, ix, bs)
	h5, _ := chain.ParseHash(bs[4].Hash)
	unknown := chain.Hash{1}
	for _, c := range []struct {
		name    string
		locator []chain.Hash
		limit   int
		first   uint64
		n       int
	}{
		{"from block 5", []chain.Hash{unknown, h5}, 500, 6, 7},
		{"no known hash: from genesis", []chain.Hash{unknown}, 500, 1, 12},
		{"limited", nil, 3, 1, 3},
		{"at the tip", ix.Locator(), 500, 0, 0},
	} {
		got := ix.After(c.locator, c.limit)
		if len(got) != c.n || (c.n > 0 && got[0].Height != c.first) {
			t.Errorf("%s: %d blocks from %v, want %d from %d", c.name, len(got), got, c.n, c.first)
		}
	}
	loc := ix.Locator()
	if len(loc) != len(chain.LocatorHeights(12)) || loc[len(loc)-1] != ix.Genesis().Hash {
		t.Errorf("locator %v does not end at genesis", loc)
	}
}

func FuzzBlockDecodeValidate(f *testing.F) {
	data, err := os.ReadFile("testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		f.Fatal(err)
	}
	var v struct {
		ChainD8 []struct {
			Block json.RawMessage `json:"block"`
		} `json:"chain_d8"`
		Invalid []struct {
			Block json.RawMessage `json:"block"`
		} `json:"invalid_after_genesis_d8"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		f.Fatal(err)
	}
	for _, c := range v.ChainD8 {
		f.Add([]byte(c.Block))
	}
	for _, c := range v.Invalid {
		f.Add([]byte(c.Block))
	}
	f.Add([]byte(`{"number_of_block":1.5}`))
	f.Add([]byte(`[]`))
	g := chain.Genesis(8)
	gh, _ := chain.ParseHash(g.Hash)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b chain.Block
		if err := json.Unmarshal(raw, &b); err != nil {
			var re *chain.RuleError
			if json.Valid(raw) && !errors.As(err, &re) {
				t.Fatalf("decode error without a rule code: %v", err)
			}
			return
		}
		p, err := chain.Validate(&b, chain.Parent{Number: b.Number - 1, Hash: gh}, 8, testNow)
		if err != nil {
			if chain.CodeOf(err) == 0 {
				t.Fatalf("validation error without a rule code: %v", err)
			}
			return
		}
		// A valid block survives a round trip unchanged.
		again, err := json.Marshal(&b)
		if err != nil {
			t.Fatal(err)
		}
		var b2 chain.Block
		if err := json.Unmarshal(again, &b2); err != nil || b2 != b {
			t.Fatalf("round trip changed the block: %v", err)
		}
		if p.Hash.String() != b.Hash {
			t.Fatal("valid block's hash is not its header's")
		}
	})
}

func TestForgedCopyCannotGetTheRealBlockRefused(t *testing.T) {
	w := testWallet(t)
	g := chain.Genesis(testDifficulty)
	real := branch(t, w, g, "r", 2)
	ix := chain.NewIndex(testDifficulty)
	for _, forge := range []func(b *chain.Block){
		func(b *chain.Block) { b.Number = 99 },                     // rule 1, before the hash
		func(b *chain.Block) { b.Difficulty = testDifficulty + 1 }, // rule 2
		func(b *chain.Block) { b.TimeStamp = "yesterday" },         // unparseable time
		func(b *chain.Block) { b.Message = "" },                    // hash no longer matches
		func(b *chain.Block) { b.PrevHash = chain.Hash{9}.String() },
		func(b *chain.Block) { b.Sender = strings.ToUpper(b.Sender) }, // bad hex, before the hash
		func(b *chain.Block) { b.Signature = "zz" + b.Signature[2:] }, // bad hex, before the hash
		func(b *chain.Block) { b.TimeStamp = b.TimeStamp[:19] + "Z" }, // format, before the hash
	} {
		fake := real[0]
		forge(&fake)
		if _, err := ix.Add(&fake, testNow); err == nil {
			t.Fatalf("forged copy %+v accepted", fake)
		}
	}
	addAll(t, ix, real)
	if ix.Height() != 2 {
		t.Fatalf("height %d: the real blocks were refused after forged copies", ix.Height())
	}
	if got := ix.After(nil, 0); len(got) != 0 {
		t.Errorf("get_blocks with limit 0 gave %d blocks, want min(0, 500) = 0", len(got))
	}
}
