// Package chain is meshchain's consensus core: block encoding, hashing,
// proof of work, signature checks, validity, fork choice and locators, exactly
// as PROTOCOL.md section 1 defines them.
//
// It is pure: no goroutines, no sockets, no clock (callers pass the time in).
// Its only I/O lives in the chain/store subpackage.
package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"time"
)

// HeaderVersion is the u32 at bytes 0..3 of every header.
const HeaderVersion = 1

// HeaderSize is the length of the hashed block header.
const HeaderSize = 96

// MaxMessageBytes bounds a block's message.
const MaxMessageBytes = 4096

// MaxSafeInteger is 2^53-1, the largest nonce and proof_of_work a block may carry.
const MaxSafeInteger = 1<<53 - 1

// TimeLayout is the exact timeStamp format: UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// MaxFutureDrift is how far past the receiver's clock a timeStamp may be.
const MaxFutureDrift = 2 * time.Hour

// Hash is a SHA-256 digest: a block hash, a body hash or a message id.
type Hash [32]byte

// String returns the lowercase hex form used on the wire.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short returns the first 8 hex digits, for display.
func (h Hash) Short() string { return hex.EncodeToString(h[:4]) }

// Less orders hashes as 256-bit big-endian numbers.
func (h Hash) Less(o Hash) bool { return bytes.Compare(h[:], o[:]) < 0 }

// IsZero reports whether h is all zero bytes.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash reads 64 lowercase hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if err := decodeLowerHex(h[:], s); err != nil {
		return Hash{}, err
	}
	return h, nil
}

// MarshalText lets hashes travel as hex strings in JSON.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses 64 lowercase hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Matches reports whether s is h's lowercase hex form, h.String() == s
// without making the string.
func (h Hash) Matches(s string) bool {
	if len(s) != 2*len(h) {
		return false
	}
	for i, c := range h {
		if s[2*i] != lowerHexDigits[c>>4] || s[2*i+1] != lowerHexDigits[c&15] {
			return false
		}
	}
	return true
}

const lowerHexDigits = "0123456789abcdef"

// lowerHexValue is each byte's value as a lowercase hex digit, 0xff for a
// byte that is not one.
var lowerHexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range []byte(lowerHexDigits) {
		t[c] = byte(i)
	}
	return t
}()

// decodeLowerHex fills dst from exactly 2*len(dst) lowercase hex digits.
// On an error, dst may be partly written.
func decodeLowerHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, got %d characters", 2*len(dst), len(s))
	}
	for i := range dst {
		hi, lo := lowerHexValue[s[2*i]], lowerHexValue[s[2*i+1]]
		if hi|lo > 0x0f {
			at := 2 * i
			if hi <= 0x0f {
				at++
			}
			return fmt.Errorf("character %d (%q) is not lowercase hex", at, s[at])
		}
		dst[i] = hi<<4 | lo
	}
	return nil
}

// Block is a block as it travels: a JSON object with the seed's field names.
type Block struct {
	Number      uint64 `json:"number_of_block"`
	PrevHash    string `json:"prev_hash"`
	Message     string `json:"message"`
	Sender      string `json:"sender"`
	TimeStamp   string `json:"timeStamp"`
	Difficulty  uint32 `json:"difficulty"`
	Nonce       uint64 `json:"nonce"`
	ProofOfWork uint64 `json:"proof_of_work"`
	Signature   string `json:"signature"`
	Hash        string `json:"hash"`
}

// wireBlock mirrors Block with every field optional and numbers kept raw, so
// decoding can tell a missing or mistyped field from a zero.
type wireBlock struct {
	Number      *json.RawMessage `json:"number_of_block"`
	PrevHash    *json.RawMessage `json:"prev_hash"`
	Message     *json.RawMessage `json:"message"`
	Sender      *json.RawMessage `json:"sender"`
	TimeStamp   *json.RawMessage `json:"timeStamp"`
	Difficulty  *json.RawMessage `json:"difficulty"`
	Nonce       *json.RawMessage `json:"nonce"`
	ProofOfWork *json.RawMessage `json:"proof_of_work"`
	Signature   *json.RawMessage `json:"signature"`
	Hash        *json.RawMessage `json:"hash"`
}

// UnmarshalJSON decodes a block strictly: every field present and of its JSON
// type, integers whole and in range. Anything else is a MalformedBlock rule
// error. Fields it does not know are ignored.
func (b *Block) UnmarshalJSON(data []byte) error {
	if out, ok := decodeBlockFast(data); ok {
		*b = out
		return nil
	}
	return b.unmarshalWire(data)
}

