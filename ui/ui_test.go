package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/meshchain/meshchain/node"
)

// busyModel is a dashboard that has its snapshot and the fixture events.
func busyModel(t *testing.T, w, h int) (Model, *fakeNode) {
	t.Helper()
	f := newFakeNode(busySnapshot())
	m := testModel(f)
	msgs := []tea.Msg{tea.WindowSizeMsg{Width: w, Height: h}, snapshotMsg{snap: f.snap}}
	for _, ev := range busyEvents() {
		msgs = append(msgs, eventMsg{ev: ev})
	}
	m, _ = update(m, msgs...)
	return m, f
}

func screen(m Model) string { return ansi.Strip(m.View().Content) }

func TestTabCyclesFocus(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	want := []focus{focusPeers, focusMining, focusEvents, focusComposer, focusChain, focusPeers}
	for i, w := range want {
		m, _ = update(m, keyTab)
		if m.focus != w {
			t.Fatalf("after %d tabs focus = %v, want %v", i+1, m.focus, w)
		}
	}
	back := []focus{focusChain, focusComposer, focusEvents, focusMining, focusPeers, focusChain}
	for i, w := range back {
		m, _ = update(m, keyShiftTab)
		if m.focus != w {
			t.Fatalf("after %d shift-tabs focus = %v, want %v", i+1, m.focus, w)
		}
	}
}

func TestFocusedPaneBorderIsThick(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	if !strings.Contains(screen(m), "┏━ Chain") {
		t.Errorf("chain pane should have the focused border:\n%s", screen(m))
	}
	m, _ = update(m, keyTab)
	s := screen(m)
	if !strings.Contains(s, "┏━ Peers") || strings.Contains(s, "┏━ Chain") {
		t.Errorf("after tab only the peers pane should have the focused border:\n%s", s)
	}
}

func TestComposerTakesQAndEscLeaves(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, keyTab) // peers, so Esc has somewhere to return to
	m, _ = update(m, keyText("i"))
	if m.focus != focusComposer {
		t.Fatalf("i: focus = %v, want composer", m.focus)
	}
	m, cmd := update(m, keyText("q"))
	if isQuit(cmd) {
		t.Fatal("q in the composer quit the program")
	}
	m, _ = update(m, keyText("?"), keyText("s"))
	if got := m.compose.msg.Value(); got != "q?s" {
		t.Fatalf("composer value = %q, want %q", got, "q?s")
	}
	if m.showHelp {
		t.Error("? in the composer toggled help")
	}
	m, _ = update(m, keyEsc)
	if m.focus != focusPeers {
		t.Fatalf("esc: focus = %v, want peers (where it came from)", m.focus)
	}
	if got := m.compose.msg.Value(); got != "q?s" {
		t.Errorf("esc lost the draft: %q", got)
	}
	if _, cmd := update(m, keyText("q")); !isQuit(cmd) {
		t.Error("q outside the composer did not quit")
	}
}

func TestCtrlCQuitsEvenInComposer(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, keyText("i"))
	if _, cmd := update(m, keyCtrlC); !isQuit(cmd) {
		t.Error("ctrl+c in the composer did not quit")
	}
}

func TestEmptyMessageRefusedInPlace(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, _ = update(m, keyText("i"))
	m, cmd := update(m, keyEnter)
	if cmd != nil {
		t.Error("an empty message produced a command")
	}
	if len(f.posts) != 0 {
		t.Errorf("empty message was posted: %q", f.posts)
	}
	if m.focus != focusComposer {
		t.Errorf("focus left the composer: %v", m.focus)
	}
	if s := screen(m); !strings.Contains(s, "refused: the message is empty") {
		t.Errorf("the refusal is not shown:\n%s", s)
	}
	// Typing clears the verdict.
	m, _ = update(m, keyText("x"))
	if strings.Contains(screen(m), "refused") {
		t.Error("the refusal stayed after typing")
	}
}

func TestOversizedMessageRefused(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, _ = update(m, keyText("i"))
	m.compose.msg.SetValue(strings.Repeat("a", 4097))
	m, cmd := update(m, keyEnter)
	if cmd != nil || len(f.posts) != 0 {
		t.Fatal("a 4097-byte message was sent to the node")
	}
	if s := screen(m); !strings.Contains(s, "refused: the message is 4,097 bytes; the limit is 4,096") {
		t.Errorf("the refusal is not shown:\n%s", s)
	}
	if s := screen(m); !strings.Contains(s, "4,097 / 4,096 bytes") {
		t.Errorf("the byte count is not shown:\n%s", s)
	}
	// Multi-byte characters count in bytes: 1366 × "€" (3 bytes) = 4098.
	m.compose.msg.SetValue(strings.Repeat("€", 1366))
	m, _ = update(m, keyEnter)
	if !strings.Contains(screen(m), "4,098 bytes") || len(f.posts) != 0 {
		t.Error("a 4098-byte message of 1366 characters was not refused by bytes")
	}
}

func TestMaxMessagePosted(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, _ = update(m, keyText("i"))
	text := strings.Repeat("é", 2048) // 4096 bytes
	m.compose.msg.SetValue(text)
	m, cmd := update(m, keyEnter)
	if cmd == nil {
		t.Fatal("a 4096-byte message was not posted")
	}
	if !strings.Contains(screen(m), "posting…") {
		t.Error("no posting status")
	}
	m, _ = update(m, cmd())
	if len(f.posts) != 1 || f.posts[0] != text {
		t.Fatalf("node got %d posts", len(f.posts))
	}
	if m.compose.msg.Value() != "" {
		t.Error("composer not cleared after posting")
	}
	if !strings.Contains(screen(m), "queued for mining") {
		t.Error("no confirmation shown")
	}
}

