package node

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one thing that happened in the node, for the dashboard and the
// headless JSON-lines stream. Payload is one of the types below.
type Event struct {
	Time    time.Time
	Node    string // devnet: which node; empty otherwise
	Payload Payload
	// Seq numbers the node's events from 1; a jump shows events this
	// subscriber did not get (progress ticks, or a queue that was full).
	Seq uint64
	// Missed counts events other than progress that this subscriber lost,
	// because its queue was full, just before this one: a reader that
	// keeps state from events should take a fresh snapshot.
	Missed uint64
}

// Payload is the typed body of an event; Kind is its wire name.
type Payload interface{ Kind() string }

// MarshalJSON flattens the event: {"time":…,"event":kind,["node":…,]["seq":…,]["missed":…,] payload fields},
// keys in sorted order. The payload is encoded once and its fields are
// spliced in by flattenEvent; a body that path cannot take (it never meets
// one from these payloads) goes through a map of raw fields, with the same
// bytes as the result.
func (e Event) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, err
	}
	extra := make([]eventField, 0, 5)
	extra = append(extra,
		eventField{"time", []byte(`"` + e.Time.UTC().Format(time.RFC3339Nano) + `"`)},
		eventField{"event", jsonValue(e.Payload.Kind())})
	if e.Node != "" {
		extra = append(extra, eventField{"node", jsonValue(e.Node)})
	}
	if e.Seq != 0 {
		extra = append(extra, eventField{"seq", strconv.AppendUint(nil, e.Seq, 10)})
	}
	if e.Missed != 0 {
		extra = append(extra, eventField{"missed", strconv.AppendUint(nil, e.Missed, 10)})
	}
	if out, ok := flattenEvent(body, extra); ok {
		return out, nil
	}
	return flattenEventMap(body, extra)
}

// eventField is one top-level field of an event's JSON: its key and its
// value, encoded.
type eventField struct {
	key string
	val []byte
}

func jsonValue(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}

// flattenEvent splices extra into body, a JSON object as encoding/json
// writes a struct (compact, keys that need no escaping), and writes the
// fields sorted by key, an extra field replacing the body's of the same
// name: the bytes encoding/json gives for the map flattenEventMap builds.
// It reports false for any body it does not recognise.
func flattenEvent(body []byte, extra []eventField) ([]byte, bool) {
	fields := make([]eventField, 0, 16)
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return nil, false
	}
	i := 1
	for i < len(body)-1 {
		if body[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(body) && body[j] != '"' {
			// Keys that encoding/json would escape (or that hold an
			// escape) are left to the map.
			if c := body[j]; c == '\\' || c < 0x20 || c >= 0x80 || c == '<' || c == '>' || c == '&' {
				return nil, false
			}
			j++
		}
		if j+1 >= len(body) || body[j+1] != ':' {
			return nil, false
		}
		key := string(body[i+1 : j])
		end, ok := skipJSONValue(body, j+2)
		if !ok {
			return nil, false
		}
		fields = append(fields, eventField{key, body[j+2 : end]})
		i = end
		if body[i] == ',' {
			i++
		} else if i != len(body)-1 {
			return nil, false
		}
	}
	for _, x := range extra {
		if k := slices.IndexFunc(fields, func(f eventField) bool { return f.key == x.key }); k >= 0 {
			fields[k] = x
		} else {
			fields = append(fields, x)
		}
	}
	slices.SortFunc(fields, func(a, b eventField) int { return strings.Compare(a.key, b.key) })
	for k := 1; k < len(fields); k++ {
		if fields[k].key == fields[k-1].key {
			return nil, false // a repeated key: the map keeps the last
		}
	}
	size := 2
	for _, f := range fields {
		size += len(f.key) + len(f.val) + 4
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	for k, f := range fields {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, f.key...)
		out = append(out, '"', ':')
		out = append(out, f.val...)
	}
	return append(out, '}'), true
}

// skipJSONValue returns the index just after the JSON value that starts at
// d[i], for compact, valid JSON; false where it cannot tell.
func skipJSONValue(d []byte, i int) (int, bool) {
	depth := 0
	for i < len(d) {
		switch c := d[i]; c {
		case '"':
			i++
			for i < len(d) && d[i] != '"' {
				if d[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(d) {
				return 0, false
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, true
			}
			i++
		default:
			i++
		}
	}
	return 0, false
}

// flattenEventMap is flattenEvent through a map of raw fields and
// encoding/json, for any body flattenEvent does not take.
func flattenEventMap(body []byte, extra []eventField) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, err
	}
	for _, x := range extra {
		fields[x.key] = x.val
	}
	return json.Marshal(fields)
}

