// Package store is the node's only persistence: one bbolt file (chain.db in
// the data directory) holding the valid blocks it knows, its best chain, the
// message-id index of that chain, the pending-message pool, the peer address
// book and a few settings.
//
// It stores what it is given and checks only what keeps the file
// self-consistent (best-chain heights stay contiguous, a connected block is
// stored). It must not validate blocks or choose the best chain: that is the
// chain package's job, and the node passes the outcome in as an Update. It
// keeps no state outside the file, and the only goroutines it starts are
// ForEachBest's block decoders, which end before it returns.
//
// Every write is one fsynced bbolt transaction. Damage to the file is
// reported as an error wrapping ErrCorrupt, never as a panic: bbolt panics on
// some damaged pages, so every call into it is guarded.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/meshchain/meshchain/chain"
)

// ErrLocked means another process holds the database file open.
var ErrLocked = errors.New("another meshchain process is using the data directory")

// ErrCorrupt means the file is not a chain store or is damaged.
var ErrCorrupt = errors.New("chain store is corrupt")

// ErrDamagedPage means bbolt failed reading the file's own structure (a
// page it could not follow), not just a record: the file can no longer be
// trusted for writes and what it still holds must be copied to a new one.
// It wraps ErrCorrupt.
var ErrDamagedPage = fmt.Errorf("bbolt failed reading a damaged page: %w", ErrCorrupt)

// ErrNotFound means a requested record is absent.
var ErrNotFound = errors.New("not found")

// lockTimeout is how long Open waits for another process to let go.
const lockTimeout = time.Second

// formatVersion is kept in the meta bucket under versionKey so a later
// build can tell which layout a file has. Version 2 added topKey; a build
// that reads only version 1 would write the best chain without keeping it,
// so it must refuse a version 2 file, which it does.
const (
	formatVersion = "2"
	versionKey    = "store.version"
	// topKey holds the best chain's top height (u64), or nothing when the
	// chain is empty. Apply keeps it in the same transaction as the best
	// bucket, because bbolt's Cursor.Last loops for good once every key of
	// a bucket was deleted in the open transaction (a reorganisation from
	// genesis of about 100 blocks or more).
	topKey = "store.best_top"
	// reservedPrefix marks the meta keys that are the store's own.
	reservedPrefix = "store."
)

var (
	bucketMeta       = []byte("meta")
	bucketBlocks     = []byte("blocks")      // block hash -> block JSON
	bucketBest       = []byte("best")        // u64 height -> block hash
	bucketMsgs       = []byte("msgs")        // message id -> block hash, best chain only
	bucketPending    = []byte("pending")     // pendingKey -> pendingRecord JSON
	bucketPendingIDs = []byte("pending_ids") // message id -> pendingKey
	bucketPeers      = []byte("peers")       // addr -> peerRecord JSON

	allBuckets = [][]byte{bucketMeta, bucketBlocks, bucketBest, bucketMsgs, bucketPending, bucketPendingIDs, bucketPeers}
)

// Store is an open chain.db. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	// wasEmpty: the file existed with 0 bytes, so bbolt made a new store
	// in it: whatever chain it held is gone.
	wasEmpty bool
	readOnly bool // opened by OpenReadOnly: leaves no damage mark
}

// Open opens or creates the store at path (for example <datadir>/chain.db).
func Open(path string) (*Store, error) {
	var file *os.File // the handle bbolt opens, to release it if bbolt panics
	opts := &bolt.Options{
		Timeout: lockTimeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	var wasEmpty bool
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		wasEmpty = true
	}
	var db *bolt.DB
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if err != nil {
		if file != nil && db == nil && errors.Is(err, ErrCorrupt) {
			// bbolt panicked with the file open, locked and perhaps mapped.
			// Release the lock and handle so the file can be opened again;
			// a read-only mapping, if any, stays until the process exits.
			unlockFile(file)
			_ = file.Close()
		}
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path, wasEmpty: wasEmpty}
	if err := s.init(); err != nil {
		_ = guard(db.Close)
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// openError says what a failed bolt.Open means for the node.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, ErrCorrupt):
		return fmt.Errorf("open %s: %w", path, err)
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open %s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping),
		strings.HasPrefix(err.Error(), "file size too small"):
		return fmt.Errorf("open %s: not a chain store or damaged (%v): %w", path, err, ErrCorrupt)
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("open chain store: %w", err)
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
}

