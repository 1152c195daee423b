package wallet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// shownFile records, beside wallet.json, that the user has been shown the
// wallet's words once (by `wallet new`, `wallet show --words` or an
// import, which starts from them). Until it exists the node reminds the user
// at every start to back the words up: a first start that failed after
// making the wallet must not be the only time they hear of it.
const shownFile = "wallet.words-shown"

// WordsShown reports whether the words of the wallet in dataDir have been
// shown to the user.
func WordsShown(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, shownFile))
	return err == nil
}

// MarkWordsShown records that the user has seen the words.
func MarkWordsShown(dataDir string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, shownFile), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record that the wallet words were shown: %w", err)
	}
	return f.Close()
}

// forgetWordsShown is called when a wallet is written anew: its words have
// not been shown yet.
func forgetWordsShown(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, shownFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
