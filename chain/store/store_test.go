package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// testBlock builds a cheap block the store can keep: it is not valid (no
// proof of work, no signature), which the store does not check.
func testBlock(height uint64, prev chain.Hash, tag, msg string) (*chain.Block, Entry) {
	b := chain.Genesis(0)
	b.Number = height
	b.PrevHash = prev.String()
	b.Message = msg
	b.TimeStamp = chain.FormatTime(1767225600000 + int64(height)*1000)
	b.Nonce = height
	h := chain.Hash(sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", tag, height, msg))))
	b.Hash = h.String()
	return &b, Entry{Height: height, Hash: h, MessageID: msgID(msg)}
}

func msgID(msg string) chain.Hash { return sha256.Sum256([]byte("id/" + msg)) }

// testChain builds blocks from height from on top of prev, one message each.
func testChain(tag string, prev chain.Hash, from uint64, msgs ...string) ([]*chain.Block, []Entry) {
	var blocks []*chain.Block
	var entries []Entry
	for i, m := range msgs {
		b, e := testBlock(from+uint64(i), prev, tag, m)
		blocks = append(blocks, b)
		entries = append(entries, e)
		prev = e.Hash
	}
	return blocks, entries
}

func genesisHash() chain.Hash {
	h, _ := chain.ParseHash(chain.Genesis(0).Hash)
	return h
}

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "chain.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func pendingAt(msg string, ms int64, own bool) Pending {
	return Pending{
		MessageID: msgID(msg), Message: msg, Sender: strings.Repeat("02", 33),
		TimeStamp: chain.FormatTime(ms), Signature: strings.Repeat("ab", 64), Own: own,
	}
}

// state is everything Apply may change, read straight from the file.
type state struct {
	Best    map[uint64]chain.Hash
	Msgs    map[chain.Hash]chain.Hash
	Pending []chain.Hash
	Blocks  int
}