// WasEmpty reports that the file existed but held 0 bytes when it was
// opened: a new, empty store was made in it, and the chain, pending
// messages and peers it held are gone.
func (s *Store) WasEmpty() bool { return s.wasEmpty }

// init creates the buckets, checks the layout version and brings a
// version 1 file up to date.
func (s *Store) init() error {
	return guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("bucket %s: %w", name, err)
				}
			}
			meta := tx.Bucket(bucketMeta)
			switch v := meta.Get([]byte(versionKey)); {
			case v == nil:
				// A new file: its best chain is empty.
				if err := writeTop(meta, 0, false); err != nil {
					return err
				}
				return meta.Put([]byte(versionKey), []byte(formatVersion))
			case string(v) == "1":
				// Nothing was deleted in this transaction yet, so one
				// Cursor.Last finds the top safely.
				top, ok, err := lastHeight(tx.Bucket(bucketBest))
				if err != nil {
					return err
				}
				if err := writeTop(meta, top, ok); err != nil {
					return err
				}
				return meta.Put([]byte(versionKey), []byte(formatVersion))
			case string(v) != formatVersion:
				return fmt.Errorf("store format version %q, this build reads %q", v, formatVersion)
			}
			return nil
		})
	})
}

// Close releases the file. The Store must not be used afterwards.
func (s *Store) Close() error {
	if err := guard(s.db.Close); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// Path is the file the store was opened from.
func (s *Store) Path() string { return s.path }

// guard runs f, turning a panic or memory fault inside bbolt (which it
// raises on damaged pages) into an ErrCorrupt error.
func guard(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w (%v)", ErrDamagedPage, r)
		}
	}()
	return f()
}

// view runs a guarded read transaction; op prefixes its errors.
func (s *Store) view(op string, fn func(*bolt.Tx) error) error {
	if err := guard(func() error { return s.db.View(fn) }); err != nil {
		return s.opError(op, err)
	}
	return nil
}

// update runs a guarded, fsynced write transaction; op prefixes its errors.
func (s *Store) update(op string, fn func(*bolt.Tx) error) error {
	if err := guard(func() error { return s.db.Update(fn) }); err != nil {
		return s.opError(op, err)
	}
	return nil
}

func (s *Store) opError(op string, err error) error {
	if errors.Is(err, ErrDamagedPage) && !s.readOnly {
		s.markDamaged()
	}
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%s: %s: %w", op, s.path, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// bucket returns a bucket that init created; its absence means damage.
func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %s is missing: %w", name, ErrCorrupt)
	}
	return b, nil
}

// buckets looks up each named bucket in turn, failing on the first missing.
func buckets(tx *bolt.Tx, names ...[]byte) ([]*bolt.Bucket, error) {
	bs := make([]*bolt.Bucket, len(names))
	for i, name := range names {
		b, err := bucket(tx, name)
		if err != nil {
			return nil, err
		}
		bs[i] = b
	}
	return bs, nil
}

// Meta returns the setting stored under key, or nil, nil when absent.
func (s *Store) Meta(key string) ([]byte, error) {
	var out []byte
	err := s.view("read meta "+key, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	return out, err
}

// SetMeta stores a setting; a nil val deletes it. Keys starting "store."
// are the store's own.
func (s *Store) SetMeta(key string, val []byte) error {
	if strings.HasPrefix(key, reservedPrefix) {
		return fmt.Errorf("set meta: key %q is reserved", key)
	}
	return s.update("set meta "+key, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		if val == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), val)
	})
}

// Entry is one best-chain position.
type Entry struct {
	Height    uint64
	Hash      chain.Hash
	MessageID chain.Hash
}