// unmarshalWire is UnmarshalJSON through encoding/json: every input the
// fast path leaves, and every error.
func (b *Block) unmarshalWire(data []byte) error {
	var w wireBlock
	if err := json.Unmarshal(data, &w); err != nil {
		return ruleErrorf(MalformedBlock, "block is not a JSON object of the expected fields: %v", err)
	}
	var out Block
	var err error
	if out.Number, err = wireUint("number_of_block", w.Number, 1<<63-1); err != nil {
		return err
	}
	var d uint64
	if d, err = wireUint("difficulty", w.Difficulty, 256); err != nil {
		return err
	}
	out.Difficulty = uint32(d)
	if out.Nonce, err = wireUint("nonce", w.Nonce, MaxSafeInteger); err != nil {
		return err
	}
	if out.ProofOfWork, err = wireUint("proof_of_work", w.ProofOfWork, MaxSafeInteger); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		raw  *json.RawMessage
		dst  *string
	}{
		{"prev_hash", w.PrevHash, &out.PrevHash},
		{"message", w.Message, &out.Message},
		{"sender", w.Sender, &out.Sender},
		{"timeStamp", w.TimeStamp, &out.TimeStamp},
		{"signature", w.Signature, &out.Signature},
		{"hash", w.Hash, &out.Hash},
	} {
		if *f.dst, err = wireString(f.name, f.raw); err != nil {
			return err
		}
	}
	*b = out
	return nil
}

func wireUint(name string, raw *json.RawMessage, max uint64) (uint64, error) {
	if raw == nil || string(*raw) == "null" {
		return 0, ruleErrorf(MalformedBlock, "field %s is missing", name)
	}
	s := string(*raw)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, ruleErrorf(MalformedBlock, "field %s must be a whole number from 0 to %d, got %.40s", name, max, s)
	}
	if v > max {
		return 0, ruleErrorf(MalformedBlock, "field %s is %d, above its maximum %d", name, v, max)
	}
	return v, nil
}

func wireString(name string, raw *json.RawMessage) (string, error) {
	if raw == nil || string(*raw) == "null" {
		return "", ruleErrorf(MalformedBlock, "field %s is missing", name)
	}
	var s string
	if err := json.Unmarshal(*raw, &s); err != nil {
		return "", ruleErrorf(MalformedBlock, "field %s must be a string", name)
	}
	return s, nil
}

// ParseTime reads the exact timeStamp format and returns Unix milliseconds.
func ParseTime(s string) (int64, error) {
	if ms, ok := parseTimeCanonical(s); ok {
		return ms, nil
	}
	return parseTimeStrict(s)
}

// parseTimeCanonical reads a timeStamp that is exactly in canonical form
// (the digits of a real date and time, in range) without time.Parse and
// the Format that checks the form. It reports false for anything else,
// which parseTimeStrict then takes (or refuses, giving the error). What it
// accepts, time.Parse accepts with the same time and Format gives back.
func parseTimeCanonical(s string) (int64, bool) {
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
		s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return 0, false
	}
	ok := true
	num := func(from, to int) int {
		v := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				ok = false
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, ms := num(11, 13), num(14, 16), num(17, 19), num(20, 23)
	if !ok || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	if day > days {
		return 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.UTC).UnixMilli(), true
}

// parseTimeStrict is ParseTime by time.Parse, giving the errors.
func parseTimeStrict(s string) (int64, error) {
	if len(s) != len(TimeLayout) {
		return 0, fmt.Errorf("timeStamp %q is not YYYY-MM-DDTHH:MM:SS.mmmZ", s)
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return 0, fmt.Errorf("timeStamp %q is not YYYY-MM-DDTHH:MM:SS.mmmZ", s)
	}
	if t.Format(TimeLayout) != s {
		return 0, fmt.Errorf("timeStamp %q is not in canonical form", s)
	}
	return t.UnixMilli(), nil
}

// FormatTime renders Unix milliseconds in the exact timeStamp format.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(TimeLayout)
}

// msgDomain prefixes every message id.
const msgDomain = "meshchain/msg/v1"

// MessageID is SHA-256("meshchain/msg/v1" || sender || i64(ts) || message).
func MessageID(sender [33]byte, ts int64, message string) Hash {
	h := sha256.New()
	h.Write([]byte(msgDomain))
	h.Write(sender[:])
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(ts))
	h.Write(t[:])
	h.Write([]byte(message))
	var out Hash
	h.Sum(out[:0])
	return out
}

// BodyHash is SHA-256(sender || signature || message).
func BodyHash(sender [33]byte, sig [64]byte, message string) Hash {
	h := sha256.New()
	h.Write(sender[:])
	h.Write(sig[:])
	h.Write([]byte(message))
	var out Hash
	h.Sum(out[:0])
	return out
}

