package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/pow"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/wallet"
)

// TestNodesThatMinedApartMeet: two nodes that mined 120 and 130 blocks
// apart, from genesis, meet. The lighter one disconnects its whole stored
// best chain in one store transaction, which hung in bbolt for good
// (Cursor.Last after every best-chain key was deleted). Both must end on one
// chain built on the heavier tip, every own message of the lighter node
// re-mined on it exactly once, in both directions of dialling.
//
// The chains are built straight into the data directories (real blocks,
// signed by the nodes' own wallets, at the test difficulty) rather than
// mined through Post, which under -race takes ten times as long. The
// lighter chain's first 100 blocks carry a third author's messages, which
// the lighter node must not mine; its last 20 are its own.
func TestNodesThatMinedApartMeet(t *testing.T) {
	const lightN, ownN, heavyN = 120, 20, 130
	for _, lightDials := range []bool{true, false} {
		name := "heavier dials lighter"
		if lightDials {
			name = "lighter dials heavier"
		}
		t.Run(name, func(t *testing.T) {
			lightDir, heavyDir := t.TempDir(), t.TempDir()
			g := chain.Genesis(testDifficulty)
			third, err := wallet.New()
			if err != nil {
				t.Fatal(err)
			}
			lightChain := mineChainBy(t, third, g, lightN-ownN, "third")
			lightChain = append(lightChain, mineChainBy(t, dataDirWallet(t, lightDir), lightChain[len(lightChain)-1], ownN, "light")...)
			heavyChain := mineChainBy(t, dataDirWallet(t, heavyDir), g, heavyN, "heavy")
			storeChain(t, lightDir, lightChain)
			storeChain(t, heavyDir, heavyChain)
			var own []string
			for _, b := range lightChain[lightN-ownN:] {
				own = append(own, b.Message)
			}

			light := startNode(t, "light", withDataDir(lightDir))
			heavy := startNode(t, "heavy", withDataDir(heavyDir))
			if light.height() != lightN || heavy.height() != heavyN {
				t.Fatalf("heights %d and %d, want %d and %d", light.height(), heavy.height(), lightN, heavyN)
			}
			sizes := []int64{dirSize(t, lightDir), dirSize(t, heavyDir)}

			meet := time.Now()
			dialer, other := heavy, light
			if lightDials {
				dialer, other = light, heavy
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := dialer.Connect(ctx, other.Addr()); err != nil {
				t.Fatal(err)
			}
			reorg := light.waitFor("the reorganisation", 30*time.Second, isKind("reorg")).(Reorg)
			if reorg.OldHeight != lightN || reorg.Depth != lightN || reorg.NewHeight != heavyN {
				t.Errorf("reorg %+v, want all %d blocks of the lighter chain replaced by the %d of the heavier", reorg, lightN, heavyN)
			}
			if reorg.Returned != lightN {
				t.Errorf("reorg returned %d messages to the pool, want all %d", reorg.Returned, lightN)
			}
			reorgAfter := time.Since(meet)
			total := uint64(heavyN + ownN)
			light.eventually("own messages re-mined", 60*time.Second, func() bool { return light.height() >= total })
			_, tip := light.Tip()
			heavy.waitTip(tip, 30*time.Second)
			t.Logf("reorganised from genesis %d -> %d blocks after %v; both on height %d after %v",
				lightN, heavyN, reorgAfter.Round(time.Millisecond), total, time.Since(meet).Round(time.Millisecond))

			got := bestMessages(t, light.Node)
			if len(got) != int(total) {
				t.Fatalf("chain holds %d messages, want %d", len(got), total)
			}
			for i, b := range heavyChain {
				if got[i] != b.Message {
					t.Fatalf("block %d holds %q, want the heavier branch's %q", i+1, got[i], b.Message)
				}
			}
			count := map[string]int{}
			for _, m := range got[heavyN:] {
				count[m]++
			}
			for _, m := range own {
				if count[m] != 1 {
					t.Errorf("%q is on the chain %d times, want once", m, count[m])
				}
			}
			// Re-mined exactly once: one BlockMined each after the reorg,
			// and none for the third author's messages.
			light.drain()
			mined := map[string]int{}
			after := false
			light.mu.Lock()
			for _, ev := range light.log {
				switch p := ev.Payload.(type) {
				case Reorg:
					after = true
				case BlockMined:
					if after {
						mined[p.Message]++
					}
				}
			}
			light.mu.Unlock()
			for _, m := range own {
				if mined[m] != 1 {
					t.Errorf("%q mined %d times after the reorg, want once", m, mined[m])
				}
			}
			if len(mined) != ownN {
				t.Errorf("the lighter node mined %d messages after the reorg, want its %d own", len(mined), ownN)
			}
			light.stop()
			heavy.stop()
			for i, n := range []*testNode{light, heavy} {
				sum, err := Verify(context.Background(), n.cfg.DataDir, testDifficulty, true, time.Now())
				if err != nil || sum.Blocks != int(total) {
					t.Errorf("%s: verify: %d blocks, %v; want %d", n.name, sum.Blocks, err, total)
				}
				t.Logf("%s: data dir %d KiB before, %d KiB after", n.name, sizes[i]/1024, dirSize(t, n.cfg.DataDir)/1024)
			}
		})
	}
}

// dataDirWallet is the wallet a node opened on dir will use.
func dataDirWallet(t testing.TB, dir string) *wallet.Wallet {
	t.Helper()
	w, _, err := wallet.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// mineChainBy builds n valid blocks on parent, signed by w, at the test
// difficulty, with signing times an hour ago.
func mineChainBy(t testing.TB, w *wallet.Wallet, parent chain.Block, n int, prefix string) []chain.Block {
	t.Helper()
	var out []chain.Block
	ts := time.Now().Add(-time.Hour).UnixMilli()
	for i := range n {
		msg := fmt.Sprintf("%s %d", prefix, i+1)
		sender, stamp, sig := w.SignMessage(msg, ts+int64(i))
		b := chain.Block{Number: parent.Number + 1, PrevHash: parent.Hash, Message: msg,
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

// storeChain writes blocks as the best chain of dir's store, as a node that
// mined or synced them would have left it.
func storeChain(t testing.TB, dir string, blocks []chain.Block) {
	t.Helper()
	st, err := store.Open(StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var u store.Update
	for i := range blocks {
		b := &blocks[i]
		p, err := b.Parse()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := chain.ParseHash(b.Hash)
		u.Blocks = append(u.Blocks, b)
		u.Connect = append(u.Connect, store.Entry{Height: b.Number, Hash: h, MessageID: p.MessageID})
	}
	if err := st.Apply(u); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeta(metaDifficulty, []byte(fmt.Sprint(testDifficulty))); err != nil {
		t.Fatal(err)
	}
}

// drain records the events already delivered, without waiting.
func (tn *testNode) drain() {
	for {
		select {
		case ev := <-tn.events:
			tn.mu.Lock()
			tn.log = append(tn.log, ev)
			tn.mu.Unlock()
		default:
			return
		}
	}
}

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