func TestNodeRefusalShownInPlace(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	f.postErr = errors.New("pending pool is full")
	m, _ = update(m, keyText("i"), keyText("h"), keyText("i"))
	m, cmd := update(m, keyEnter)
	m, _ = update(m, cmd())
	if s := screen(m); !strings.Contains(s, "not posted: pending pool is full") {
		t.Errorf("node error not shown:\n%s", s)
	}
	if m.compose.msg.Value() != "hi" {
		t.Errorf("draft lost after a refusal: %q", m.compose.msg.Value())
	}
}

func TestCheckMessage(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", "empty"},
		{"   \t ", "only spaces"},
		{"hi", ""},
		{strings.Repeat("a", 4096), ""},
		{strings.Repeat("a", 4097), "4,097 bytes"},
		{"bad \xff utf8", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := checkMessage(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("checkMessage(%.20q) = %v, want nil", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("checkMessage(%.20q) = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestSyncKeyCallsNode(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, cmd := update(m, keyText("s"))
	if cmd == nil {
		t.Fatal("s returned no command")
	}
	if f.syncs != 0 {
		t.Fatal("Sync was called inside Update")
	}
	msg := cmd()
	if f.syncs != 1 {
		t.Fatalf("Sync calls = %d, want 1", f.syncs)
	}
	m, _ = update(m, msg)
	if !strings.Contains(screen(m), "sync round done") {
		t.Errorf("no sync result shown:\n%s", screen(m))
	}
}

func TestHelpToggles(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	if strings.Contains(screen(m), "previous pane") {
		t.Fatal("full help shown before ?")
	}
	m, _ = update(m, keyText("?"))
	if !m.showHelp || !strings.Contains(screen(m), "previous pane") {
		t.Fatalf("? did not show the full help:\n%s", screen(m))
	}
	m, _ = update(m, keyText("?"))
	if m.showHelp || strings.Contains(screen(m), "previous pane") {
		t.Fatal("? did not hide the full help")
	}
}

func TestHelpLineFollowsFocus(t *testing.T) {
	m, _ := busyModel(t, 120, 30)
	lastLine := func(m Model) string {
		lines := strings.Split(screen(m), "\n")
		return lines[len(lines)-1]
	}
	if l := lastLine(m); !strings.Contains(l, "enter detail") {
		t.Errorf("chain help line = %q", l)
	}
	m, _ = update(m, keyText("i"))
	if l := lastLine(m); !strings.Contains(l, "enter post") || !strings.Contains(l, "esc leave") {
		t.Errorf("composer help line = %q", l)
	}
}

func TestAddPeer(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, _ = update(m, keyText("a"))
	if m.focus != focusAddPeer {
		t.Fatalf("a: focus = %v", m.focus)
	}
	m, cmd := update(m, keyEnter)
	if cmd != nil || !strings.Contains(screen(m), "type an address first") {
		t.Fatal("empty address not refused in place")
	}
	for _, r := range "10.0.0.2" {
		m, _ = update(m, keyText(string(r)))
	}
	m, cmd = update(m, keyEnter)
	if cmd == nil {
		t.Fatal("no connect command")
	}
	m, _ = update(m, cmd())
	if len(f.connects) != 1 || f.connects[0] != "10.0.0.2:8333" {
		t.Fatalf("connects = %q, want [10.0.0.2:8333]", f.connects)
	}
	if m.focus != focusChain {
		t.Errorf("focus after connecting = %v, want chain", m.focus)
	}
	if !strings.Contains(screen(m), "added peer 10.0.0.2:8333") {
		t.Errorf("no confirmation:\n%s", screen(m))
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"10.0.0.2:8333", "10.0.0.2:8333", ""},
		{"10.0.0.2", "10.0.0.2:8333", ""},
		{" node.example:9000 ", "node.example:9000", ""},
		{"::1", "[::1]:8333", ""},
		{"[::1]:8400", "[::1]:8400", ""},
		{"host:http", "", "port"},
		{"host:", "", "no port"},
		{"host:70000", "", "port"},
		{":8333", "", "no host"},
		{"", "", "type an address"},
	}
	for _, tt := range tests {
		got, err := checkAddr(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("checkAddr(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("checkAddr(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestBlockDetailOpensAndCloses(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	sel := f.snap.Recent[2]
	f.blocks[sel.Hash] = fullBlock(sel)
	m, _ = update(m, keyDown, keyDown)
	m, cmd := update(m, keyEnter)
	if m.focus != focusDetail || cmd == nil {
		t.Fatalf("enter: focus = %v, cmd nil = %v", m.focus, cmd == nil)
	}
	// Shown at once from the summary, before the node answers.
	if s := screen(m); !strings.Contains(s, sel.Hash) || !strings.Contains(s, "loading") {
		t.Errorf("detail before the block arrives:\n%s", s)
	}
	m, _ = update(m, cmd())
	s := screen(m)
	for _, want := range []string{sel.Hash, sel.PrevHash, sel.Sender, "48,213", "16 bits", sel.Message, "2 blocks below the tip"} {
		if !strings.Contains(s, want) {
			t.Errorf("detail lacks %q:\n%s", want, s)
		}
	}
	m, _ = update(m, keyEsc)
	if m.focus != focusChain {
		t.Errorf("esc: focus = %v, want chain", m.focus)
	}
}

func TestBlockDetailError(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, cmd := update(m, keyEnter)
	m, _ = update(m, cmd()) // the fake has no full blocks
	if s := screen(m); !strings.Contains(s, "could not load the full block: block not found") {
		t.Errorf("error not shown:\n%s", s)
	}
}

func TestTreeToggleAndDetailFromTree(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, _ = update(m, keyText("t"))
	s := screen(m)
	for _, want := range []string{"Fork tree", "[lost: less work]", "[reorg here]", "[mining on this]", "#21 being mined", "├─╯"} {
		if !strings.Contains(s, want) {
			t.Errorf("tree view lacks %q:\n%s", want, s)
		}
	}
	// Down to the lost side block (#20, #19, #18, #18').
	m, _ = update(m, keyDown, keyDown, keyDown)
	b, ok := m.chain.Selected()
	if !ok || b.Hash != hashAt("side-18") {
		t.Fatalf("selected %v %q, want the side block", ok, b.Hash)
	}
	f.blocks[b.Hash] = fullBlock(b)
	m, cmd := update(m, keyEnter)
	m, _ = update(m, cmd())
	if s := screen(m); !strings.Contains(s, "not on the best chain") || !strings.Contains(s, "my fork grows") {
		t.Errorf("side block detail:\n%s", s)
	}
	m, _ = update(m, keyEsc, keyText("t"))
	if m.chain.treeMode {
		t.Error("t did not go back to the list")
	}
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// rawEscapes returns what is left of s's escape sequences once the styling
// (SGR) ones are removed: anything left came from data.
func rawEscapes(s string) []string {
	var left []string
	rest := sgr.ReplaceAllString(s, "")
	for i := strings.IndexByte(rest, 0x1b); i >= 0; i = strings.IndexByte(rest, 0x1b) {
		left = append(left, fmt.Sprintf("%q", rest[i:min(len(rest), i+12)]))
		rest = rest[i+1:]
	}
	return left
}

func TestEscapeSequencesInMessagesAreShownEscaped(t *testing.T) {
	const evil = "\x1b[2J\x1b]0;pwned\x07hi"
	const shown = `\x1b[2J\x1b]0;pwned\x07hi`
	snap := busySnapshot()
	snap.Recent[0].Message = evil
	snap.Recent[0].Sender = "02\x1b[31m"
	snap.Tree[len(snap.Tree)-1].Message = evil
	snap.Peers[0].Addr = "1.2.3.4:5\x1b[5m"
	snap.Sync.Syncing, snap.Sync.Peer = true, "evil\x1b]0;x\x07"
	snap.Pending[1].Message = evil
	f := newFakeNode(snap)
	m := testModel(f)
	m, _ = update(m, tea.WindowSizeMsg{Width: 160, Height: 40}, snapshotMsg{snap: snap},
		eventMsg{ev: node.Event{Time: fixedNow, Payload: node.BlockRejected{Height: 3, Reason: "InvalidMessage\x1b[2J", Peer: "p\x1b[0m", Detail: evil}}},
		eventMsg{ev: node.Event{Time: fixedNow, Payload: node.PeerOnline{Peer: "x", Agent: "agent\x1b]8;;http://evil\x07"}}},
		eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MessageQueued{Message: evil}}},
	)
	check := func(where string, m Model) {
		t.Helper()
		raw := m.View().Content
		if left := rawEscapes(raw); len(left) > 0 {
			t.Errorf("%s: raw escape sequences from data reach the terminal: %v", where, left)
		}
		if !strings.Contains(ansi.Strip(raw), shown) {
			t.Errorf("%s: the message is not shown escaped:\n%s", where, ansi.Strip(raw))
		}
	}
	check("chain pane", m)
	mt, _ := update(m, keyText("t"))
	check("fork tree", mt)

	f.blocks[snap.Recent[0].Hash] = fullBlock(snap.Recent[0])
	m, cmd := update(m, keyEnter)
	check("detail before loading", m)
	m, _ = update(m, cmd())
	if m.detail.block == nil {
		t.Fatal("block not loaded")
	}
	check("block detail", m)
}

func TestResizeKeepsEveryLineWithinWidth(t *testing.T) {
	sizes := [][2]int{{80, 24}, {200, 60}, {100, 30}, {60, 16}, {120, 20}, {20, 5}, {1, 1}}
	setups := map[string][]tea.Msg{
		"list":     nil,
		"tree":     {keyText("t")},
		"help":     {keyText("?")},
		"detail":   {keyEnter},
		"composer": {keyText("i")},
		"add peer": {keyText("a")},
		"zoom":     {keyTab, keyTab, keyTab, keyText("z")},
	}
	for name, keys := range setups {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%dx%d", name, size[0], size[1]), func(t *testing.T) {
				m, _ := busyModel(t, 100, 30)
				m, _ = update(m, keys...)
				m, _ = update(m, tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				lines := strings.Split(m.View().Content, "\n")
				if len(lines) > size[1] {
					t.Errorf("%d lines for a height of %d", len(lines), size[1])
				}
				for i, l := range lines {
					if w := lipgloss.Width(l); w > size[0] {
						t.Errorf("line %d is %d wide (max %d): %q", i, w, size[0], ansi.Strip(l))
					}
				}
				if size[0] >= minWidth && size[1] >= minHeight && len(lines) != size[1] {
					t.Errorf("%d lines, want the full height %d", len(lines), size[1])
				}
			})
		}
	}
}

func TestSnapshotErrorKeepsLastKnown(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, snapshotMsg{err: errors.New("node busy")})
	s := screen(m)
	for _, want := range []string{"height 20", "twenty blocks!", "127.0.0.1:8334", "node not answering: node busy"} {
		if !strings.Contains(s, want) {
			t.Errorf("after a failed snapshot the screen lacks %q:\n%s", want, s)
		}
	}
}

func TestSyncStateInWords(t *testing.T) {
	tests := []struct {
		name string
		edit func(*node.Snapshot)
		want string
	}{
		{"in sync", func(*node.Snapshot) {}, "in sync with 3 peers"},
		{"one peer", func(s *node.Snapshot) { s.Sync.Online = 1 }, "in sync with 1 peer"},
		{"syncing", func(s *node.Snapshot) {
			s.Sync = node.SyncState{Syncing: true, Peer: "10.0.0.2:8333", Behind: 1200, Online: 3, Known: 6}
		},
			"syncing from 10.0.0.2:8333, 1,200 blocks behind"},
		// The round began 5,000 behind; the peer's height against ours
		// now says what is left.
		{"syncing, some taken in", func(s *node.Snapshot) {
			s.Peers[1].Height = 1220
			s.Sync = node.SyncState{Syncing: true, Peer: s.Peers[1].Addr, Behind: 5000, Online: 3, Known: 6}
		},
			"syncing from 10.0.0.7:8333, 1,200 blocks behind"},
		{"alone", func(s *node.Snapshot) { s.Peers, s.Sync = nil, node.SyncState{} }, "alone: no peers"},
		{"all offline", func(s *node.Snapshot) { s.Sync = node.SyncState{Known: 6} }, "alone: none of 6 known peers are online"},
		{"one block propagating", func(s *node.Snapshot) { s.Peers[0].Height = 21 }, "in sync with 3 peers"},
		{"behind, not syncing", func(s *node.Snapshot) { s.Peers[1].Height = 1220 }, "1,200 blocks behind 10.0.0.7:8333, not syncing: press s"},
		{"offline peer ahead", func(s *node.Snapshot) { s.Peers[4].Height = 1220 }, "in sync with 3 peers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := busySnapshot()
			tt.edit(&snap)
			m := testModel(newFakeNode(snap))
			m, _ = update(m, tea.WindowSizeMsg{Width: 120, Height: 30}, snapshotMsg{snap: snap})
			if header := strings.Split(screen(m), "\n")[0]; !strings.Contains(header, tt.want) {
				t.Errorf("header = %q, want %q", header, tt.want)
			}
		})
	}
}

func TestPeersSortedNearestOnlineFirst(t *testing.T) {
	var p peersPane
	p.SetPeers([]node.PeerInfo{
		{Addr: "off-near", Status: node.PeerOfflineStatus, SmoothRTT: time.Millisecond},
		{Addr: "on-far", Status: node.PeerOnlineStatus, SmoothRTT: 90 * time.Millisecond},
		{Addr: "on-unmeasured", Status: node.PeerOnlineStatus},
		{Addr: "on-near", Status: node.PeerOnlineStatus, SmoothRTT: 2 * time.Millisecond},
		{Addr: "dialing", Status: node.PeerConnectingStatus},
	}, 3, 5)
	var got []string
	for _, pi := range p.peers {
		got = append(got, pi.Addr)
	}
	want := "on-near on-far on-unmeasured dialing off-near"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestEventsAreBoundedAndNewestFirst(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	for i := range 600 {
		m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.Warning{Message: fmt.Sprintf("w%d", i)}}})
	}
	if n := len(m.log.items); n != maxEvents {
		t.Fatalf("history holds %d events, want %d", n, maxEvents)
	}
	if m.log.items[0].text != "w599" {
		t.Errorf("newest event = %q, want w599", m.log.items[0].text)
	}
}

func TestMiningEvents(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningProgress{
		MessageID: "x", Message: "new one", Height: 21, Attempts: 1000, Expected: 4000, HashRate: 2e6, Queue: 5}}})
	s := screen(m)
	for _, want := range []string{`mining #21 "new one"`, "2.00 MH/s", "░ 0.2×", "1,000 of ~4,000 attempts", "~2ms per block", "queue 5"} {
		if !strings.Contains(s, want) {
			t.Errorf("after progress the screen lacks %q:\n%s", want, s)
		}
	}
	// Past the expected work: the luck so far, not a bar stuck at 100%.
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningProgress{
		MessageID: "x", Message: "new one", Height: 21, Attempts: 7200, Expected: 4000, HashRate: 2e6, Queue: 5}}})
	if s := screen(m); !strings.Contains(s, "1.8× expected work") || strings.Contains(s, " left") {
		t.Errorf("an unlucky search does not say so:\n%s", s)
	}
	// A snapshot taken while events arrive does not undo them: the events
	// that came meanwhile are applied again over it.
	m.fetching, m.snapReq = true, 7
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningProgress{
		MessageID: "y", Message: "newer one", Height: 21, Attempts: 10, Expected: 4000, HashRate: 2e6, Queue: 5}}})
	m, _ = update(m, snapshotMsg{snap: busySnapshot(), req: 7})
	if !strings.Contains(screen(m), `"newer one"`) {
		t.Error("a snapshot replaced mining progress that arrived while it was taken")
	}
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningIdle{}}})
	if !strings.Contains(screen(m), "idle: nothing to mine") {
		t.Errorf("idle not shown:\n%s", screen(m))
	}
}

