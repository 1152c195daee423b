package store

import (
	"errors"
	"fmt"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// OpenReadOnly opens an existing store for reading only: it neither
// creates, migrates nor writes the file, and it leaves bbolt's free list
// unread, so it also opens a file whose free list is damaged. Writing
// methods fail on it. verify and salvage use it.
func OpenReadOnly(path string) (*Store, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open chain store: %w", err)
	}
	if fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("open %s: the file is empty (0 bytes): the chain it held is gone: %w", path, ErrCorrupt)
	}
	var file *os.File
	opts := &bolt.Options{
		Timeout:  lockTimeout,
		ReadOnly: true,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	var db *bolt.DB
	err = guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if err != nil {
		if file != nil && db == nil && errors.Is(err, ErrCorrupt) {
			unlockFile(file)
			_ = file.Close()
		}
		return nil, openError(path, err)
	}
	s := &Store{db: db, path: path, readOnly: true}
	err = s.view("check layout", func(tx *bolt.Tx) error {
		meta, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get([]byte(versionKey)); string(v) != "1" && string(v) != formatVersion {
			return fmt.Errorf("store format version %q, this build reads %q", v, formatVersion)
		}
		return nil
	})
	if err != nil {
		_ = guard(db.Close)
		return nil, err
	}
	return s, nil
}

// DamageMark is the file beside the store at path whose presence records
// that bbolt failed on a damaged page of it, in this process or an earlier
// one. Damage in a part the node reads only while running (the message
// index, side blocks) would otherwise stop it again after every restart:
// the next start sees the mark and checks the whole file (CheckPages).
func DamageMark(path string) string { return path + ".damage-seen" }

func (s *Store) markDamaged() {
	if f, err := os.OpenFile(DamageMark(s.path), os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		_ = f.Close()
	}
}

// DamageSeen reports whether the damage mark is set for this file.
func (s *Store) DamageSeen() bool {
	_, err := os.Stat(DamageMark(s.path))
	return err == nil
}

// ClearDamageSeen removes the mark, once the file was found sound or was
// replaced.
func ClearDamageSeen(path string) error {
	if err := os.Remove(DamageMark(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear the damage mark: %w", err)
	}
	return nil
}

// CheckPages reads every page the file's buckets reach, in this goroutine
// and guarded, so a damaged page shows as an error wrapping ErrDamagedPage
// rather than a crash later. It does not judge the records themselves.
// (bbolt's own Tx.Check reads on a goroutine of its own, where a memory
// fault on a damaged page would end the process.)
func (s *Store) CheckPages() error {
	return s.view("check pages", func(tx *bolt.Tx) error {
		var sum byte
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			c := b.Cursor()
			var prev []byte
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if prev != nil && string(prev) >= string(k) {
					return fmt.Errorf("bucket %s: keys out of order at %x: %w", name, k, ErrDamagedPage)
				}
				prev = k
				// Touch the whole value: an overflow page past the end of
				// the file faults only when read.
				for _, c := range v {
					sum ^= c
				}
			}
			_ = sum
			return nil
		})
	})
}

// Salvaged says what CopyInto copied and what it could not read.
type Salvaged struct {
	Blocks   uint64   // best-chain blocks, from height 1
	Settings int      // meta keys
	Pending  int      // pool messages
	Peers    int      // address book records
	Lost     []string // the parts that could not be read
	Errs     []error  // why, one for each of Lost
}

func (sv Salvaged) String() string {
	s := fmt.Sprintf("%d blocks, %d pending messages, %d peers", sv.Blocks, sv.Pending, sv.Peers)
	if len(sv.Lost) > 0 {
		s += " (unreadable: " + strings.Join(sv.Lost, ", ") + ")"
	}
	return s
}

func (sv *Salvaged) lose(what string, err error) {
	sv.Lost = append(sv.Lost, what)
	sv.Errs = append(sv.Errs, err)
}

// copyBatch is how many blocks CopyInto writes per transaction.
const copyBatch = 1024

// CopyInto copies what can still be read of s into dst, a new store: the
// best chain from height 1 up to top (or as far as it reads), the
// settings, the pending pool and the address book. Each part is read on
// its own, so damage to one leaves the others; what was not read is listed
// in Lost. Only a failure to write dst is returned as an error. The blocks
// are copied as stored: the node validates them when it loads dst.
func (s *Store) CopyInto(dst *Store, top uint64) (Salvaged, error) {
	var sv Salvaged

	var settings map[string][]byte
	err := s.view("read settings", func(tx *bolt.Tx) error {
		meta, err := bucket(tx, bucketMeta)
		if err != nil {
			return err
		}
		settings = map[string][]byte{}
		return meta.ForEach(func(k, v []byte) error {
			if !strings.HasPrefix(string(k), reservedPrefix) && v != nil {
				settings[string(k)] = append([]byte{}, v...)
			}
			return nil
		})
	})
	if err != nil {
		sv.lose("settings", err)
	}
	for k, v := range settings {
		if err := dst.SetMeta(k, v); err != nil {
			return sv, err
		}
		sv.Settings++
	}

	var batch Update
	flush := func() error {
		if len(batch.Connect) == 0 {
			return nil
		}
		if err := dst.Apply(batch); err != nil {
			return err
		}
		sv.Blocks += uint64(len(batch.Connect))
		batch = Update{}
		return nil
	}
	var writeErr error
	errEnough := errors.New("copied up to the top asked for")
	err = s.ForEachBest(func(height uint64, b *chain.Block) error {
		if height > top {
			return errEnough
		}
		p, err := b.Parse()
		if err != nil {
			// ForEachBest checked the hash it is stored under; a block
			// that does not parse is where the readable chain ends.
			return fmt.Errorf("height %d: %w", height, err)
		}
		h, err := chain.ParseHash(b.Hash)
		if err != nil {
			return fmt.Errorf("height %d: %w", height, err)
		}
		batch.Blocks = append(batch.Blocks, b)
		batch.Connect = append(batch.Connect, Entry{Height: height, Hash: h, MessageID: p.MessageID})
		if len(batch.Connect) == copyBatch {
			if writeErr = flush(); writeErr != nil {
				return writeErr
			}
		}
		return nil
	})
	if writeErr != nil {
		return sv, writeErr
	}
	if err := flush(); err != nil {
		return sv, err
	}
	if err != nil && !errors.Is(err, errEnough) {
		sv.lose(fmt.Sprintf("the chain above height %d", sv.Blocks), err)
	}

	if ps, err := s.Pending(); err != nil {
		sv.lose("pending messages", err)
	} else if len(ps) > 0 {
		for i := range ps {
			ps[i].Key = nil
		}
		if err := dst.Apply(Update{AddPending: ps}); err != nil {
			return sv, err
		}
		sv.Pending = len(ps)
	}

	if recs, err := s.Peers(); err != nil {
		sv.lose("peers", err)
	} else if len(recs) > 0 {
		if err := dst.PutPeers(recs...); err != nil {
			return sv, err
		}
		sv.Peers = len(recs)
	}
	return sv, nil
}
