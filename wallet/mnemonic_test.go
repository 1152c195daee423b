package wallet

import (
	"strings"
	"testing"
)

func TestCheckMnemonic(t *testing.T) {
	const good = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	for _, c := range []struct{ words, want string }{
		{good, ""},
		{"  Abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon ABOUT ", ""},
		{"", "no words given"},
		{strings.Replace(good, "about", "abuot", 1), `word 12 "abuot" is not in the English BIP39 word list`},
		{strings.Replace(good, "abandon", "xx", 2), `word 1 "xx", word 2 "xx" are not in the English BIP39 word list`},
		{strings.TrimSuffix(good, " about"), "11 words given; a wallet has 12"},
		{strings.Replace(good, "about", "abandon", 1), "the checksum does not match"},
	} {
		err := CheckMnemonic(c.words)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.words, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: got %v, want %q", c.words, err, c.want)
		}
	}
}

func FuzzCheckMnemonic(f *testing.F) {
	f.Add("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")
	f.Add("zoo")
	f.Fuzz(func(t *testing.T, words string) {
		err := CheckMnemonic(words)
		if _, ferr := FromMnemonic(words, ""); (err == nil) != (ferr == nil) {
			t.Fatalf("CheckMnemonic %v but FromMnemonic %v", err, ferr)
		}
	})
}
