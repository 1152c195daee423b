// Package ui is meshchain's terminal dashboard: one Bubble Tea model that
// shows a running node (header, chain, fork tree, peers, mining, events) and
// lets the user post messages, sync and add peers.
//
// It talks to the node only through the small Node interface below, and only
// from tea.Cmds: Update never blocks and does no I/O. It never touches
// sockets or the store, and it escapes every string that came from the chain
// or a peer (see Sanitize) before drawing it.
package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/netpeers"
	"github.com/meshchain/meshchain/node"
)

// Node is what the dashboard needs from a running node.
type Node interface {
	Subscribe(ctx context.Context) <-chan node.Event
	Snapshot(ctx context.Context) (node.Snapshot, error)
	Peers() []node.PeerInfo
	Post(ctx context.Context, text string) error
	Sync(ctx context.Context) error
	Connect(ctx context.Context, addr string) error
	Block(ctx context.Context, hash string) (chain.Block, error)

	// Peer actions, each confirmed by the user; the node emits an event
	// for each.
	Disconnect(ctx context.Context, addr string) error
	Ban(ctx context.Context, addr string, d time.Duration, reason string) error
	Unban(ctx context.Context, addr string) error
	Forget(ctx context.Context, addr string) error
	// Bans lists the bans and penalties in force (in memory).
	Bans() []node.BanInfo
}

// Options configure the dashboard.
type Options struct {
	Title   string // shown in the header, e.g. "devnet node 1"
	NoColor bool   // NO_COLOR: no colours, only bold, faint and reverse
	// Mouse: clicks focus panes and select rows, the wheel scrolls
	// (config.toml's mouse; the terminal's own selection then needs Shift).
	Mouse bool
	// Devnet, in `meshchain devnet`, lets D open the devnet controls.
	Devnet DevnetControl
	// Notify is how a message addressed to this wallet is announced
	// beyond the dashboard: "" (not at all), "bell", "osc9" or "osc777"
	// (desktop notifications of terminals that take them).
	Notify string
}

// How often the peer table is read (an in-memory copy: latencies change
// without events), and how long a snapshot, post, connect or block lookup
// may take.
const (
	refreshEvery = time.Second
	callTimeout  = 10 * time.Second
	statusFor    = 8 * time.Second
)

// focus says which pane receives keys.
type focus int

const (
	focusChain focus = iota
	focusPeers
	focusMining
	focusEvents
	focusComposer
	focusAddPeer  // the address input, entered with a
	focusDetail   // block, event or peer detail, entered with Enter
	focusDevnet   // devnet controls, entered with D in a devnet
	focusMessages // the Messages view, entered with m
)

// tabOrder is the cycle of Tab and Shift-Tab.
var tabOrder = []focus{focusChain, focusPeers, focusMining, focusEvents, focusComposer}

func (f focus) String() string {
	switch f {
	case focusChain:
		return "chain"
	case focusPeers:
		return "peers"
	case focusMining:
		return "mining"
	case focusEvents:
		return "events"
	case focusComposer:
		return "composer"
	case focusAddPeer:
		return "add peer"
	case focusDetail:
		return "detail"
	case focusDevnet:
		return "devnet"
	case focusMessages:
		return "messages"
	}
	return fmt.Sprintf("focus(%d)", int(f))
}

// Messages produced by the commands below.
type (
	subscribedMsg struct{ ch <-chan node.Event }
	eventMsg      struct{ ev node.Event }
	eventsMsg     struct{ evs []node.Event } // several that were waiting
	eventsEndMsg  struct{}
	snapshotMsg   struct {
		snap node.Snapshot
		err  error
		req  uint64 // which request this answers; older answers are dropped
	}
	peersMsg struct {
		peers []node.PeerInfo
		bans  []node.BanInfo
	}
	tickMsg   struct{}
	postedMsg struct {
		text string
		err  error
	}
	syncedMsg  struct{ err error }
	connectMsg struct {
		addr string
		err  error
	}
	blockMsg struct {
		hash  string
		block chain.Block
		err   error
	}
)

