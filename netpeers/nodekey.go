package netpeers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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
// only (PROTOCOL.md section 2: mode 0600). A key file others may read is
// made 0600 again, with a warning on log (nil: none). The key is the
// node's identity: a file that does not decode is an error, not a reason
// to make a new identity silently.
func LoadOrCreateNodeKey(path string, log *slog.Logger) (*secp256k1.PrivateKey, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k, err := loadNodeKey(path, log)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if k, err = NewNodeKey(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("netpeers: node key directory: %w", err)
	}
	switch err := writeNodeKey(path, k); {
	case errors.Is(err, fs.ErrExist):
		// Another start on this data dir wrote its key first: that one is
		// the node's, never two.
		return loadNodeKey(path, log)
	case err != nil:
		return nil, err
	}
	return k, nil
}

// loadNodeKey reads the key file; fs.ErrNotExist when there is none.
func loadNodeKey(path string, log *slog.Logger) (*secp256k1.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("netpeers: read node key: %w", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("netpeers: node key %s is not 64 hex digits", path)
	}
	var k secp256k1.ModNScalar
	if overflow := k.SetByteSlice(raw); overflow || k.IsZero() {
		return nil, fmt.Errorf("netpeers: node key %s is out of range", path)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			log.Warn("node key file is readable by others and could not be made 0600", "path", path,
				"mode", st.Mode().Perm().String(), "err", err)
		} else {
			log.Warn("node key file was readable by others; made it 0600", "path", path,
				"was", st.Mode().Perm().String())
		}
	}
	return secp256k1.NewPrivateKey(&k), nil
}

// testHookNodeKeyWritten, when set, runs once the new key's temporary
// file is written and before it is synced and linked: where a test
// crashes the process.
var testHookNodeKeyWritten func()

// writeNodeKey writes a new key file so that a crash at any point leaves
// either no file at path or the whole key, never an empty or partial one
// that would stop every later start: the key goes to a temporary file in
// the same directory, synced, then linked to path, which fails with
// fs.ErrExist rather than replace a key already there.
func writeNodeKey(path string, k *secp256k1.PrivateKey) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("netpeers: write node key: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("netpeers: write node key: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(k.Serialize()) + "\n"); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("netpeers: write node key: %w", err)
	}
	if testHookNodeKeyWritten != nil {
		testHookNodeKeyWritten()
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("netpeers: write node key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("netpeers: write node key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// A file system without hard links: rename, unless a key is there.
		if _, serr := os.Lstat(path); serr == nil {
			return fs.ErrExist
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("netpeers: write node key: %w", err)
		}
	}
	// The new name lasts only once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
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
