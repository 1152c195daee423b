package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/wallet"
)

// readBestChain reads a data directory's best chain, genesis first, without
// starting a node. The network's difficulty is the one the directory
// records; a strict difficulty must agree with it. A directory with no
// chain yet holds only the genesis of difficulty.
func readBestChain(dataDir string, difficulty uint32, strict bool) ([]chain.Block, uint32, error) {
	if st, err := os.Stat(dataDir); err != nil || !st.IsDir() {
		return nil, 0, fmt.Errorf("no data directory at %s", dataDir)
	}
	if _, err := os.Stat(StorePath(dataDir)); errors.Is(err, fs.ErrNotExist) {
		return []chain.Block{chain.Genesis(difficulty)}, difficulty, nil
	}
	// Read-only: reading must not change the file (nor make a new store
	// of an empty one), and it reads a file whose free list is damaged.
	st, err := store.OpenReadOnly(StorePath(dataDir))
	if err != nil {
		return nil, 0, err
	}
	defer st.Close()
	if stored, err := st.Meta(metaDifficulty); err != nil {
		return nil, 0, err
	} else if stored != nil {
		d, err := strconv.ParseUint(string(stored), 10, 32)
		if err != nil {
			return nil, 0, fmt.Errorf("data directory %s records difficulty %q: %w", dataDir, stored, err)
		}
		if strict && uint32(d) != difficulty {
			return nil, 0, fmt.Errorf("data directory %s holds a chain of difficulty %d, not %d", dataDir, d, difficulty)
		}
		difficulty = uint32(d)
	}
	blocks := []chain.Block{chain.Genesis(difficulty)}
	err = st.ForEachBest(func(_ uint64, b *chain.Block) error {
		blocks = append(blocks, *b)
		return nil
	})
	return blocks, difficulty, err
}

// Export writes the data directory's best chain as the /get-blockchaindata
// object of PROTOCOL.md. The directory's recorded difficulty wins over
// difficulty unless strict, when the two must agree.
func Export(dataDir string, difficulty uint32, strict bool, w io.Writer) error {
	blocks, _, err := readBestChain(dataDir, difficulty, strict)
	if err != nil {
		return err
	}
	author := ""
	if wl, err := wallet.Load(dataDir); err == nil {
		author = wl.SenderHex()
	}
	enc := json.NewEncoder(w)
	return enc.Encode(struct {
		WalletAuthor   string        `json:"WalletAuthor"`
		BlockChainData []chain.Block `json:"BlockChainData"`
	}{author, blocks})
}

// VerifySummary describes a fully verified chain.
type VerifySummary struct {
	Blocks   int // after genesis
	Tip      string
	Work     *big.Int
	Duration time.Duration
	Workers  int
}

// VerifyError is the first block that failed.
type VerifyError struct {
	Height uint64
	Hash   string
	Err    error
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("block %d (%s): %v", e.Height, e.Hash, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Verify re-checks a data directory's whole best chain, signatures
// included, on all cores. It returns the first failure by height.
// The directory's recorded difficulty wins unless strict, as for Export.
func Verify(ctx context.Context, dataDir string, difficulty uint32, strict bool, now time.Time) (VerifySummary, error) {
	start := time.Now()
	blocks, difficulty, err := readBestChain(dataDir, difficulty, strict)
	if err != nil {
		return VerifySummary{}, err
	}
	return verifyBlocks(ctx, blocks, difficulty, now, start)
}

// VerifyChain re-checks a whole best chain, genesis first, as Verify does
// a data directory's: for a chain read through a running node (its
// /get-blockchaindata answer) while the node holds the directory.
func VerifyChain(ctx context.Context, blocks []chain.Block, difficulty uint32, now time.Time) (VerifySummary, error) {
	start := time.Now()
	if len(blocks) == 0 || blocks[0] != chain.Genesis(difficulty) {
		return VerifySummary{}, &VerifyError{Height: 0, Err: fmt.Errorf("the chain does not start at the genesis of difficulty %d", difficulty)}
	}
	return verifyBlocks(ctx, blocks, difficulty, now, start)
}

func verifyBlocks(ctx context.Context, blocks []chain.Block, difficulty uint32, now, start time.Time) (VerifySummary, error) {
	workers := runtime.NumCPU()
	errs := make([]error, len(blocks))
	ids := make([]chain.Hash, len(blocks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	const chunk = 256
	for lo := 1; lo < len(blocks); lo += chunk {
		hi := min(lo+chunk, len(blocks))
		g.Go(func() error {
			for i := lo; i < hi && gctx.Err() == nil; i++ {
				parentHash, perr := chain.ParseHash(blocks[i-1].Hash)
				if perr != nil {
					errs[i] = perr
					continue
				}
				p, verr := chain.Validate(&blocks[i], chain.Parent{Number: blocks[i-1].Number, Hash: parentHash}, difficulty, now)
				if verr != nil {
					errs[i] = verr
					continue
				}
				ids[i] = p.MessageID
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return VerifySummary{}, err
	}
	if err := ctx.Err(); err != nil {
		return VerifySummary{}, err
	}
	seen := make(map[chain.Hash]uint64, len(blocks))
	work := new(big.Int)
	for i := 1; i < len(blocks); i++ {
		if errs[i] != nil {
			return VerifySummary{}, &VerifyError{Height: blocks[i].Number, Hash: blocks[i].Hash, Err: errs[i]}
		}
		if h, dup := seen[ids[i]]; dup {
			return VerifySummary{}, &VerifyError{Height: blocks[i].Number, Hash: blocks[i].Hash,
				Err: &chain.RuleError{Code: chain.DuplicateMessage, Description: fmt.Sprintf("message already in block %d", h)}}
		}
		seen[ids[i]] = blocks[i].Number
		work.Add(work, chain.BlockWork(blocks[i].Difficulty))
	}
	return VerifySummary{Blocks: len(blocks) - 1, Tip: blocks[len(blocks)-1].Hash, Work: work,
		Duration: time.Since(start), Workers: workers}, nil
}
