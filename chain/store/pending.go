package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

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
	for _, p := range ps {
		if ids.Get(p.id[:]) != nil {
			continue
		}
		seq, err := pool.NextSequence()
		if err != nil {
			return err
		}
		k := pendingKey(p.time, seq)
		if err := pool.Put(k, p.json); err != nil {
			return fmt.Errorf("pending message %s: %w", p.id.Short(), err)
		}
		if err := ids.Put(p.id[:], k); err != nil {
			return fmt.Errorf("pending message %s: %w", p.id.Short(), err)
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
		})
	}
	return out, nil
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
