package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PeerRecord is what the node remembers of one peer address.
type PeerRecord struct {
	Addr         string // host:port, the key
	NodeID       string
	LastRTT      time.Duration
	SmoothRTT    time.Duration
	MinRTT       time.Duration
	Status       string
	LastChange   time.Time
	Failures     int
	Penalty      string
	PenaltyUntil time.Time
	LastSeen     time.Time
}

// peerRecord is the stored form of PeerRecord; durations are nanoseconds.
type peerRecord struct {
	NodeID       string        `json:"node_id"`
	LastRTT      time.Duration `json:"last_rtt_ns"`
	SmoothRTT    time.Duration `json:"smooth_rtt_ns"`
	MinRTT       time.Duration `json:"min_rtt_ns"`
	Status       string        `json:"status"`
	LastChange   time.Time     `json:"last_change"`
	Failures     int           `json:"failures"`
	Penalty      string        `json:"penalty"`
	PenaltyUntil time.Time     `json:"penalty_until"`
	LastSeen     time.Time     `json:"last_seen"`
}

// PutPeers inserts or replaces records by Addr in one transaction.
func (s *Store) PutPeers(recs ...PeerRecord) error {
	if len(recs) == 0 {
		return nil
	}
	enc := make([][]byte, len(recs))
	for i, r := range recs {
		if r.Addr == "" {
			return errors.New("put peers: a record has no address")
		}
		j, err := json.Marshal(peerRecord{
			NodeID: r.NodeID, LastRTT: r.LastRTT, SmoothRTT: r.SmoothRTT, MinRTT: r.MinRTT,
			Status: r.Status, LastChange: r.LastChange, Failures: r.Failures,
			Penalty: r.Penalty, PenaltyUntil: r.PenaltyUntil, LastSeen: r.LastSeen,
		})
		if err != nil {
			return fmt.Errorf("put peers: %s: %w", r.Addr, err)
		}
		enc[i] = j
	}
	return s.update("put peers", func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPeers)
		if err != nil {
			return err
		}
		for i, r := range recs {
			if err := b.Put([]byte(r.Addr), enc[i]); err != nil {
				return fmt.Errorf("%s: %w", r.Addr, err)
			}
		}
		return nil
	})
}

// Peers returns every record, ordered by address.
func (s *Store) Peers() ([]PeerRecord, error) {
	type raw struct{ k, v []byte }
	var rows []raw
	err := s.view("read peers", func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPeers)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			rows = append(rows, raw{append([]byte{}, k...), append([]byte{}, v...)})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]PeerRecord, 0, len(rows))
	for _, r := range rows {
		var p peerRecord
		if err := json.Unmarshal(r.v, &p); err != nil {
			return nil, fmt.Errorf("read peers: %s: peer %q does not decode (%v): %w", s.path, r.k, err, ErrCorrupt)
		}
		out = append(out, PeerRecord{
			Addr: string(r.k), NodeID: p.NodeID, LastRTT: p.LastRTT, SmoothRTT: p.SmoothRTT, MinRTT: p.MinRTT,
			Status: p.Status, LastChange: p.LastChange, Failures: p.Failures,
			Penalty: p.Penalty, PenaltyUntil: p.PenaltyUntil, LastSeen: p.LastSeen,
		})
	}
	return out, nil
}

// DeletePeer forgets an address; an unknown one is not an error.
func (s *Store) DeletePeer(addr string) error {
	if addr == "" {
		return nil
	}
	return s.update("delete peer "+addr, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketPeers)
		if err != nil {
			return err
		}
		return b.Delete([]byte(addr))
	})
}
