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
	hash   chain.Hash
	hashN  int    // the entry's length, len(hash) when it is sound
	rec    []byte // the record in bbolt's mapping, still to be copied
	json   string // the record, copied out of bbolt
	found  bool   // false when the block is missing
	getErr error  // the lookup (or the copy) met a damaged page

	block  *chain.Block
	parsed *chain.Parsed // block.Parse(), when asked for and it parsed
	err    error         // why json did not decode into block

	// For ForEachBestParsed, block and parsed point here: the batch's
	// buffer holds them, and is reused once fn has seen them.
	blockVal  chain.Block
	parsedVal chain.Parsed
}

// walkBuf is one batch on its way from bbolt to fn.
type walkBuf struct {
	raws  []bestRaw
	parse bool           // also run chain.Block.Parse in the decoders
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
// b and p are the walk's own and valid only until fn returns: the walk
// reuses them for later blocks, so fn copies what it keeps (their strings
// and arrays it may keep). An open allocates them for 100,000 blocks
// otherwise, and the garbage raises the process's resident memory.
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
	var hint uint64
	err := guard(func() error {
		bs, err := buckets(tx, bucketBest, bucketBlocks, bucketMeta)
		if err != nil {
			return err
		}
		blocks = bs[1]
		if top, ok, err := readTop(bs[2]); err == nil && ok {
			hint = top
		}
		c = bs[0].Cursor()
		k, v = c.Seek(heightKey(1))
		return nil
	})
	if err != nil {
		return s.opError(op, err)
	}
	recs := scanRecords(blocks, hint)
	// read fills buf with the next entries: each with its record as it
	// lies in bbolt's mapping, which the decoders copy out (the walk's
	// transaction keeps the mapping in place until they are done).
	read := func(buf *walkBuf) error {
		buf.raws = buf.raws[:0]
		whole := 0 // entries read in full
		err := guard(func() error {
			for ; k != nil && len(buf.raws) < walkBatch; k, v = c.Next() {
				buf.raws = buf.raws[:len(buf.raws)+1]
				r := &buf.raws[len(buf.raws)-1]
				*r = bestRaw{hashN: len(v)}
				copy(r.hash[:], v)
				if len(k) == 8 {
					r.height = binary.BigEndian.Uint64(k)
					if len(v) == len(chain.Hash{}) {
						if j, ok := recs[chain.Hash(v)]; ok {
							r.rec, r.found = j, true
						} else {
							// Not in the scan (or no scan): the lookup
							// says what bbolt holds, missing or a
							// damaged page.
							r.lookup(blocks)
						}
					}
				} else {
					r.key = append([]byte{}, k...)
				}
				whole++
			}
			return nil
		})
		buf.raws = buf.raws[:whole] // not one bbolt failed in the middle of
		return err
	}

	// A read that fails (a damaged page) keeps the entries it copied
	// before the failure; they and every batch before them still reach fn,
	// so the caller learns the whole readable prefix, and then the error.
	cur := &walkBuf{parse: parse, raws: make([]bestRaw, 0, walkBatch)}
	next := &walkBuf{parse: parse, raws: make([]bestRaw, 0, walkBatch)}
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

// scanRecords reads the blocks bucket once in key order and returns where
// each record lies in bbolt's mapping, by hash: 100,000 lookups by hash
// in random order cost several times this one pass (every lookup descends
// the tree and binary-searches its pages). The slices stay valid while tx
// is open. hint is how many blocks the best chain holds. A damaged page
// (bbolt panics) gives nil: the walk then looks every block up itself and
// meets the damage where it lies, after handing fn the blocks below it.
func scanRecords(blocks *bolt.Bucket, hint uint64) map[chain.Hash][]byte {
	var recs map[chain.Hash][]byte
	err := guard(func() error {
		recs = make(map[chain.Hash][]byte, min(hint, 1<<20)) // bounded: the hint may be damaged
		c := blocks.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) == len(chain.Hash{}) && v != nil {
				recs[chain.Hash(k)] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return recs
}

// decode starts copying out and decoding the batch's records on every
// CPU; buf.wg.Wait waits for them.
func (buf *walkBuf) decode() {
	n := len(buf.raws)
	workers := min(runtime.GOMAXPROCS(0), (n+63)/64)
	for w := range workers {
		buf.wg.Go(func() {
			for i := w; i < n; i += workers {
				r := &buf.raws[i]
				if r.rec != nil {
					// The mapping is the file: a fault reading it is
					// damage, as in any bbolt call.
					r.getErr = guard(func() error { r.json = string(r.rec); return nil })
					r.rec = nil
					if r.getErr != nil {
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
	if j := blocks.Get(r.hash[:]); j != nil {
		r.json, r.found = string(j), true
	}
}

// decode decodes r's record, and parses it if parse is set.
func (r *bestRaw) decode(parse bool) {
	if !r.found || r.getErr != nil || r.block != nil {
		return
	}
	// The store's own encoding decodes fast; anything else goes to the
	// strict decoder, called directly to skip json.Unmarshal's extra
	// validation pass (it validates the whole input itself).
	b := &r.blockVal
	if !parse {
		b = new(chain.Block) // ForEachBest's callers may keep it
	}
	if !decodeStored(r.json, b) {
		if err := b.UnmarshalJSON([]byte(r.json)); err != nil {
			r.err = err
			return
		}
	}
	r.block = b
	if parse && b.ParseInto(&r.parsedVal) == nil {
		r.parsed = &r.parsedVal
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
	if r.hashN != len(r.hash) {
		return nil, fmt.Errorf("height %d: entry holds %d bytes, not a block hash: %w", want, r.hashN, ErrCorrupt)
	}
	h := r.hash
	switch {
	case r.err != nil:
		return nil, fmt.Errorf("height %d: block %s does not decode (%v): %w", want, h, r.err, ErrCorrupt)
	case r.block == nil:
		return nil, fmt.Errorf("height %d: block %s is missing: %w", want, h, ErrCorrupt)
	case r.block.Number != want:
		return nil, fmt.Errorf("height %d: block %s says it is at height %d: %w", want, h, r.block.Number, ErrCorrupt)
	case !h.Matches(r.block.Hash):
		return nil, fmt.Errorf("height %d: block stored as %s says its hash is %.64q: %w", want, h, r.block.Hash, ErrCorrupt)
	}
	return r.block, nil
}