func readState(t testing.TB, s *Store) state {
	t.Helper()
	st := state{Best: map[uint64]chain.Hash{}, Msgs: map[chain.Hash]chain.Hash{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketBest).ForEach(func(k, v []byte) error {
			st.Best[binary.BigEndian.Uint64(k)] = chain.Hash(v)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMsgs).ForEach(func(k, v []byte) error {
			st.Msgs[chain.Hash(k)] = chain.Hash(v)
			return nil
		}); err != nil {
			return err
		}
		st.Blocks = tx.Bucket(bucketBlocks).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		st.Pending = append(st.Pending, p.MessageID)
	}
	return st
}

func bestHashes(t testing.TB, s *Store) []chain.Hash {
	t.Helper()
	var out []chain.Hash
	err := s.ForEachBest(func(h uint64, b *chain.Block) error {
		if h != uint64(len(out)+1) {
			t.Errorf("ForEachBest gave height %d after %d blocks", h, len(out))
		}
		bh, err := chain.ParseHash(b.Hash)
		out = append(out, bh)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hashes(es ...[]Entry) []chain.Hash {
	var out []chain.Hash
	for _, list := range es {
		for _, e := range list {
			out = append(out, e.Hash)
		}
	}
	return out
}

func TestFreshStore(t *testing.T) {
	s := openTemp(t)
	if h, ok, err := s.BestHeight(); err != nil || ok || h != 0 {
		t.Errorf("BestHeight = %d, %v, %v; want 0, false, nil", h, ok, err)
	}
	if got := bestHashes(t, s); len(got) != 0 {
		t.Errorf("ForEachBest on an empty store gave %d blocks", len(got))
	}
	if ps, err := s.Pending(); err != nil || len(ps) != 0 {
		t.Errorf("Pending = %v, %v; want none", ps, err)
	}
	if ps, err := s.Peers(); err != nil || len(ps) != 0 {
		t.Errorf("Peers = %v, %v; want none", ps, err)
	}
	if _, err := s.Block(chain.Hash{1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Block of an unknown hash: %v, want ErrNotFound", err)
	}
	if _, ok, err := s.MessageBlock(chain.Hash{1}); ok || err != nil {
		t.Errorf("MessageBlock of an unknown id: %v, %v", ok, err)
	}
}

func TestMeta(t *testing.T) {
	s := openTemp(t)
	steps := []struct {
		key  string
		set  []byte // nil deletes
		want []byte
	}{
		{"node_id", []byte("abc"), []byte("abc")},
		{"node_id", []byte("def"), []byte("def")},
		{"difficulty", []byte{24}, []byte{24}},
		{"empty", []byte{}, []byte{}},
		{"difficulty", nil, nil},
		{"never-set", nil, nil},
	}
	for _, st := range steps {
		if err := s.SetMeta(st.key, st.set); err != nil {
			t.Fatalf("SetMeta(%q): %v", st.key, err)
		}
		got, err := s.Meta(st.key)
		if err != nil || !bytes.Equal(got, st.want) || (got == nil) != (st.want == nil) {
			t.Errorf("Meta(%q) = %q, %v; want %q", st.key, got, err, st.want)
		}
	}
	if err := s.SetMeta(versionKey, []byte("9")); err == nil {
		t.Errorf("SetMeta(%q) succeeded; the key is reserved", versionKey)
	}
	s = reopen(t, s)
	for key, want := range map[string][]byte{"node_id": []byte("def"), "difficulty": nil, versionKey: []byte(formatVersion)} {
		if got, err := s.Meta(key); err != nil || !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("after reopen Meta(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestOpenRefusesOtherVersion(t *testing.T) {
	s := openTemp(t)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(versionKey), []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(path); err == nil || !strings.Contains(err.Error(), `version "99"`) {
		if s2 != nil {
			_ = s2.Close()
		}
		t.Fatalf("Open of a version 99 file: %v, want a version error", err)
	}
}

func TestBlockRoundTrip(t *testing.T) {
	s := openTemp(t)
	blocks, entries := testChain("a", genesisHash(), 1, "hello", "wörld ✓")
	if err := s.Apply(Update{Blocks: blocks, Connect: entries}); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		got, err := s.Block(e.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if *got != *blocks[i] {
			t.Errorf("Block(%s) = %+v, want %+v", e.Hash.Short(), got, blocks[i])
		}
		if h, ok, err := s.MessageBlock(e.MessageID); err != nil || !ok || h != e.Hash {
			t.Errorf("MessageBlock(%s) = %s, %v, %v; want %s", e.MessageID.Short(), h.Short(), ok, err, e.Hash.Short())
		}
	}
	if h, ok, err := s.BestHeight(); err != nil || !ok || h != 2 {
		t.Errorf("BestHeight = %d, %v, %v; want 2", h, ok, err)
	}
}

// TestApplyReorg is the node's reorganisation: two blocks leave the best
// chain, three join it; one left message is mined again on the new branch,
// one goes back to the pool, and one pending message is mined.
func TestApplyReorg(t *testing.T) {
	s := openTemp(t)
	const t0 = 1767225600000
	a, ae := testChain("a", genesisHash(), 1, "m1", "m2", "m3", "m4", "m5")
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Pending{pendingAt("x", t0+30, true), pendingAt("y", t0+20, false)} {
		if err := s.AddPending(p); err != nil {
			t.Fatal(err)
		}
	}
	// New branch from A3: B4 re-mines m4, B5 mines pending x, B6 carries m6.
	b, be := testChain("b", ae[2].Hash, 4, "m4", "x", "m6")
	m5 := pendingAt("m5", t0+10, false)
	u := Update{
		Blocks:        b,
		Disconnect:    []Entry{ae[4], ae[3]}, // tip first, as the index lists them
		Connect:       be,
		RemovePending: []chain.Hash{msgID("x"), msgID("m4"), msgID("m6")},
		AddPending:    []Pending{m5},
	}
	if err := s.Apply(u); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, s *Store) {
		t.Helper()
		if got, want := bestHashes(t, s), hashes(ae[:3], be); !reflect.DeepEqual(got, want) {
			t.Errorf("best chain = %v, want %v", got, want)
		}
		if h, ok, err := s.BestHeight(); err != nil || !ok || h != 6 {
			t.Errorf("BestHeight = %d, %v, %v; want 6", h, ok, err)
		}
		for _, tc := range []struct {
			msg    string
			want   chain.Hash
			wantOK bool
		}{
			{"m1", ae[0].Hash, true},
			{"m3", ae[2].Hash, true},
			{"m4", be[0].Hash, true}, // re-mined: points at the new block
			{"x", be[1].Hash, true},
			{"m6", be[2].Hash, true},
			{"m5", chain.Hash{}, false}, // left the chain
			{"y", chain.Hash{}, false},  // still pending
		} {
			got, ok, err := s.MessageBlock(msgID(tc.msg))
			if err != nil || ok != tc.wantOK || got != tc.want {
				t.Errorf("MessageBlock(%s) = %s, %v, %v; want %s, %v", tc.msg, got.Short(), ok, err, tc.want.Short(), tc.wantOK)
			}
		}
		st := readState(t, s)
		if len(st.Msgs) != 6 || len(st.Best) != 6 {
			t.Errorf("msgs index has %d entries, best chain %d; want 6 and 6", len(st.Msgs), len(st.Best))
		}
		if st.Blocks != 8 {
			t.Errorf("%d blocks stored, want 8 (side-chain blocks are kept)", st.Blocks)
		}
		ps, err := s.Pending()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Message)
		}
		if want := []string{"m5", "y"}; !reflect.DeepEqual(got, want) {
			t.Errorf("pending = %q, want %q (signing-time order)", got, want)
		}
		if len(ps) > 0 && !reflect.DeepEqual(withoutKey(ps[0]), m5) {
			t.Errorf("pending m5 = %+v, want %+v", ps[0], m5)
		}
		for _, e := range ae[3:] {
			if _, err := s.Block(e.Hash); err != nil {
				t.Errorf("side-chain block %d: %v", e.Height, err)
			}
		}
	}
	t.Run("applied", func(t *testing.T) { check(t, s) })
	s = reopen(t, s)
	t.Run("reopened", func(t *testing.T) { check(t, s) })
}

func withoutKey(p Pending) Pending { p.Key = nil; return p }

// TestApplyRefusesAllOrNothing: each update starts with valid parts and
// ends with a bad one; the file must be as it was.
func TestApplyRefusesAllOrNothing(t *testing.T) {
	s := openTemp(t)
	a, ae := testChain("a", genesisHash(), 1, "m1", "m2", "m3", "m4", "m5")
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPending(pendingAt("p", 1767225600000, true)); err != nil {
		t.Fatal(err)
	}
	before := readState(t, s)
	b, be := testChain("b", ae[3].Hash, 5, "n5", "n6")
	_, unstored := testBlock(5, ae[3].Hash, "z", "z5")
	valid := func(u Update) Update {
		u.Blocks = append(append([]*chain.Block{}, b...), u.Blocks...)
		u.AddPending = append([]Pending{pendingAt("q", 1767225600001, false)}, u.AddPending...)
		u.RemovePending = append([]chain.Hash{msgID("p")}, u.RemovePending...)
		return u
	}
	tests := []struct {
		name    string
		u       Update
		wantErr string
	}{
		{"disconnect another block", valid(Update{Disconnect: []Entry{be[0]}}), "disconnect height 5"},
		{"disconnect an absent height", valid(Update{Disconnect: []Entry{{Height: 9}}}), "disconnect height 9"},
		{"disconnect leaves a gap", valid(Update{Disconnect: []Entry{ae[3]}}), "up to 5 above it"},
		{"connect leaves a gap", valid(Update{Connect: []Entry{{Height: 7, Hash: be[1].Hash}}}), "continues at height 6"},
		{"connect over the tip", valid(Update{Connect: be[:1]}), "continues at height 6"},
		{"connect out of order", valid(Update{Disconnect: []Entry{ae[4]}, Connect: []Entry{be[1], be[0]}}), "connect height 6"},
		{"connect an unstored block", valid(Update{Disconnect: []Entry{ae[4]}, Connect: []Entry{unstored}}), "is not stored"},
		{"block with a bad hash", valid(Update{Blocks: []*chain.Block{{Hash: "xyz"}}}), "hash"},
		{"nil block", valid(Update{Blocks: []*chain.Block{nil}}), "nil"},
		{"pending with a bad time", valid(Update{AddPending: []Pending{{Message: "r", TimeStamp: "yesterday"}}}), "timeStamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Apply(tc.u)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.wantErr)
			}
			if got := readState(t, s); !reflect.DeepEqual(got, before) {
				t.Errorf("state changed by a refused update:\n got %+v\nwant %+v", got, before)
			}
		})
	}
	// The same parts, fitted together, apply.
	if err := s.Apply(valid(Update{Disconnect: []Entry{ae[4]}, Connect: be})); err != nil {
		t.Fatal(err)
	}
	if got, want := bestHashes(t, s), hashes(ae[:4], be); !reflect.DeepEqual(got, want) {
		t.Errorf("best chain = %v, want %v", got, want)
	}
}

func TestApplyFirstHeight(t *testing.T) {
	tests := []struct {
		from    uint64
		wantErr bool
	}{
		{0, false}, // the node may store genesis
		{1, false},
		{2, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.from), func(t *testing.T) {
			s := openTemp(t)
			b, e := testChain("a", genesisHash(), tc.from, "m", "n")
			err := s.Apply(Update{Blocks: b, Connect: e})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Apply from height %d: %v, want error %v", tc.from, err, tc.wantErr)
			}
		})
	}
}