// TestEventsNeedNoSnapshot: blocks, tips and peers reach the screen from
// their events alone; only a gap in the events (or a tip hanging off blocks
// never seen) costs a snapshot, and only one at a time.
func TestEventsNeedNoSnapshot(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m.fetching = false
	before := f.snapshots
	tip := busySnapshot().Tip
	b21 := node.BlockAccepted{Height: 21, Hash: hashAt("b21"), PrevHash: tip, Sender: bobKey, Message: "twenty-one", MessageID: hexOf("m21"), OnBest: true}
	m, cmd := update(m, eventMsg{ev: node.Event{Time: fixedNow, Seq: 100, Payload: b21}},
		eventMsg{ev: node.Event{Time: fixedNow, Seq: 101, Payload: node.TipChanged{Height: 21, Hash: b21.Hash}}})
	if m.fetching {
		t.Fatal("a block extending the tip asked for a snapshot")
	}
	_ = cmd
	s := screen(m)
	if !strings.Contains(s, "height 21") || !strings.Contains(s, "twenty-one") {
		t.Errorf("the block did not reach the screen from its events:\n%s", s)
	}
	if f.snapshots != before {
		t.Errorf("%d snapshots taken for a block", f.snapshots-before)
	}

	// Lost events: one snapshot, a second loss while it runs marks it stale.
	m, cmd = update(m, eventMsg{ev: node.Event{Time: fixedNow, Seq: 200, Missed: 3, Payload: node.PeerOnline{Peer: "a"}}})
	if cmd == nil || !m.fetching {
		t.Fatal("lost events did not ask for a snapshot")
	}
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Seq: 300, Missed: 1, Payload: node.PeerOnline{Peer: "b"}}})
	if !m.stale {
		t.Error("a second loss while fetching did not mark the snapshot stale")
	}
	m, cmd = update(m, snapshotMsg{snap: busySnapshot(), req: m.snapReq})
	if !m.fetching || cmd == nil {
		t.Error("a stale snapshot was not fetched again")
	}

	// A tip whose blocks were never seen cannot be followed.
	m.fetching, m.stale = false, false
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.TipChanged{Height: 40, Hash: hashAt("unknown")}}})
	if !m.fetching {
		t.Error("an unknown tip did not ask for a snapshot")
	}
	if !strings.Contains(screen(m), "height 40") {
		t.Error("header did not follow the tip at once")
	}
}

