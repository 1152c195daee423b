package node

import "time"

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

// PeerInfo is one address-book entry.
type PeerInfo struct {
	Addr       string
	NodeID     string
	Status     PeerStatus
	Inbound    bool
	LastRTT    time.Duration // 0 when never measured
	SmoothRTT  time.Duration
	MinRTT     time.Duration
	Height     uint64
	Work       string
	LastChange time.Time
	Failures   int
	Penalty    string // reason, while penalised
	SyncPeer   bool   // the peer the current sync round uses
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
