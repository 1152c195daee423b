//go:build !linux

package store

import bolt "go.etcd.io/bbolt"

// populateMapped and releaseMapped are Linux's madvise calls (see
// mapped_linux.go); elsewhere the kernel's defaults stand.
func (s *Store) populateMapped(*bolt.Tx) {}
func (s *Store) releaseMapped(*bolt.Tx)  {}