func TestOlderSnapshotAnswerIsDropped(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	newer := busySnapshot()
	newer.Height = 30
	m.snapReq = 5
	m, _ = update(m, snapshotMsg{snap: newer, req: 5})
	older := busySnapshot()
	older.Height = 25
	m, _ = update(m, snapshotMsg{snap: older, req: 4})
	if m.state.Height != 30 {
		t.Errorf("height = %d: an older answer replaced a newer one", m.state.Height)
	}
}

func TestSyncOnlyOnceAtATime(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, cmd := update(m, keyText("s"))
	if cmd == nil {
		t.Fatal("no sync command")
	}
	m, cmd2 := update(m, keyText("s"))
	if cmd2 != nil || !strings.Contains(screen(m), "sync: already running") {
		t.Error("a second s started another sync while one was running")
	}
	m, _ = update(m, cmd())
	if _, cmd = update(m, keyText("s")); cmd == nil {
		t.Error("no sync after the first one finished")
	}
}

func TestTreeFallsBackToBestChain(t *testing.T) {
	snap := busySnapshot()
	snap.Tree = nil
	m := testModel(newFakeNode(snap))
	m, _ = update(m, tea.WindowSizeMsg{Width: 100, Height: 30}, snapshotMsg{snap: snap}, keyText("t"))
	if s := screen(m); !strings.Contains(s, "#20 …3a57733") || strings.Contains(s, "no blocks yet") {
		t.Errorf("tree without Snapshot.Tree:\n%s", s)
	}
}