// Header is the 96 bytes that a block's hash covers.
type Header [HeaderSize]byte

// NewHeader lays out the header of PROTOCOL.md section 1.
func NewHeader(number uint64, prev, body Hash, ts int64, difficulty uint32, nonce uint64) Header {
	var h Header
	binary.BigEndian.PutUint32(h[0:4], HeaderVersion)
	binary.BigEndian.PutUint64(h[4:12], number)
	copy(h[12:44], prev[:])
	copy(h[44:76], body[:])
	binary.BigEndian.PutUint64(h[76:84], uint64(ts))
	binary.BigEndian.PutUint32(h[84:88], difficulty)
	binary.BigEndian.PutUint64(h[88:96], nonce)
	return h
}

// SetNonce rewrites the nonce field in place.
func (h *Header) SetNonce(nonce uint64) { binary.BigEndian.PutUint64(h[88:96], nonce) }

// Hash is the single SHA-256 of the header.
func (h *Header) Hash() Hash { return sha256.Sum256(h[:]) }

// LeadingZeroBits counts the zero bits at the front of h.
func LeadingZeroBits(h Hash) int {
	n := 0
	for _, c := range h {
		if c == 0 {
			n += 8
			continue
		}
		for c&0x80 == 0 {
			n++
			c <<= 1
		}
		return n
	}
	return n
}

// MeetsDifficulty reports whether h has at least d leading zero bits.
func MeetsDifficulty(h Hash, d uint32) bool {
	if d > 8*uint32(len(h)) {
		return false
	}
	full := int(d / 8)
	for i := 0; i < full; i++ {
		if h[i] != 0 {
			return false
		}
	}
	rem := d % 8
	if rem == 0 {
		return true
	}
	return h[full]>>(8-rem) == 0
}

// BlockWork is 2^difficulty, the work one block adds.
func BlockWork(d uint32) *big.Int { return new(big.Int).Lsh(big.NewInt(1), uint(d)) }

// Parsed holds a block's fields in binary form, with its derived values.
type Parsed struct {
	Prev      Hash
	Sender    [33]byte
	Signature [64]byte
	Time      int64 // Unix milliseconds
	MessageID Hash
	BodyHash  Hash
	Header    Header
	Hash      Hash // SHA-256 of Header, whatever b.Hash claims
}

// Parse decodes the hex and time fields and computes the derived values.
// It checks formats only; Validate applies the rules.
func (b *Block) Parse() (*Parsed, error) {
	var p Parsed
	if err := b.ParseInto(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

// ParseInto is Parse into p, for a caller that keeps its Parsed values
// itself. On an error p holds whatever was parsed before it.
func (b *Block) ParseInto(p *Parsed) error {
	var err error
	if p.Prev, err = ParseHash(b.PrevHash); err != nil {
		return ruleErrorf(PreviousHashBlockError, "prev_hash: %v", err)
	}
	if p.Time, err = ParseTime(b.TimeStamp); err != nil {
		return ruleErrorf(InvalidTimestamp, "%v", err)
	}
	if err := decodeLowerHex(p.Sender[:], b.Sender); err != nil {
		return ruleErrorf(InvalidSignature, "sender: %v", err)
	}
	if err := decodeLowerHex(p.Signature[:], b.Signature); err != nil {
		return ruleErrorf(InvalidSignature, "signature: %v", err)
	}
	p.MessageID = MessageID(p.Sender, p.Time, b.Message)
	p.BodyHash = BodyHash(p.Sender, p.Signature, b.Message)
	p.Header = NewHeader(b.Number, p.Prev, p.BodyHash, p.Time, b.Difficulty, b.Nonce)
	p.Hash = p.Header.Hash()
	return nil
}

// GenesisTime is the timeStamp of every genesis block.
const GenesisTime = "2026-01-01T00:00:00.000Z"

// GenesisMessage is the message of every genesis block.
const GenesisMessage = "meshchain genesis"

// Genesis builds block 0 of the network with difficulty d.
func Genesis(d uint32) Block {
	b := Block{
		Number:     0,
		PrevHash:   Hash{}.String(),
		Message:    GenesisMessage,
		Sender:     hex.EncodeToString(make([]byte, 33)),
		TimeStamp:  GenesisTime,
		Difficulty: d,
		Signature:  hex.EncodeToString(make([]byte, 64)),
	}
	p, err := b.Parse()
	if err != nil {
		panic("chain: genesis does not parse: " + err.Error()) // constants above are wrong
	}
	b.Hash = p.Hash.String()
	return b
}