// Started is emitted once the node listens and has loaded its chain.
type Started struct {
	Listen  string `json:"listen"`
	NodeID  string `json:"node_id"`
	Genesis string `json:"genesis"`
	Sender  string `json:"sender"`
	DataDir string `json:"data_dir"`
	Height  uint64 `json:"height"`
	Tip     string `json:"tip"`
	// WalletCreated is set when this start made a new wallet.
	WalletCreated bool   `json:"wallet_created,omitempty"`
	WalletPath    string `json:"wallet_path,omitempty"`
	// BackupWords is set until the user has been shown the wallet's words
	// once (meshchain wallet show --words), at every start.
	BackupWords bool `json:"backup_words,omitempty"`
	// Recovered says the stored chain was cut back to its valid prefix.
	Recovered string `json:"recovered,omitempty"`
}

// MessageQueued: a posted message is signed and durably pending.
type MessageQueued struct {
	MessageID string `json:"message_id"`
	Message   string `json:"message"`
	Queue     int    `json:"queue"`
	// Requeued is set when the message came back from a block that left the best chain.
	Requeued bool `json:"requeued,omitempty"`
}

// MiningProgress is a periodic miner report; it may be dropped.
type MiningProgress struct {
	MessageID  string  `json:"message_id"`
	Message    string  `json:"message"`
	Height     uint64  `json:"height"`
	Attempts   uint64  `json:"attempts"`
	Expected   float64 `json:"expected"`
	HashRate   float64 `json:"hash_rate"`
	ETASeconds float64 `json:"eta_seconds"`
	Queue      int     `json:"queue"`
	Threads    int     `json:"threads"`
}

// MiningIdle: the queue is empty and the miner stopped.
type MiningIdle struct{}

// BlockMined: this node found a block for one of its messages.
type BlockMined struct {
	Height      uint64  `json:"height"`
	Hash        string  `json:"hash"`
	MessageID   string  `json:"message_id"`
	Message     string  `json:"message"`
	Attempts    uint64  `json:"attempts"`
	Seconds     float64 `json:"seconds"`
	HashRate    float64 `json:"hash_rate"`
	QueueLength int     `json:"queue"`
}

// BlockAccepted: a valid block joined the index (best chain or side chain).
type BlockAccepted struct {
	Height    uint64 `json:"height"`
	Hash      string `json:"hash"`
	PrevHash  string `json:"prev_hash"`
	Sender    string `json:"sender"`
	Message   string `json:"message"`
	TimeStamp string `json:"timeStamp"`
	MessageID string `json:"message_id"`
	Peer      string `json:"peer,omitempty"` // empty when mined here
	OnBest    bool   `json:"on_best"`
	// Fetched: it came in a blocks answer (a sync round or the fetch of a
	// missing parent), asked for, not relayed: it says nothing about which
	// peer is quickest to relay.
	Fetched bool `json:"fetched,omitempty"`
	// Arrived is when the block's first copy came off its session, or when
	// it was found here; left out for a fetched block. The event itself is
	// stamped later, once the block is checked and stored.
	Arrived time.Time `json:"arrived,omitzero"`
}

// BlockSeenAgain: a block the node already held came again, from another
// peer (each peer relays a block once, so copies race). The first copy was
// reported by BlockAccepted. First and LagMS say who delivered it first and
// how many milliseconds later this copy arrived, both taken as the frames
// came off their sessions; they are left out when the first arrival is not
// remembered (a block fetched by sync, or long ago). For a block mined here
// First is empty and LagMS counts from when it was found. The event may be
// dropped for a slow reader, like mining progress.
type BlockSeenAgain struct {
	Hash   string   `json:"hash"`
	Height uint64   `json:"height"`
	Peer   string   `json:"peer"`
	First  string   `json:"first,omitempty"`
	LagMS  *float64 `json:"lag_ms,omitempty"`
}

// BlockRejected: a block broke a rule.
type BlockRejected struct {
	Hash   string `json:"hash,omitempty"`
	Height uint64 `json:"height"`
	Reason string `json:"reason"` // the PROTOCOL.md reason code
	Detail string `json:"detail"`
	Peer   string `json:"peer,omitempty"`
}

// Fork: a valid block that does not extend the tip it found.
type Fork struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash"`
	Parent string `json:"parent"`
	Tip    string `json:"tip"`
	Peer   string `json:"peer,omitempty"`
}

// Reorg: the best chain switched branches.
type Reorg struct {
	Depth     int    `json:"depth"`
	OldTip    string `json:"old_tip"`
	NewTip    string `json:"new_tip"`
	OldHeight uint64 `json:"old_height"`
	NewHeight uint64 `json:"new_height"`
	Returned  int    `json:"returned"` // messages put back in the pending pool
}

