package chain

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// checkParseTime compares ParseTime's canonical fast path with the strict
// path on s: both accept it with the same time, or the fast path leaves
// it to the strict one, which refuses it.
func checkParseTime(t testing.TB, s string) {
	t.Helper()
	want, werr := parseTimeStrict(s)
	got, ok := parseTimeCanonical(s)
	switch {
	case ok && werr != nil:
		t.Fatalf("%q: fast path took it as %d, time.Parse refuses it: %v", s, got, werr)
	case ok && got != want:
		t.Fatalf("%q: fast path %d, time.Parse %d", s, got, want)
	case !ok && werr == nil:
		t.Fatalf("%q: canonical (%d) but left to the slow path", s, want)
	}
	ms, err := ParseTime(s)
	if ms != want || (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
		t.Fatalf("%q: ParseTime %d, %v; strict %d, %v", s, ms, err, want, werr)
	}
}

func TestParseTimeCanonicalMatchesStrict(t *testing.T) {
	years := []int{0, 1, 4, 100, 400, 999, 1600, 1900, 1969, 1970, 1999, 2000, 2024, 2026, 2100, 2400, 9999}
	for _, y := range years {
		for mo := 0; mo <= 13; mo++ {
			for d := 0; d <= 32; d++ {
				for _, hms := range [][3]int{{0, 0, 0}, {23, 59, 59}, {24, 0, 0}, {12, 60, 0}, {12, 0, 60}, {99, 99, 99}} {
					for _, ms := range []int{0, 1, 999} {
						checkParseTime(t, fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, hms[0], hms[1], hms[2], ms))
					}
				}
			}
		}
	}
	// Every byte of a canonical stamp replaced by each byte value, and
	// random instants round-tripped.
	base := "2026-02-28T23:59:59.999Z"
	for i := range len(base) {
		for c := range 256 {
			checkParseTime(t, base[:i]+string(rune(c))[:1]+base[i+1:])
			checkParseTime(t, base[:i]+string([]byte{byte(c)})+base[i+1:])
		}
	}
	for _, s := range []string{"", "2026-01-01T00:00:00.000", "2026-01-01T00:00:00.000ZZ", " 2026-01-01T00:00:00.000Z",
		"2026-01-01 00:00:00.000Z", "2026-01-01T00:00:00,000Z", "+026-01-01T00:00:00.000Z", "2026-1-01T00:00:00.0000Z"} {
		checkParseTime(t, s)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		ms := r.Int64N(253402300800000) // 0000-01-01 .. 9999-12-31 from 1970 on, and before
		if r.IntN(2) == 0 {
			ms = -r.Int64N(62167219200000)
		}
		checkParseTime(t, FormatTime(ms))
	}
}

func FuzzParseTime(f *testing.F) {
	f.Add("2026-01-01T00:00:00.000Z")
	f.Add("2024-02-29T12:34:56.789Z")
	f.Add("2023-02-29T12:34:56.789Z")
	f.Add("2026-13-01T00:00:00.000Z")
	f.Fuzz(func(t *testing.T, s string) { checkParseTime(t, s) })
}

// decodeLowerHexRef is decodeLowerHex as it was: check every character,
// then encoding/hex.
func decodeLowerHexRef(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %d characters", 2*len(dst), len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("character %d (%q) is not lowercase hex", i, c)
		}
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

func checkDecodeLowerHex(t testing.TB, n int, s string) {
	t.Helper()
	got, want := make([]byte, n), make([]byte, n)
	err, werr := decodeLowerHex(got, s), decodeLowerHexRef(want, s)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
		t.Fatalf("%q into %d bytes: error %v, want %v", s, n, err, werr)
	}
	if err == nil && string(got) != string(want) {
		t.Fatalf("%q: %x, want %x", s, got, want)
	}
}

func TestDecodeLowerHexMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := make([]byte, 1+r.IntN(64))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		s := hex.EncodeToString(b)
		checkDecodeLowerHex(t, len(b), s)
		checkDecodeLowerHex(t, len(b)+1, s)
		checkDecodeLowerHex(t, len(b), strings.ToUpper(s))
		for range 4 {
			i, c := r.IntN(len(s)), byte(r.Uint32())
			checkDecodeLowerHex(t, len(b), s[:i]+string([]byte{c})+s[i+1:])
		}
	}
	for c := range 256 {
		checkDecodeLowerHex(t, 1, string([]byte{byte(c), 'a'}))
		checkDecodeLowerHex(t, 1, string([]byte{'0', byte(c)}))
		checkDecodeLowerHex(t, 1, string([]byte{byte(c), byte(c)}))
	}
}

func FuzzDecodeLowerHex(f *testing.F) {
	f.Add(uint8(2), "00ff")
	f.Add(uint8(2), "00fG")
	f.Fuzz(func(t *testing.T, n uint8, s string) { checkDecodeLowerHex(t, int(n), s) })
}

func TestHashMatches(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		var h Hash
		for i := range h {
			h[i] = byte(r.Uint32())
		}
		s := h.String()
		for _, c := range []string{s, strings.ToUpper(s), s[:63], s + "0", "", s[:10] + "x" + s[11:]} {
			if got, want := h.Matches(c), c == s; got != want {
				t.Fatalf("%s Matches %q = %v, want %v", s, c, got, want)
			}
		}
		i := r.IntN(64)
		c := s[:i] + string(lowerHexDigits[r.IntN(16)]) + s[i+1:]
		if got, want := h.Matches(c), c == s; got != want {
			t.Fatalf("%s Matches %q = %v, want %v", s, c, got, want)
		}
	}
}