// Model is the dashboard's root model. Copies of it share the buffers of
// its state and panes (the best-chain window, the events list), which new
// blocks and events are written into in place: only the newest copy, the
// one Update returned, may be used, as Bubble Tea does.
type Model struct {
	n    Node
	opts Options
	st   *Styles
	keys keyMap
	help help.Model

	// ctx bounds every node call the model's commands make. A tea.Model has
	// no other way to hand a lifetime to its commands; Run sets it to the
	// program's context and cancels it when the program ends.
	ctx context.Context

	width, height int
	focus         focus
	prevFocus     focus // where Esc returns from the inputs
	detailFrom    focus // the pane the detail was opened from (chain or events)

	events   <-chan node.Event
	streamed bool // the event stream ended

	// state is built from events (State.Apply); a snapshot seeds it at
	// the start and when events were lost.
	state     State
	haveSnap  bool
	snapErr   error
	fetching  bool         // a Snapshot call is in flight
	stale     bool         // events were lost while it was: fetch again
	snapReq   uint64       // id of the latest Snapshot call
	sinceSnap []node.Event // events applied while a snapshot was in flight, applied again over it
	syncing   bool         // a Sync call is in flight

	bans    []node.BanInfo // read with the peers
	confirm *confirmation  // a peer action waiting for yes or no

	chain    chainPane
	peers    peersPane
	miner    miningPane
	log      eventsPane
	compose  composer
	detail   detailPane
	net      netPane  // the Network view (w), over the body while open
	graph    devGraph // in a devnet, the network view's graph of the devnet
	showHelp bool
	zoomed   bool // the focused pane fills the body
	// peersWide: the peers table has a full-width row (see layout).
	peersWide bool

	status     string
	statusKind statusKind
	statusAt   time.Time

	// devnet is the devnet controls' view; devnetFrom the pane it was
	// opened from.
	devnet     devnetPane
	devnetFrom focus

	// filter is the / filter of one pane.
	filter filterState

	// msgs is the Messages view; unread counts messages addressed to us
	// that arrived since it was last open.
	msgs         messagesPane
	messagesFrom focus
	unread       int

	// hist is the charts' history, on the heap: the model is copied on
	// every update.
	hist *history

	// light: the terminal said its background is light, and the styles
	// are the light palette's.
	light bool

	// copySel is the selection y copied from last, copyNext the index of
	// what the next y copies from it.
	copySel  string
	copyNext int

	// Clock, replaceable so tests are deterministic.
	now   func() time.Time
	clock time.Time
	loc   *time.Location
}

// New returns the dashboard for n.
func New(n Node, opts Options) Model {
	st := newStyles(opts.NoColor)
	h := help.New()
	h.Styles = st.Help
	m := Model{
		n:       n,
		opts:    opts,
		st:      st,
		keys:    defaultKeys(),
		help:    h,
		ctx:     context.Background(),
		chain:   chainPane{st: st},
		devnet:  devnetPane{st: st},
		msgs:    newMessagesPane(st),
		filter:  newFilter(st),
		hist:    &history{},
		peers:   peersPane{st: st},
		miner:   newMiningPane(st),
		log:     eventsPane{st: st},
		compose: newComposer(st),
		detail:  detailPane{st: st},
		net:     netPane{st: st, devnet: opts.Devnet != nil},
		now:     time.Now,
		loc:     time.Local,
		state:   NewState(),
	}
	m.clock = m.now()
	m.keys.Devnet.SetEnabled(opts.Devnet != nil)
	m.fetching = true // Init asks for the first snapshot
	// Shared: the peers' first-delivered order reads the blocks' spread.
	m.peers.spread = m.state.spread
	m.layout()
	return m
}

// Run shows the dashboard until the user quits (q, Ctrl-C) or ctx ends.
// teaOpts are passed to the program after the defaults, so callers (and
// tests) can set input, output, colour profile or size.
func Run(ctx context.Context, n Node, opts Options, teaOpts ...tea.ProgramOption) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the subscription and any node call still running
	m := New(n, opts)
	m.ctx = ctx
	po := []tea.ProgramOption{tea.WithContext(ctx)}
	if opts.NoColor {
		po = append(po, tea.WithColorProfile(colorprofile.Ascii))
	}
	p := tea.NewProgram(m, append(po, teaOpts...)...)
	_, err := p.Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil // the caller's context ended: a normal shutdown
	}
	return fmt.Errorf("dashboard: %w", err)
}

// Init subscribes to events, takes the first snapshot and starts the clock.
func (m Model) Init() tea.Cmd {
	// The terminal's background picks the palette (BackgroundColorMsg).
	return tea.Batch(m.subscribe(), m.fetchSnapshot(0), tick(), tea.RequestBackgroundColor)
}

func (m Model) subscribe() tea.Cmd {
	n, ctx := m.n, m.ctx
	return func() tea.Msg { return subscribedMsg{ch: n.Subscribe(ctx)} }
}

// waitEvent waits for the next event; Update issues it again after each
// one. Events already waiting behind it come along in one eventsMsg (at
// most eventBatch): Bubble Tea draws the whole view after every message,
// and a sync brings 500 block events at once (one view each kept the
// dashboard seconds behind the node, using a core).
func waitEvent(ctx context.Context, ch <-chan node.Event) tea.Cmd {
	return func() tea.Msg {
		select {
		case ev, ok := <-ch:
			if !ok {
				return eventsEndMsg{}
			}
			evs := []node.Event{ev}
		more:
			for len(evs) < eventBatch {
				select {
				case ev, ok := <-ch:
					if !ok {
						break more // the next wait says the stream ended
					}
					evs = append(evs, ev)
				default:
					break more
				}
			}
			if len(evs) == 1 {
				return eventMsg{ev: ev}
			}
			return eventsMsg{evs: evs}
		case <-ctx.Done():
			return nil
		}
	}
}