func TestPendingOrder(t *testing.T) {
	s := openTemp(t)
	const t0 = 1767225600000
	adds := []Pending{
		pendingAt("c", t0+200, true),
		pendingAt("a", t0+100, false),
		pendingAt("b", t0+200, false), // same time as c, arrived later
		pendingAt("old", -5000, false),
		pendingAt("d", t0+150, true),
		{MessageID: msgID("a"), Message: "a again", TimeStamp: chain.FormatTime(t0)}, // duplicate id: no-op
	}
	for _, p := range adds {
		if err := s.AddPending(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPending(Pending{Message: "bad", TimeStamp: "2026-01-01"}); err == nil {
		t.Error("AddPending with a malformed timeStamp succeeded")
	}
	tests := []struct {
		name   string
		remove []chain.Hash
		want   []string
	}{
		{"all", nil, []string{"old", "a", "d", "c", "b"}},
		{"remove d and an unknown id", []chain.Hash{msgID("d"), msgID("nope")}, []string{"old", "a", "c", "b"}},
		{"remove old", []chain.Hash{msgID("old")}, []string{"a", "c", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.RemovePending(tc.remove...); err != nil {
				t.Fatal(err)
			}
			ps, err := s.Pending()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, p := range ps {
				got = append(got, p.Message)
				if i > 0 && bytes.Compare(ps[i-1].Key, p.Key) >= 0 {
					t.Errorf("keys out of order: %x then %x", ps[i-1].Key, p.Key)
				}
				if len(p.Key) != 16 {
					t.Errorf("key %x is not 16 bytes", p.Key)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pending = %q, want %q", got, tc.want)
			}
		})
	}
	s = reopen(t, s)
	ps, err := s.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 3 || !reflect.DeepEqual(withoutKey(ps[0]), adds[1]) {
		t.Errorf("after reopen pending = %+v", ps)
	}
	// A message removed and added again goes to the back of its time.
	if err := s.AddPending(adds[4]); err != nil {
		t.Fatal(err)
	}
	if err := s.AddPending(pendingAt("e", t0+150, false)); err != nil {
		t.Fatal(err)
	}
	ps, _ = s.Pending()
	var got []string
	for _, p := range ps {
		got = append(got, p.Message)
	}
	if want := []string{"a", "d", "e", "c", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pending = %q, want %q", got, want)
	}
}

func TestPeers(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 3, 4, 5, 6, 7, 891011, time.UTC)
	p1 := PeerRecord{
		Addr: "127.0.0.1:8334", NodeID: strings.Repeat("ab", 32),
		LastRTT: 3 * time.Millisecond, SmoothRTT: 2500 * time.Microsecond, MinRTT: time.Millisecond,
		Status: "online", LastChange: now, Failures: 2, Penalty: "InvalidBlockHash: bad",
		PenaltyUntil: now.Add(time.Hour), LastSeen: now.Add(time.Minute),
	}
	p2 := PeerRecord{Addr: "10.0.0.2:8333", Status: "offline"}
	if err := s.PutPeers(p1, p2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPeers(PeerRecord{NodeID: "x"}); err == nil {
		t.Error("PutPeers without an address succeeded")
	}
	p2.Status, p2.Failures = "online", 1
	if err := s.PutPeers(p2); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		delete string
		want   []PeerRecord
	}{
		{"upserted", "", []PeerRecord{p2, p1}},
		{"delete unknown", "192.0.2.1:1", []PeerRecord{p2, p1}},
		{"delete", "10.0.0.2:8333", []PeerRecord{p1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.DeletePeer(tc.delete); err != nil {
				t.Fatal(err)
			}
			got, err := s.Peers()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Peers =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	s = reopen(t, s)
	if got, err := s.Peers(); err != nil || !reflect.DeepEqual(got, []PeerRecord{p1}) {
		t.Errorf("after reopen Peers = %+v, %v", got, err)
	}
}

func TestTruncateBest(t *testing.T) {
	s := openTemp(t)
	msgs := make([]string, 10)
	for i := range msgs {
		msgs[i] = fmt.Sprint("m", i+1)
	}
	a, ae := testChain("a", genesisHash(), 1, msgs...)
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		to   uint64
		want uint64
	}{
		{20, 10}, // above the tip: nothing to do
		{6, 6},
		{6, 6},
		{^uint64(0), 6},
	}
	for _, tc := range tests {
		if err := s.TruncateBest(tc.to); err != nil {
			t.Fatal(err)
		}
		if h, _, err := s.BestHeight(); err != nil || h != tc.want {
			t.Errorf("TruncateBest(%d): height %d, %v; want %d", tc.to, h, err, tc.want)
		}
	}
	st := readState(t, s)
	if len(st.Msgs) != 6 || st.Blocks != 10 {
		t.Errorf("after truncation: %d message entries, %d blocks; want 6 and 10", len(st.Msgs), st.Blocks)
	}
	for _, e := range ae[6:] {
		if _, ok, _ := s.MessageBlock(e.MessageID); ok {
			t.Errorf("message of dropped height %d still indexed", e.Height)
		}
	}
	// The node carries on from the truncated tip.
	if err := s.Apply(Update{Connect: ae[6:7]}); err != nil {
		t.Fatal(err)
	}
	if got := bestHashes(t, s); !reflect.DeepEqual(got, hashes(ae[:7])) {
		t.Errorf("best chain = %v", got)
	}
	if err := s.TruncateBest(0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.BestHeight(); ok {
		t.Error("TruncateBest(0) left entries")
	}
}

func TestForEachBestCorrupt(t *testing.T) {
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
		{"missing field", bucketBlocks, h3, []byte(`{"number_of_block":3}`), 3, "does not decode"},
		{"wrong height", bucketBlocks, h3, jsonOf(func(b *chain.Block) { b.Number = 7 }), 3, "at height 7"},
		{"wrong hash", bucketBlocks, h3, jsonOf(func(b *chain.Block) { b.Hash = ae[1].Hash.String() }), 3, "says its hash"},
		{"height missing", bucketBest, heightKey(3), nil, 3, "next stored height is 4"},
		{"short hash", bucketBest, heightKey(3), []byte("short"), 3, "not a block hash"},
		{"key not a height", bucketBest, []byte("abc"), h3, 6, "not a height"},
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
			err := s.ForEachBest(func(h uint64, b *chain.Block) error {
				seen = append(seen, h)
				return nil
			})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ForEachBest: %v, want ErrCorrupt", err)
			}
			for _, want := range []string{fmt.Sprintf("height %d", tc.wantHeight), tc.wantMsg, s.Path()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if uint64(len(seen)) != tc.wantHeight-1 {
				t.Errorf("fn saw heights %v, want 1..%d", seen, tc.wantHeight-1)
			}
			// The node's recovery: keep what verified, drop the rest.
			if err := s.TruncateBest(uint64(len(seen))); err != nil {
				t.Fatal(err)
			}
			if got := bestHashes(t, s); !reflect.DeepEqual(got, hashes(ae[:len(seen)])) {
				t.Errorf("after TruncateBest best chain = %v", got)
			}
		})
	}
}

func TestForEachBestStops(t *testing.T) {
	s := openTemp(t)
	// More than one batch, so the cursor carries across batches.
	n := walkBatch + walkBatch/2
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = fmt.Sprint("m", i)
	}
	a, ae := testChain("a", genesisHash(), 1, msgs...)
	if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
		t.Fatal(err)
	}
	if got := bestHashes(t, s); !reflect.DeepEqual(got, hashes(ae)) {
		t.Fatalf("walk gave %d blocks, want %d in order", len(got), len(ae))
	}
	errStop := errors.New("stop")
	stopAt := uint64(walkBatch + 3)
	calls := 0
	err := s.ForEachBest(func(h uint64, b *chain.Block) error {
		calls++
		if h == stopAt {
			return fmt.Errorf("height %d: %w", h, errStop)
		}
		return nil
	})
	if !errors.Is(err, errStop) || uint64(calls) != stopAt {
		t.Errorf("ForEachBest = %v after %d calls, want errStop after %d", err, calls, stopAt)
	}
}

