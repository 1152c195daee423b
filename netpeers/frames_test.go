package netpeers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/meshchain/meshchain/chain"
)

func TestEncodeExactJSON(t *testing.T) {
	g := chain.Genesis(1)
	gJSON, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame any
		want  string
	}{
		{"hello", Hello{Version: 1, Genesis: "aa", NodeID: "bb", Listen: "127.0.0.1:8333", Height: 7, Tip: "cc", Work: "123", Agent: "meshchain/1"},
			`{"type":"hello","version":1,"genesis":"aa","node_id":"bb","listen":"127.0.0.1:8333","height":7,"tip":"cc","work":"123","agent":"meshchain/1"}`},
		{"hello pointer", &Hello{Version: 1},
			`{"type":"hello","version":1,"genesis":"","node_id":"","listen":"","height":0,"tip":"","work":"","agent":""}`},
		{"ping", Ping{Nonce: 42}, `{"type":"ping","nonce":42}`},
		{"pong", Pong{Nonce: 1<<64 - 1}, `{"type":"pong","nonce":18446744073709551615}`},
		{"tip", Tip{Height: 3, Tip: "ab", Work: "24"}, `{"type":"tip","height":3,"tip":"ab","work":"24"}`},
		{"block", BlockMsg{Block: g}, `{"type":"block","block":` + string(gJSON) + `}`},
		{"get_blocks", GetBlocks{Locator: []string{"a", "b"}, Limit: 500}, `{"type":"get_blocks","locator":["a","b"],"limit":500}`},
		{"get_blocks nil locator", GetBlocks{}, `{"type":"get_blocks","locator":[],"limit":0}`},
		{"blocks", Blocks{Blocks: []chain.Block{g}}, `{"type":"blocks","blocks":[` + string(gJSON) + `]}`},
		{"blocks empty", Blocks{}, `{"type":"blocks","blocks":[]}`},
		{"get_peers", GetPeers{}, `{"type":"get_peers"}`},
		{"peers", Peers{Peers: []string{"127.0.0.1:8333"}}, `{"type":"peers","peers":["127.0.0.1:8333"]}`},
		{"peers empty", Peers{}, `{"type":"peers","peers":[]}`},
		{"error", Error{Reason: "MalformedFrame: x"}, `{"type":"error","reason":"MalformedFrame: x"}`},
		{"hello with node key", Hello{Version: 1, NodeID: "bb", NodeKey: "02aa", Challenge: "cc"},
			`{"type":"hello","version":1,"genesis":"","node_id":"bb","listen":"","height":0,"tip":"","work":"","agent":"","node_key":"02aa","challenge":"cc"}`},
		{"auth", Auth{Signature: "ab"}, `{"type":"auth","signature":"ab"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, err := Encode(42); err == nil {
		t.Error("Encode(42) succeeded")
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	g := chain.Genesis(1)
	frames := []any{
		Hello{Version: 1, Genesis: g.Hash, NodeID: strings.Repeat("ab", 32), Listen: "127.0.0.1:1", Height: 9, Tip: g.Hash, Work: "0", Agent: "meshchain/test"},
		Ping{Nonce: 1<<53 - 1},
		Pong{Nonce: 0},
		Tip{Height: 1, Tip: g.Hash, Work: "2"},
		BlockMsg{Block: g},
		GetBlocks{Locator: []string{g.Hash}, Limit: 500},
		Blocks{Blocks: []chain.Block{g, g}},
		Blocks{Blocks: []chain.Block{}},
		GetPeers{},
		Peers{Peers: []string{"a:1", "b:2"}},
		Error{Reason: "InvalidBlockHash: nope"},
		Hello{Version: 1, Genesis: g.Hash, NodeID: strings.Repeat("ab", 32), Tip: g.Hash, Work: "0",
			NodeKey: "03" + strings.Repeat("ab", 32), Challenge: strings.Repeat("11", 32)},
		Auth{Signature: strings.Repeat("12", 64)},
	}
	for _, f := range frames {
		data, err := Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", data, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip of %s:\ngot  %#v\nwant %#v", data, got, f)
		}
	}
}

func TestDecodeLenientFields(t *testing.T) {
	// listen and agent may be missing; unknown fields are ignored.
	got, err := Decode([]byte(`{"type":"hello","version":1,"genesis":"g","node_id":"n","height":0,"tip":"t","work":"0","extra":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Hello{Version: 1, Genesis: "g", NodeID: "n", Tip: "t", Work: "0"}
	if got != want {
		t.Errorf("got %#v, want %#v", got, want)
	}
	got, err = Decode([]byte(` {"type":"future_thing","x":1} `))
	if err != nil {
		t.Fatal(err)
	}
	if got != (Unknown{Type: "future_thing"}) {
		t.Errorf("got %#v, want Unknown", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	validBlock, _ := json.Marshal(chain.Genesis(1))
	tests := []struct {
		name, in string
		code     string
	}{
		{"not json", `hello there`, ReasonMalformedFrame},
		{"array", `[1,2]`, ReasonMalformedFrame},
		{"string", `"ping"`, ReasonMalformedFrame},
		{"null", `null`, ReasonMalformedFrame},
		{"empty", ``, ReasonMalformedFrame},
		{"trailing garbage", `{"type":"get_peers"} x`, ReasonMalformedFrame},
		{"invalid utf8", "{\"type\":\"error\",\"reason\":\"\xff\"}", ReasonMalformedFrame},
		{"no type", `{"nonce":1}`, ReasonMalformedFrame},
		{"type not string", `{"type":1}`, ReasonMalformedFrame},
		{"type null", `{"type":null}`, ReasonMalformedFrame},
		{"ping no nonce", `{"type":"ping"}`, ReasonMalformedFrame},
		{"ping string nonce", `{"type":"ping","nonce":"1"}`, ReasonMalformedFrame},
		{"ping fractional nonce", `{"type":"ping","nonce":1.5}`, ReasonMalformedFrame},
		{"ping exponent nonce", `{"type":"ping","nonce":1e3}`, ReasonMalformedFrame},
		{"ping big exponent nonce", `{"type":"ping","nonce":1e30}`, ReasonMalformedFrame},
		{"ping negative fractional nonce", `{"type":"ping","nonce":-0.5}`, ReasonMalformedFrame},
		{"ping nonce of 65 digits", `{"type":"ping","nonce":` + strings.Repeat("9", 65) + `}`, ReasonMalformedFrame},
		{"pong string nonce", `{"type":"pong","nonce":"1"}`, ReasonMalformedFrame},
		{"hello version string", `{"type":"hello","version":"1","genesis":"g","node_id":"n","height":0,"tip":"t","work":"0"}`, ReasonMalformedFrame},
		{"hello no genesis", `{"type":"hello","version":1,"node_id":"n","height":0,"tip":"t","work":"0"}`, ReasonMalformedFrame},
		{"hello listen number", `{"type":"hello","version":1,"genesis":"g","node_id":"n","listen":1,"height":0,"tip":"t","work":"0"}`, ReasonMalformedFrame},
		{"tip work number", `{"type":"tip","height":1,"tip":"t","work":5}`, ReasonMalformedFrame},
		{"tip work empty", `{"type":"tip","height":1,"tip":"t","work":""}`, ReasonMalformedFrame},
		{"tip work not decimal", `{"type":"tip","height":1,"tip":"t","work":"0x10"}`, ReasonMalformedFrame},
		{"tip work negative", `{"type":"tip","height":1,"tip":"t","work":"-1"}`, ReasonMalformedFrame},
		{"tip work of 129 digits", `{"type":"tip","height":1,"tip":"t","work":"` + strings.Repeat("9", 129) + `"}`, ReasonMalformedFrame},
		{"hello work not decimal", `{"type":"hello","version":1,"genesis":"g","node_id":"n","height":0,"tip":"t","work":"lots"}`, ReasonMalformedFrame},
		{"get_blocks no limit", `{"type":"get_blocks","locator":[]}`, ReasonMalformedFrame},
		{"get_blocks negative limit", `{"type":"get_blocks","locator":[],"limit":-1}`, ReasonMalformedFrame},
		{"get_blocks locator of numbers", `{"type":"get_blocks","locator":[1],"limit":1}`, ReasonMalformedFrame},
		{"get_blocks locator with null", `{"type":"get_blocks","locator":["a",null],"limit":1}`, ReasonMalformedFrame},
		{"peers not array", `{"type":"peers","peers":"a:1"}`, ReasonMalformedFrame},
		{"blocks not array", `{"type":"blocks","blocks":{}}`, ReasonMalformedFrame},
		{"error no reason", `{"type":"error"}`, ReasonMalformedFrame},
		{"block missing", `{"type":"block"}`, ReasonMalformedBlock},
		{"block not object", `{"type":"block","block":[]}`, ReasonMalformedBlock},
		{"block missing field", `{"type":"block","block":{"number_of_block":1}}`, ReasonMalformedBlock},
		{"block nonce too big", `{"type":"block","block":` + strings.Replace(string(validBlock), `"nonce":0`, `"nonce":9007199254740992`, 1) + `}`, ReasonMalformedBlock},
		{"blocks with bad block", `{"type":"blocks","blocks":[` + string(validBlock) + `,{"hash":1}]}`, ReasonMalformedBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode succeeded: %#v", f)
			}
			if !strings.HasPrefix(err.Error(), tt.code+": ") {
				t.Errorf("error %q does not start with %q", err, tt.code+": ")
			}
			if tt.code == ReasonMalformedBlock {
				var re *chain.RuleError
				if !errors.As(err, &re) || re.Code != chain.MalformedBlock {
					t.Errorf("error %v does not wrap a MalformedBlock rule error", err)
				}
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	big := make([]byte, MaxFrameBytes+1)
	_, err := Decode(big)
	if err == nil || !strings.HasPrefix(err.Error(), ReasonFrameTooLarge+": ") {
		t.Fatalf("got %v, want a FrameTooLarge error", err)
	}
}

func FuzzDecode(f *testing.F) {
	g := chain.Genesis(1)
	for _, fr := range []any{
		Hello{Version: 1, Genesis: g.Hash, NodeID: strings.Repeat("0", 64), Listen: ":8333", Height: 1, Tip: g.Hash, Work: "2", Agent: "x"},
		Ping{Nonce: 5}, Pong{Nonce: 6}, Tip{Height: 1, Tip: "t", Work: "1"},
		BlockMsg{Block: g}, GetBlocks{Locator: []string{g.Hash}, Limit: 3}, Blocks{Blocks: []chain.Block{g}},
		GetPeers{}, Peers{Peers: []string{"127.0.0.1:1"}}, Error{Reason: "x: y"},
		Hello{Version: 1, Genesis: g.Hash, NodeID: strings.Repeat("1", 64), Tip: g.Hash, Work: "0",
			NodeKey: "02" + strings.Repeat("ab", 32), Challenge: strings.Repeat("cd", 32)},
		Auth{Signature: strings.Repeat("ef", 64)},
	} {
		data, err := Encode(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{`{}`, `[]`, `{"type":"zzz"}`, `{"type":"ping","nonce":01}`, "\xff", `{"type":"block","block":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := Decode(data)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FrameError", err)
			}
			if !strings.HasPrefix(err.Error(), fe.Code+": ") || fe.Code == "" {
				t.Fatalf("error %q lacks its reason code", err)
			}
			return
		}
		if _, ok := frame.(Unknown); ok {
			return
		}
		// Whatever decodes must encode and decode to the same frame.
		again, err := Encode(frame)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", frame, err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode(Encode(%#v)) = %v; encoded %s", frame, err, again)
		}
		if !reflect.DeepEqual(back, frame) {
			t.Fatalf("round trip changed the frame:\n%#v\n%#v", frame, back)
		}
	})
}

// A ping's nonce is any whole number; the pong carries it back exactly,
// digit for digit, whether or not a float64 or a uint64 holds it.
func TestPingNonceEchoedExactly(t *testing.T) {
	for _, nonce := range []string{
		"0", "42",
		"9007199254740991",     // 2^53-1
		"9007199254740992",     // 2^53
		"9007199254740993",     // 2^53+1: a float64 would make it ...992
		"18446744073709551615", // 2^64-1
		"18446744073709551616", // 2^64
		"123456789012345678901234567890",
		"-1", "-9007199254740993",
	} {
		f, err := Decode([]byte(`{"type":"ping","nonce":` + nonce + `}`))
		if err != nil {
			t.Errorf("ping %s: %v", nonce, err)
			continue
		}
		ping := f.(Ping)
		got, err := Encode(Pong(ping))
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"type":"pong","nonce":` + nonce + `}`; string(got) != want {
			t.Errorf("pong %s, want %s", got, want)
		}
		back, err := Decode(got)
		if err != nil || !reflect.DeepEqual(back, Pong(ping)) {
			t.Errorf("pong %s decodes to %#v, %v", got, back, err)
		}
	}
}

// Every registered frame type is listed under its own "type" name, and its
// zero value goes through Encode and Decode as itself; a frame of a type
// not registered decodes to Unknown and is not encoded.
func TestFrameRegistry(t *testing.T) {
	if len(frameTypes) != 11 {
		t.Errorf("%d frame types registered, PROTOCOL.md has 11", len(frameTypes))
	}
	for name, proto := range frameTypes {
		if proto.FrameType() != name {
			t.Errorf("frame %T registered as %q names itself %q", proto, name, proto.FrameType())
		}
		data, err := Encode(proto)
		if err != nil {
			t.Errorf("Encode(%T{}): %v", proto, err)
			continue
		}
		if !strings.HasPrefix(string(data), `{"type":"`+name+`"`) {
			t.Errorf("%T encodes as %s, want its type first", proto, data)
		}
		if frameName(proto) != name {
			t.Errorf("frameName(%T{}) = %q", proto, frameName(proto))
		}
	}
	if _, err := Encode(Unknown{Type: "x"}); err == nil {
		t.Error("an Unknown frame was encoded")
	}
	if got := frameName(Unknown{Type: "x"}); got != `"x"` {
		t.Errorf("frameName(Unknown) = %s", got)
	}
}