func TestNoColor(t *testing.T) {
	f := newFakeNode(busySnapshot())
	m := New(f, Options{Title: "x", NoColor: true})
	m.now, m.loc = func() time.Time { return fixedNow }, time.UTC
	m, _ = update(m, tea.WindowSizeMsg{Width: 100, Height: 30}, snapshotMsg{snap: f.snap})
	for _, seq := range sgr.FindAllString(m.View().Content, -1) {
		for _, p := range strings.FieldsFunc(strings.Trim(seq, "\x1b[m"), func(r rune) bool { return r == ';' || r == ':' }) {
			var n int
			fmt.Sscan(p, &n)
			if (n >= 30 && n <= 49) || (n >= 90 && n <= 107) {
				t.Fatalf("NoColor view sets a colour: %q", seq)
			}
		}
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	f := newFakeNode(busySnapshot())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, f, Options{NoColor: true}, tea.WithInput(strings.NewReader("")), tea.WithOutput(io.Discard), tea.WithWindowSize(80, 24))
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after the context ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the context ended")
	}
}

func TestRunQuitsOnQ(t *testing.T) {
	f := newFakeNode(emptySnapshot())
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), f, Options{}, tea.WithInput(strings.NewReader("q")), tea.WithOutput(io.Discard), tea.WithWindowSize(80, 24))
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after q", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after q")
	}
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestTitle(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", "meshchain"},
		{"meshchain", "meshchain"},
		{"devnet node 1 of 3", "meshchain · devnet node 1 of 3"},
		{"evil\x1b]0;x\x07", `meshchain · evil\x1b]0;x\x07`},
	} {
		m := New(newFakeNode(emptySnapshot()), Options{Title: tt.in})
		if got := m.title(); got != tt.want {
			t.Errorf("title(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := m.View().WindowTitle; got != tt.want {
			t.Errorf("window title for %q = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPeerNotesMakeRoom(t *testing.T) {
	m, _ := busyModel(t, 200, 60)
	s := screen(m)
	if !strings.Contains(s, "InvalidSignature: block #19") || !strings.Contains(s, "2 failed dials") {
		t.Errorf("peer notes not shown at 200 columns:\n%s", s)
	}
	// Notes do not push out the round trips.
	if !regexp.MustCompile(`address +status +last +avg +min +height +changed note`).MatchString(s) {
		t.Errorf("peers table at 200 columns lacks some column:\n%s", s)
	}
}

// At 120x40 the right column is too narrow for every round trip: the peers
// get a full-width row with all columns; at 80x24 the essentials stay.
func TestPeersColumnsBySize(t *testing.T) {
	tests := []struct {
		w, h int
		head string
	}{
		{120, 40, `address +status +last +avg +min +height +changed`},
		{100, 30, `address +status +avg`},
		{80, 24, `address +avg`},
	}
	for _, tt := range tests {
		m, _ := busyModel(t, tt.w, tt.h)
		s := screen(m)
		if !regexp.MustCompile(tt.head).MatchString(s) {
			t.Errorf("%dx%d: peers header does not match %q:\n%s", tt.w, tt.h, tt.head, s)
		}
		checkScreenSize(t, s, tt.w, tt.h)
	}
	m, _ := busyModel(t, 120, 40)
	if !m.peersWide {
		t.Error("120x40 should give the peers a full-width row")
	}
	if s := screen(m); !strings.Contains(s, "203.0.113.9:8333") {
		t.Errorf("120x40 should list all six peers:\n%s", s)
	}
	// A peer never reached has no known height: "-", not 0.
	if !regexp.MustCompile(`192\.168\.1\.20:8333 +connecting +- +- +- +-`).MatchString(screen(m)) {
		t.Errorf("unreached peer should show - for round trips and height:\n%s", screen(m))
	}
}

func checkScreenSize(t *testing.T, s string, w, h int) {
	t.Helper()
	lines := strings.Split(s, "\n")
	if len(lines) != h {
		t.Errorf("%dx%d: screen has %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if lipgloss.Width(l) > w {
			t.Errorf("%dx%d: line %d is %d wide: %q", w, h, i, lipgloss.Width(l), l)
		}
	}
}

func TestFitColumnsPriorities(t *testing.T) {
	p := peersPane{st: newStyles(true), peers: busySnapshot().Peers, now: fixedNow}
	cols := p.columns()
	titles := func(cs []peerColumn) string {
		var ts []string
		for _, c := range cs {
			ts = append(ts, c.title)
		}
		return strings.Join(ts, " ")
	}
	tests := []struct {
		w    int
		note bool
		want string
	}{
		{10, false, "address"},
		{26, false, "address avg"},
		{40, false, "address status avg"},
		{46, false, "address status avg height"},
		{57, false, "address status avg height changed"},
		{63, false, "address status last avg height changed"},
		{69, false, "address status last avg min height changed"},
		{69, true, "address status last avg min height changed"},
		{77, true, "address status last avg min height changed note"},
	}
	for _, tt := range tests {
		if got := titles(fitColumns(cols, tt.w, tt.note)); got != tt.want {
			t.Errorf("fitColumns(w=%d, note=%v) = %q, want %q", tt.w, tt.note, got, tt.want)
		}
	}
	if got := p.fullWidth(); got != 66+4 {
		t.Errorf("fullWidth = %d, want %d", got, 66+4)
	}
}

func TestMiningPaneFitsNarrowWidths(t *testing.T) {
	m, _ := busyModel(t, 80, 24)
	s := screen(m)
	for _, want := range []string{"0.6×", "250.0 kH/s · ~262ms per block"} {
		if !strings.Contains(s, want) {
			t.Errorf("80x24 mining pane lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "threa…") || strings.Contains(s, "left · 4…") {
		t.Errorf("80x24 mining pane cuts a figure instead of leaving it out:\n%s", s)
	}
	// A new job that has not measured its rate yet keeps the last one.
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningProgress{
		MessageID: "y", Message: "next", Height: 22, Expected: 65_536, Queue: 1}}})
	if s := screen(m); !strings.Contains(s, "250.0 kH/s") || strings.Contains(s, "- H/s") {
		t.Errorf("hash rate blanked at the start of a job:\n%s", s)
	}
}

func TestTypingWhilePostingStartsTheNextMessage(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	m, _ = update(m, keyText("i"))
	m, _ = update(m, tea.PasteMsg{Content: "first"})
	m, cmd := update(m, keyEnter)
	if cmd == nil {
		t.Fatal("Enter did not post")
	}
	if got := m.compose.msg.Value(); got != "" {
		t.Fatalf("input not cleared when the message left: %q", got)
	}
	// The user types on while the node answers.
	m, _ = update(m, tea.PasteMsg{Content: "second"})
	m, again := update(m, keyEnter)
	if again != nil {
		t.Fatal("a second post started while the first was in flight")
	}
	if !strings.Contains(screen(m), "still posting") {
		t.Errorf("Enter while posting is not explained:\n%s", screen(m))
	}
	m, _ = update(m, cmd())
	if len(f.posts) != 1 || f.posts[0] != "first" {
		t.Fatalf("posts = %q, want [first]", f.posts)
	}
	if got := m.compose.msg.Value(); got != "second" {
		t.Errorf("the next message was lost or merged: %q", got)
	}
	m, cmd = update(m, keyEnter)
	m, _ = update(m, cmd())
	if len(f.posts) != 2 || f.posts[1] != "second" {
		t.Fatalf("posts = %q, want [first second]", f.posts)
	}
}

func TestFailedPostGivesTheTextBack(t *testing.T) {
	m, f := busyModel(t, 100, 30)
	f.postErr = errors.New("pool full")
	m, _ = update(m, keyText("i"), tea.PasteMsg{Content: "keep me"})
	m, cmd := update(m, keyEnter)
	m, _ = update(m, cmd())
	if got := m.compose.msg.Value(); got != "keep me" {
		t.Errorf("failed message not given back: %q", got)
	}
	if !strings.Contains(screen(m), "not posted: pool full") {
		t.Errorf("failure not shown:\n%s", screen(m))
	}
}

func TestLongErrorsKeepTheirCause(t *testing.T) {
	m, f := busyModel(t, 80, 24)
	_ = f
	m, _ = update(m, keyText("a"), tea.PasteMsg{Content: "127.0.0.1:1"})
	m, _ = update(m, connectMsg{addr: "127.0.0.1:1", err: errors.New(`netpeers: dial 127.0.0.1:1: failed to WebSocket dial: failed to send handshake request: Get "http://127.0.0.1:1": dial tcp 127.0.0.1:1: connect: connection refused`)})
	s := screen(m)
	if !strings.Contains(s, "connect 127.0.0.1:1") || !strings.Contains(s, "connection refused") {
		t.Errorf("connect error lost its subject or cause:\n%s", s)
	}
	checkScreenSize(t, s, 80, 24)
}

func TestElideMiddle(t *testing.T) {
	tests := []struct {
		in   string
		w    int
		want string
	}{
		{"short", 10, "short"},
		{"0123456789abcdefghij", 10, "012…efghij"},
		{"0123456789", 5, "0123…"},
	}
	for _, tt := range tests {
		if got := elideMiddle(tt.in, tt.w); got != tt.want {
			t.Errorf("elideMiddle(%q, %d) = %q, want %q", tt.in, tt.w, got, tt.want)
		}
	}
}

func TestNewWalletStaysInView(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	path := "/home/ann/.local/share/meshchain/wallet.json"
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.Started{Listen: "x", WalletCreated: true, WalletPath: path}}})
	for i := 0; i < 50; i++ {
		m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.PeerOnline{Peer: fmt.Sprintf("10.0.0.%d:8333", i)}}})
	}
	if s := screen(m); !strings.Contains(s, "new wallet saved to "+path+": back up its words") {
		t.Errorf("the new wallet's path scrolled away:\n%s", s)
	}
	// At 80 columns a devnet's long path is kept whole.
	long := "/tmp/meshchain-devnet-151078242/node1/wallet.json"
	m, _ = update(m, tea.WindowSizeMsg{Width: 80, Height: 24},
		eventMsg{ev: node.Event{Time: fixedNow, Payload: node.Started{Listen: "x", WalletCreated: true, WalletPath: long}}})
	if s := screen(m); !strings.Contains(s, "new wallet: "+long) {
		t.Errorf("the wallet path is cut at 80 columns:\n%s", s)
	}
}