func TestOpenNotAStore(t *testing.T) {
	tests := []struct {
		name      string
		content   func() []byte
		wantError bool
	}{
		{"empty file becomes a store", func() []byte { return nil }, false},
		{"10 random bytes", func() []byte { return randomBytes(1, 10) }, true},
		{"one page of random bytes", func() []byte { return randomBytes(2, 4096) }, true},
		{"three pages of random bytes", func() []byte { return randomBytes(3, 3*4096) }, true},
		{"1 MiB of random bytes", func() []byte { return randomBytes(4, 1<<20) }, true},
		{"text", func() []byte { return bytes.Repeat([]byte("node_id = \"x\"\n"), 1000) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chain.db")
			if err := os.WriteFile(path, tc.content(), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if !tc.wantError {
				if err != nil {
					t.Fatal(err)
				}
				_ = s.Close()
				return
			}
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrLocked) {
				t.Errorf("Open: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// randomBytes is a cheap deterministic stream (xorshift), so failures repeat.
func randomBytes(seed uint64, n int) []byte {
	out := make([]byte, n)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range out {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out[i] = byte(x >> 32)
	}
	return out
}

// TestDamagedFile overwrites parts of a real store: whatever bbolt does with
// it, the store must answer with errors wrapping ErrCorrupt, not panic, and
// must let the file go so it can be opened again.
func TestDamagedFile(t *testing.T) {
	tests := []struct {
		name string
		// damage rewrites the file's bytes; pages are 4096 bytes.
		damage     func(b []byte)
		mustDetect bool
	}{
		{"meta pages", func(b []byte) { copy(b[16:4096], randomBytes(9, 4080)); copy(b[4096+16:8192], randomBytes(10, 4080)) }, true},
		{"all data pages", func(b []byte) { copy(b[8192:], randomBytes(11, len(b)-8192)) }, true},
		{"every other data page", func(b []byte) {
			for off := 8192; off+4096 <= len(b); off += 8192 {
				copy(b[off:off+4096], randomBytes(uint64(off), 4096))
			}
		}, true},
		{"page headers zeroed", func(b []byte) {
			for off := 8192; off+16 <= len(b); off += 4096 {
				clear(b[off : off+16])
			}
		}, true},
		{"one page", func(b []byte) { copy(b[5*4096:6*4096], randomBytes(12, 4096)) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			msgs := make([]string, 300)
			for i := range msgs {
				msgs[i] = fmt.Sprintf("message %d %s", i, strings.Repeat("x", i))
			}
			a, ae := testChain("a", genesisHash(), 1, msgs...)
			if err := s.Apply(Update{Blocks: a, Connect: ae}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 50; i++ {
				if err := s.PutPeers(PeerRecord{Addr: fmt.Sprintf("10.0.0.%d:8333", i)}); err != nil {
					t.Fatal(err)
				}
				if err := s.AddPending(pendingAt(fmt.Sprint("p", i), int64(i), false)); err != nil {
					t.Fatal(err)
				}
			}
			path := s.Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(raw)
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}

			var errs []error
			s, err = Open(path)
			errs = append(errs, err)
			if err == nil {
				errs = append(errs, useAll(s, ae)...)
				errs = append(errs, s.Close())
			}
			detected := false
			for _, err := range errs {
				if err == nil {
					continue
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("error not wrapping ErrCorrupt: %v", err)
				}
				detected = true
			}
			if tc.mustDetect && !detected {
				t.Error("damage went unnoticed")
			}
			t.Logf("errors: %v", errs)
			// The file was let go: a second try is not ErrLocked.
			start := time.Now()
			if s, err := Open(path); errors.Is(err, ErrLocked) {
				t.Errorf("reopen after damage: %v (after %v)", err, time.Since(start))
			} else if err == nil {
				_ = s.Close()
			}
		})
	}
}

// useAll calls every method that reads the file and returns their errors.
func useAll(s *Store, ae []Entry) []error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	add(s.ForEachBest(func(uint64, *chain.Block) error { return nil }))
	_, _, err := s.BestHeight()
	add(err)
	for _, e := range ae {
		if _, err := s.Block(e.Hash); err != nil {
			add(err)
			break
		}
	}
	_, _, err = s.MessageBlock(ae[0].MessageID)
	add(err)
	_, err = s.Pending()
	add(err)
	_, err = s.Peers()
	add(err)
	_, err = s.Meta("node_id")
	add(err)
	b, e := testBlock(uint64(len(ae)+1), ae[len(ae)-1].Hash, "new", "new")
	add(s.Apply(Update{Blocks: []*chain.Block{b}, Connect: []Entry{e}}))
	return errs
}

func TestOpenLocked(t *testing.T) {
	s := openTemp(t)
	start := time.Now()
	s2, err := Open(s.Path())
	elapsed := time.Since(start)
	if err == nil {
		_ = s2.Close()
		t.Fatal("second Open of an open store succeeded")
	}
	if !errors.Is(err, ErrLocked) || errors.Is(err, ErrCorrupt) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another meshchain process") || !strings.Contains(err.Error(), s.Path()) {
		t.Errorf("error %q does not explain the lock", err)
	}
	if elapsed > 1500*time.Millisecond {
		t.Errorf("second Open took %v to give up", elapsed)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(s.Path())
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = s3.Close()
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "no", "such", "chain.db"))
	if err == nil || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrLocked) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open in a missing directory: %v, want a not-exist error", err)
	}
}

// TestConcurrentUse runs readers against a writer (go test -race).
func TestConcurrentUse(t *testing.T) {
	s := openTemp(t)
	msgs := make([]string, 40)
	for i := range msgs {
		msgs[i] = fmt.Sprint("m", i)
	}
	a, ae := testChain("a", genesisHash(), 1, msgs...)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range a {
			if err := s.Apply(Update{Blocks: a[i : i+1], Connect: ae[i : i+1]}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				var n uint64
				if err := s.ForEachBest(func(h uint64, b *chain.Block) error { n = h; return nil }); err != nil {
					t.Error(err)
					return
				}
				if top, _, err := s.BestHeight(); err != nil || top < n {
					t.Errorf("BestHeight %d after walking to %d: %v", top, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := bestHashes(t, s); !reflect.DeepEqual(got, hashes(ae)) {
		t.Errorf("best chain has %d blocks, want %d", len(got), len(ae))
	}
}