// Update is one change of the stored chain, applied all or nothing. Apply
// stores Blocks, removes Disconnect, adds Connect, then adds AddPending and
// last removes RemovePending, so a message in both pending lists ends up out
// of the pool.
type Update struct {
	Blocks        []*chain.Block // valid blocks to keep, keyed by their hash (side-chain blocks too)
	Disconnect    []Entry        // best-chain entries to remove, in any order; they must be the top of the chain
	Connect       []Entry        // best-chain entries to set, ascending height, continuing the chain
	RemovePending []chain.Hash   // pending messages (by message id) now in the best chain
	AddPending    []Pending      // messages returned to the pool by a reorganisation
}

// Apply writes u in one fsynced transaction. It refuses, changing nothing,
// an update that does not fit the stored best chain: a disconnected entry
// that is not there, disconnections that leave a gap, connections that do
// not continue the remaining chain (height 0 or 1 on an empty one) or whose
// block is neither in u.Blocks nor already stored.
func (s *Store) Apply(u Update) error {
	// Encode outside the transaction so the write lock is held briefly.
	type encoded struct {
		hash chain.Hash
		json []byte
	}
	blocks := make([]encoded, 0, len(u.Blocks))
	for i, b := range u.Blocks {
		if b == nil {
			return fmt.Errorf("apply: block %d of the update is nil", i)
		}
		h, err := chain.ParseHash(b.Hash)
		if err != nil {
			return fmt.Errorf("apply: block %d of the update: hash: %w", b.Number, err)
		}
		j, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("apply: block %s: %w", h.Short(), err)
		}
		blocks = append(blocks, encoded{h, j})
	}
	pending, err := encodePending(u.AddPending)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return s.update("apply", func(tx *bolt.Tx) error {
		bb, err := bucket(tx, bucketBlocks)
		if err != nil {
			return err
		}
		for _, e := range blocks {
			if old := bb.Get(e.hash[:]); old != nil && (bytes.Equal(old, e.json) || holdsBlock(old, e.hash)) {
				continue // same hash, same block; keep the first copy
			}
			// Absent, or a damaged record under this hash: the valid copy
			// replaces it, or the chain would run through it for good.
			if err := bb.Put(e.hash[:], e.json); err != nil {
				return fmt.Errorf("block %s: %w", e.hash.Short(), err)
			}
		}
		if err := disconnect(tx, u.Disconnect); err != nil {
			return err
		}
		if err := connect(tx, u.Connect); err != nil {
			return err
		}
		if err := addPending(tx, pending); err != nil {
			return err
		}
		return removePending(tx, u.RemovePending)
	})
}

// keyHeight is the height a best-chain key holds; 0 for nil.
func keyHeight(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

func heightKey(h uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], h)
	return k[:]
}

// holdsBlock reports whether a stored record decodes to the block named h.
// It is called only when the record's bytes differ from the copy at hand,
// which a sound file does not produce, so the decoding is rare.
func holdsBlock(raw []byte, h chain.Hash) bool {
	var b chain.Block
	return b.UnmarshalJSON(raw) == nil && b.Hash == h.String()
}

