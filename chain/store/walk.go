package store

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// walkBatch is how many best-chain entries ForEachBest copies out of bbolt
// per guarded step and decodes together.
const walkBatch = 1024

// bestRaw is one best-chain entry as read, and then decoded.
type bestRaw struct {
	height uint64
	key    []byte // the height key, copied only when malformed
	hash   []byte
	json   []byte // nil when the block is missing

	block *chain.Block
	err   error // why json did not decode into block
}

// walkBuf is one batch on its way from bbolt to fn.
type walkBuf struct {
	raws []bestRaw
	wg   sync.WaitGroup // the batch's decoders
}

// ForEachBest calls fn for every block of the stored best chain in
// ascending height from 1, inside one read snapshot. It stops at the first
// error fn returns and returns it. A height that is missing or whose block
// is missing, does not decode, or is not the block it claims to be yields an
// error wrapping ErrCorrupt that names the height; fn has then seen every
// height below it, so the caller can TruncateBest to the last one.
//
// Blocks are decoded on all CPUs, a batch ahead of fn; fn itself is called
// from the caller's goroutine, in order. fn must not write to the store: a
// write transaction may wait for this read to end.
func (s *Store) ForEachBest(fn func(height uint64, b *chain.Block) error) error {
	const op = "walk best chain"
	var tx *bolt.Tx
	if err := guard(func() (err error) { tx, err = s.db.Begin(false); return err }); err != nil {
		return s.opError(op, err)
	}
	defer func() { _ = guard(tx.Rollback) }()

	var c *bolt.Cursor
	var blocks *bolt.Bucket
	var k, v []byte
	err := guard(func() error {
		best, err := bucket(tx, bucketBest)
		if err != nil {
			return err
		}
		if blocks, err = bucket(tx, bucketBlocks); err != nil {
			return err
		}
		c = best.Cursor()
		k, v = c.Seek(heightKey(1))
		return nil
	})
	if err != nil {
		return s.opError(op, err)
	}
	// read fills buf with the next entries, copied so they outlive the
	// guard and can be decoded on other goroutines.
	read := func(buf *walkBuf) error {
		buf.raws = buf.raws[:0]
		return guard(func() error {
			for ; k != nil && len(buf.raws) < walkBatch; k, v = c.Next() {
				r := bestRaw{hash: append([]byte{}, v...)}
				if len(k) == 8 {
					r.height = binary.BigEndian.Uint64(k)
					if len(v) == len(chain.Hash{}) {
						if j := blocks.Get(v); j != nil {
							r.json = append([]byte{}, j...)
						}
					}
				} else {
					r.key = append([]byte{}, k...)
				}
				buf.raws = append(buf.raws, r)
			}
			return nil
		})
	}

	// A read that fails (a damaged page) keeps the entries it copied
	// before the failure; they and every batch before them still reach fn,
	// so the caller learns the whole readable prefix, and then the error.
	cur, next := &walkBuf{}, &walkBuf{}
	defer cur.wg.Wait()
	defer next.wg.Wait()
	readErr := read(cur)
	cur.decode()
	want := uint64(1)
	for len(cur.raws) > 0 {
		var nextErr error
		next.raws = next.raws[:0]
		if readErr == nil {
			nextErr = read(next)
			next.decode()
		}
		cur.wg.Wait()
		for i := range cur.raws {
			b, err := cur.raws[i].check(want)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", op, s.path, err)
			}
			if err := fn(want, b); err != nil {
				return err
			}
			want++
		}
		if readErr != nil {
			break
		}
		cur, next = next, cur
		readErr = nextErr
	}
	if readErr != nil {
		return s.opError(op, fmt.Errorf("after height %d: %w", want-1, readErr))
	}
	return nil
}

// decode starts decoding the batch's blocks on every CPU; buf.wg.Wait
// waits for them.
func (buf *walkBuf) decode() {
	n := len(buf.raws)
	workers := min(runtime.GOMAXPROCS(0), (n+63)/64)
	for w := range workers {
		buf.wg.Go(func() {
			for i := w; i < n; i += workers {
				r := &buf.raws[i]
				if r.json == nil {
					continue
				}
				// Calling the strict decoder directly skips json.Unmarshal's
				// extra validation pass; it validates the whole input itself.
				var b chain.Block
				if err := b.UnmarshalJSON(r.json); err != nil {
					r.err = err
					continue
				}
				r.block = &b
			}
		})
	}
}

// check returns r's block if r is a sound entry for height want.
func (r *bestRaw) check(want uint64) (*chain.Block, error) {
	if r.key != nil {
		return nil, fmt.Errorf("height %d: next key %x is not a height: %w", want, r.key, ErrCorrupt)
	}
	if r.height != want {
		return nil, fmt.Errorf("height %d is missing (the next stored height is %d): %w", want, r.height, ErrCorrupt)
	}
	var h chain.Hash
	if len(r.hash) != len(h) {
		return nil, fmt.Errorf("height %d: entry holds %d bytes, not a block hash: %w", want, len(r.hash), ErrCorrupt)
	}
	copy(h[:], r.hash)
	switch {
	case r.err != nil:
		return nil, fmt.Errorf("height %d: block %s does not decode (%v): %w", want, h, r.err, ErrCorrupt)
	case r.block == nil:
		return nil, fmt.Errorf("height %d: block %s is missing: %w", want, h, ErrCorrupt)
	case r.block.Number != want:
		return nil, fmt.Errorf("height %d: block %s says it is at height %d: %w", want, h, r.block.Number, ErrCorrupt)
	case r.block.Hash != h.String():
		return nil, fmt.Errorf("height %d: block stored as %s says its hash is %.64q: %w", want, h, r.block.Hash, ErrCorrupt)
	}
	return r.block, nil
}