func TestSyncWithNoPeerAhead(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.SyncStarted{Height: 39}}})
	s := screen(m)
	if !strings.Contains(s, "sync      round at height 39: looking for a peer with more work") {
		t.Errorf("sync round without a peer reads wrong:\n%s", s)
	}
}

func TestForkTreeKeepsTagsWhenNarrow(t *testing.T) {
	m, _ := busyModel(t, 80, 24)
	m, _ = update(m, keyText("t"), keyDown, keyDown, keyDown)
	if s := screen(m); !strings.Contains(s, "[lost: less work]") {
		t.Errorf("the lost tag is cut at 80 columns:\n%s", s)
	}
}

func TestTreeCursorFollowsNewestBlock(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, keyText("t"))
	arrive := func(m Model, b node.BlockSummary) Model {
		m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.BlockAccepted{Height: b.Height, Hash: b.Hash,
			PrevHash: b.PrevHash, Sender: b.Sender, Message: b.Message, TimeStamp: b.TimeStamp, OnBest: true}}})
		return m
	}
	b := summary(21, busySnapshot().Tip, "best-21", aliceKey)
	m = arrive(m, b)
	if sel, _ := m.chain.Selected(); sel.Hash != b.Hash {
		t.Errorf("cursor on %q, want the new newest block", sel.Hash)
	}
	// Once moved, it stays on its block.
	m, _ = update(m, keyDown)
	was, _ := m.chain.Selected()
	m = arrive(m, summary(22, b.Hash, "best-22", aliceKey))
	if sel, _ := m.chain.Selected(); sel.Hash != was.Hash {
		t.Errorf("cursor moved to %q, want it kept on %q", sel.Hash, was.Hash)
	}
}

