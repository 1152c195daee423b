package wallet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

func vectorWallet(t testing.TB) (mnemonic, passphrase, key, sender string) {
	t.Helper()
	data, err := os.ReadFile("../chain/testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Wallet struct {
			Mnemonic, Passphrase, Sender string
			PrivateKey                   string `json:"private_key"`
		} `json:"wallet"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v.Wallet.Mnemonic, v.Wallet.Passphrase, v.Wallet.PrivateKey, v.Wallet.Sender
}

func TestVectorWallet(t *testing.T) {
	words, pass, key, sender := vectorWallet(t)
	w, err := FromMnemonic(words, pass)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.PrivateKeyHex(); got != key {
		t.Errorf("key = %s, want %s", got, key)
	}
	if got := w.SenderHex(); got != sender {
		t.Errorf("sender = %s, want %s", got, sender)
	}
	// Pasted with odd case and spacing, the words give the same sender.
	w2, err := FromMnemonic("  "+strings.ToUpper(words)+"\n", pass)
	if err != nil || w2.SenderHex() != sender {
		t.Errorf("normalised words: sender %v, err %v", w2, err)
	}
}

func TestSignatureVerifiesAndIsLowS(t *testing.T) {
	words, pass, _, _ := vectorWallet(t)
	w, _ := FromMnemonic(words, pass)
	for i := 0; i < 50; i++ {
		msg := strings.Repeat("x", i+1)
		ts := int64(1764000000000 + i)
		id := chain.MessageID(w.Sender(), ts, msg)
		sig := w.Sign(id)
		if err := chain.VerifySignature(w.Sender(), sig, id); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

func TestVectorSignatureIsDeterministic(t *testing.T) {
	words, pass, _, _ := vectorWallet(t)
	w, _ := FromMnemonic(words, pass)
	// chain_d8 block 1 was signed by this wallet with RFC 6979 nonces.
	_, _, sig := w.SignMessage("hello, mesh", 1795329000000)
	want := "e36bb00e883398d15bb9f9e2ca88dfd96928cc83c8f21a7f93548cb4aafb89eb7873b3ad9c503702f72fc5765b98bfc68365d906f9a4990b0e7a4559677c2aa4"
	if sig != want {
		t.Errorf("signature = %s, want %s", sig, want)
	}
	if _, err := hex.DecodeString(sig); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidMnemonic(t *testing.T) {
	for _, words := range []string{
		"",
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon",
		"hello world",
		"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon zzzz",
	} {
		if _, err := FromMnemonic(words, ""); err == nil {
			t.Errorf("FromMnemonic(%q) accepted an invalid mnemonic", words)
		}
	}
}

func TestSaveLoadMode(t *testing.T) {
	dir := t.TempDir()
	w, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(w.Mnemonic())); n != 12 {
		t.Errorf("new wallet has %d words, want 12", n)
	}
	if err := w.Save(dir, false); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("wallet mode = %v, want 0600", st.Mode().Perm())
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.SenderHex() != w.SenderHex() {
		t.Errorf("loaded sender %s, saved %s", got.SenderHex(), w.SenderHex())
	}
	other, _ := New()
	if err := other.Save(dir, false); !errors.Is(err, ErrExists) {
		t.Errorf("second Save without force: %v, want ErrExists", err)
	}
	if err := other.Save(dir, true); err != nil {
		t.Errorf("Save with force: %v", err)
	}
	if err := os.WriteFile(Path(dir), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Load of a corrupt wallet: %v", err)
	}
}

func FuzzFromMnemonic(f *testing.F) {
	words, pass, _, _ := vectorWallet(f)
	f.Add(words, pass)
	f.Add("abandon abandon", "")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, words, pass string) {
		w, err := FromMnemonic(words, pass)
		if err != nil {
			return
		}
		// A mnemonic that loads gives a key that signs verifiably.
		id := chain.MessageID(w.Sender(), 1, "fuzz")
		if err := chain.VerifySignature(w.Sender(), w.Sign(id), id); err != nil {
			t.Fatal(err)
		}
		again, err := FromMnemonic(w.Mnemonic(), pass)
		if err != nil || again.SenderHex() != w.SenderHex() {
			t.Fatal("normalised words do not give the same wallet")
		}
	})
}