// eventBatch is the most events one message carries.
const eventBatch = 1024

func (m Model) fetchSnapshot(req uint64) tea.Cmd {
	n, ctx := m.n, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		s, err := n.Snapshot(ctx)
		return snapshotMsg{snap: s, err: err, req: req}
	}
}

// readPeers copies the node's address book: an in-memory read, no store.
func (m Model) readPeers() tea.Cmd {
	n := m.n
	return func() tea.Msg { return peersMsg{peers: n.Peers(), bans: n.Bans()} }
}

func tick() tea.Cmd {
	return tea.Tick(refreshEvery, func(time.Time) tea.Msg { return tickMsg{} })
}

// resnapshot asks for a snapshot, when events can no longer keep the state
// (some were lost), unless one is in flight: then it asks again when that
// one arrives.
func (m *Model) resnapshot() tea.Cmd {
	if m.fetching {
		m.stale = true
		return nil
	}
	m.fetching, m.stale = true, false
	m.sinceSnap = m.sinceSnap[:0]
	m.snapReq++
	return m.fetchSnapshot(m.snapReq)
}

// Update handles one message. It never blocks: node calls run in commands.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height

	case tea.KeyPressMsg:
		cmds = append(cmds, m.handleKey(msg))

	case tea.PasteMsg:
		cmds = append(cmds, m.updateInput(msg))

	case tea.BackgroundColorMsg:
		if light := !msg.IsDark(); light != m.light {
			// Every pane holds this one pointer: they all switch.
			m.light = light
			*m.st = *newStylesFor(m.opts.NoColor, light)
			m.help.Styles = m.st.Help
			m.compose.restyle()
			m.miner.restyle()
		}

	case tea.MouseClickMsg:
		cmds = append(cmds, m.handleMouse(msg))

	case tea.MouseWheelMsg:
		cmds = append(cmds, m.handleMouse(msg))

	case subscribedMsg:
		m.events = msg.ch
		if msg.ch == nil {
			m.streamed = true
			break
		}
		cmds = append(cmds, waitEvent(m.ctx, msg.ch))

	case eventMsg:
		cmds = append(cmds, m.applyEvents([]node.Event{msg.ev}), waitEvent(m.ctx, m.events))

	case eventsMsg:
		cmds = append(cmds, m.applyEvents(msg.evs), waitEvent(m.ctx, m.events))

	case eventsEndMsg:
		m.streamed = true

	case snapshotMsg:
		if msg.req != m.snapReq {
			break // an older request's answer
		}
		m.fetching = false
		m.applySnapshot(msg)
		if m.stale {
			cmds = append(cmds, m.resnapshot())
		}

	case peersMsg:
		m.hist.peersRead(msg.peers)
		m.state.SetPeers(msg.peers)
		m.bans = msg.bans
		m.showPeers()
		m.showPeerDetail()

	case peerActionMsg:
		cmds = append(cmds, m.peerActionDone(msg))

	case tickMsg:
		m.clock = m.now()
		if m.status != "" && m.clock.Sub(m.statusAt) > statusFor {
			m.status = ""
		}
		cmds = append(cmds, tick(), m.readPeers())
		if m.opts.Devnet != nil {
			// In memory, cheap: sampled every second for the heights chart.
			m.devnet.nodes = m.opts.Devnet.Nodes()
			m.devnet.sample()
			m.devnet.Scroll(0)
			if m.graphShown() {
				m.graph.links = m.opts.Devnet.Links()
				m.refreshGraph()
				cmds = append(cmds, m.replay())
			}
		}

	case graphTickMsg:
		m.graph.ticking = false
		if m.graphShown() {
			m.graph.now = m.now()
			m.refreshGraph()
			cmds = append(cmds, m.replay())
		}

	case devnetDoneMsg:
		m.devnetDone(msg)

	case postedMsg:
		m.compose.busy = false
		if msg.err != nil {
			// The input was cleared when the message left; give it back
			// to be fixed, unless the user has started the next one.
			what := "not posted"
			if m.compose.msg.Value() == "" {
				m.compose.msg.SetValue(msg.text)
			} else {
				what += " (" + quote(trunc(msg.text, 20)) + ")"
			}
			m.compose.setStatus(statusBad, what+": "+Sanitize(msg.err.Error()))
			break
		}
		m.compose.setStatus(statusOK, "queued for mining")

	case syncedMsg:
		m.syncing = false
		if msg.err != nil {
			m.setStatus(statusBad, "sync: "+Sanitize(msg.err.Error()))
		} else {
			m.setStatus(statusOK, "sync round done")
		}

	case connectMsg:
		m.compose.busy = false
		if msg.err != nil {
			// In plain words, as the peers table says it; the log has
			// the raw error.
			m.compose.setStatus(statusBad, "connect "+Sanitize(msg.addr)+": "+Sanitize(netpeers.DescribeDialError(msg.err)))
			break
		}
		m.compose.addr.Reset()
		m.compose.setStatus(statusInfo, "")
		if m.focus == focusAddPeer {
			m.leaveInput()
		}
		m.setStatus(statusOK, "added peer "+Sanitize(msg.addr))
		cmds = append(cmds, m.readPeers())

	case blockMsg:
		if msg.hash == m.detail.summary.Hash {
			if msg.err != nil {
				m.detail.err = msg.err
			} else {
				m.detail.setBlock(msg.block)
			}
		}

	default:
		cmds = append(cmds, m.updateInput(msg))
	}
	m.layout()
	return m, tea.Batch(cmds...)
}