func TestEventsTagOtherNodesOnly(t *testing.T) {
	var p eventsPane
	p.Add(node.Event{Node: "node1", Payload: node.Warning{Message: "a"}})
	p.Add(node.Event{Node: "node2", Payload: node.Warning{Message: "b"}})
	p.Add(node.Event{Node: "node1", Payload: node.SyncStarted{Peer: "x", Latency: "395.483195ms"}})
	if p.items[0].node != "" || p.items[1].node != "node2" || p.items[2].node != "" {
		t.Errorf("node tags = %q %q %q", p.items[0].node, p.items[1].node, p.items[2].node)
	}
	if want := "from x (395ms)"; p.items[0].text != want {
		t.Errorf("sync text = %q, want %q", p.items[0].text, want)
	}
}

func TestStartedEventWrapsNotCut(t *testing.T) {
	m, _ := busyModel(t, 80, 24)
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.Started{
		Listen: "127.0.0.1:8333", Tip: hashAt("x"), WalletCreated: true,
		WalletPath: "/home/someone/.local/share/meshchain/wallet.json"}}})
	s := screen(m)
	if !strings.Contains(s, "back up") || !strings.Contains(s, "its words") || !strings.Contains(s, "wallet.json") {
		t.Errorf("the new-wallet notice was cut:\n%s", screen(m))
	}
}

func TestPeersPaneCountsHiddenRows(t *testing.T) {
	m, _ := busyModel(t, 80, 24)
	if s := screen(m); !strings.Contains(s, "2 more below") {
		t.Errorf("peers out of view are not counted:\n%s", s)
	}
	m, _ = update(m, keyTab, keyText("G"))
	if s := screen(m); !strings.Contains(s, "2 above") || strings.Contains(s, "more below") {
		t.Errorf("after scrolling to the end:\n%s", s)
	}
}

// A progress report repeats the queue length of its job's start; a message
// queued since must not be undone by it.
func TestQueueCountSurvivesProgressReports(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	prog := func(attempts uint64, queue int) tea.Msg {
		return eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningProgress{
			MessageID: "j", Message: "job", Height: 21, Attempts: attempts, Expected: 65_536, HashRate: 1e5, Queue: queue}}}
	}
	m, _ = update(m, prog(100, 1),
		eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MessageQueued{Message: "next", Queue: 2}}},
		prog(200, 1))
	if !strings.Contains(screen(m), "queue 2") {
		t.Errorf("queue count went back to the job's start:\n%s", screen(m))
	}
	// A new job brings a fresh count.
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: node.MiningProgress{
		MessageID: "k", Message: "next", Height: 22, Attempts: 1, Expected: 65_536, Queue: 1}}})
	if !strings.Contains(screen(m), "queue 1") {
		t.Errorf("a new job's queue count is not taken:\n%s", screen(m))
	}
}

