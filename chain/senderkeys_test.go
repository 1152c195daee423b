package chain

import (
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// signed returns a key's compressed public key and its r||s signature of id.
func signed(tb testing.TB, priv *secp256k1.PrivateKey, id Hash) (sender [33]byte, sig [64]byte) {
	tb.Helper()
	copy(sender[:], priv.PubKey().SerializeCompressed())
	s := ecdsa.Sign(priv, id[:])
	r, ss := s.R(), s.S()
	r.PutBytesUnchecked(sig[:32])
	ss.PutBytesUnchecked(sig[32:])
	return sender, sig
}

func newKey(tb testing.TB) *secp256k1.PrivateKey {
	tb.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestSenderKeyMemoKeepsEveryVerdict: remembering parsed sender keys
// changes no verdict: a key not on the curve is refused every time, a
// signature verifies only for its own sender, and a key still verifies
// after the memo was emptied for being full.
func TestSenderKeyMemoKeepsEveryVerdict(t *testing.T) {
	id := Hash(sha256.Sum256([]byte("memo")))
	a, b := newKey(t), newKey(t)
	senderA, sigA := signed(t, a, id)
	senderB, _ := signed(t, b, id)
	for i := range 2 { // the second round finds both keys remembered
		if err := VerifySignature(senderA, sigA, id); err != nil {
			t.Fatalf("round %d: A's own signature: %v", i, err)
		}
		var re *RuleError
		if err := VerifySignature(senderB, sigA, id); !errors.As(err, &re) || re.Code != InvalidSignature {
			t.Fatalf("round %d: A's signature under B's key: %v, want InvalidSignature", i, err)
		}
	}
	// x = 5 is not the x of any point on secp256k1 (x³+7 = 132 is not a
	// square mod p): refused each time, never remembered.
	var off [33]byte
	off[0], off[32] = 0x02, 5
	for i := range 2 {
		var re *RuleError
		if err := VerifySignature(off, sigA, id); !errors.As(err, &re) || re.Code != InvalidSignature {
			t.Fatalf("try %d: a key off the curve: %v, want InvalidSignature", i, err)
		}
	}
	senderKeys.RLock()
	_, kept := senderKeys.m[off]
	senderKeys.RUnlock()
	if kept {
		t.Fatal("a key that does not parse was remembered")
	}
	// Fill the memo past its bound: it is emptied, A verifies as before.
	for range senderKeysMax + 1 {
		s, _ := signed(t, newKey(t), id)
		if _, err := parseSender(s); err != nil {
			t.Fatal(err)
		}
	}
	senderKeys.RLock()
	n := len(senderKeys.m)
	senderKeys.RUnlock()
	if n > senderKeysMax {
		t.Fatalf("memo holds %d keys, bound %d", n, senderKeysMax)
	}
	if err := VerifySignature(senderA, sigA, id); err != nil {
		t.Fatalf("after the memo was emptied: %v", err)
	}
}

// BenchmarkVerifySignature: one sender (its key remembered) and a new
// sender every time (parsed every time), for the memo's worth.
func BenchmarkVerifySignature(b *testing.B) {
	id := Hash(sha256.Sum256([]byte("bench")))
	b.Run("same sender", func(b *testing.B) {
		sender, sig := signed(b, newKey(b), id)
		for b.Loop() {
			if err := VerifySignature(sender, sig, id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse every time", func(b *testing.B) {
		sender, sig := signed(b, newKey(b), id)
		for b.Loop() {
			pub, err := secp256k1.ParsePubKey(sender[:])
			if err != nil {
				b.Fatal(err)
			}
			var r, s secp256k1.ModNScalar
			r.SetByteSlice(sig[:32])
			s.SetByteSlice(sig[32:])
			if !ecdsa.NewSignature(&r, &s).Verify(id[:], pub) {
				b.Fatal("does not verify")
			}
		}
	})
}
