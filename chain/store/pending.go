package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// Pending is a signed message waiting to be mined.
type Pending struct {
	MessageID chain.Hash
	Message   string
	Sender    string
	TimeStamp string
	Signature string
	Own       bool   // posted by this node's wallet, so this node mines it
	Key       []byte `json:"-"` // its place in the pool, set by Pending
	// AddedHeight and AddedAt (Unix ms) are the best height and the time
	// when the message entered the pool, so another author's message can
	// expire. AddedAt 0 means unknown (a record written before they were).
	AddedHeight uint64
	AddedAt     int64
}

// pendingRecord is the stored form of Pending, with names fixed here so
// renaming a Go field does not lose data.
type pendingRecord struct {
	MessageID chain.Hash `json:"message_id"`
	Message   string     `json:"message"`
	Sender    string     `json:"sender"`
	TimeStamp string     `json:"timeStamp"`
	Signature string     `json:"signature"`
	Own       bool       `json:"own"`
	// Absent in records written before expiry existed; they decode as 0.
	AddedHeight uint64 `json:"added_height,omitempty"`
	AddedAt     int64  `json:"added_at,omitempty"`
}

type encodedPending struct {
	id   chain.Hash
	time int64
	json []byte
}

func encodePending(ps []Pending) ([]encodedPending, error) {
	out := make([]encodedPending, 0, len(ps))
	for _, p := range ps {
		ts, err := chain.ParseTime(p.TimeStamp)
		if err != nil {
			return nil, fmt.Errorf("pending message %s: %w", p.MessageID.Short(), err)
		}
		j, err := json.Marshal(pendingRecord{
			MessageID: p.MessageID, Message: p.Message, Sender: p.Sender,
			TimeStamp: p.TimeStamp, Signature: p.Signature, Own: p.Own,
			AddedHeight: p.AddedHeight, AddedAt: p.AddedAt,
		})
		if err != nil {
			return nil, fmt.Errorf("pending message %s: %w", p.MessageID.Short(), err)
		}
		out = append(out, encodedPending{p.MessageID, ts, j})
	}
	return out, nil
}

// pendingKey orders the pool by signing time, then arrival. The time is
// i64 big-endian with the sign bit flipped, so times before 1970 sort first.
func pendingKey(ms int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k[:8], uint64(ms)^1<<63)
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// AddPending adds a message to the pool in its own fsynced transaction. A
// message id already in the pool is left as it is.
func (s *Store) AddPending(p Pending) error {
	enc, err := encodePending([]Pending{p})
	if err != nil {
		return fmt.Errorf("add pending: %w", err)
	}
	return s.update("add pending "+p.MessageID.Short(), func(tx *bolt.Tx) error {
		return addPending(tx, enc)
	})
}

func addPending(tx *bolt.Tx, ps []encodedPending) error {
	if len(ps) == 0 {
		return nil
	}
	bs, err := buckets(tx, bucketPending, bucketPendingIDs)
	if err != nil {
		return err
	}
	pool, ids := bs[0], bs[1]
	// bbolt inserts into a node that is not split until commit, so many
	// keys in random order cost quadratic copying; in key order they
	// append. Sorting by time (stable: arrival order within a time) and
	// then by id makes a 10,000-message reorg one cheap transaction.
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b encodedPending) int { return cmp.Compare(a.time, b.time) })
	type idKey struct {
		id  chain.Hash
		key []byte
	}
	added := make([]idKey, 0, len(ps))
	seen := make(map[chain.Hash]bool, len(ps))
	for _, p := range ps {
		if seen[p.id] || ids.Get(p.id[:]) != nil {
			continue
		}
		seen[p.id] = true
		seq, err := pool.NextSequence()
		if err != nil {
			return err
		}
		k := pendingKey(p.time, seq)
		if err := pool.Put(k, p.json); err != nil {
			return fmt.Errorf("pending message %s: %w", p.id.Short(), err)
		}
		added = append(added, idKey{p.id, k})
	}
	slices.SortFunc(added, func(a, b idKey) int { return bytes.Compare(a.id[:], b.id[:]) })
	for _, a := range added {
		if err := ids.Put(a.id[:], a.key); err != nil {
			return fmt.Errorf("pending message %s: %w", a.id.Short(), err)
		}
	}
	return nil
}

// Pending returns the pool in key order: signing time, then arrival.
func (s *Store) Pending() ([]Pending, error) {
	type raw struct{ k, v []byte }
	var rows []raw
	err := s.view("read pending", func(tx *bolt.Tx) error {
		pool, err := bucket(tx, bucketPending)
		if err != nil {
			return err
		}
		return pool.ForEach(func(k, v []byte) error {
			rows = append(rows, raw{append([]byte{}, k...), append([]byte{}, v...)})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]Pending, 0, len(rows))
	for _, r := range rows {
		var p pendingRecord
		if err := json.Unmarshal(r.v, &p); err != nil {
			return nil, fmt.Errorf("read pending: %s: entry %x does not decode (%v): %w", s.path, r.k, err, ErrCorrupt)
		}
		out = append(out, Pending{
			MessageID: p.MessageID, Message: p.Message, Sender: p.Sender,
			TimeStamp: p.TimeStamp, Signature: p.Signature, Own: p.Own, Key: r.k,
			AddedHeight: p.AddedHeight, AddedAt: p.AddedAt,
		})
	}
	return out, nil
}

// UpdatePending adds and removes pool messages in one fsynced transaction,
// adds first, so an id in both ends up out of the pool: a post and the
// evictions it causes are stored together or not at all.
func (s *Store) UpdatePending(add []Pending, remove []chain.Hash) error {
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	enc, err := encodePending(add)
	if err != nil {
		return fmt.Errorf("update pending: %w", err)
	}
	return s.update("update pending", func(tx *bolt.Tx) error {
		if err := addPending(tx, enc); err != nil {
			return err
		}
		return removePending(tx, remove)
	})
}

// RemovePending drops messages from the pool by id; absent ids are skipped.
func (s *Store) RemovePending(ids ...chain.Hash) error {
	if len(ids) == 0 {
		return nil
	}
	return s.update("remove pending", func(tx *bolt.Tx) error {
		return removePending(tx, ids)
	})
}

func removePending(tx *bolt.Tx, remove []chain.Hash) error {
	if len(remove) == 0 {
		return nil
	}
	bs, err := buckets(tx, bucketPending, bucketPendingIDs)
	if err != nil {
		return err
	}
	pool, ids := bs[0], bs[1]
	for _, id := range remove {
		v := ids.Get(id[:])
		if v == nil {
			continue
		}
		k := append([]byte{}, v...)
		if err := pool.Delete(k); err != nil {
			return fmt.Errorf("pending message %s: %w", id.Short(), err)
		}
		if err := ids.Delete(id[:]); err != nil {
			return fmt.Errorf("pending message %s: %w", id.Short(), err)
		}
	}
	return nil
}
