package netpeers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/wallet"
)

// NodeKeyFile is the node key's file inside the data directory.
const NodeKeyFile = "node.key"

// authTag starts every signed auth digest (PROTOCOL.md section 2).
const authTag = "meshchain/auth/v1"

// ReasonAuthFailed is the error reason of a missing, late or invalid auth frame.
const ReasonAuthFailed = "AuthFailed"

// NodeIDOf is the node id a node key proves: hex(SHA-256(compressed key)).
func NodeIDOf(pub *secp256k1.PublicKey) string {
	sum := sha256.Sum256(pub.SerializeCompressed())
	return hex.EncodeToString(sum[:])
}

// NewNodeKey makes a fresh random node key.
func NewNodeKey() (*secp256k1.PrivateKey, error) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("netpeers: make node key: %w", err)
	}
	return k, nil
}

// LoadOrCreateNodeKey reads the node key kept at path (hex of the 32-byte
// private key), or makes one and writes it there, readable by its owner
// only. The key is the node's identity: a file that does not decode is an
// error, not a reason to make a new identity silently.
func LoadOrCreateNodeKey(path string) (*secp256k1.PrivateKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("netpeers: node key %s is not 64 hex digits", path)
		}
		var k secp256k1.ModNScalar
		if overflow := k.SetByteSlice(raw); overflow || k.IsZero() {
			return nil, fmt.Errorf("netpeers: node key %s is out of range", path)
		}
		return secp256k1.NewPrivateKey(&k), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("netpeers: read node key: %w", err)
	}
	k, err := NewNodeKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("netpeers: node key directory: %w", err)
	}
	// O_EXCL: two starts racing on one data dir must not end with two keys.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("netpeers: write node key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k.Serialize()) + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("netpeers: write node key: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("netpeers: write node key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("netpeers: write node key: %w", err)
	}
	return k, nil
}

// newChallenge is 32 fresh random bytes for one session's hello.
func newChallenge() [32]byte {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return b
}

// authDigest is what one side of a session signs: SHA-256("meshchain/auth/v1"
// || genesis || the peer's challenge || own node key || the peer's node key).
func authDigest(genesis, peerChallenge [32]byte, own, peer [33]byte) chain.Hash {
	h := sha256.New()
	h.Write([]byte(authTag))
	h.Write(genesis[:])
	h.Write(peerChallenge[:])
	h.Write(own[:])
	h.Write(peer[:])
	var out chain.Hash
	copy(out[:], h.Sum(nil))
	return out
}

// signAuth signs the auth digest with our node key.
func signAuth(key *secp256k1.PrivateKey, genesis, peerChallenge [32]byte, peer [33]byte) [64]byte {
	var own [33]byte
	copy(own[:], key.PubKey().SerializeCompressed())
	return wallet.SignDigest(key, authDigest(genesis, peerChallenge, own, peer))
}

// verifyAuth checks the peer's auth signature: it signed our challenge,
// its key first. It is chain.VerifySignature's check (low-S, r and s in
// range), so both signatures of the protocol are judged alike.
func verifyAuth(sigHex string, genesis, ourChallenge [32]byte, peer, own [33]byte) error {
	var sig [64]byte
	if !isHex(sigHex, 128) {
		return errors.New("signature must be 128 lowercase hex digits")
	}
	_, _ = hex.Decode(sig[:], []byte(sigHex))
	if err := chain.VerifySignature(peer, sig, authDigest(genesis, ourChallenge, peer, own)); err != nil {
		return err
	}
	return nil
}

// helloKeys are the authentication fields of a hello, decoded.
type helloKeys struct {
	key       [33]byte
	hasKey    bool
	challenge [32]byte
	hasChal   bool
}

// parseHelloKeys checks a hello's node_key and challenge: a node_key must
// be a compressed point whose hash is the hello's node_id, a challenge 32
// bytes of hex. Either may be absent (an unauthenticated peer).
func parseHelloKeys(h Hello) (helloKeys, error) {
	var k helloKeys
	if h.NodeKey != "" {
		if !isHex(h.NodeKey, 66) {
			return k, errors.New("node_key must be 66 lowercase hex digits")
		}
		_, _ = hex.Decode(k.key[:], []byte(h.NodeKey))
		pub, err := secp256k1.ParsePubKey(k.key[:])
		if err != nil || (k.key[0] != 0x02 && k.key[0] != 0x03) {
			return k, errors.New("node_key is not a compressed secp256k1 point")
		}
		if id := NodeIDOf(pub); h.NodeID != id {
			return k, fmt.Errorf("node_id %.64q is not the hash of node_key (%s)", h.NodeID, id)
		}
		k.hasKey = true
	}
	if h.Challenge != "" {
		if !isHex(h.Challenge, 64) {
			return k, errors.New("challenge must be 64 lowercase hex digits")
		}
		_, _ = hex.Decode(k.challenge[:], []byte(h.Challenge))
		k.hasChal = true
	}
	return k, nil
}
