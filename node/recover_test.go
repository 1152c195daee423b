package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/wallet"
)

// tamperStoredBlock rewrites the stored JSON of the best chain's block at
// height h, as a disk fault or a meddling user might.
func tamperStoredBlock(t *testing.T, dataDir string, h uint64, change func(*chain.Block)) {
	t.Helper()
	db, err := bbolt.Open(StorePath(dataDir), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		var key [8]byte
		for i := 0; i < 8; i++ {
			key[7-i] = byte(h >> (8 * i))
		}
		hash := tx.Bucket([]byte("best")).Get(key[:])
		if hash == nil {
			return fmt.Errorf("no best entry at %d", h)
		}
		blocks := tx.Bucket([]byte("blocks"))
		var b chain.Block
		if err := json.Unmarshal(blocks.Get(hash), &b); err != nil {
			return err
		}
		change(&b)
		raw, err := json.Marshal(&b)
		if err != nil {
			return err
		}
		return blocks.Put(append([]byte(nil), hash...), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDamagedStoredChainKeepsValidPrefix(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, "a", withDataDir(dir), withoutListen())
	for i := 1; i <= 6; i++ {
		a.post(fmt.Sprintf("m%d", i))
	}
	a.waitFor("m6", 20*time.Second, minedMessage("m6"))
	a.stop()

	tamperStoredBlock(t, dir, 4, func(b *chain.Block) { b.Message = "rewritten on disk" })

	b := startNode(t, "b", withDataDir(dir), withoutListen())
	if b.height() != 3 {
		t.Fatalf("height after damage at 4: %d, want the valid prefix of 3", b.height())
	}
	warn := b.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
	if !strings.Contains(warn.Message, "damaged at height 4") {
		t.Errorf("warning %q does not say where the chain was damaged", warn.Message)
	}
	// The node carries on: m5 and m6, still readable and signed by this
	// wallet, are mined again on the valid prefix; the rewritten m4 is not
	// this wallet's message any more and is dropped.
	b.waitFor("m6 again", 20*time.Second, minedMessage("m6"))
	b.post("after repair")
	mined := b.waitFor("mined", 20*time.Second, minedMessage("after repair")).(BlockMined)
	if mined.Height != 6 {
		t.Errorf("mined at height %d, want 6", mined.Height)
	}
	b.stop()
	c := startNode(t, "c", withDataDir(dir), withoutListen())
	if got := bestMessages(t, c.Node); strings.Join(got, ",") != "m1,m2,m3,m5,m6,after repair" {
		t.Fatalf("after restart %q", got)
	}
}

func TestGarbageStoreFileIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	a := startNode(t, "a", withDataDir(dir), withoutListen())
	a.post("before")
	a.waitFor("mined", 20*time.Second, minedMessage("before"))
	a.stop()
	if err := os.WriteFile(StorePath(dir), []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, "b", withDataDir(dir), withoutListen())
	warn := b.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
	if !strings.Contains(warn.Message, "moved to") {
		t.Errorf("warning %q", warn.Message)
	}
	if b.height() != 0 {
		t.Errorf("height %d on a fresh store", b.height())
	}
	matches, _ := os.ReadDir(dir)
	aside := false
	for _, m := range matches {
		aside = aside || strings.Contains(m.Name(), ".damaged-")
	}
	if !aside {
		t.Error("the damaged file was not kept")
	}
	// The same wallet is kept.
	if b.Sender() != a.Sender() {
		t.Error("wallet changed")
	}
}

// thirdChain is a valid chain of n blocks by a wallet no test node has,
// built once per test binary run and size: signing is the slow part.
var thirdChains sync.Map // int -> []chain.Block

func thirdChain(t *testing.T, n int) []chain.Block {
	t.Helper()
	if c, ok := thirdChains.Load(n); ok {
		return c.([]chain.Block)
	}
	w, err := wallet.New()
	if err != nil {
		t.Fatal(err)
	}
	c := mineChainBy(t, w, chain.Genesis(testDifficulty), n, "third")
	thirdChains.Store(n, c)
	return c
}

// writeBlockRecord replaces the stored record of block hash with raw.
func writeBlockRecord(t *testing.T, dataDir, hash string, raw []byte) {
	t.Helper()
	db, err := bbolt.Open(StorePath(dataDir), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := chain.ParseHash(hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("blocks")).Put(h[:], raw) }); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedRecordIsReplacedWhenFetchedAgain: a block record that no
// longer decodes cuts the chain back to the block before it; the block
// fetched again from a peer must replace the broken record, or the best
// chain runs through it for good ("chain data unavailable", verify fails,
// and every restart cuts back again).
func TestDamagedRecordIsReplacedWhenFetchedAgain(t *testing.T) {
	const n, bad = 40, 17
	blocks := thirdChain(t, n)
	dir, peerDir := t.TempDir(), t.TempDir()
	storeChain(t, dir, blocks)
	storeChain(t, peerDir, blocks)
	writeBlockRecord(t, dir, blocks[bad-1].Hash, []byte(`{"number_of_block":17,"garbage`))

	peer := startNode(t, "peer", withDataDir(peerDir))
	a := startNode(t, "a", withDataDir(dir), withoutListen(), withPeers(peer.Addr()))
	warn := a.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
	if !strings.Contains(warn.Message, fmt.Sprintf("damaged at height %d", bad)) {
		t.Errorf("warning %q does not say where the chain was damaged", warn.Message)
	}
	a.waitTip(blocks[n-1].Hash, 20*time.Second)
	a.stop()
	sum, err := Verify(context.Background(), dir, testDifficulty, true, time.Now())
	if err != nil || sum.Blocks != n {
		t.Fatalf("verify after the block was fetched again: %d blocks, %v; want %d", sum.Blocks, err, n)
	}
	again := startNode(t, "a again", withDataDir(dir), withoutListen())
	if again.height() != n {
		t.Errorf("height after restart %d, want %d", again.height(), n)
	}
	if again.recovered != "" {
		t.Errorf("restart still recovers: %s", again.recovered)
	}
}

// bestLeafPages finds the live leaf pages of the best-chain bucket of the
// store at path and the first height on each. bbolt tells the live leaves
// (Tx.Page); the bytes tell the best bucket's (8-byte keys, 32-byte values).
func bestLeafPages(t *testing.T, path string) (pageSize int, pages map[int]uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.Info().PageSize
	pages = map[int]uint64{}
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type != "leaf" || info.Count == 0 {
				continue
			}
			p := raw[id*pageSize:]
			best := true
			var first uint64
			for i := 0; i < info.Count && best; i++ {
				el := p[16+16*i:] // flags, pos, ksize, vsize after a 16-byte header
				pos, ks, vs := binary.LittleEndian.Uint32(el[4:]), binary.LittleEndian.Uint32(el[8:]), binary.LittleEndian.Uint32(el[12:])
				best = binary.LittleEndian.Uint32(el) == 0 && ks == 8 && vs == 32
				if best && i == 0 {
					first = binary.BigEndian.Uint64(el[pos : pos+8])
				}
			}
			if best {
				pages[id] = first
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return pageSize, pages
}

// TestDamagedChainPagesAreSalvaged: damage inside the best chain's pages
// (bbolt fails reading them) stopped the node with no way forward. The node
// must start, keep the readable valid prefix and its pending pool, move the
// damaged file aside and say where, and catch up from a peer.
func TestDamagedChainPagesAreSalvaged(t *testing.T) {
	const n = 300
	blocks := thirdChain(t, n)
	tests := []struct {
		name   string
		damage func(raw []byte, pageSize, id int)
	}{
		{"garbage page", func(raw []byte, ps, id int) {
			for i := id * ps; i < (id+1)*ps; i++ {
				raw[i] = byte(i*7 + 3)
			}
		}},
		{"zeroed pages", func(raw []byte, ps, id int) { clear(raw[id*ps : (id+2)*ps]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A peer of its own: one shared with the other case would hold
			// that case's re-mined block as well.
			peerDir := t.TempDir()
			storeChain(t, peerDir, blocks)
			peer := startNode(t, "peer", withDataDir(peerDir))
			dir := t.TempDir()
			storeChain(t, dir, blocks)
			// A message of this node's, still pending, must survive.
			w := dataDirWallet(t, dir)
			sender, stamp, sig := w.SignMessage("still pending", time.Now().UnixMilli())
			id := chain.MessageID(w.Sender(), mustTime(t, stamp), "still pending")
			st, err := store.Open(StorePath(dir))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AddPending(store.Pending{MessageID: id, Message: "still pending", Sender: sender, TimeStamp: stamp, Signature: sig, Own: true}); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			path := StorePath(dir)
			ps, pages := bestLeafPages(t, path)
			page, first := 0, uint64(0)
			for id, h := range pages {
				if page == 0 || max(h, n/2)-min(h, n/2) < max(first, n/2)-min(first, n/2) {
					page, first = id, h
				}
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			before := len(raw)
			tc.damage(raw, ps, page)
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}

			a := startNode(t, "a", withDataDir(dir), withoutListen())
			warn := a.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
			kept := a.height()
			t.Logf("damaged page %d (heights from %d); kept %d blocks; %s", page, first, kept, warn.Message)
			if kept < first-1 || kept >= n {
				t.Errorf("kept %d blocks, want the %d before the damaged page", kept, first-1)
			}
			matches, _ := filepath.Glob(path + ".damaged-*")
			if len(matches) != 1 || !strings.Contains(warn.Message, "moved to "+matches[0]) {
				t.Errorf("warning %q does not name the moved file (found %v)", warn.Message, matches)
			}
			if aside, err := os.Stat(matches[0]); err != nil || aside.Size() != int64(before) {
				t.Errorf("the damaged file was not kept as it was: %v", err)
			}
			a.waitFor("the pending message", 20*time.Second, minedMessage("still pending"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.Connect(ctx, peer.Addr()); err != nil {
				t.Fatal(err)
			}
			// The peer's chain is heavier: the node takes it and mines its
			// message again on top.
			a.eventually("resynced", 30*time.Second, func() bool { return a.height() == n+1 })
			_, tip := a.Tip()
			peer.waitTip(tip, 10*time.Second)
			a.stop()
			sum, err := Verify(context.Background(), dir, testDifficulty, true, time.Now())
			if err != nil || sum.Blocks != n+1 {
				t.Fatalf("verify after the resync: %d blocks, %v; want %d", sum.Blocks, err, n+1)
			}
			if got := bestMessages(t, startNode(t, "a again", withDataDir(dir), withoutListen()).Node); got[n] != "still pending" {
				t.Errorf("after restart the tip holds %q", got[n])
			}
		})
	}
}

// TestDamagedFreeListIsSalvaged: a damaged free list makes bbolt refuse to
// open the file for writing, though every record still reads. The node
// must carry all of it (chain, pool) into a new file through a read-only
// open, not start empty.
func TestDamagedFreeListIsSalvaged(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	storeChain(t, dir, thirdChain(t, n))
	w := dataDirWallet(t, dir)
	sender, stamp, sig := w.SignMessage("still pending", time.Now().UnixMilli())
	st, err := store.Open(StorePath(dir))
	if err != nil {
		t.Fatal(err)
	}
	id := chain.MessageID(w.Sender(), mustTime(t, stamp), "still pending")
	if err := st.AddPending(store.Pending{MessageID: id, Message: "still pending", Sender: sender, TimeStamp: stamp, Signature: sig, Own: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	path := StorePath(dir)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	pageSize, free := db.Info().PageSize, 0
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == "freelist" {
				free = id
			}
		}
	})
	_ = db.Close()
	if err != nil || free == 0 {
		t.Fatalf("no free-list page found: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := free * pageSize; i < (free+1)*pageSize; i++ {
		raw[i] = 0xff
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(path); err == nil {
		_ = s.Close()
		t.Skip("this bbolt opens a file with a damaged free list for writing; nothing to salvage")
	}

	a := startNode(t, "a", withDataDir(dir), withoutListen())
	warn := a.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
	if !strings.Contains(warn.Message, "moved to "+path+".damaged-") {
		t.Errorf("warning %q does not name the moved file", warn.Message)
	}
	if a.height() != n {
		t.Errorf("kept %d blocks, want all %d", a.height(), n)
	}
	a.waitFor("the pending message", 20*time.Second, minedMessage("still pending"))
}

// TestDamageMetWhileRunningIsSalvagedAtRestart: damage in a part of the
// file that load does not read (here the message index, first touched when
// a mined block is stored) stops the running node; without a record of it,
// every restart loaded cleanly and stopped again at the next block. The
// restart must check the file, salvage it and mine the message.
func TestDamageMetWhileRunningIsSalvagedAtRestart(t *testing.T) {
	const n = 40
	dir := t.TempDir()
	storeChain(t, dir, thirdChain(t, n))
	path := StorePath(dir)
	// The message index's leaves hold 32-byte keys and 32-byte values.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize, msgsPage := db.Info().PageSize, 0
	err = db.View(func(tx *bbolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type != "leaf" || info.Count != n {
				continue
			}
			el := raw[id*pageSize+16:]
			if binary.LittleEndian.Uint32(el[8:]) == 32 && binary.LittleEndian.Uint32(el[12:]) == 32 {
				msgsPage = id
			}
		}
	})
	_ = db.Close()
	if err != nil || msgsPage == 0 {
		t.Fatalf("no message-index page found: %v", err)
	}
	clear(raw[msgsPage*pageSize : (msgsPage+1)*pageSize])
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	a := startNode(t, "a", withDataDir(dir), withoutListen())
	if a.height() != n {
		t.Fatalf("loaded %d blocks, want %d (the damage is not in what load reads)", a.height(), n)
	}
	a.post("after the damage")
	select {
	case err := <-a.done:
		if !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("the node stopped with %v, want a store corruption", err)
		}
		// The user is told that a restart repairs it.
		warn := a.waitFor("the warning it stops with", 5*time.Second, func(p Payload) bool {
			w, ok := p.(Warning)
			return ok && strings.HasPrefix(w.Message, "stopping: ")
		}).(Warning)
		if !strings.Contains(warn.Message, "start the node again and it repairs it") {
			t.Errorf("the node stopped saying %q, not that a restart repairs the store", warn.Message)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the node did not stop on the damaged message index")
	}
	a.cancel()
	a.cancel = nil

	b := startNode(t, "b", withDataDir(dir), withoutListen())
	warn := b.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
	if !strings.Contains(warn.Message, "moved to "+path+".damaged-") {
		t.Errorf("warning %q does not name the moved file", warn.Message)
	}
	if b.height() != n {
		t.Errorf("kept %d blocks, want %d", b.height(), n)
	}
	b.waitFor("the message posted before the stop", 20*time.Second, minedMessage("after the damage"))
	b.stop()
	if sum, err := Verify(context.Background(), dir, testDifficulty, true, time.Now()); err != nil || sum.Blocks != n+1 {
		t.Fatalf("verify: %d blocks, %v; want %d", sum.Blocks, err, n+1)
	}
	if _, err := os.Stat(store.DamageMark(path)); err == nil {
		t.Error("the damage mark outlived the damaged file")
	}
}

// TestEmptyStoreFileWarns: a chain.db cut to 0 bytes passed silently as a
// new empty store. The node starts, and says the chain is gone.
func TestEmptyStoreFileWarns(t *testing.T) {
	dir := t.TempDir()
	storeChain(t, dir, thirdChain(t, 40))
	if err := os.Truncate(StorePath(dir), 0); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, "a", withDataDir(dir), withoutListen())
	warn := a.waitFor("warning", 5*time.Second, isKind("warning")).(Warning)
	if !strings.Contains(warn.Message, "empty file (0 bytes)") || !strings.Contains(warn.Message, "gone") {
		t.Errorf("warning %q does not say the chain is gone", warn.Message)
	}
	if a.height() != 0 {
		t.Errorf("height %d", a.height())
	}
	a.stop()
	// A second start is a plain start on the new store.
	b := startNode(t, "b", withDataDir(dir), withoutListen())
	if b.recovered != "" {
		t.Errorf("second start warns again: %s", b.recovered)
	}
}

func mustTime(t *testing.T, stamp string) int64 {
	t.Helper()
	ms, err := chain.ParseTime(stamp)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
