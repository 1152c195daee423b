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

// Frame types as they appear in the "type" field.
const (
	TypeHello     = "hello"
	TypePing      = "ping"
	TypePong      = "pong"
	TypeTip       = "tip"
	TypeBlock     = "block"
	TypeGetBlocks = "get_blocks"
	TypeBlocks    = "blocks"
	TypeGetPeers  = "get_peers"
	TypePeers     = "peers"
	TypeError     = "error"
	TypeAuth      = "auth"
)

// Hello is the first frame of every session, sent by both sides at once.
type Hello struct {
	Version int    `json:"version"`
	Genesis string `json:"genesis"`
	NodeID  string `json:"node_id"`
	Listen  string `json:"listen"`
	Height  uint64 `json:"height"`
	Tip     string `json:"tip"`
	Work    string `json:"work"`
	Agent   string `json:"agent"`
	// NodeKey (66 hex, compressed) and Challenge (64 hex) are sent by a
	// node that proves its id; see PROTOCOL.md "Authenticated node ids".
	NodeKey   string `json:"node_key,omitempty"`
	Challenge string `json:"challenge,omitempty"`
}

// Auth proves the sender's node key: the second frame of a session when
// both hellos carry node_key and challenge.
type Auth struct {
	Signature string `json:"signature"`
}

// Ping asks for a Pong with the same nonce; the round trip is the latency.
type Ping struct {
	Nonce uint64 `json:"nonce"`
	// text is a decoded nonce that is a whole number outside uint64
	// (negative, or above 2^64-1), kept as sent so that the pong echoes
	// it exactly; Nonce is then 0.
	text string
}

// Pong answers a Ping.
type Pong struct {
	Nonce uint64 `json:"nonce"`
	text  string // as Ping's
}

// maxWorkDigits bounds the decimal work a hello or tip announces. Real
// work stays below 2^320 (97 digits); a node parses announced work often,
// and parsing a 4 MiB number takes seconds.
const maxWorkDigits = 128

// maxNonceDigits bounds a nonce echoed as text, so that a ping cannot make
// its pong megabytes long.
const maxNonceDigits = 64

// Tip announces the sender's best tip.
type Tip struct {
	Height uint64 `json:"height"`
	Tip    string `json:"tip"`
	Work   string `json:"work"`
}

// BlockMsg carries one new block.
type BlockMsg struct {
	Block chain.Block `json:"block"`
}

// GetBlocks asks for the blocks after the first locator hash the responder has.
type GetBlocks struct {
	Locator []string `json:"locator"`
	Limit   int      `json:"limit"`
}

// Blocks answers GetBlocks.
type Blocks struct {
	Blocks []chain.Block `json:"blocks"`
}

// GetPeers asks for addresses seen online.
type GetPeers struct{}

// Peers answers GetPeers with "host:port" addresses.
type Peers struct {
	Peers []string `json:"peers"`
}

// Error tells the peer why it is about to be closed: "<code>: <text>".
type Error struct {
	Reason string `json:"reason"`
}

