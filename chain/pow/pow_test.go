package pow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

type namedMode struct {
	name string
	mode mode
}

// allModes is every mode this machine can run: the SHA-NI kernel joins
// the portable ones when the CPU has SHA extensions.
var allModes = func() []namedMode {
	ms := []namedMode{{"readout", modeReadout}, {"sum", modeSum}, {"full", modeFull}}
	if hasSHANI {
		ms = append(ms, namedMode{"shani", modeSHANI})
	}
	return ms
}()

func TestPortableModeIsReadout(t *testing.T) {
	// The benchmarks' figures assume the one-compression readout path. If a
	// crypto/sha256 upgrade changes its marshalled state, mining still works
	// (slower); this test says so loudly.
	if portableMode != modeReadout {
		t.Errorf("portableMode = %d, want modeReadout (%d): crypto/sha256's marshalled state changed", portableMode, modeReadout)
	}
}

func TestBestModeUsesSHANI(t *testing.T) {
	// A CPU with SHA extensions must mine on the kernel: if the self-check
	// rejected it, the kernel is wrong on this machine.
	want := portableMode
	if hasSHANI {
		want = modeSHANI
	}
	if bestMode != want {
		t.Errorf("bestMode = %d, want %d (hasSHANI %v)", bestMode, want, hasSHANI)
	}
}

// wantHash is the reference: chain.Header.Hash of h with the nonce set.
func wantHash(h chain.Header, nonce uint64) chain.Hash {
	h.SetNonce(nonce)
	return h.Hash()
}

func randomHeader(r *rand.Rand) chain.Header {
	var h chain.Header
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

func TestSearchHashTable(t *testing.T) {
	var ones chain.Header
	for i := range ones {
		ones[i] = 0xff
	}
	prev := chain.Hash{1, 2, 3}
	body := chain.Hash{31: 9}
	tests := []struct {
		name   string
		header chain.Header
		nonce  uint64
	}{
		{"zero header, nonce 0", chain.Header{}, 0},
		{"zero header, nonce 1", chain.Header{}, 1},
		{"ones header, max nonce", ones, ^uint64(0)},
		{"ones header, max safe nonce", ones, chain.MaxSafeInteger},
		{"laid out header", chain.NewHeader(7, prev, body, 1_790_000_000_000, 24, 99), 12345},
		{"nonce bytes differ", chain.NewHeader(1, prev, body, 0, 8, 0), 0x0102030405060708},
	}
	for _, m := range allModes {
		for _, tc := range tests {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				// Difficulty 0: the first attempt wins and reports its hash.
				tmpl := newTemplate(tc.header, 0, m.mode)
				nonce, got, found, tried := tmpl.Search(tc.nonce, 1, 1)
				if !found || tried != 1 || nonce != tc.nonce {
					t.Fatalf("Search = (%d, _, %v, %d), want (%d, _, true, 1)", nonce, found, tried, tc.nonce)
				}
				if want := wantHash(tc.header, tc.nonce); got != want {
					t.Errorf("hash = %s, want %s", got, want)
				}
			})
		}
	}
}

// bruteForce is Search written the obvious way, against chain's own hashing
// and difficulty rule.
func bruteForce(h chain.Header, d uint32, start, step, count uint64) (uint64, chain.Hash, bool, uint64) {
	n := start
	for i := uint64(1); i <= count; i++ {
		got := wantHash(h, n)
		if chain.MeetsDifficulty(got, d) {
			return n, got, true, i
		}
		n += step
	}
	return 0, chain.Hash{}, false, count
}

func TestSearchMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range allModes {
		t.Run(m.name, func(t *testing.T) {
			for i := 0; i < 300; i++ {
				h := randomHeader(r)
				d := uint32(r.IntN(11))
				start := r.Uint64()
				if i%2 == 0 {
					start = r.Uint64N(chain.MaxSafeInteger)
				}
				step := 1 + r.Uint64N(1000)
				count := r.Uint64N(2000)
				nonce, got, found, tried := newTemplate(h, d, m.mode).Search(start, step, count)
				wn, wh, wf, wt := bruteForce(h, d, start, step, count)
				if nonce != wn || got != wh || found != wf || tried != wt {
					t.Fatalf("header %x d=%d Search(%d, %d, %d) = (%d, %s, %v, %d), want (%d, %s, %v, %d)",
						h, d, start, step, count, nonce, got, found, tried, wn, wh, wf, wt)
				}
			}
		})
	}
}

func TestEveryAttemptHash(t *testing.T) {
	// Property: for random headers and nonces every mode's per-attempt hash
	// is crypto/sha256 of the whole header.
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		h := randomHeader(r)
		nonce := r.Uint64()
		want := wantHash(h, nonce)
		for _, m := range allModes {
			if got := newTemplate(h, 0, m.mode).attempt(nonce); string(got) != string(want[:]) {
				t.Fatalf("%s: header %x nonce %d: hash %x, want %s", m.name, h, nonce, got, want)
			}
		}
	}
}

func TestDifficultyEdges(t *testing.T) {
	h := chain.NewHeader(1, chain.Hash{}, chain.Hash{}, 0, 0, 0)
	tests := []struct {
		d     uint32
		found bool
	}{
		{0, true},
		{1, true},
		{256, false},
		{257, false}, // above 256: never met, and never handed to chain.MeetsDifficulty
		{263, false},
		{1 << 31, false},
	}
	for _, tc := range tests {
		_, got, found, tried := NewTemplate(h, tc.d).Search(0, 1, 64)
		if found != tc.found {
			t.Errorf("d=%d: found = %v, want %v", tc.d, found, tc.found)
		}
		if found && !chain.MeetsDifficulty(got, tc.d) {
			t.Errorf("d=%d: hash %s does not meet the difficulty", tc.d, got)
		}
		if !found && tried != 64 {
			t.Errorf("d=%d: tried = %d, want 64", tc.d, tried)
		}
	}
	if _, _, found, tried := NewTemplate(h, 0).Search(0, 1, 0); found || tried != 0 {
		t.Errorf("count 0: found %v tried %d, want false 0", found, tried)
	}
}

