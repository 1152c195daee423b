package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

func pendingMessages(t testing.TB, s *Store) []string {
	t.Helper()
	ps, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Message)
	}
	return out
}

// TestUpdatePending checks that a post and the evictions it causes are
// stored together or not at all, and that adds come before removals.
func TestUpdatePending(t *testing.T) {
	s := openTemp(t)
	const t0 = 1767225600000
	if err := s.UpdatePending([]Pending{pendingAt("a", t0, false), pendingAt("b", t0+1, false)}, nil); err != nil {
		t.Fatal(err)
	}
	bad := Pending{MessageID: msgID("bad"), Message: "bad", TimeStamp: "2026-01-01"}
	if err := s.UpdatePending([]Pending{pendingAt("c", t0+2, true), bad}, []chain.Hash{msgID("a")}); err == nil {
		t.Fatal("UpdatePending with a malformed timeStamp succeeded")
	}
	if got, want := pendingMessages(t, s), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after a refused update pending = %q, want %q unchanged", got, want)
	}
	if err := s.UpdatePending([]Pending{pendingAt("c", t0+2, true)}, []chain.Hash{msgID("a"), msgID("unknown")}); err != nil {
		t.Fatal(err)
	}
	if got, want := pendingMessages(t, s), []string{"b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pending = %q, want %q", got, want)
	}
	if err := s.UpdatePending([]Pending{pendingAt("d", t0+3, false)}, []chain.Hash{msgID("d")}); err != nil {
		t.Fatal(err)
	}
	if got, want := pendingMessages(t, s), []string{"b", "c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("a message added and removed at once: pending = %q, want %q", got, want)
	}
	if err := s.UpdatePending(nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPendingEntryTime checks that when a message entered the pool
// survives a reopen, and that a record written before entry times were
// kept still reads, with zeros for them.
func TestPendingEntryTime(t *testing.T) {
	s := openTemp(t)
	const t0 = 1767225600000
	p := pendingAt("timed", t0, false)
	p.AddedHeight, p.AddedAt = 1234, t0+99
	if err := s.AddPending(p); err != nil {
		t.Fatal(err)
	}
	// The record as the previous build wrote it: no added_* fields.
	old := pendingAt("old", t0+1, false)
	raw, err := json.Marshal(map[string]any{"message_id": old.MessageID, "message": old.Message,
		"sender": old.Sender, "timeStamp": old.TimeStamp, "signature": old.Signature, "own": false})
	if err != nil {
		t.Fatal(err)
	}
	err = s.update("write an old record", func(tx *bolt.Tx) error {
		k := pendingKey(t0+1, 999)
		if err := tx.Bucket(bucketPending).Put(k, raw); err != nil {
			return err
		}
		return tx.Bucket(bucketPendingIDs).Put(old.MessageID[:], k)
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	ps, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d pending, want 2", len(ps))
	}
	if got := withoutKey(ps[0]); !reflect.DeepEqual(got, p) {
		t.Errorf("read back %+v, want %+v", got, p)
	}
	if got := withoutKey(ps[1]); !reflect.DeepEqual(got, old) {
		t.Errorf("old record read back %+v, want %+v", got, old)
	}
}

func benchPool(n, from int, t0 int64) []Pending {
	ps := make([]Pending, n)
	for i := range ps {
		ps[i] = pendingAt(fmt.Sprintf("pending %d", from+i), t0+int64(from+i)*7%100003, i%3 == 0)
	}
	return ps
}

// BenchmarkUpdatePending10kAt30k stores 10,000 pending messages in one
// transaction next to 30,000 others, then removes them in another: the
// store side of a 10,000-block reorganisation and of mining it back.
//
//	go test -run '^$' -bench UpdatePending -count 6 ./chain/store/
func BenchmarkUpdatePending10kAt30k(b *testing.B) {
	s := openTemp(b)
	const t0 = 1767225600000
	if err := s.UpdatePending(benchPool(30000, 0, t0), nil); err != nil {
		b.Fatal(err)
	}
	moving := benchPool(10000, 30000, t0)
	ids := make([]chain.Hash, len(moving))
	for i, p := range moving {
		ids[i] = p.MessageID
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.UpdatePending(moving, nil); err != nil {
			b.Fatal(err)
		}
		if err := s.RemovePending(ids...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPendingRead30k reads a pool of 30,000 messages back, as a node
// start does.
//
//	go test -run '^$' -bench PendingRead30k -count 6 ./chain/store/
func BenchmarkPendingRead30k(b *testing.B) {
	s := openTemp(b)
	if err := s.UpdatePending(benchPool(30000, 0, 1767225600000), nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		ps, err := s.Pending()
		if err != nil || len(ps) != 30000 {
			b.Fatal(len(ps), err)
		}
	}
}