// Unknown is a frame whose type this node does not know; it is ignored.
type Unknown struct {
	Type string
}

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
	var v any
	switch f := frame.(type) {
	case Hello:
		v = struct {
			Type string `json:"type"`
			Hello
		}{TypeHello, f}
	case *Hello:
		return Encode(*f)
	case Ping:
		if f.text != "" {
			return []byte(`{"type":"ping","nonce":` + f.text + `}`), nil
		}
		v = struct {
			Type string `json:"type"`
			Ping
		}{TypePing, f}
	case *Ping:
		return Encode(*f)
	case Pong:
		if f.text != "" {
			return []byte(`{"type":"pong","nonce":` + f.text + `}`), nil
		}
		v = struct {
			Type string `json:"type"`
			Pong
		}{TypePong, f}
	case *Pong:
		return Encode(*f)
	case Tip:
		v = struct {
			Type string `json:"type"`
			Tip
		}{TypeTip, f}
	case *Tip:
		return Encode(*f)
	case BlockMsg:
		v = struct {
			Type string `json:"type"`
			BlockMsg
		}{TypeBlock, f}
	case *BlockMsg:
		return Encode(*f)
	case GetBlocks:
		if f.Locator == nil {
			f.Locator = []string{}
		}
		v = struct {
			Type string `json:"type"`
			GetBlocks
		}{TypeGetBlocks, f}
	case *GetBlocks:
		return Encode(*f)
	case Blocks:
		if f.Blocks == nil {
			f.Blocks = []chain.Block{}
		}
		v = struct {
			Type string `json:"type"`
			Blocks
		}{TypeBlocks, f}
	case *Blocks:
		return Encode(*f)
	case GetPeers, *GetPeers:
		v = struct {
			Type string `json:"type"`
		}{TypeGetPeers}
	case Peers:
		if f.Peers == nil {
			f.Peers = []string{}
		}
		v = struct {
			Type string `json:"type"`
			Peers
		}{TypePeers, f}
	case *Peers:
		return Encode(*f)
	case Error:
		v = struct {
			Type string `json:"type"`
			Error
		}{TypeError, f}
	case *Error:
		return Encode(*f)
	case Auth:
		v = struct {
			Type string `json:"type"`
			Auth
		}{TypeAuth, f}
	case *Auth:
		return Encode(*f)
	default:
		return nil, fmt.Errorf("netpeers: cannot encode %T as a frame", frame)
	}
	return json.Marshal(v)
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
func Decode(data []byte) (any, error) {
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
	d := fieldDecoder{fields: fields, frame: typ}
	switch typ {
	case TypeHello:
		var h Hello
		h.Version = d.int("version", true)
		h.Genesis = d.str("genesis", true)
		h.NodeID = d.str("node_id", true)
		h.Listen = d.str("listen", false)
		h.Height = d.uint("height", true)
		h.Tip = d.str("tip", true)
		h.Work = d.work()
		h.Agent = d.str("agent", false)
		h.NodeKey = d.str("node_key", false)
		h.Challenge = d.str("challenge", false)
		return h, d.err
	case TypePing:
		var p Ping
		p.Nonce, p.text = d.nonce("nonce")
		return p, d.err
	case TypePong:
		var p Pong
		p.Nonce, p.text = d.nonce("nonce")
		return p, d.err
	case TypeTip:
		var t Tip
		t.Height = d.uint("height", true)
		t.Tip = d.str("tip", true)
		t.Work = d.work()
		return t, d.err
	case TypeBlock:
		raw, ok := fields["block"]
		if !ok || isNull(raw) {
			return nil, &FrameError{Code: ReasonMalformedBlock, Detail: "block frame has no block",
				Err: &chain.RuleError{Code: chain.MalformedBlock, Description: "block frame has no block"}}
		}
		b, err := decodeBlock(raw, "block")
		if err != nil {
			return nil, err
		}
		return BlockMsg{Block: b}, nil
	case TypeGetBlocks:
		var g GetBlocks
		g.Locator = d.strings("locator")
		g.Limit = d.int("limit", true)
		if d.err == nil && g.Limit < 0 {
			return nil, malformed("get_blocks limit %d is negative", g.Limit)
		}
		return g, d.err
	case TypeBlocks:
		raw, ok := fields["blocks"]
		if !ok || isNull(raw) {
			return nil, malformed("field blocks of blocks is missing")
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, malformed("field blocks of blocks must be an array")
		}
		out := Blocks{Blocks: make([]chain.Block, 0, len(items))}
		for i, item := range items {
			b, err := decodeBlock(item, fmt.Sprintf("blocks[%d]", i))
			if err != nil {
				return nil, err
			}
			out.Blocks = append(out.Blocks, b)
		}
		return out, nil
	case TypeGetPeers:
		return GetPeers{}, nil
	case TypePeers:
		p := Peers{Peers: d.strings("peers")}
		return p, d.err
	case TypeError:
		e := Error{Reason: d.str("reason", true)}
		return e, d.err
	case TypeAuth:
		a := Auth{Signature: d.str("signature", true)}
		return a, d.err
	default:
		return Unknown{Type: typ}, nil
	}
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