// lastHeight is the highest height in the best bucket, read with a cursor:
// only for a transaction that has deleted nothing from it (see topKey).
func lastHeight(best *bolt.Bucket) (uint64, bool, error) {
	k, _ := best.Cursor().Last()
	if k == nil {
		return 0, false, nil
	}
	if len(k) != 8 {
		return 0, false, fmt.Errorf("best-chain key %x is not a height: %w", k, ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k), true, nil
}

// readTop is the best chain's top height as kept under topKey.
func readTop(meta *bolt.Bucket) (uint64, bool, error) {
	switch v := meta.Get([]byte(topKey)); len(v) {
	case 0:
		if v == nil {
			return 0, false, fmt.Errorf("the best chain's height is not recorded: %w", ErrCorrupt)
		}
		return 0, false, nil
	case 8:
		return binary.BigEndian.Uint64(v), true, nil
	default:
		return 0, false, fmt.Errorf("the best chain's height is recorded as %x: %w", v, ErrCorrupt)
	}
}

// writeTop records the best chain's top height; ok false means empty.
func writeTop(meta *bolt.Bucket, top uint64, ok bool) error {
	v := []byte{}
	if ok {
		v = heightKey(top)
	}
	if err := meta.Put([]byte(topKey), v); err != nil {
		return fmt.Errorf("record the best chain's height: %w", err)
	}
	return nil
}

func disconnect(tx *bolt.Tx, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	bs, err := buckets(tx, bucketBest, bucketMsgs, bucketMeta)
	if err != nil {
		return err
	}
	best, msgs, meta := bs[0], bs[1], bs[2]
	top, ok, err := readTop(meta)
	if err != nil {
		return err
	}
	lowest := entries[0].Height
	for _, e := range entries {
		k := heightKey(e.Height)
		switch v := best.Get(k); {
		case v == nil:
			return fmt.Errorf("disconnect height %d: not on the stored best chain", e.Height)
		case !bytes.Equal(v, e.Hash[:]):
			return fmt.Errorf("disconnect height %d: the stored best chain has block %x there, not %s", e.Height, v, e.Hash)
		}
		if err := best.Delete(k); err != nil {
			return fmt.Errorf("disconnect height %d: %w", e.Height, err)
		}
		if bytes.Equal(msgs.Get(e.MessageID[:]), e.Hash[:]) {
			if err := msgs.Delete(e.MessageID[:]); err != nil {
				return fmt.Errorf("disconnect height %d: %w", e.Height, err)
			}
		}
		lowest = min(lowest, e.Height)
	}
	// Each entry was found and deleted once, so they are distinct heights;
	// they are the whole top of the chain when they are as many as the
	// heights from the lowest to the top.
	if !ok || top < lowest {
		return fmt.Errorf("disconnect height %d: above the recorded top %d of the best chain: %w", lowest, top, ErrCorrupt)
	}
	if uint64(len(entries)) != top-lowest+1 {
		return fmt.Errorf("disconnect height %d: a height up to %d above it stays on the best chain", lowest, top)
	}
	// Get is a seek, which empty pages do not trouble (unlike Last).
	if lowest > 0 && best.Get(heightKey(lowest-1)) != nil {
		return writeTop(meta, lowest-1, true)
	}
	return writeTop(meta, 0, false)
}

func connect(tx *bolt.Tx, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	bs, err := buckets(tx, bucketBest, bucketMsgs, bucketBlocks, bucketMeta)
	if err != nil {
		return err
	}
	best, msgs, blocks, meta := bs[0], bs[1], bs[2], bs[3]
	top, ok, err := readTop(meta)
	if err != nil {
		return err
	}
	next := top + 1
	if !ok && entries[0].Height <= 1 {
		next = entries[0].Height // an empty chain starts at genesis or at 1
	}
	for _, e := range entries {
		if e.Height != next {
			return fmt.Errorf("connect height %d: the stored best chain continues at height %d", e.Height, next)
		}
		if blocks.Get(e.Hash[:]) == nil {
			return fmt.Errorf("connect height %d: block %s is not stored", e.Height, e.Hash)
		}
		if best.Get(heightKey(e.Height)) != nil {
			// The recorded top is behind the bucket: never overwrite.
			return fmt.Errorf("connect height %d: the height is taken above the recorded top %d: %w", e.Height, top, ErrCorrupt)
		}
		if err := best.Put(heightKey(e.Height), e.Hash[:]); err != nil {
			return fmt.Errorf("connect height %d: %w", e.Height, err)
		}
		if err := msgs.Put(e.MessageID[:], e.Hash[:]); err != nil {
			return fmt.Errorf("connect height %d: %w", e.Height, err)
		}
		next++
	}
	return writeTop(meta, next-1, true)
}

// Block returns the stored block with hash h, or an error wrapping
// ErrNotFound.
func (s *Store) Block(h chain.Hash) (*chain.Block, error) {
	var (
		raw   string
		found bool
	)
	err := s.view("read block "+h.String(), func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketBlocks)
		if err != nil {
			return err
		}
		if v := b.Get(h[:]); v != nil {
			raw, found = string(v), true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("block %s: %w", h, ErrNotFound)
	}
	var b chain.Block
	if err := decodeRecord(raw, &b); err != nil {
		return nil, fmt.Errorf("block %s in %s does not decode (%v): %w", h, s.path, err, ErrCorrupt)
	}
	return &b, nil
}

// BestHeight is the highest height of the stored best chain; ok is false
// when it is empty.
func (s *Store) BestHeight() (height uint64, ok bool, err error) {
	err = s.view("read best height", func(tx *bolt.Tx) error {
		meta, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		if meta.Get([]byte(topKey)) == nil {
			// A version 1 file opened read-only, so not migrated: a read
			// transaction deletes nothing, so the cursor is safe.
			best, err := bucket(tx, bucketBest)
			if err != nil {
				return err
			}
			height, ok, err = lastHeight(best)
			return err
		}
		height, ok, err = readTop(meta)
		return err
	})
	return height, ok, err
}

// BestHash returns the best-chain entry at height, whether or not its block
// can still be read: repair uses it to look past a damaged block.
func (s *Store) BestHash(height uint64) (chain.Hash, bool, error) {
	var h chain.Hash
	var ok bool
	err := s.view("read best entry", func(tx *bolt.Tx) error {
		best, err := bucket(tx, bucketBest)
		if err != nil {
			return err
		}
		v := best.Get(heightKey(height))
		if len(v) != len(h) {
			return nil
		}
		copy(h[:], v)
		ok = true
		return nil
	})
	return h, ok, err
}

// MessageBlock returns the best-chain block holding message id.
func (s *Store) MessageBlock(id chain.Hash) (chain.Hash, bool, error) {
	var h chain.Hash
	var ok bool
	err := s.view("read message index", func(tx *bolt.Tx) error {
		msgs, err := bucket(tx, bucketMsgs)
		if err != nil {
			return err
		}
		v := msgs.Get(id[:])
		if v == nil {
			return nil
		}
		if len(v) != len(h) {
			return fmt.Errorf("message %s maps to %d bytes, not a block hash: %w", id, len(v), ErrCorrupt)
		}
		copy(h[:], v)
		ok = true
		return nil
	})
	return h, ok, err
}

// TruncateBest drops the best-chain entries above height, and their
// message-id entries, keeping the blocks: for a chain found corrupt from
// height+1 on.
func (s *Store) TruncateBest(height uint64) error {
	return s.update(fmt.Sprintf("truncate best chain to height %d", height), func(tx *bolt.Tx) error {
		bs, err := buckets(tx, bucketBest, bucketMsgs, bucketMeta)
		if err != nil {
			return err
		}
		best, msgs, meta := bs[0], bs[1], bs[2]
		if height == ^uint64(0) {
			return nil
		}
		// Collect first: deleting under a moving bbolt cursor skips keys.
		var keys [][]byte
		dropped := map[string]bool{}
		c := best.Cursor()
		for k, v := c.Seek(heightKey(height + 1)); k != nil; k, v = c.Next() {
			keys = append(keys, append([]byte{}, k...))
			dropped[string(v)] = true
		}
		// The new top is the last key at or below height, found before
		// any delete (see topKey); a damaged chain may have a gap there.
		var newTop []byte
		if len(keys) == 0 {
			newTop, _ = c.Last()
		} else {
			c.Seek(keys[0])
			newTop, _ = c.Prev()
		}
		if newTop != nil && len(newTop) != 8 {
			return fmt.Errorf("best-chain key %x is not a height: %w", newTop, ErrCorrupt)
		}
		if err := writeTop(meta, keyHeight(newTop), newTop != nil); err != nil {
			return err
		}
		for _, k := range keys {
			if err := best.Delete(k); err != nil {
				return err
			}
		}
		if len(keys) == 0 {
			return nil
		}
		// The dropped blocks may not decode, so find their messages by
		// scanning the index rather than by reading them.
		keys = keys[:0]
		c = msgs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if dropped[string(v)] {
				keys = append(keys, append([]byte{}, k...))
			}
		}
		for _, k := range keys {
			if err := msgs.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
