// Package wallet holds a node's identity: a BIP39 mnemonic, its secp256k1
// key (PROTOCOL.md section 4) and the signing of messages (section 1). It
// knows nothing of the network or the chain's storage.
package wallet

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/tyler-smith/go-bip39"

	"github.com/meshchain/meshchain/chain"
)

// FileName is the wallet file inside the data directory.
const FileName = "wallet.json"

// ErrExists is returned when a wallet would overwrite another.
var ErrExists = errors.New("a wallet already exists")

// ErrNoWallet is returned by Load when the data directory holds no wallet.
var ErrNoWallet = errors.New("no wallet in this data directory")

// Wallet is a mnemonic, its optional passphrase and the key they give.
type Wallet struct {
	mnemonic   string
	passphrase string
	key        *secp256k1.PrivateKey
	sender     [33]byte
}

// New makes a wallet with 12 fresh words (128 bits of entropy).
func New() (*Wallet, error) {
	entropy, err := bip39.NewEntropy(128)
	if err != nil {
		return nil, fmt.Errorf("make entropy: %w", err)
	}
	words, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return nil, fmt.Errorf("make mnemonic: %w", err)
	}
	return FromMnemonic(words, "")
}

// NormalizeMnemonic folds case and white space so pasted words compare equal.
func NormalizeMnemonic(words string) string {
	return strings.Join(strings.Fields(strings.ToLower(words)), " ")
}

// FromMnemonic checks the words (English list, checksum) and derives the key:
// the BIP32 master key of the BIP39 seed.
func FromMnemonic(words, passphrase string) (*Wallet, error) {
	words = NormalizeMnemonic(words)
	if words == "" {
		return nil, errors.New("the mnemonic is empty")
	}
	seed, err := bip39.NewSeedWithErrorChecking(words, passphrase)
	if err != nil {
		return nil, fmt.Errorf("invalid mnemonic: %w", err)
	}
	mac := hmac.New(sha512.New, []byte("Bitcoin seed"))
	mac.Write(seed)
	sum := mac.Sum(nil)
	var k secp256k1.ModNScalar
	if overflow := k.SetByteSlice(sum[:32]); overflow || k.IsZero() {
		return nil, errors.New("this mnemonic gives an unusable key; make another")
	}
	key := secp256k1.NewPrivateKey(&k)
	w := &Wallet{mnemonic: words, passphrase: passphrase, key: key}
	copy(w.sender[:], key.PubKey().SerializeCompressed())
	return w, nil
}

// Mnemonic returns the words. Show them only when the user asks.
func (w *Wallet) Mnemonic() string { return w.mnemonic }

// Sender is the compressed public key that signs this wallet's messages.
func (w *Wallet) Sender() [33]byte { return w.sender }

// SenderHex is Sender in the wire's hex form.
func (w *Wallet) SenderHex() string { return hex.EncodeToString(w.sender[:]) }

// PrivateKeyHex exposes the key for tests against the vectors.
func (w *Wallet) PrivateKeyHex() string { return hex.EncodeToString(w.key.Serialize()) }

// Sign signs a message id: RFC 6979 nonce, low-S, r||s.
func (w *Wallet) Sign(id chain.Hash) [64]byte { return SignDigest(w.key, id) }

// SignDigest signs a 32-byte digest with any key as block signatures are
// made (RFC 6979 nonce, low-S, r||s), for other keys of a node such as its
// node key.
func SignDigest(key *secp256k1.PrivateKey, id chain.Hash) [64]byte {
	sig := ecdsa.Sign(key, id[:])
	var out [64]byte
	r, s := sig.R(), sig.S()
	r.PutBytesUnchecked(out[:32])
	s.PutBytesUnchecked(out[32:])
	return out
}

// SignMessage builds the signed, not yet mined, parts of a block.
func (w *Wallet) SignMessage(message string, ts int64) (sender, timeStamp, signature string) {
	id := chain.MessageID(w.sender, ts, message)
	sig := w.Sign(id)
	return w.SenderHex(), chain.FormatTime(ts), hex.EncodeToString(sig[:])
}

type fileFormat struct {
	Mnemonic   string `json:"mnemonic"`
	Passphrase string `json:"passphrase,omitempty"`
	Sender     string `json:"sender"`
}

// Path is the wallet file of a data directory.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Exists reports whether dataDir holds a wallet file.
func Exists(dataDir string) bool {
	_, err := os.Stat(Path(dataDir))
	return err == nil
}

// Save writes the wallet to dataDir, readable by its owner only. It refuses
// to replace an existing wallet unless force is set.
func (w *Wallet) Save(dataDir string, force bool) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	path := Path(dataDir)
	if !force && Exists(dataDir) {
		return fmt.Errorf("%w at %s (use --force to replace it)", ErrExists, path)
	}
	data, err := json.MarshalIndent(fileFormat{Mnemonic: w.mnemonic, Passphrase: w.passphrase, Sender: w.SenderHex()}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dataDir, ".wallet-*")
	if err != nil {
		return fmt.Errorf("write wallet: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write wallet: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write wallet: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write wallet: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write wallet: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write wallet: %w", err)
	}
	if err := forgetWordsShown(dataDir); err != nil {
		return fmt.Errorf("write wallet: %w", err)
	}
	return nil
}

// Load reads the wallet of dataDir.
func Load(dataDir string) (*Wallet, error) {
	path := Path(dataDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoWallet, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read wallet: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("wallet file %s is corrupt: %w", path, err)
	}
	w, err := FromMnemonic(f.Mnemonic, f.Passphrase)
	if err != nil {
		return nil, fmt.Errorf("wallet file %s: %w", path, err)
	}
	if f.Sender != "" && f.Sender != w.SenderHex() {
		return nil, fmt.Errorf("wallet file %s: its sender %s does not match its words", path, f.Sender)
	}
	return w, nil
}

// LoadOrCreate loads the wallet of dataDir, making and saving a new one when
// there is none; created says which happened.
func LoadOrCreate(dataDir string) (w *Wallet, created bool, err error) {
	w, err = Load(dataDir)
	if err == nil || !errors.Is(err, ErrNoWallet) {
		return w, false, err
	}
	if w, err = New(); err != nil {
		return nil, false, err
	}
	if err := w.Save(dataDir, false); err != nil {
		return nil, false, err
	}
	return w, true, nil
}
