package netpeers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshchain/meshchain/chain"
)

// ProtocolVersion is the hello version this package speaks.
const ProtocolVersion = 1

// MaxFrameBytes is the largest frame a peer may send; larger ones cost the sender.
const MaxFrameBytes = 4 << 20

// Reason codes that netpeers puts at the front of error frames and decode
// errors ("<code>: <text>"). Block rule codes come from package chain.
const (
	ReasonMalformedFrame     = "MalformedFrame"     // not a JSON object, missing or ill-typed field
	ReasonMalformedBlock     = "MalformedBlock"     // a block inside a frame breaks chain.Block's strict decoding
	ReasonFrameTooLarge      = "FrameTooLarge"      // above MaxFrameBytes
	ReasonExpectedHello      = "ExpectedHello"      // the first frame was not hello
	ReasonWrongGenesis       = "WrongGenesis"       // hello names another network
	ReasonUnsupportedVersion = "UnsupportedVersion" // hello version we do not speak
	ReasonPenalized          = "Penalized"          // the peer is refused for a while
	ReasonTimeout            = "Timeout"            // the peer was silent too long
	ReasonFlood              = "Flood"              // frames faster than they can be answered
)

// Frame is one frame type of PROTOCOL.md section 2: its "type" name, its
// JSON object and how its fields are read. Each type lives in a file of
// its own (frame_<type>.go) and is listed once in frameTypes, so a new
// frame type is one file and one line. Decode returns Frame values (not
// pointers); Encode takes values or pointers.
type Frame interface {
	// FrameType is the frame's "type" field.
	FrameType() string
	// frameJSON renders the frame as its JSON object, "type" first.
	frameJSON() ([]byte, error)
	// decodeFrame reads a frame of this type from a decoded object; it is
	// called on the zero value, which stays unchanged.
	decodeFrame(d *fieldDecoder) (Frame, error)
}

// frameTypes is every frame type this node speaks, by its "type" name.
var frameTypes = registerFrames(
	Hello{},
	Auth{},
	Ping{},
	Pong{},
	Tip{},
	BlockMsg{},
	GetBlocks{},
	Blocks{},
	GetPeers{},
	Peers{},
	Error{},
)

func registerFrames(types ...Frame) map[string]Frame {
	m := make(map[string]Frame, len(types))
	for _, f := range types {
		if _, dup := m[f.FrameType()]; dup {
			panic("netpeers: frame type " + f.FrameType() + " registered twice")
		}
		m[f.FrameType()] = f
	}
	return m
}

// Unknown is a frame whose type this node does not know; it is ignored.
// It cannot be encoded.
type Unknown struct {
	Type string
}

// FrameType is the type the frame named.
func (u Unknown) FrameType() string { return u.Type }

func (u Unknown) frameJSON() ([]byte, error) {
	return nil, fmt.Errorf("netpeers: cannot encode %T as a frame", u)
}

func (u Unknown) decodeFrame(*fieldDecoder) (Frame, error) { return u, nil }

// FrameError is a frame that could not be decoded. Its text starts with a
// reason code, so it can go into an error frame as it is. For a block that
// breaks chain.Block's strict decoding it wraps the *chain.RuleError.
type FrameError struct {
	Code   string
	Detail string
	Err    error
}

func (e *FrameError) Error() string { return e.Code + ": " + e.Detail }

// Unwrap returns the rule error of a malformed block, if any.
func (e *FrameError) Unwrap() error { return e.Err }

func malformed(format string, args ...any) *FrameError {
	return &FrameError{Code: ReasonMalformedFrame, Detail: fmt.Sprintf(format, args...)}
}

// Encode renders a frame (a value or pointer of one of the frame types) as
// the JSON object of PROTOCOL.md, with its "type" field set.
func Encode(frame any) ([]byte, error) {
	f, ok := frame.(Frame)
	if !ok {
		return nil, fmt.Errorf("netpeers: cannot encode %T as a frame", frame)
	}
	return f.frameJSON()
}

