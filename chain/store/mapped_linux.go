package store

import (
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// adviseMapped gives the kernel advice about bbolt's mapping of the file,
// up to the size tx sees. tx must be open: bbolt does not remap the file
// while a read transaction is. Errors are ignored: advice changes only
// speed and resident memory, never what is read.
//
// bbolt maps the file with MADV_RANDOM, which turns off fault-around: a
// walk of the whole chain then takes one page fault per 4 KiB page it
// touches (tens of thousands for 100,000 blocks, a fifth of an open's
// time). populateMapped maps them in one call instead; releaseMapped
// unmaps them again once the walk is done, so the pages, which stay in
// the page cache, stop counting in the process's resident memory.
func (s *Store) adviseMapped(tx *bolt.Tx, advice int) {
	data, size := s.db.Info().Data, tx.Size()
	if data == 0 || size <= 0 {
		return
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, data, uintptr(size), uintptr(advice))
}

func (s *Store) populateMapped(tx *bolt.Tx) { s.adviseMapped(tx, unix.MADV_POPULATE_READ) }
func (s *Store) releaseMapped(tx *bolt.Tx)  { s.adviseMapped(tx, unix.MADV_DONTNEED) }