func TestTooSmallNoticeFits(t *testing.T) {
	m, _ := busyModel(t, 30, 10)
	s := screen(m)
	if !strings.Contains(strings.ReplaceAll(s, "\n", " "), "this terminal is 30x10") {
		t.Errorf("the size notice is cut:\n%s", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if lipgloss.Width(l) > 30 {
			t.Errorf("line wider than the terminal: %q", l)
		}
	}
}

// TestEnterOpensEventWhole: at a narrow width an event's line is cut; Enter
// on it opens it whole, wrapped, and Esc goes back to the events.
func TestEnterOpensEventWhole(t *testing.T) {
	m, _ := busyModel(t, 80, 24)
	long := node.BlockRejected{Hash: hashAt("bad"), Height: 7, Reason: "InvalidSignature",
		Detail: "signature does not verify over the message id of this block; the sender's key is 02deadbeef and the end of this text is THE-END", Peer: "203.0.113.50:8333"}
	m, _ = update(m, eventMsg{ev: node.Event{Time: fixedNow, Payload: long}})
	for m.focus != focusEvents {
		m, _ = update(m, keyTab)
	}
	if strings.Contains(screen(m), "THE-END") {
		t.Fatal("the test needs an event cut at 80 columns")
	}
	m, _ = update(m, keyEnter)
	if m.focus != focusDetail || !strings.Contains(screen(m), "THE-END") {
		t.Fatalf("Enter did not open the event whole:\n%s", screen(m))
	}
	m, _ = update(m, keyEsc)
	if m.focus != focusEvents {
		t.Errorf("Esc went to %v, want the events pane", m.focus)
	}
}

// TestWaitEventTakesWhatIsWaiting: events already queued come in one
// message (at most eventBatch), a lone one as eventMsg, and the end of the
// stream after the last of them.
func TestWaitEventTakesWhatIsWaiting(t *testing.T) {
	ch := make(chan node.Event, 3000)
	for i := range 1500 {
		ch <- node.Event{Seq: uint64(i + 1)}
	}
	close(ch)
	ctx := context.Background()
	var sizes []int
	next := uint64(1)
	for {
		msg := waitEvent(ctx, ch)()
		var evs []node.Event
		switch msg := msg.(type) {
		case eventsMsg:
			evs = msg.evs
		case eventMsg:
			evs = []node.Event{msg.ev}
		case eventsEndMsg:
			if next != 1501 || len(sizes) != 2 || sizes[0] != eventBatch {
				t.Fatalf("the stream ended after %d events in messages of %v, want 1500 in %d + %d", next-1, sizes, eventBatch, 1500-eventBatch)
			}
			lone := make(chan node.Event, 1)
			lone <- node.Event{Seq: 7}
			if m, ok := waitEvent(ctx, lone)().(eventMsg); !ok || m.ev.Seq != 7 {
				t.Fatalf("a lone event came as %T", m)
			}
			return
		default:
			t.Fatalf("message %T", msg)
		}
		sizes = append(sizes, len(evs))
		for _, ev := range evs {
			if ev.Seq != next {
				t.Fatalf("event %d where %d was due", ev.Seq, next)
			}
			next++
		}
	}
}

// TestEventBatchShowsItsLastBlock: a batch of 500 block events (a sync
// answer) leaves the header, the Chain pane and its cursor on the last of
// them, as 500 messages one by one did.
func TestEventBatchShowsItsLastBlock(t *testing.T) {
	// Two models of their own: copies of one share their panes' buffers.
	one, _ := busyModel(t, 120, 30)
	batch, _ := busyModel(t, 120, 30)
	prev := busySnapshot().Tip
	var evs []node.Event
	for h := uint64(21); h <= 520; h++ {
		b := summary(h, prev, fmt.Sprintf("best-%d", h), aliceKey)
		evs = append(evs, node.Event{Time: fixedNow, Seq: h, Payload: node.BlockAccepted{Height: b.Height, Hash: b.Hash,
			PrevHash: b.PrevHash, Sender: b.Sender, Message: b.Message, TimeStamp: b.TimeStamp, OnBest: true, Fetched: true,
			Peer: "127.0.0.1:8334"}}) // with a peer, the events pane lists them
		prev = b.Hash
	}
	for _, ev := range evs {
		one, _ = update(one, eventMsg{ev: ev})
	}
	batch, _ = update(batch, eventsMsg{evs: evs})
	if a, b := screen(one), screen(batch); a != b {
		t.Errorf("one by one:\n%s\nas a batch:\n%s", a, b)
	}
	if sel, _ := batch.chain.Selected(); sel.Height != 520 || batch.state.Height != 520 {
		t.Errorf("after the batch: height %d, cursor on %d; want 520", batch.state.Height, sel.Height)
	}
	if s := screen(batch); !strings.Contains(s, "#520") {
		t.Errorf("the events pane does not list the batch's last block:\n%s", s)
	}
}

// TestEventsPaneFilterKeepsTheReader: reading older events under a filter,
// an event the filter hides does not move the rows.
func TestEventsPaneFilterKeepsTheReader(t *testing.T) {
	var p eventsPane
	p.SetSize(80, 8)
	for i := range 40 {
		p.Add(node.Event{Payload: node.Warning{Message: fmt.Sprintf("keep %d", i)}})
	}
	p.match = "keep"
	p.Scroll(5)
	top, _ := p.Selected()
	p.Add(node.Event{Payload: node.Warning{Message: "other"}})
	if now, _ := p.Selected(); now.text != top.text {
		t.Errorf("a hidden event moved the reader from %q to %q", top.text, now.text)
	}
	p.Add(node.Event{Payload: node.Warning{Message: "keep new"}})
	if now, _ := p.Selected(); now.text != top.text {
		t.Errorf("a shown event moved the reader from %q to %q", top.text, now.text)
	}
}

// TestEventsPaneKeepsTheNewest: through the buffer's moves the pane keeps
// the newest maxEvents, newest first, and the count of all.
func TestEventsPaneKeepsTheNewest(t *testing.T) {
	var p eventsPane
	for i := range 2*maxEvents + 123 {
		p.Add(node.Event{Payload: node.Warning{Message: fmt.Sprint(i)}})
		want := min(i+1, maxEvents)
		if len(p.items) != want {
			t.Fatalf("after %d events the pane holds %d, want %d", i+1, len(p.items), want)
		}
		for k, it := range p.items {
			if !strings.HasSuffix(it.text, " "+fmt.Sprint(i-k)) && it.text != fmt.Sprint(i-k) {
				t.Fatalf("after %d events item %d is %q, want event %d", i+1, k, it.text, i-k)
			}
		}
	}
	if p.total != 2*maxEvents+123 {
		t.Errorf("total %d", p.total)
	}
}
