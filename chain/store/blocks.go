package store

import (
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/meshchain/meshchain/chain"
)

// releaseAfter is how many blocks Blocks reads before it lets the pages it
// mapped go again (releaseMapped). Blocks scattered through the file each
// map a page-cache folio (64 KiB or more on Linux 6, whatever MADV_RANDOM
// says): the first snapshot's 1,000 blocks added 50-80 MB to the node's
// resident memory, for 0.5 MB read.
const releaseAfter = 64

// Blocks reads many stored blocks by hash in one read transaction and
// decodes them on all CPUs: a reorganisation of 10,000 blocks reads every
// block it disconnects, which block by block (a transaction and a decode
// each, in turn) held the node's loop for most of its stall. blocks[i] is
// hs[i]'s block, or nil with errs[i] saying why (ErrNotFound, ErrCorrupt
// for a record that does not decode, or the read's failure).
func (s *Store) Blocks(hs []chain.Hash) (blocks []*chain.Block, errs []error) {
	blocks = make([]*chain.Block, len(hs))
	errs = make([]error, len(hs))
	raws := make([]string, len(hs))
	found := make([]bool, len(hs))
	read := 0
	err := s.view(fmt.Sprintf("read %d blocks", len(hs)), func(tx *bolt.Tx) error {
		b, err := bucket(tx, bucketBlocks)
		if err != nil {
			return err
		}
		for i, h := range hs {
			if v := b.Get(h[:]); v != nil {
				raws[i], found[i] = string(v), true
			}
			read = i + 1
		}
		if len(hs) >= releaseAfter {
			s.releaseMapped(tx)
		}
		return nil
	})
	if err != nil {
		// A damaged page: what was read before it still decodes.
		for i := read; i < len(hs); i++ {
			errs[i] = err
		}
		hs = hs[:read]
	}
	decode := func(i int) {
		if !found[i] {
			errs[i] = fmt.Errorf("block %s: %w", hs[i], ErrNotFound)
			return
		}
		var b chain.Block
		if err := decodeRecord(raws[i], &b); err != nil {
			errs[i] = fmt.Errorf("block %s in %s does not decode (%v): %w", hs[i], s.path, err, ErrCorrupt)
			return
		}
		blocks[i] = &b
	}
	workers := min(runtime.NumCPU(), (len(hs)+63)/64)
	if workers <= 1 {
		for i := range hs {
			decode(i)
		}
		return blocks, errs
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(hs); i += workers {
				decode(i)
			}
		})
	}
	wg.Wait()
	return blocks, errs
}