// TipChanged: the best tip moved (any cause).
type TipChanged struct {
	Height uint64 `json:"height"`
	Hash   string `json:"hash"`
	Work   string `json:"work"`
}

// PeerOnline: a session with a peer completed its handshake.
type PeerOnline struct {
	Peer   string `json:"peer"`
	NodeID string `json:"node_id"`
	// Proven: the peer signed our challenge with the key of NodeID; else
	// NodeID is only its claim.
	Proven  bool   `json:"proven"`
	Height  uint64 `json:"height"`
	Agent   string `json:"agent"`
	Inbound bool   `json:"inbound"`
}

// PeerOffline: a session ended.
type PeerOffline struct {
	Peer   string `json:"peer"`
	Reason string `json:"reason"`
}

// PeerPenalized: a peer broke the protocol and is refused for a while.
type PeerPenalized struct {
	Peer   string `json:"peer"`
	Reason string `json:"reason"`
	Until  string `json:"until,omitempty"`
}

// PeerDialFailed: a dial of a peer, or its handshake, failed. One per
// failed attempt, and attempts are spaced by a growing backoff; gossiped
// addresses that never answered fail without an event.
type PeerDialFailed struct {
	Peer     string `json:"peer"`
	Error    string `json:"error"`    // in plain words: "refused: nothing listens there"
	NextTry  string `json:"next_try"` // RFC 3339, UTC
	Attempts int    `json:"attempts"` // failed in a row
}

// PeerForgotten: the user removed an address from the address book.
type PeerForgotten struct {
	Peer string `json:"peer"`
}

// PeerDisconnected: the user closed the session with a peer (it may
// connect again later by the usual rules).
type PeerDisconnected struct {
	Peer string `json:"peer"`
}

// PeerBanned: the user banned a peer until a time.
type PeerBanned struct {
	Peer   string `json:"peer"`
	NodeID string `json:"node_id,omitempty"` // also refused, when proven
	Reason string `json:"reason"`
	Until  string `json:"until"` // RFC 3339, UTC
}

// PeerUnbanned: the user lifted a ban or penalty.
type PeerUnbanned struct {
	Peer string `json:"peer"`
}

// SyncStarted: a nearest-neighbour sync round began.
type SyncStarted struct {
	Peer    string `json:"peer"`
	Latency string `json:"latency"`
	Height  uint64 `json:"height"`
	Behind  uint64 `json:"behind"` // blocks the peer announces beyond ours, when known
	// Note explains a round asked for when no peer is ahead; Peer is empty then.
	Note string `json:"note,omitempty"`
}

// SyncBacktrack: the peer failed; the round moves on to the next nearest.
type SyncBacktrack struct {
	Peer   string `json:"peer"`
	Reason string `json:"reason"`
	Next   string `json:"next,omitempty"`
}

// SyncFinished: the round ended.
type SyncFinished struct {
	Peer   string `json:"peer,omitempty"`
	Blocks int    `json:"blocks"`
	Height uint64 `json:"height"`
	Tip    string `json:"tip"`
	Note   string `json:"note,omitempty"`
}

// Warning: something the user should know that is not a protocol event.
type Warning struct {
	Message string `json:"message"`
}

func (Started) Kind() string          { return "started" }
func (MessageQueued) Kind() string    { return "message_queued" }
func (MiningProgress) Kind() string   { return "mining_progress" }
func (MiningIdle) Kind() string       { return "mining_idle" }
func (BlockMined) Kind() string       { return "block_mined" }
func (BlockAccepted) Kind() string    { return "block_accepted" }
func (BlockSeenAgain) Kind() string   { return "block_seen_again" }
func (BlockRejected) Kind() string    { return "block_rejected" }
func (Fork) Kind() string             { return "fork" }
func (Reorg) Kind() string            { return "reorg" }
func (TipChanged) Kind() string       { return "tip_changed" }
func (PeerOnline) Kind() string       { return "peer_online" }
func (PeerOffline) Kind() string      { return "peer_offline" }
func (PeerPenalized) Kind() string    { return "peer_penalized" }
func (PeerDialFailed) Kind() string   { return "peer_dial_failed" }
func (PeerForgotten) Kind() string    { return "peer_forgotten" }
func (PeerDisconnected) Kind() string { return "peer_disconnected" }
func (PeerBanned) Kind() string       { return "peer_banned" }
func (PeerUnbanned) Kind() string     { return "peer_unbanned" }
func (SyncStarted) Kind() string      { return "sync_started" }
func (SyncBacktrack) Kind() string    { return "sync_backtrack" }
func (SyncFinished) Kind() string     { return "sync_finished" }
func (Warning) Kind() string          { return "warning" }
