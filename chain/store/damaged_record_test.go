package store

import (
	"encoding/json"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestApplyReplacesDamagedRecord: a stored record that no longer decodes,
// or decodes to another block, is replaced by the valid copy Apply is
// given; a sound record is kept as it is.
func TestApplyReplacesDamagedRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record func(good []byte) []byte
	}{
		{"garbage", func([]byte) []byte { return []byte("\x00\xffnot json") }},
		{"truncated", func(good []byte) []byte { return good[:len(good)/2] }},
		{"another block", func([]byte) []byte {
			b, _ := testBlock(7, genesisHash(), "other", "other")
			raw, _ := json.Marshal(b)
			return raw
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			a, ae := testChain("a", genesisHash(), 1, "m1", "m2", "m3")
			if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error {
				bb := tx.Bucket(bucketBlocks)
				return bb.Put(ae[1].Hash[:], tc.record(append([]byte{}, bb.Get(ae[1].Hash[:])...)))
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Block(ae[1].Hash); err == nil && tc.name != "another block" {
				t.Fatal("the damaged record still reads")
			}
			// As the node does after cutting back: the chain above 1 goes,
			// and the fetched blocks come again.
			if err := s.TruncateBest(1); err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(Update{Blocks: a[1:], Connect: ae[1:]}); err != nil {
				t.Fatal(err)
			}
			s = reopen(t, s)
			got := bestHashes(t, s) // fails on a record that does not decode or is another block
			if len(got) != 3 || got[1] != ae[1].Hash {
				t.Fatalf("best chain %v, want %v", got, hashes(ae))
			}
		})
	}
}

// TestApplyKeepsSoundRecord: the same block given again leaves the record.
func TestApplyKeepsSoundRecord(t *testing.T) {
	s := openTemp(t)
	a, ae := testChain("a", genesisHash(), 1, "m1")
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	// Same block, other bytes (a field order or spacing another encoder
	// might use): it is the block the hash names, so the first copy stays.
	before := readRecord(t, s, ae[0])
	spaced := append([]byte(" "), before...)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBlocks).Put(ae[0].Hash[:], spaced)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(Update{Blocks: a}); err != nil {
		t.Fatal(err)
	}
	if got := readRecord(t, s, ae[0]); string(got) != string(spaced) {
		t.Errorf("a sound record was rewritten")
	}
}

func readRecord(t *testing.T, s *Store, e Entry) []byte {
	t.Helper()
	var out []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		out = append([]byte{}, tx.Bucket(bucketBlocks).Get(e.Hash[:])...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
