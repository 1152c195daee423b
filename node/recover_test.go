package node

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
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
		aside = aside || strings.Contains(m.Name(), ".corrupt-")
	}
	if !aside {
		t.Error("the damaged file was not kept")
	}
	// The same wallet is kept.
	if b.Sender() != a.Sender() {
		t.Error("wallet changed")
	}
}
