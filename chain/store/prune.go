package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// DeleteSideBlocks deletes the stored blocks of side branches the index has
// pruned, in one transaction, and returns how many it deleted. An entry
// whose hash is on the stored best chain at its height is kept whatever the
// caller says: the best chain is never cut here.
func (s *Store) DeleteSideBlocks(entries []Entry) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	deleted := 0
	err := s.update("delete side blocks", func(tx *bolt.Tx) error {
		bs, err := buckets(tx, bucketBlocks, bucketBest)
		if err != nil {
			return err
		}
		blocks, best := bs[0], bs[1]
		deleted = 0 // the transaction may be retried from the start
		for _, e := range entries {
			if bytes.Equal(best.Get(heightKey(e.Height)), e.Hash[:]) {
				continue
			}
			if blocks.Get(e.Hash[:]) == nil {
				continue
			}
			if err := blocks.Delete(e.Hash[:]); err != nil {
				return fmt.Errorf("block %s: %w", e.Hash.Short(), err)
			}
			deleted++
		}
		return nil
	})
	return deleted, err
}

// DeleteOffBest deletes every stored block that is not on the stored best
// chain and returns how many it deleted. A node that has just loaded only
// its best chain holds no side branch in memory, so their stored blocks
// would be dead weight for good; anything still wanted arrives again.
func (s *Store) DeleteOffBest() (int, error) {
	deleted := 0
	err := s.update("delete blocks off the best chain", func(tx *bolt.Tx) error {
		bs, err := buckets(tx, bucketBlocks, bucketBest)
		if err != nil {
			return err
		}
		blocks, best := bs[0], bs[1]
		onBest := map[chain.Hash]bool{}
		if err := best.ForEach(func(_, v []byte) error {
			if len(v) == len(chain.Hash{}) {
				onBest[chain.Hash(v)] = true
			}
			return nil
		}); err != nil {
			return err
		}
		// Collect first: deleting under a moving bbolt cursor skips keys.
		var stale [][]byte
		if err := blocks.ForEach(func(k, _ []byte) error {
			if len(k) == len(chain.Hash{}) && !onBest[chain.Hash(k)] {
				stale = append(stale, append([]byte{}, k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range stale {
			if err := blocks.Delete(k); err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
		}
		deleted = len(stale)
		return nil
	})
	return deleted, err
}