// frameName names a frame in an error reason: its type, quoted when this
// node does not know it.
func frameName(f any) string {
	switch f := f.(type) {
	case Unknown:
		return fmt.Sprintf("%q", f.Type)
	case Frame:
		return f.FrameType()
	}
	return fmt.Sprintf("%T", f)
}

// encodeToSend is Encode for frames going to a peer, which must not be
// above MaxFrameBytes: the peer would take the frame as an offence. A
// blocks answer above it keeps the longest prefix of its blocks that fits
// (the protocol asks for at most min(limit, 500) blocks, not for all of
// them; the asker asks again from where the answer ends). Escaped JSON can
// make 500 valid blocks three times larger than 4 MiB.
func encodeToSend(frame any) ([]byte, error) {
	data, err := Encode(frame)
	if err != nil || len(data) <= MaxFrameBytes {
		return data, err
	}
	var bl Blocks
	switch f := frame.(type) {
	case Blocks:
		bl = f
	case *Blocks:
		bl = *f
	default:
		return nil, fmt.Errorf("netpeers: %s frame of %d bytes is above %d", frameName(frame), len(data), MaxFrameBytes)
	}
	empty, _ := Encode(Blocks{})
	size, n := len(empty), 0
	for _, b := range bl.Blocks {
		one, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		extra := len(one)
		if n > 0 {
			extra++ // the comma
		}
		if size+extra > MaxFrameBytes {
			break
		}
		size += extra
		n++
	}
	for ; n > 0; n-- {
		data, err = Encode(Blocks{Blocks: bl.Blocks[:n]})
		if err != nil || len(data) <= MaxFrameBytes {
			return data, err
		}
	}
	return Encode(Blocks{})
}

// Decode reads one frame. A frame of a type it does not know decodes to
// Unknown (to be ignored). Anything that is not a JSON object, lacks a field
// or has one of the wrong type is a *FrameError whose text starts with
// "MalformedFrame: "; a block that breaks chain.Block's strict decoding is a
// *FrameError with code MalformedBlock wrapping the *chain.RuleError.
func Decode(data []byte) (Frame, error) {
	if len(data) > MaxFrameBytes {
		return nil, &FrameError{Code: ReasonFrameTooLarge, Detail: fmt.Sprintf("frame of %d bytes is above %d", len(data), MaxFrameBytes)}
	}
	if !utf8.Valid(data) {
		return nil, malformed("frame is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformed("frame is not a JSON object")
	}
	if f, ok := decodeBlockFrameFast(trimmed); ok {
		return f, nil
	}
	if f, ok := decodeBlocksFrameFast(trimmed); ok {
		return f, nil
	}
	return decodeObject(trimmed)
}

// decodeObject is Decode's general path, for a frame that is valid UTF-8
// and starts with '{' once trimmed.
func decodeObject(trimmed []byte) (Frame, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, malformed("frame is not a JSON object: %v", err)
	}
	rawType, ok := fields["type"]
	if !ok {
		return nil, malformed("field type is missing")
	}
	var typ string
	if err := json.Unmarshal(rawType, &typ); err != nil || isNull(rawType) {
		return nil, malformed("field type must be a string")
	}
	proto, ok := frameTypes[typ]
	if !ok {
		return Unknown{Type: typ}, nil
	}
	d := fieldDecoder{fields: fields, frame: typ}
	f, err := proto.decodeFrame(&d)
	if err != nil {
		return nil, err
	}
	if d.err != nil {
		return nil, d.err
	}
	return f, nil
}

// helloVersion reads the version of a hello frame that Decode refused.
func helloVersion(data []byte) (int, bool) {
	var f struct {
		Type    string          `json:"type"`
		Version json.RawMessage `json:"version"`
	}
	if json.Unmarshal(data, &f) != nil || f.Type != TypeHello {
		return 0, false
	}
	v, err := strconv.Atoi(string(bytes.TrimSpace(f.Version)))
	return v, err == nil
}

