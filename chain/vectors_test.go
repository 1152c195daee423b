package chain

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"
)

type vectorFile struct {
	ChainD8 []struct {
		Block             json.RawMessage `json:"block"`
		MessageID         string          `json:"message_id"`
		BodyHash          string          `json:"body_hash"`
		HeaderHex         string          `json:"header_hex"`
		NetworkDifficulty uint32          `json:"network_difficulty"`
	} `json:"chain_d8"`
	GenesisD24Hash string          `json:"genesis_d24_hash"`
	GenesisD8      json.RawMessage `json:"genesis_d8"`
	GenesisD8Hash  string          `json:"genesis_d8_hash"`
	Invalid        []struct {
		Why        string          `json:"why"`
		Reason     string          `json:"reason"`
		ParentHash string          `json:"parent_hash"`
		Block      json.RawMessage `json:"block"`
	} `json:"invalid_after_genesis_d8"`
	LocatorHeights []uint64 `json:"locator_heights_for_tip_100"`
	SHA256Empty    string   `json:"sha256_of_empty"`
	Wallet         struct {
		Mnemonic   string `json:"mnemonic"`
		Passphrase string `json:"passphrase"`
		PrivateKey string `json:"private_key"`
		Sender     string `json:"sender"`
	} `json:"wallet"`
	WorkOf3BlocksD8 string `json:"work_of_3_blocks_d8"`
}

// LoadVectors reads PROTOCOL-VECTORS.json from testdata.
func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	data, err := os.ReadFile("testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// vectorNow is a clock after every vector's timeStamp but long before 2099.
var vectorNow = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func TestGenesisVectors(t *testing.T) {
	v := loadVectors(t)
	var want Block
	if err := json.Unmarshal(v.GenesisD8, &want); err != nil {
		t.Fatal(err)
	}
	if got := Genesis(8); got != want {
		t.Errorf("Genesis(8) = %+v, want %+v", got, want)
	}
	if got := Genesis(8).Hash; got != v.GenesisD8Hash {
		t.Errorf("genesis d8 hash = %s, want %s", got, v.GenesisD8Hash)
	}
	if got := Genesis(24).Hash; got != v.GenesisD24Hash {
		t.Errorf("genesis d24 hash = %s, want %s", got, v.GenesisD24Hash)
	}
}

func TestChainVectors(t *testing.T) {
	v := loadVectors(t)
	ix := NewIndex(8)
	for i, c := range v.ChainD8 {
		var b Block
		if err := json.Unmarshal(c.Block, &b); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		p, err := b.Parse()
		if err != nil {
			t.Fatalf("block %d: parse: %v", i, err)
		}
		if got := p.MessageID.String(); got != c.MessageID {
			t.Errorf("block %d: message_id = %s, want %s", i, got, c.MessageID)
		}
		if got := p.BodyHash.String(); got != c.BodyHash {
			t.Errorf("block %d: body_hash = %s, want %s", i, got, c.BodyHash)
		}
		if got := hex.EncodeToString(p.Header[:]); got != c.HeaderHex {
			t.Errorf("block %d: header = %s, want %s", i, got, c.HeaderHex)
		}
		if got := p.Hash.String(); got != b.Hash {
			t.Errorf("block %d: hash = %s, want %s", i, got, b.Hash)
		}
		res, err := ix.Add(&b, vectorNow)
		if err != nil {
			t.Fatalf("block %d: Add: %v", i, err)
		}
		if !res.TipChanged() || len(res.Connected) != 1 {
			t.Errorf("block %d: tip did not move by one block: %+v", i, res)
		}
		// The block re-encodes to the same JSON object.
		again, err := json.Marshal(&b)
		if err != nil {
			t.Fatal(err)
		}
		var m1, m2 map[string]any
		json.Unmarshal(c.Block, &m1)
		json.Unmarshal(again, &m2)
		if len(m1) != len(m2) {
			t.Errorf("block %d: re-encoded to %d fields, want %d", i, len(m2), len(m1))
		}
	}
	if got := ix.Tip().Work.String(); got != v.WorkOf3BlocksD8 {
		t.Errorf("work of 3 blocks = %s, want %s", got, v.WorkOf3BlocksD8)
	}
}

func TestInvalidVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.Invalid {
		t.Run(c.Why, func(t *testing.T) {
			ix := NewIndex(8)
			// Build the valid chain up to the vector's parent.
			for _, cb := range v.ChainD8 {
				if ix.Tip().Hash.String() == c.ParentHash {
					break
				}
				var b Block
				if err := json.Unmarshal(cb.Block, &b); err != nil {
					t.Fatal(err)
				}
				if _, err := ix.Add(&b, vectorNow); err != nil {
					t.Fatal(err)
				}
			}
			if got := ix.Tip().Hash.String(); got != c.ParentHash {
				t.Fatalf("could not reach parent %s (tip %s)", c.ParentHash, got)
			}
			var b Block
			err := json.Unmarshal(c.Block, &b)
			if err == nil {
				_, err = ix.Add(&b, vectorNow)
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a rule error %s", err, c.Reason)
			}
			if got := re.Code.String(); got != c.Reason {
				t.Errorf("reason = %s (%v), want %s", got, err, c.Reason)
			}
			if ix.Height() == b.Number {
				t.Errorf("invalid block moved the tip to height %d", ix.Height())
			}
		})
	}
}

func TestLocatorVector(t *testing.T) {
	v := loadVectors(t)
	got := LocatorHeights(100)
	if len(got) != len(v.LocatorHeights) {
		t.Fatalf("LocatorHeights(100) = %v, want %v", got, v.LocatorHeights)
	}
	for i := range got {
		if got[i] != v.LocatorHeights[i] {
			t.Fatalf("LocatorHeights(100) = %v, want %v", got, v.LocatorHeights)
		}
	}
}

func TestMeetsDifficultyEdges(t *testing.T) {
	var zero Hash
	one := Hash{0x01}
	for _, c := range []struct {
		h    Hash
		d    uint32
		want bool
	}{
		{zero, 0, true}, {zero, 256, true}, {zero, 257, false}, {zero, 263, false}, {zero, 1 << 31, false},
		{one, 7, true}, {one, 8, false}, {Hash{0x80}, 0, true}, {Hash{0x80}, 1, false},
	} {
		if got := MeetsDifficulty(c.h, c.d); got != c.want {
			t.Errorf("MeetsDifficulty(%s, %d) = %v, want %v", c.h.Short(), c.d, got, c.want)
		}
	}
}
