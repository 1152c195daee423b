package node

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// allPayloads is a value of every payload type.
var allPayloads = []Payload{Started{}, MessageQueued{}, MiningProgress{}, MiningIdle{}, BlockMined{},
	BlockAccepted{}, BlockSeenAgain{}, BlockRejected{}, Fork{}, Reorg{}, TipChanged{}, PeerOnline{},
	PeerOffline{}, PeerPenalized{}, PeerDialFailed{}, PeerForgotten{}, PeerDisconnected{}, PeerBanned{},
	PeerUnbanned{}, SyncStarted{}, SyncBacktrack{}, SyncFinished{}, Warning{}}

// marshalEventByMap is Event.MarshalJSON as it was before flattenEvent:
// the payload through a map of raw fields, the event's own fields put in.
func marshalEventByMap(e Event) ([]byte, error) {
	body, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, err
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	put := func(k string, v any) {
		raw, _ := json.Marshal(v)
		fields[k] = raw
	}
	put("time", e.Time.UTC().Format(time.RFC3339Nano))
	put("event", e.Payload.Kind())
	if e.Node != "" {
		put("node", e.Node)
	}
	if e.Seq != 0 {
		put("seq", e.Seq)
	}
	if e.Missed != 0 {
		put("missed", e.Missed)
	}
	return json.Marshal(fields)
}

// fillRandom sets every exported field of v (a pointer) to a random value:
// strings with quotes, escapes, HTML, control and non-ASCII characters,
// numbers at their edges, zero values (omitempty), nil pointers.
func fillRandom(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		fillRandom(r, p.Elem())
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if r.IntN(3) > 0 {
				v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(time.FixedZone("x", 3600))))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillRandom(r, v.Field(i))
			}
		}
	case reflect.String:
		parts := []string{"", "a", `"`, `\`, "<b>&", "\u2028", "é", "\x01", "\n", "ok", "0", "}", "]", ","}
		s := ""
		for range r.IntN(5) {
			s += parts[r.IntN(len(parts))]
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, 1 << 40, r.Int64()}[r.IntN(5)])
	case reflect.Uint64, reflect.Uint32:
		v.SetUint([]uint64{0, 1, 1 << 53, r.Uint64()}[r.IntN(4)] & (1<<uint(v.Type().Bits()) - 1))
	case reflect.Float64:
		v.SetFloat([]float64{0, 0.5, 1e21, 123456.789, r.Float64() * 1e6}[r.IntN(5)])
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), r.IntN(3), r.IntN(3)+3)
		for i := range s.Len() {
			fillRandom(r, s.Index(i))
		}
		if r.IntN(4) > 0 {
			v.Set(s)
		}
	}
}

// TestEventJSONAsByMap: for every payload type, filled at random 300
// times, MarshalJSON gives the bytes the map of raw fields gave, and does
// so on the spliced path.
func TestEventJSONAsByMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range allPayloads {
		for range 300 {
			pv := reflect.New(reflect.TypeOf(p))
			fillRandom(r, pv.Elem())
			e := Event{Time: time.Unix(r.Int64N(4e9), r.Int64N(1e9)), Payload: pv.Elem().Interface().(Payload)}
			if r.IntN(2) == 0 {
				e.Node, e.Seq, e.Missed = []string{"node3", `<"\>`}[r.IntN(2)], r.Uint64N(100), r.Uint64N(3)
			}
			got, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			want, err := marshalEventByMap(e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%T:\n got %s\nwant %s", e.Payload, got, want)
			}
			body, _ := json.Marshal(e.Payload)
			if _, ok := flattenEvent(body, nil); !ok {
				t.Fatalf("%T left to the map: %s", e.Payload, body)
			}
			// What encoding/json makes of the event (the headless writer's
			// call) is the same line.
			outer, err := json.Marshal(e)
			if err != nil || !bytes.Equal(outer, want) {
				t.Fatalf("json.Marshal(%T) = %s, %v; want %s", e.Payload, outer, err, want)
			}
		}
	}
}

// TestFlattenEventOddBodies: bodies flattenEvent does not take go through
// the map, with the same result.
func TestFlattenEventOddBodies(t *testing.T) {
	extra := []eventField{{"event", []byte(`"x"`)}}
	for _, body := range []string{`{}`, `{"a":1,"a":2}`, `{"\u00e9":1}`, `{"<":1}`, `{"a":{"b":[1,"]}"]},"c":"\"}"}`, `{"event":"y","z":null}`} {
		got, err := flattenEventMap([]byte(body), extra)
		if err != nil {
			t.Fatal(err)
		}
		if fast, ok := flattenEvent([]byte(body), extra); ok && !bytes.Equal(fast, got) {
			t.Errorf("%s: spliced %s, map %s", body, fast, got)
		}
	}
}

func BenchmarkEventJSON(b *testing.B) {
	e := Event{Time: time.Now(), Seq: 42, Payload: BlockAccepted{Hash: "00ab", Height: 1234, Message: "hello <world>", Sender: "02ff", Peer: "127.0.0.1:8333"}}
	b.Run("spliced", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(e)
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			_, _ = e.MarshalJSON()
		}
	})
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			_, _ = marshalEventByMap(e)
		}
	})
}