func (m *Model) setStatus(kind statusKind, s string) {
	m.status, m.statusKind, m.statusAt = s, kind, m.clock
}

// handleKey routes a key: Ctrl-C always quits; text inputs take every other
// key except their own Enter, Esc and Tab; then global keys; then the
// focused pane's.
func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	if key.Matches(msg, k.ForceQuit) {
		return tea.Quit
	}
	if m.confirm != nil {
		return m.confirmKey(msg)
	}
	if m.filter.open {
		return m.filterKey(msg)
	}
	if m.filter.text != "" && m.filter.on == m.focus && key.Matches(msg, k.Close) {
		m.clearFilter() // Esc clears a filter before it closes anything
		return nil
	}
	if m.focus == focusMessages && m.msgs.naming {
		_, cmd := m.messagesKey(msg) // typing a name: every key is text
		return cmd
	}
	switch m.focus {
	case focusComposer:
		switch {
		case key.Matches(msg, k.NextPane) && m.canComplete():
			return m.updateInput(msg) // Tab takes the completion of "@"
		case key.Matches(msg, k.Post):
			return m.post()
		case key.Matches(msg, k.Leave):
			if !m.compose.busy {
				m.compose.setStatus(statusInfo, "")
			}
			m.leaveInput()
			return nil
		case key.Matches(msg, k.NextPane), key.Matches(msg, k.PrevPane):
			m.cycle(msg)
			return nil
		}
		return m.updateInput(msg)
	case focusAddPeer:
		switch {
		case key.Matches(msg, k.Connect):
			return m.connect()
		case key.Matches(msg, k.Cancel):
			m.compose.setStatus(statusInfo, "")
			m.leaveInput()
			return nil
		case key.Matches(msg, k.NextPane), key.Matches(msg, k.PrevPane):
			m.cycle(msg)
			return nil
		}
		return m.updateInput(msg)
	}
	if ok, cmd := m.netKey(msg); ok {
		return cmd
	}

	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
		return nil
	case key.Matches(msg, k.NextPane), key.Matches(msg, k.PrevPane):
		m.cycle(msg)
		return nil
	case key.Matches(msg, k.Sync):
		if m.syncing {
			m.setStatus(statusInfo, "sync: already running")
			return nil
		}
		m.syncing = true
		m.setStatus(statusInfo, "sync: asking the nearest peers…")
		n, ctx := m.n, m.ctx
		return func() tea.Msg { return syncedMsg{err: n.Sync(ctx)} }
	case key.Matches(msg, k.AddPeer):
		m.enterInput(focusAddPeer)
		return nil
	case key.Matches(msg, k.Compose):
		m.enterInput(focusComposer)
		return nil
	case key.Matches(msg, k.Tree):
		m.chain.ToggleTree()
		return nil
	case key.Matches(msg, k.Zoom):
		m.zoomed = !m.zoomed
		return nil
	case key.Matches(msg, k.Copy):
		return m.copySelection()
	case key.Matches(msg, k.Filter):
		return m.openFilter()
	}

	if ok, cmd := m.peerKey(msg); ok {
		return cmd
	}
	if m.focus == focusPeers {
		switch {
		case key.Matches(msg, k.Sort):
			m.peers.CycleSort()
			m.setStatus(statusInfo, "peers by "+m.peers.sortBy.String())
			return nil
		case key.Matches(msg, k.Freeze):
			m.peers.ToggleFreeze()
			return nil
		}
	}
	if m.focus == focusMessages {
		return m.viewKeys(msg, m.messagesKey, &m.msgs, m.messagesFrom)
	}
	if key.Matches(msg, k.Messages) {
		m.openMessages()
		return nil
	}
	if m.focus == focusDevnet {
		return m.viewKeys(msg, m.devnetKey, &m.devnet, m.devnetFrom)
	}
	if m.opts.Devnet != nil && key.Matches(msg, k.Devnet) {
		m.openDevnet()
		return nil
	}
	if m.focus == focusDetail {
		if key.Matches(msg, k.Close) || key.Matches(msg, k.Open) && !m.detail.bansList {
			m.focus = m.detailFrom
		} else {
			m.scrollKeys(msg, &m.detail)
		}
		return nil
	}

	if m.showHelp && key.Matches(msg, k.Close) {
		m.showHelp = false
		return nil
	}

	switch {
	case m.focus == focusChain && key.Matches(msg, k.Open):
		return m.openDetail()
	case m.focus == focusEvents && key.Matches(msg, k.Open):
		m.openEvent()
		return nil
	case m.focus == focusPeers && key.Matches(msg, k.Open):
		m.openPeer()
		return nil
	}
	if p := m.paneFor(m.focus); p != nil {
		m.scrollKeys(msg, p)
	}
	return nil
}

