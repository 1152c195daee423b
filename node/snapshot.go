package node

import (
	"time"

	"github.com/meshchain/meshchain/netpeers"
)

// Snapshot is a copy of what the dashboard shows, taken by the node's loop.
type Snapshot struct {
	Listen  string
	NodeID  string
	Genesis string
	Sender  string
	DataDir string

	Height uint64
	Tip    string
	Work   string

	Peers []PeerInfo // nearest first, online before offline
	Sync  SyncState

	Mining  *MiningState // nil when idle
	Queue   int          // pending messages
	Pending []PendingMessage

	// Recent is the best chain's newest blocks, newest first.
	Recent []BlockSummary
	// Seq is the sequence number of the last event published before the
	// snapshot was taken: a reader that builds state from events skips
	// events up to it, which the snapshot already holds.
	Seq uint64
	// DroppedEvents counts progress events slow subscribers missed.
	DroppedEvents uint64

	// Tree is the recent block tree, best chain and side branches, for the
	// fork view; ordered by height, then best branch first.
	Tree []TreeNode
}

// PeerStatus is a peer's state in the address book.
type PeerStatus string

// The peer states the dashboard shows.
const (
	PeerOnlineStatus     PeerStatus = "online"
	PeerOfflineStatus    PeerStatus = "offline"
	PeerConnectingStatus PeerStatus = "connecting"
	PeerPenalizedStatus  PeerStatus = "penalised"
)

// Rank is the one order of peer statuses for every list of peers (the
// network's own, netpeers.StatusRank): online, connecting, offline,
// penalised; lower first.
func (s PeerStatus) Rank() int { return netpeers.StatusRank(string(s)) }

// PeerInfo is one address-book entry.
type PeerInfo struct {
	Addr    string
	NodeID  string
	Proven  bool // NodeID is proven by the peer's node key; else only its claim
	Status  PeerStatus
	Inbound bool
	// Dialing: a dial is under way. Redials of a peer that is offline
	// keep it offline (LastChange stays when it went offline).
	Dialing    bool
	LastRTT    time.Duration // 0 when never measured
	SmoothRTT  time.Duration
	MinRTT     time.Duration
	Height     uint64
	Work       string
	LastChange time.Time // when Status last changed
	Failures   int
	Penalty    string // reason, while penalised
	SyncPeer   bool   // the peer the current sync round uses
	Agent      string // from its last hello
	// ConnectedSince is when the session went online; zero when offline.
	ConnectedSince time.Time
	// LastError is why the last dial failed, in plain words, and when;
	// cleared once a session is online.
	LastError   string
	LastErrorAt time.Time
	LastAttempt time.Time // when the last dial started
	// NextDial is when the next dial is due (backoff or penalty end);
	// zero while online or dialing.
	NextDial time.Time
	// ClaimedID is the node_id the peer's hello named: NodeID when Proven;
	// else a claim, shown as one and never trusted (NodeID then names the
	// connection).
	ClaimedID string
	// Frames and bytes each way over the current session; zero offline.
	FramesIn, FramesOut, BytesIn, BytesOut int64
}

// SyncState says what sync is doing, in words and figures.
type SyncState struct {
	Syncing bool
	Peer    string
	Behind  uint64
	Online  int
	Known   int
}

// MiningState is the miner's current template and progress.
type MiningState struct {
	MessageID  string
	Message    string
	Height     uint64 // height of the block being mined
	Parent     string // tip mined on
	Attempts   uint64
	Expected   float64
	HashRate   float64
	ETASeconds float64
	Threads    int
	Started    time.Time
}

// PendingMessage is one message waiting to be mined.
type PendingMessage struct {
	MessageID string
	Message   string
	TimeStamp string
	Own       bool
}

// BlockSummary is one row of the chain pane.
type BlockSummary struct {
	Height    uint64
	Hash      string
	PrevHash  string
	Sender    string
	TimeStamp string
	Message   string
	MessageID string
}

// TreeNode is a block of the recent tree, for the fork view.
type TreeNode struct {
	BlockSummary
	OnBest   bool
	Work     string
	LostWhy  string // for a side-branch tip: "less work" or "equal work, larger hash"
	ReorgAt  bool   // a reorganisation switched branches at this block
	MiningOn bool   // the miner builds on this block
	// Remined is the best-chain height where a side block's message was
	// mined again, once it was; 0 otherwise.
	Remined uint64
}
