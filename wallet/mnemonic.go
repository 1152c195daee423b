package wallet

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tyler-smith/go-bip39"
)

// CheckMnemonic says what is wrong with typed words, in the user's terms:
// which word is not in the English list, how many words were given, or
// that the checksum (the last word) does not match. bip39's own error is
// "Invalid mnenomic" for all of these.
func CheckMnemonic(words string) error {
	list := strings.Fields(NormalizeMnemonic(words))
	if len(list) == 0 {
		return errors.New("no words given: type the 12 to 24 words of the wallet, separated by spaces")
	}
	var unknown []string
	for i, w := range list {
		if _, ok := bip39.GetWordIndex(w); !ok {
			unknown = append(unknown, fmt.Sprintf("word %d %q", i+1, w))
		}
	}
	if len(unknown) > 0 {
		verb := "are"
		if len(unknown) == 1 {
			verb = "is"
		}
		return fmt.Errorf("%s %s not in the English BIP39 word list (check the spelling)", strings.Join(unknown, ", "), verb)
	}
	switch len(list) {
	case 12, 15, 18, 21, 24:
	default:
		return fmt.Errorf("%d words given; a wallet has 12, 15, 18, 21 or 24 words (meshchain makes 12)", len(list))
	}
	if _, err := bip39.EntropyFromMnemonic(strings.Join(list, " ")); err != nil {
		if errors.Is(err, bip39.ErrChecksumIncorrect) {
			return errors.New("the checksum does not match: every word is in the list, but one is wrong or two are swapped (the last word is the checksum)")
		}
		return fmt.Errorf("the words are not a valid mnemonic: %w", err)
	}
	return nil
}