// viewKeys routes a key in a view opened over the panes (devnet,
// Messages): the view's own keys first, Esc back to the pane it was opened
// from, else scrolling.
func (m *Model) viewKeys(msg tea.KeyPressMsg, own func(tea.KeyPressMsg) (bool, tea.Cmd), p pane, from focus) tea.Cmd {
	if ok, cmd := own(msg); ok {
		return cmd
	}
	if key.Matches(msg, m.keys.Close) {
		m.focus = from
	} else {
		m.scrollKeys(msg, p)
	}
	return nil
}

// cycle moves focus along tabOrder; from the detail or an input it starts
// from the pane they were opened from.
func (m *Model) cycle(msg tea.KeyPressMsg) {
	m.clearFilter() // a filter belongs to the pane it was typed in
	from := m.focus
	switch m.focus {
	case focusDetail:
		from = m.detailFrom
	case focusDevnet:
		from = m.devnetFrom
	case focusMessages:
		from = m.messagesFrom
	case focusAddPeer:
		from = m.prevFocus
	}
	m.blurInputs()
	step := 1
	if key.Matches(msg, m.keys.PrevPane) {
		step = len(tabOrder) - 1
	}
	i := 0
	for j, f := range tabOrder {
		if f == from {
			i = j
		}
	}
	m.setFocus(tabOrder[(i+step)%len(tabOrder)])
}

func (m *Model) setFocus(f focus) {
	m.focus = f
	if f == focusComposer {
		m.compose.addPeer = false
		m.compose.msg.Focus()
	}
}

func (m *Model) blurInputs() {
	m.compose.msg.Blur()
	m.compose.addr.Blur()
	m.compose.addPeer = false
}

// enterInput focuses the composer or the address input, remembering where
// Esc goes back to.
func (m *Model) enterInput(f focus) {
	if m.focus != focusComposer && m.focus != focusAddPeer {
		m.prevFocus = m.focus
		if m.focus == focusDetail {
			m.prevFocus = m.detailFrom
		}
	}
	m.blurInputs()
	m.compose.setStatus(statusInfo, "")
	m.focus = f
	if f == focusComposer {
		// "@" completes to the authors in view (Tab takes it, Ctrl-N and
		// Ctrl-P step through them).
		m.compose.msg.ShowSuggestions = true
		m.compose.msg.SetSuggestions(m.authorSuggestions())
	}
	if f == focusAddPeer {
		m.compose.addPeer = true
		m.compose.addr.Focus()
	} else {
		m.compose.msg.Focus()
	}
}

func (m *Model) leaveInput() {
	m.blurInputs()
	m.focus = m.prevFocus
	if m.focus == focusComposer || m.focus == focusAddPeer {
		m.focus = focusChain
	}
}

// updateInput passes a message to the focused text input (typing, paste,
// cursor blink).
func (m *Model) updateInput(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch m.focus {
	case focusComposer:
		before := m.compose.msg.Value()
		m.compose.msg, cmd = m.compose.msg.Update(msg)
		if m.compose.msg.Value() != before && m.compose.statusKind != statusInfo {
			m.compose.setStatus(statusInfo, "") // an old verdict no longer applies
		}
	case focusAddPeer:
		m.compose.addr, cmd = m.compose.addr.Update(msg)
	}
	return cmd
}

// post checks the message and hands it to the node.
func (m *Model) post() tea.Cmd {
	if m.compose.busy {
		m.compose.setStatus(statusInfo, "still posting the last message; Enter again in a moment")
		return nil
	}
	text := m.compose.msg.Value()
	if err := checkMessage(text); err != nil {
		m.compose.setStatus(statusBad, "refused: "+err.Error())
		return nil
	}
	// Clear at once, so what is typed while the node answers starts the
	// next message instead of running on from this one.
	m.compose.msg.Reset()
	m.compose.busy = true
	m.compose.setStatus(statusInfo, "posting…")
	n, ctx := m.n, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return postedMsg{text: text, err: n.Post(ctx, text)}
	}
}

func (m *Model) connect() tea.Cmd {
	if m.compose.busy {
		return nil
	}
	addr, err := checkAddr(m.compose.addr.Value())
	if err != nil {
		m.compose.setStatus(statusBad, err.Error())
		return nil
	}
	m.compose.busy = true
	m.compose.setStatus(statusInfo, "connecting to "+Sanitize(addr)+"…")
	n, ctx := m.n, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		return connectMsg{addr: addr, err: n.Connect(ctx, addr)}
	}
}

