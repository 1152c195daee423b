package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// TestForEachBestParsedMatches: the parallel walk (lookups and parsing in
// the decoders) gives the same blocks in the same order as ForEachBest,
// across several batches, each with its b.Parse() result.
func TestForEachBestParsedMatches(t *testing.T) {
	s := openTemp(t)
	n := 2*walkBatch + 17
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprint("m", i)
	}
	a, ae := testChain("a", genesisHash(), 1, msgs...)
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	var plain []chain.Block
	if err := s.ForEachBest(func(_ uint64, b *chain.Block) error { plain = append(plain, *b); return nil }); err != nil {
		t.Fatal(err)
	}
	i := 0
	err := s.ForEachBestParsed(func(h uint64, b *chain.Block, p *chain.Parsed) error {
		if h != uint64(i+1) || i >= len(plain) || *b != plain[i] {
			return fmt.Errorf("height %d: block %+v, ForEachBest gave %+v", h, b, plain[min(i, len(plain)-1)])
		}
		want, err := b.Parse()
		if err != nil || p == nil || *p != *want {
			return fmt.Errorf("height %d: parsed %+v, want %+v (%v)", h, p, want, err)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != n || len(plain) != n {
		t.Fatalf("walked %d and %d blocks, want %d", i, len(plain), n)
	}
}

// TestForEachBestParsedCorrupt: damage is found as ForEachBest finds it,
// at the same height, with the prefix before it handed to fn.
func TestForEachBestParsedCorrupt(t *testing.T) {
	a, ae := testChain("a", genesisHash(), 1, "m1", "m2", "m3", "m4", "m5")
	jsonOf := func(f func(b *chain.Block)) []byte {
		b := *a[2]
		f(&b)
		j, _ := json.Marshal(b)
		return j
	}
	h3 := ae[2].Hash[:]
	tests := []struct {
		name       string
		bucket     []byte
		key, val   []byte // val nil deletes
		wantHeight uint64
		wantMsg    string
	}{
		{"missing block", bucketBlocks, h3, nil, 3, "is missing"},
		{"not json", bucketBlocks, h3, []byte("{not json"), 3, "does not decode"},
		{"trailing bytes", bucketBlocks, h3, append(jsonOf(func(*chain.Block) {}), " x"...), 3, "does not decode"},
		{"wrong height", bucketBlocks, h3, jsonOf(func(b *chain.Block) { b.Number = 7 }), 3, "at height 7"},
		{"wrong hash", bucketBlocks, h3, jsonOf(func(b *chain.Block) { b.Hash = ae[1].Hash.String() }), 3, "says its hash"},
		{"height missing", bucketBest, heightKey(3), nil, 3, "next stored height is 4"},
		{"short hash", bucketBest, heightKey(3), []byte("short"), 3, "not a block hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error {
				if tc.val == nil {
					return tx.Bucket(tc.bucket).Delete(tc.key)
				}
				return tx.Bucket(tc.bucket).Put(tc.key, tc.val)
			}); err != nil {
				t.Fatal(err)
			}
			var seen []uint64
			err := s.ForEachBestParsed(func(h uint64, b *chain.Block, p *chain.Parsed) error {
				seen = append(seen, h)
				return nil
			})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ForEachBestParsed: %v, want ErrCorrupt", err)
			}
			for _, want := range []string{fmt.Sprintf("height %d", tc.wantHeight), tc.wantMsg} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if !reflect.DeepEqual(seen, []uint64{1, 2}[:tc.wantHeight-1]) {
				t.Errorf("fn saw heights %v, want 1..%d", seen, tc.wantHeight-1)
			}
		})
	}
}