func decodeBlock(raw json.RawMessage, where string) (chain.Block, error) {
	var b chain.Block
	if err := json.Unmarshal(raw, &b); err != nil {
		var re *chain.RuleError
		if !errors.As(err, &re) {
			re = &chain.RuleError{Code: chain.MalformedBlock, Description: err.Error()}
		}
		return chain.Block{}, &FrameError{Code: ReasonMalformedBlock, Detail: where + ": " + re.Description, Err: re}
	}
	return b, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// fieldDecoder reads typed fields of one frame, keeping the first error.
type fieldDecoder struct {
	fields map[string]json.RawMessage
	frame  string
	err    error
}

func (d *fieldDecoder) raw(name string, required bool) (json.RawMessage, bool) {
	if d.err != nil {
		return nil, false
	}
	raw, ok := d.fields[name]
	if !ok || isNull(raw) {
		if required {
			d.err = malformed("field %s of %s is missing", name, d.frame)
		}
		return nil, false
	}
	return raw, true
}

func (d *fieldDecoder) str(name string, required bool) string {
	raw, ok := d.raw(name, required)
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.err = malformed("field %s of %s must be a string", name, d.frame)
	}
	return s
}

// uint accepts only whole non-negative JSON numbers without fraction or exponent.
func (d *fieldDecoder) uint(name string, required bool) uint64 {
	raw, ok := d.raw(name, required)
	if !ok {
		return 0
	}
	s := string(bytes.TrimSpace(raw))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		d.err = malformed("field %s of %s must be a whole number from 0 to 2^64-1, got %.40s", name, d.frame, s)
		return 0
	}
	return v
}

// work reads the field work: a string of 1 to maxWorkDigits decimal digits.
func (d *fieldDecoder) work() string {
	w := d.str("work", true)
	if d.err != nil {
		return ""
	}
	ok := len(w) > 0 && len(w) <= maxWorkDigits
	for i := 0; ok && i < len(w); i++ {
		ok = w[i] >= '0' && w[i] <= '9'
	}
	if !ok {
		d.err = malformed("field work of %s must be a decimal string of 1 to %d digits, got %.40q", d.frame, maxWorkDigits, w)
		return ""
	}
	return w
}

// nonce accepts any whole JSON number: a uint64 as a value, anything else
// (negative, or too large for uint64) as its text, to be echoed as sent.
// The protocol does not bound a ping's nonce, and a peer must not be
// punished for one that a float64 or a uint64 cannot hold.
func (d *fieldDecoder) nonce(name string) (uint64, string) {
	raw, ok := d.raw(name, true)
	if !ok {
		return 0, ""
	}
	s := string(bytes.TrimSpace(raw))
	if v, err := strconv.ParseUint(s, 10, 64); err == nil && (len(s) == 1 || s[0] != '0') {
		return v, ""
	}
	digits := strings.TrimPrefix(s, "-")
	whole := len(digits) > 0 && len(digits) <= maxNonceDigits && (len(digits) == 1 || digits[0] != '0')
	for i := 0; whole && i < len(digits); i++ {
		whole = digits[i] >= '0' && digits[i] <= '9'
	}
	if !whole {
		d.err = malformed("field %s of %s must be a whole number of at most %d digits, got %.40s", name, d.frame, maxNonceDigits, s)
		return 0, ""
	}
	return 0, s
}

func (d *fieldDecoder) int(name string, required bool) int {
	raw, ok := d.raw(name, required)
	if !ok {
		return 0
	}
	s := string(bytes.TrimSpace(raw))
	v, err := strconv.ParseInt(s, 10, 0)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if err != nil || (len(digits) > 1 && digits[0] == '0') {
		d.err = malformed("field %s of %s must be a whole number, got %.40s", name, d.frame, s)
		return 0
	}
	return int(v)
}

func (d *fieldDecoder) strings(name string) []string {
	raw, ok := d.raw(name, true)
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.err = malformed("field %s of %s must be an array of strings", name, d.frame)
		return nil
	}
	out := make([]string, len(items))
	for i, item := range items {
		if isNull(item) || json.Unmarshal(item, &out[i]) != nil {
			d.err = malformed("field %s of %s must be an array of strings", name, d.frame)
			return nil
		}
	}
	return out
}