// openEvent shows the selected event whole, wrapped: the events pane cuts
// long lines at narrow widths.
func (m *Model) openEvent() {
	it, ok := m.log.Selected()
	if !ok {
		return
	}
	m.detail = detailPane{st: m.st, event: &it}
	m.focus, m.detailFrom = focusDetail, focusEvents
}

// openDetail shows the selected block at once and fetches the rest.
func (m *Model) openDetail() tea.Cmd {
	b, ok := m.chain.Selected()
	if !ok {
		return nil
	}
	onBest := !m.chain.treeMode
	if m.chain.treeMode {
		if n := m.chain.treeSelected(); n != nil {
			onBest = n.OnBest
		}
	}
	m.detail = detailPane{st: m.st, summary: b, tip: m.state.Height, onBest: onBest}
	m.focus, m.detailFrom = focusDetail, focusChain
	hash := b.Hash
	n, ctx := m.n, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		blk, err := n.Block(ctx, hash)
		return blockMsg{hash: hash, block: blk, err: err}
	}
}

// applySnapshot seeds the state with a snapshot, then applies again the
// events that arrived while it was taken (Apply is idempotent), so nothing
// newer is lost. A failed snapshot keeps what the state has.
func (m *Model) applySnapshot(msg snapshotMsg) {
	if msg.err != nil {
		m.snapErr = msg.err
		return
	}
	m.snapErr = nil
	m.haveSnap = true
	m.state.Seed(msg.snap)
	for _, ev := range m.sinceSnap {
		m.state.Apply(ev)
	}
	m.sinceSnap = m.sinceSnap[:0]
	m.showChain()
	m.showMining()
	m.showPeers()
	m.showPeerDetail()
}

// maxSinceSnap bounds the events kept while a snapshot is in flight; past
// it the snapshot is taken again once it arrives.
const maxSinceSnap = 4096

// shown is what events changed, for the panes to show once per message.
type shown uint8

const (
	showChainRows shown = 1 << iota
	showMiningState
	showPeerRows
	showMessageRows
	readPeerBook
)

