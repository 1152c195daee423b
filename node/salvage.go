package node

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
)

// asideName is where a damaged chain.db is kept, beside the new one.
func asideName(path string, now time.Time) string {
	return path + ".damaged-" + now.UTC().Format("20060102T150405")
}

// salvage replaces the damaged store src, open from StorePath(dataDir), by
// a new file holding what can still be read of it: the best chain up to
// top (as far as it reads), the settings, the pending pool, the address
// book, and own's messages from the best-chain blocks above what was
// copied that still read and verify. src is closed; the damaged file is
// moved aside, not deleted. It returns the new store and what to tell the
// user.
//
// It writes the new file beside the old one and renames it into place only
// when complete, so a crash midway leaves the damaged file where it was
// and the next start salvages again.
func salvage(dataDir string, src *store.Store, top uint64, cause error, own string, log *slog.Logger) (*store.Store, string, error) {
	path := StorePath(dataDir)
	tmp := path + ".salvage"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = src.Close()
		return nil, "", fmt.Errorf("salvage the damaged chain store: %w", err)
	}
	dst, err := store.Open(tmp)
	if err != nil {
		_ = src.Close()
		return nil, "", fmt.Errorf("salvage the damaged chain store: %w", err)
	}
	sv, err := src.CopyInto(dst, top)
	var rescued []store.Pending
	if err == nil {
		rescued = rescueMessages(src, sv.Blocks, own, func(id chain.Hash) bool {
			_, ok, err := dst.MessageBlock(id)
			return ok || err != nil
		})
		if len(rescued) > 0 {
			err = dst.Apply(store.Update{AddPending: rescued})
		}
	}
	_ = src.Close() // damaged: what it says on closing adds nothing
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", fmt.Errorf("salvage the damaged chain store into %s: %w", tmp, err)
	}
	aside := asideName(path, time.Now())
	if err := os.Rename(path, aside); err != nil {
		return nil, "", fmt.Errorf("%w (and moving it aside failed: %v)", cause, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, "", fmt.Errorf("put the salvaged chain store in place: %w", err)
	}
	syncDir(dataDir)
	if err := store.ClearDamageSeen(path); err != nil { // the mark was the old file's
		log.Warn("the new chain store will be checked again at the next start", "err", err)
	}
	log.Error("chain store damaged; moved aside and started a new one with what could be read",
		"err", cause, "moved_to", aside, "kept", sv.String(), "unreadable", errors.Join(sv.Errs...), "rescued_own", len(rescued))
	note := fmt.Sprintf("the chain database was damaged (%v). It was moved to %s and a new one started with what could still be read: %s", cause, aside, sv)
	if len(rescued) > 0 {
		note += fmt.Sprintf("; %d of this wallet's messages from blocks past the damage went back to the queue", len(rescued))
	}
	note += ". The rest of the chain is fetched again from peers: keep the node connected. " +
		"The moved file is no longer used; delete it once the node has caught up"
	if slices.Contains(sv.Lost, "pending messages") {
		note += ", and post again any message of yours that does not appear on the chain"
	}
	note += "."
	st, err := store.Open(path)
	return st, note, err
}

// syncDir makes the renames in dir durable; a failure only risks the old
// name coming back after a crash, when the salvage runs again.
func syncDir(dir string) {
	if d, err := os.Open(filepath.Clean(dir)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// salvageOnOpen handles a store that bbolt cannot open for writing: read
// what it can through a read-only open and carry it over. ok is false when
// not even that opens.
func salvageOnOpen(dataDir string, cause error, own string, log *slog.Logger) (st *store.Store, note string, ok bool, err error) {
	src, rerr := store.OpenReadOnly(StorePath(dataDir))
	if rerr != nil {
		return nil, "", false, nil
	}
	st, note, err = salvage(dataDir, src, math.MaxUint64, cause, own, log)
	return st, note, true, err
}

// rescueMessages reads what it can of the best chain above height good,
// which is about to be cut off or left behind, and returns own's messages
// whose signatures still verify and that known does not already hold, to
// be mined again.
func rescueMessages(st *store.Store, good uint64, own string, known func(chain.Hash) bool) []store.Pending {
	if own == "" {
		return nil
	}
	top, ok, err := st.BestHeight()
	if err != nil || !ok {
		return nil
	}
	// A damaged file may record any top: look no further than a million
	// heights (a 4096-byte message a block, beyond any disk it sits on).
	top = min(top, good+1<<20)
	var out []store.Pending
	seen := map[chain.Hash]bool{}
	for h := good + 1; h <= top; h++ {
		hash, ok, err := st.BestHash(h)
		if err != nil || !ok {
			continue
		}
		b, err := st.Block(hash)
		if err != nil || b.Sender != own {
			continue
		}
		p, err := b.Parse()
		if err != nil || chain.CheckMessage(b.Message) != nil || chain.VerifySignature(p.Sender, p.Signature, p.MessageID) != nil {
			continue // damaged beyond use: not a message this wallet signed
		}
		if seen[p.MessageID] || known(p.MessageID) {
			continue
		}
		seen[p.MessageID] = true
		out = append(out, store.Pending{MessageID: p.MessageID, Message: b.Message, Sender: b.Sender,
			TimeStamp: b.TimeStamp, Signature: b.Signature, Own: true})
	}
	return out
}
