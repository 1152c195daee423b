package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshchain/meshchain/chain/store"
)

// TestVerifyDamagedStoreSaysSoOnce: verify on a damaged chain.db printed
// the failure twice (stdout and stderr) and gave no way forward; on a
// 0-byte one it made a new empty store and passed. Each must fail once,
// with a next step, and leave the file as it was.
func TestVerifyDamagedStoreSaysSoOnce(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"damaged pages", func(t *testing.T, path string) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			clear(raw[2*4096:]) // everything after the two meta pages
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "chain store is corrupt"},
		{"empty file", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "empty (0 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "chain.db")
			st, err := store.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetMeta("difficulty", []byte("8")); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, code := runCmd(t, "", "verify", "--data-dir", dir)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", code, out)
			}
			for _, once := range []string{"FAILED", tc.want, "next step: start the node"} {
				if n := strings.Count(out, once); n != 1 {
					t.Errorf("%q appears %d times, want once:\n%s", once, n, out)
				}
			}
			if after, err := os.ReadFile(path); err != nil || string(after) != string(before) {
				t.Errorf("verify changed the file (%d bytes before, %d after, %v)", len(before), len(after), err)
			}
		})
	}
}