// applyEvents folds events into the state, then hands the panes what they
// changed, once for all of them. Only a gap in the events costs a
// snapshot.
func (m *Model) applyEvents(evs []node.Event) tea.Cmd {
	var cmds []tea.Cmd
	var show shown
	for _, ev := range evs {
		cmd, s := m.applyEvent(ev)
		show |= s
		if cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	if show&showChainRows != 0 {
		m.showChain()
	}
	if show&showMiningState != 0 {
		m.showMining()
	}
	if show&showPeerRows != 0 {
		m.showPeers()
		m.showPeerDetail() // its "the sync peer" too
	}
	if show&showMessageRows != 0 {
		m.showMessages()
	}
	if show&readPeerBook != 0 {
		// The address book is read at once (from memory), so the row
		// changes with the event, not up to a second later.
		cmds = append(cmds, m.readPeers())
	}
	return tea.Batch(cmds...)
}

// applyEvent folds one event into the state and says which panes it
// changed.
func (m *Model) applyEvent(ev node.Event) (tea.Cmd, shown) {
	var show shown
	m.log.Add(ev)
	if m.fetching {
		if len(m.sinceSnap) < maxSinceSnap {
			m.sinceSnap = append(m.sinceSnap, ev)
		} else {
			m.stale = true
		}
	}
	var cmd tea.Cmd
	m.hist.Apply(ev)
	if m.state.Apply(ev) && m.haveSnap {
		cmd = m.resnapshot()
	}
	switch e := ev.Payload.(type) {
	case node.MiningProgress, node.MiningIdle, node.MessageQueued:
		show |= showMiningState
	case node.BlockMined:
		b := e
		m.miner.lastMined = &b
		if e.HashRate > 0 {
			m.miner.lastRate = e.HashRate
		}
		show |= showMiningState
	case node.BlockAccepted, node.TipChanged, node.Started:
		show |= showChainRows | showMiningState
	case node.SyncStarted, node.SyncBacktrack, node.SyncFinished:
		show |= showPeerRows
	}
	if isPeerEvent(ev.Payload) {
		show |= readPeerBook
	}
	switch e := ev.Payload.(type) {
	case node.BlockAccepted:
		// A message to us from someone else, new on the best chain.
		if e.OnBest && e.Sender != m.state.Sender && toMe(e.Message, m.state.Sender) {
			if m.focus != focusMessages {
				m.unread++
			}
			cmd = tea.Batch(cmd, m.notify(e.Sender, e.Message))
		}
	}
	if m.focus == focusMessages {
		switch ev.Payload.(type) {
		case node.BlockAccepted, node.TipChanged, node.Reorg, node.MessageQueued, node.BlockMined, node.Started:
			show |= showMessageRows
		}
	}
	return cmd, show
}

// notify announces a message addressed to us beyond the screen, as
// Options.Notify says: the terminal bell, or a desktop notification (OSC 9
// or OSC 777). The text is sanitized: no control byte reaches the
// terminal inside the sequence.
func (m *Model) notify(sender, msg string) tea.Cmd {
	_, rest, _ := addressee(msg)
	text := Sanitize(m.msgs.names.label(sender) + ": " + rest)
	text = strings.ReplaceAll(text, ";", ",") // OSC 777 separates fields with ;
	if r := []rune(text); len(r) > 200 {
		text = string(r[:200]) + "…"
	}
	switch m.opts.Notify {
	case "bell":
		return tea.Raw("\a")
	case "osc9":
		return tea.Raw("\x1b]9;" + text + "\a")
	case "osc777":
		return tea.Raw("\x1b]777;notify;meshchain;" + text + "\a")
	}
	return nil
}

// showChain hands the chain pane the best chain and the fork tree.
func (m *Model) showChain() {
	m.chain.SetBlocks(m.filterBlocks(m.state.Recent(keepBest)), m.state.Height)
	tree, older := m.state.Tree()
	m.chain.olderForks = older
	m.chain.SetTree(tree, m.state.Mining)
	if m.focus == focusDetail {
		m.detail.tip = m.state.Height
	}
}

// showMining hands the mining pane and the tree's mining row their state.
func (m *Model) showMining() {
	m.chain.SetMining(m.state.Mining)
	m.miner.pending = m.state.Pending
}

// showPeers hands the peers pane the address book.
func (m *Model) showPeers() {
	m.peers.SetPeers(m.filterPeers(m.state.Peers), m.state.Sync.Online, m.state.Sync.Known)
}

// layout sizes every pane for the current window.
func (m *Model) layout() {
	w, h := m.size()
	m.clockPanes()
	m.help.SetWidth(w)
	m.help.ShowAll = m.showHelp
	m.compose.focused = m.focus == focusComposer || m.focus == focusAddPeer
	m.compose.SetSize(w, 3)

	body := h - headerHeight - 3 - lipgloss.Height(m.footer(w))
	body = max(body, 4)
	m.chain.focused = m.focus == focusChain
	m.peers.focused = m.focus == focusPeers
	m.miner.focused = m.focus == focusMining
	m.log.focused = m.focus == focusEvents
	m.miner.mining = m.state.Mining
	m.miner.queue = m.state.Queue
	m.miner.hist, m.miner.now = m.hist, m.clock
	m.detail.hist = m.hist
	m.peers.hist = m.hist
	if m.state.Mining != nil && m.state.Mining.HashRate > 0 {
		m.miner.lastRate = m.state.Mining.HashRate
	}
	if p := m.fullPane(); p != nil {
		p.SetSize(w, body)
		return
	}
	// Chain on the left, mining over peers on the right, events across the
	// bottom so their sentences get the full width.
	leftW := w * 58 / 100
	// A wide screen gives the peers table room for its notes (penalty
	// reasons, failed dials) while the chain keeps a long message column.
	if want := m.peers.fullWidth() + peerNoteRoom; w-leftW < want {
		leftW = min(leftW, max(min(leftW, chainWideWidth), w-want))
	}
	rightW := w - leftW
	// Decided on the body under a one-line footer, so opening the full
	// help shortens the panes without rearranging them.
	m.peersWide = h-headerHeight-3-1 >= wideMinBody && rightW < m.peers.fullWidth()
	if m.peersWide {
		// The right column cannot show every round trip: peers get a row
		// of their own across the screen, as tall as the address book
		// (up to a third of the body), between the chain and the events.
		peersH := clamp(len(m.peers.peers)+3, 4, body/3)
		eventsH := max(5, (body-peersH)*2/5)
		topH := body - peersH - eventsH
		m.chain.SetSize(leftW, topH)
		m.miner.SetSize(rightW, topH)
		m.peers.SetSize(w, peersH)
		m.log.SetSize(w, eventsH)
		return
	}
	eventsH := max(4, body/3)
	topH := body - eventsH
	minerH := 7
	if topH < 14 {
		minerH = 5
	}
	m.chain.SetSize(leftW, topH)
	m.miner.SetSize(rightW, minerH)
	m.peers.SetSize(rightW, topH-minerH)
	m.log.SetSize(w, eventsH)
}

// wideMinBody is the body height from which peers may get a full-width row
// (a 120x40 terminal has 34): below it the chain and events need the rows.
const wideMinBody = 28

// peerNoteRoom is the width the peers table's notes get when the screen is
// wide enough; chainWideWidth is what the chain pane keeps meanwhile.
const (
	peerNoteRoom   = 28
	chainWideWidth = 96
)

// clockPanes gives every pane the model's clock, so relative times in one
// frame agree.
func (m *Model) clockPanes() {
	m.chain.now, m.chain.loc = m.clock, m.loc
	m.peers.now = m.clock
	m.log.now, m.log.loc = m.clock, m.loc
	m.detail.now, m.detail.loc = m.clock, m.loc
}

// minimum terminal size the layout is drawn for; smaller gets a notice.
const (
	minWidth     = 60
	minHeight    = 16
	headerHeight = 2
)

func (m Model) size() (int, int) {
	w, h := m.width, m.height
	if w <= 0 || h <= 0 {
		return 80, 24
	}
	return w, h
}

// View draws the whole screen.
func (m Model) View() tea.View {
	w, h := m.size()
	var content string
	if w < minWidth || h < minHeight {
		content = ansi.Wrap(fmt.Sprintf("meshchain needs at least %dx%d; this terminal is %dx%d", minWidth, minHeight, w, h), w, "")
	} else {
		parts := []string{m.header(w)}
		switch {
		case m.helpPage(w):
			body := max(4, h-headerHeight-3-lipgloss.Height(m.footer(w)))
			parts = append(parts, m.helpView(w, body))
		case m.net.open:
			parts = append(parts, m.netView(w, h))
		case m.fullPane() != nil:
			parts = append(parts, m.fullPane().View())
		case m.peersWide:
			top := lipgloss.JoinHorizontal(lipgloss.Top, m.chain.View(), m.miner.View())
			parts = append(parts, top, m.peers.View(), m.log.View())
		default:
			right := lipgloss.JoinVertical(lipgloss.Left, m.miner.View(), m.peers.View())
			parts = append(parts, lipgloss.JoinHorizontal(lipgloss.Top, m.chain.View(), right), m.log.View())
		}
		parts = append(parts, m.compose.View(), m.footer(w))
		content = strings.Join(parts, "\n")
	}
	v := tea.NewView(clip(content, w, h))
	v.AltScreen = true
	if m.opts.Mouse {
		v.MouseMode = tea.MouseModeCellMotion
	}
	v.WindowTitle = m.title()
	return v
}

// footer is the help for the focused pane, or the latest status, with the
// way to more help and out always at the right.
func (m Model) footer(w int) string {
	km := m.keys.helpFor(m.focus, m.paneFor(m.focus), m.chain.treeMode)
	if m.showHelp && !m.helpPage(w) {
		return m.fullHelp(km.FullHelp(), w)
	}
	right := m.help.ShortHelpView(km.tail)
	room := max(0, w-lipgloss.Width(right)-3)
	var left string
	if m.confirm != nil {
		// The question takes the whole line: its keys must be read.
		return m.st.Warn.Render(elideMiddle(m.confirm.prompt(), w))
	}
	if f, ok := m.filterFooter(w); ok {
		return f
	}
	if m.status != "" {
		left = m.st.statusStyle(m.statusKind).Render(elideMiddle(m.status, room))
	} else {
		m.help.SetWidth(room)
		// The help bubble may overrun its width by an item when the
		// ellipsis does not fit; cut it.
		left = trunc(m.help.ShortHelpView(km.ShortHelp()), room)
	}
	return spread(left, right, w)
}

// maxInlineHelp is the most lines the full help takes under the panes;
// a taller one (a pane with many keys on a small terminal) is drawn as a
// page in place of the panes, so none of them is squeezed out.
const maxInlineHelp = 8

// helpPage reports whether the full help is drawn as a page.
func (m Model) helpPage(w int) bool {
	if !m.showHelp {
		return false
	}
	km := m.keys.helpFor(m.focus, m.paneFor(m.focus), m.chain.treeMode)
	return lipgloss.Height(m.fullHelp(km.FullHelp(), w)) > maxInlineHelp
}

// helpView is the full help as a page of height h.
func (m Model) helpView(w, h int) string {
	km := m.keys.helpFor(m.focus, m.paneFor(m.focus), m.chain.treeMode)
	lines := strings.Split(m.fullHelp(km.FullHelp(), w-4), "\n")
	return m.st.box("Keys: "+m.focus.String(), "", m.st.Dim.Render("? or esc close"), lines, w, h, true)
}

// fullHelp lays the help's groups out side by side and wraps a group that
// does not fit onto rows below, so every key stays listed however narrow the
// terminal (the help bubble drops whole columns that overflow).
func (m Model) fullHelp(groups [][]key.Binding, w int) string {
	m.help.SetWidth(0) // each group alone never needs cutting
	const gap = "   "
	var rows []string
	var row []string
	rowW := 0
	for _, g := range groups {
		col := m.help.FullHelpView([][]key.Binding{g})
		cw := lipgloss.Width(col)
		if len(row) > 0 && rowW+len(gap)+cw > w {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, rowW = nil, 0
		}
		if len(row) > 0 {
			row = append(row, gap)
			rowW += len(gap)
		}
		row = append(row, col)
		rowW += cw
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	return strings.Join(rows, "\n")
}

// clip makes content exactly fit w×h: long lines are cut, missing lines
// added, extra lines dropped, so a bug in one pane cannot wrap the screen.
func clip(content string, w, h int) string {
	lines := strings.Split(content, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			lines[i] = ansi.Truncate(l, w, "")
		}
	}
	return strings.Join(lines, "\n")
}