func TestPrefixMask(t *testing.T) {
	tests := []struct {
		d    uint32
		want uint64
	}{
		{0, 0},
		{1, 0x8000000000000000},
		{8, 0xff00000000000000},
		{13, 0xfff8000000000000},
		{63, 0xfffffffffffffffe},
		{64, ^uint64(0)},
		{200, ^uint64(0)},
	}
	for _, tc := range tests {
		if got := prefixMask(tc.d); got != tc.want {
			t.Errorf("prefixMask(%d) = %#x, want %#x", tc.d, got, tc.want)
		}
	}
}

type vectorFile struct {
	ChainD8 []struct {
		Block struct {
			Nonce       uint64 `json:"nonce"`
			ProofOfWork uint64 `json:"proof_of_work"`
			Difficulty  uint32 `json:"difficulty"`
			Hash        string `json:"hash"`
		} `json:"block"`
		HeaderHex string `json:"header_hex"`
	} `json:"chain_d8"`
}

func TestVectorNonces(t *testing.T) {
	data, err := os.ReadFile("../testdata/PROTOCOL-VECTORS.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ChainD8) == 0 {
		t.Fatal("no chain_d8 vectors")
	}
	for i, vec := range v.ChainD8 {
		raw, err := hex.DecodeString(vec.HeaderHex)
		if err != nil || len(raw) != chain.HeaderSize {
			t.Fatalf("vector %d: header_hex does not decode to %d bytes: %v", i, chain.HeaderSize, err)
		}
		var h chain.Header
		copy(h[:], raw)
		h.SetNonce(0) // the template must not depend on it
		for _, m := range allModes {
			nonce, got, found, tried := newTemplate(h, 8, m.mode).Search(0, 1, 1<<20)
			if !found || nonce != vec.Block.Nonce || got.String() != vec.Block.Hash || tried != vec.Block.ProofOfWork {
				t.Errorf("vector %d %s: Search = (%d, %s, %v, %d), want (%d, %s, true, %d)", i, m.name,
					nonce, got, found, tried, vec.Block.Nonce, vec.Block.Hash, vec.Block.ProofOfWork)
			}
		}
	}
}

func TestCloneConcurrent(t *testing.T) {
	// Clones share only the read-only midstate; run them at once under -race
	// over interleaved nonces and check each finds what one Template finds.
	r := rand.New(rand.NewPCG(5, 6))
	h := randomHeader(r)
	const d, workers, count = 10, 4, 1 << 13
	base := NewTemplate(h, d)
	type result struct {
		nonce uint64
		hash  chain.Hash
		found bool
		tried uint64
	}
	got := make([]result, workers)
	var wg sync.WaitGroup
	for w := range workers {
		c := base.Clone()
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, hh, f, tr := c.Search(uint64(w), workers, count)
			got[w] = result{n, hh, f, tr}
		}()
	}
	wg.Wait()
	for w := range workers {
		n, hh, f, tr := bruteForce(h, d, uint64(w), workers, count)
		if want := (result{n, hh, f, tr}); got[w] != want {
			t.Errorf("worker %d: got %+v, want %+v", w, got[w], want)
		}
	}
	// The original still works after its clones ran.
	n, hh, f, tr := base.Search(0, 1, count)
	wn, wh, wf, wt := bruteForce(h, d, 0, 1, count)
	if n != wn || hh != wh || f != wf || tr != wt {
		t.Errorf("base after clones: (%d, %s, %v, %d), want (%d, %s, %v, %d)", n, hh, f, tr, wn, wh, wf, wt)
	}
}

func TestSearchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race crypto/sha256's AppendBinary allocates; run without -race")
	}
	for _, m := range allModes {
		tmpl := newTemplate(chain.Header{}, 12, m.mode)
		start := uint64(0)
		allocs := testing.AllocsPerRun(20, func() {
			_, _, _, tried := tmpl.Search(start, 1, 5000) // d=12 finds some candidates and wins
			start += tried
		})
		if allocs != 0 {
			t.Errorf("%s: Search allocates %.1f times per call, want 0", m.name, allocs)
		}
	}
}

func FuzzMidstate(f *testing.F) {
	f.Add(make([]byte, chain.HeaderSize), uint64(0))
	f.Add([]byte("meshchain"), uint64(chain.MaxSafeInteger))
	f.Add(make([]byte, 200), ^uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, nonce uint64) {
		var h chain.Header
		copy(h[:], raw) // shorter input leaves zeros, longer is cut
		full := h
		full.SetNonce(nonce)
		want := sha256.Sum256(full[:])
		for _, m := range allModes {
			if got := newTemplate(h, 0, m.mode).attempt(nonce); string(got) != string(want[:]) {
				t.Fatalf("%s: header %x nonce %d: hash %x, want %x", m.name, h, nonce, got, want)
			}
		}
		// Search at difficulty 0 reports the first attempt's hash.
		if n, got, found, _ := NewTemplate(h, 0).Search(nonce, 1, 1); !found || n != nonce || got != want {
			t.Fatalf("Search: (%d, %s, %v), want (%d, %x, true)", n, got, found, nonce, want)
		}
	})
}
