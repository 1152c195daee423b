package chain

import (
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Parent is what validation needs to know of a block's parent.
type Parent struct {
	Number uint64
	Hash   Hash
}

// Validate applies every rule of PROTOCOL.md section 1 that needs only the
// block, its parent, the network difficulty and the receiver's clock. The
// duplicate-message rule needs the ancestors and is the Index's job.
//
// Rules run in the protocol's order, so each invalid block gets the reason
// code the vectors expect. The timeStamp's format is checked before the
// hash only because the header cannot be built without it. An error whose
// code is HashVerified's means the block's hash was checked first.
func Validate(b *Block, parent Parent, difficulty uint32, now time.Time) (*Parsed, error) {
	if b.Number != parent.Number+1 {
		return nil, ruleErrorf(PreviousHashBlockError, "number_of_block %d does not follow parent %d", b.Number, parent.Number)
	}
	if b.PrevHash != parent.Hash.String() {
		return nil, ruleErrorf(PreviousHashBlockError, "prev_hash %.64q is not the parent's hash %s", b.PrevHash, parent.Hash)
	}
	if b.Difficulty != difficulty {
		return nil, ruleErrorf(InvalidDifficulty, "difficulty %d, the network's is %d", b.Difficulty, difficulty)
	}
	p, err := b.Parse()
	if err != nil {
		return nil, err
	}
	if err := checkHash(b, p); err != nil {
		return nil, err
	}
	if err := checkMessage(b.Message); err != nil {
		return nil, afterHash{err}
	}
	if err := VerifySignature(p.Sender, p.Signature, p.MessageID); err != nil {
		return nil, afterHash{err}
	}
	if limit := now.Add(MaxFutureDrift).UnixMilli(); p.Time > limit {
		return nil, afterHash{ruleErrorf(InvalidTimestamp, "timeStamp %s is more than %v ahead of this node's clock", b.TimeStamp, MaxFutureDrift)}
	}
	return p, nil
}

// afterHash marks a rule error found after the block's hash and proof of
// work were verified: the hash then really names this invalid content.
type afterHash struct{ error }

func (e afterHash) Unwrap() error { return e.error }

// HashVerified reports whether a validation error came after the block's
// hash and proof of work were checked. Only then may the hash be remembered
// as invalid: a block that fails earlier may carry another block's hash.
func HashVerified(err error) bool {
	var ah afterHash
	return errors.As(err, &ah)
}

// TooFarAhead reports whether a block was refused only for a timeStamp
// beyond the receiver's clock: it may be valid later, and the peer that sent
// it may simply have a faster clock.
func TooFarAhead(err error) bool {
	return HashVerified(err) && CodeOf(err) == InvalidTimestamp
}

func checkMessage(m string) error {
	switch {
	case len(m) == 0:
		return ruleErrorf(InvalidMessage, "message is empty")
	case len(m) > MaxMessageBytes:
		return ruleErrorf(InvalidMessage, "message is %d bytes, the limit is %d", len(m), MaxMessageBytes)
	case !utf8.ValidString(m):
		return ruleErrorf(InvalidMessage, "message is not valid UTF-8")
	}
	return nil
}

// CheckMessage applies rule 4 to a message before it is signed or mined.
func CheckMessage(m string) error { return checkMessage(m) }

func checkHash(b *Block, p *Parsed) error {
	if !p.Hash.Matches(b.Hash) {
		return ruleErrorf(InvalidBlockHash, "hash %.64q is not SHA-256 of the header (%s)", b.Hash, p.Hash)
	}
	if !MeetsDifficulty(p.Hash, b.Difficulty) {
		return ruleErrorf(InvalidBlockHash, "hash %s has %d leading zero bits, fewer than %d", p.Hash, LeadingZeroBits(p.Hash), b.Difficulty)
	}
	return nil
}

// CheckStored re-checks what a stored block can be trusted to keep: its link
// to the parent, its hash and its proof of work. It skips signatures, which
// were verified when the block was accepted.
func CheckStored(b *Block, parent Parent) (*Parsed, error) {
	if b.Number != parent.Number+1 || b.PrevHash != parent.Hash.String() {
		return nil, ruleErrorf(PreviousHashBlockError, "block %d does not link to its parent %s", b.Number, parent.Hash)
	}
	p, err := b.Parse()
	if err != nil {
		return nil, err
	}
	if err := checkHash(b, p); err != nil {
		return nil, err
	}
	return p, nil
}

// VerifySignature checks a 64-byte r||s signature over a message id: the
// sender must be a compressed point, r and s in [1, n-1], s in low form.
func VerifySignature(sender [33]byte, sig [64]byte, id Hash) error {
	if sender[0] != 0x02 && sender[0] != 0x03 {
		return ruleErrorf(InvalidSignature, "sender is not a compressed public key")
	}
	pub, err := parseSender(sender)
	if err != nil {
		return ruleErrorf(InvalidSignature, "sender is not a point on secp256k1: %v", err)
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return ruleErrorf(InvalidSignature, "signature r is out of range")
	}
	if overflow := s.SetByteSlice(sig[32:]); overflow || s.IsZero() {
		return ruleErrorf(InvalidSignature, "signature s is out of range")
	}
	if s.IsOverHalfOrder() {
		return ruleErrorf(InvalidSignature, "signature s is not in low-S form")
	}
	if !ecdsa.NewSignature(&r, &s).Verify(id[:], pub) {
		return ruleErrorf(InvalidSignature, "signature does not verify for this sender and message")
	}
	return nil
}

// senderKeys memoises parsed sender keys. A chain has few senders, and
// parsing one (decompressing the point: a square root in the field) is
// about a fifteenth of a verification. Only keys that parsed are kept; the
// map is emptied when full, so a flood of new senders costs only the
// parsing it would have cost anyway.
var senderKeys = struct {
	sync.RWMutex
	m map[[33]byte]*secp256k1.PublicKey
}{m: make(map[[33]byte]*secp256k1.PublicKey)}

const senderKeysMax = 4096

func parseSender(sender [33]byte) (*secp256k1.PublicKey, error) {
	senderKeys.RLock()
	pub := senderKeys.m[sender]
	senderKeys.RUnlock()
	if pub != nil {
		return pub, nil
	}
	pub, err := secp256k1.ParsePubKey(sender[:])
	if err != nil {
		return nil, err
	}
	senderKeys.Lock()
	if len(senderKeys.m) >= senderKeysMax {
		clear(senderKeys.m)
	}
	senderKeys.m[sender] = pub
	senderKeys.Unlock()
	return pub, nil
}
