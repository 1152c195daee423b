package store

import (
	"encoding/binary"
	"errors"
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
	json   string // the record, copied out of bbolt
	found  bool   // false when the block is missing
	get    bool   // the block is still to be looked up
	getErr error  // the lookup met a damaged page

	block  *chain.Block
	parsed *chain.Parsed // block.Parse(), when asked for and it parsed
	err    error         // why json did not decode into block
}

// walkBuf is one batch on its way from bbolt to fn.
type walkBuf struct {
	raws  []bestRaw
	parse bool           // also run chain.Block.Parse in the decoders
	db    *bolt.DB       // where the decoders look the blocks up ...
	txID  int            // ... in a read transaction of this snapshot
	wg    sync.WaitGroup // the batch's decoders
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
	return s.forEachBest(false, func(height uint64, b *chain.Block, _ *chain.Parsed) error { return fn(height, b) })
}

// ForEachBestParsed is ForEachBest that also hands fn each block's
// b.Parse() result, computed on all CPUs with the decoding (an open spends
// most of its time there otherwise). p is nil when the block does not
// parse; fn then meets the error itself by parsing it.
//
// The blocks are also looked up on all CPUs, each decoder in a read
// transaction of its own, begun while the walk's is open. So no write may
// run on the store meanwhile, from any goroutine: bbolt's remap for a
// growing file would wait for the walk's transaction while the walk waits
// for a decoder's to begin. A node's load at open is the one user.
func (s *Store) ForEachBestParsed(fn func(height uint64, b *chain.Block, p *chain.Parsed) error) error {
	return s.forEachBest(true, fn)
}

func (s *Store) forEachBest(parse bool, fn func(height uint64, b *chain.Block, p *chain.Parsed) error) error {
	const op = "walk best chain"
	var tx *bolt.Tx
	if err := guard(func() (err error) { tx, err = s.db.Begin(false); return err }); err != nil {
		return s.opError(op, err)
	}
	defer func() { _ = guard(tx.Rollback) }()
	s.populateMapped(tx)
	defer s.releaseMapped(tx)

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
					// The decoders look the block up: 100,000 random
					// lookups in the blocks bucket are a third of an
					// open's time, too much for one goroutine.
					r.get = len(v) == len(chain.Hash{})
					if r.get && !parse {
						r.lookup(blocks)
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
	cur := &walkBuf{parse: parse, db: s.db, txID: tx.ID()}
	next := &walkBuf{parse: parse, db: s.db, txID: tx.ID()}
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
			r := &cur.raws[i]
			if r.get {
				// A decoder could not open a read transaction of this
				// snapshot (a write came between): look it up here.
				r.getErr = guard(func() error { r.lookup(blocks); return nil })
				r.decode(parse)
			}
			if r.getErr != nil {
				return s.opError(op, fmt.Errorf("after height %d: %w", want-1, r.getErr))
			}
			b, err := r.check(want)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", op, s.path, err)
			}
			if err := fn(want, b, r.parsed); err != nil {
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

// decode starts looking up and decoding the batch's blocks on every CPU,
// each decoder in a read transaction of its own (a bbolt transaction is
// not for several goroutines) of the walk's snapshot; buf.wg.Wait waits
// for them. An entry a decoder could not look up keeps get set.
func (buf *walkBuf) decode() {
	n := len(buf.raws)
	workers := min(runtime.GOMAXPROCS(0), (n+63)/64)
	for w := range workers {
		buf.wg.Go(func() {
			var tx *bolt.Tx
			var blocks *bolt.Bucket
			// Only ForEachBestParsed leaves the lookups to the decoders
			// (see there why others must not begin transactions here).
			_ = guard(func() (err error) {
				if !buf.parse {
					return nil
				}
				if tx, err = buf.db.Begin(false); err != nil {
					return err
				}
				if tx.ID() != buf.txID {
					return errors.New("another snapshot")
				}
				blocks, err = bucket(tx, bucketBlocks)
				return err
			})
			if tx != nil {
				defer func() { _ = guard(tx.Rollback) }()
			}
			for i := w; i < n; i += workers {
				r := &buf.raws[i]
				if r.get && blocks != nil {
					if r.getErr = guard(func() error { r.lookup(blocks); return nil }); r.getErr != nil {
						continue
					}
				}
				r.decode(buf.parse)
			}
		})
	}
}

// lookup copies r's block record out of blocks.
func (r *bestRaw) lookup(blocks *bolt.Bucket) {
	r.get = false
	if j := blocks.Get(r.hash); j != nil {
		r.json, r.found = string(j), true
	}
}

// decode decodes r's record, and parses it if parse is set.
func (r *bestRaw) decode(parse bool) {
	if !r.found || r.get || r.getErr != nil || r.block != nil {
		return
	}
	// The store's own encoding decodes fast; anything else goes to the
	// strict decoder, called directly to skip json.Unmarshal's extra
	// validation pass (it validates the whole input itself).
	var b chain.Block
	if !decodeStored(r.json, &b) {
		if err := b.UnmarshalJSON([]byte(r.json)); err != nil {
			r.err = err
			return
		}
	}
	r.block = &b
	if parse {
		r.parsed, _ = b.Parse()
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
