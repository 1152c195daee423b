package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/node"
)

func TestAddressee(t *testing.T) {
	for _, c := range []struct {
		in, prefix, rest string
		ok               bool
	}{
		{"@0123abcd hi", "0123abcd", "hi", true},
		{"@0123abcdef", "0123abcdef", "", true},
		{"@0123abc hi", "", "", false},                 // 7 digits
		{"@0123ABCD hi", "", "", false},                // upper case
		{"@0123abcdx hi", "", "", false},               // not followed by a space
		{"hi @0123abcd", "", "", false},                // not at the start
		{"@" + strings.Repeat("a", 67), "", "", false}, // longer than a key
	} {
		p, rest, ok := addressee(c.in)
		if ok != c.ok || ok && (p != c.prefix || rest != c.rest) {
			t.Errorf("addressee(%q) = %q, %q, %v", c.in, p, rest, ok)
		}
	}
	if !toMe("@"+aliceKey[:8]+" x", aliceKey) || toMe("@"+bobKey[:8]+" x", aliceKey) {
		t.Error("toMe does not compare with the wallet's key")
	}
}

// toAlice is a block from bob on top of the busy fixture's tip, addressed
// to alice (the fixture's wallet).
func toAlice(m Model, text string) eventMsg {
	return eventMsg{ev: node.Event{Seq: 10_000, Time: fixedNow, Payload: node.BlockAccepted{
		Height: m.state.Height + 1, Hash: hashAt("to-alice"), PrevHash: m.state.Tip, Sender: bobKey,
		Message: "@" + aliceKey[:10] + " " + text, TimeStamp: fixedNow.Format(chain.TimeLayout),
		MessageID: hexOf("to-alice"), Peer: "127.0.0.1:8334", OnBest: true}}}
}

func TestMessagesViewUnreadAndNames(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	dir := t.TempDir()
	m.state.DataDir = dir
	m, _ = update(m, toAlice(m, "lunch?"))
	if m.unread != 1 || !strings.Contains(screen(m), "✉ 1 to you") {
		t.Fatalf("unread %d; header:\n%s", m.unread, strings.SplitN(screen(m), "\n", 2)[0])
	}
	m, _ = update(m, keyText("m"))
	s := screen(m)
	if m.focus != focusMessages || m.unread != 0 || strings.Contains(s, "✉") {
		t.Fatalf("m: focus %v unread %d\n%s", m.focus, m.unread, s)
	}
	for _, want := range []string{"Messages", "→ you: lunch?", "1 to you", "pending", "hello from node 1", "you "} {
		if !strings.Contains(s, want) {
			t.Errorf("messages view lacks %q:\n%s", want, s)
		}
	}
	// Select bob's message and name him.
	for m.msgs.cursor > 0 {
		if r, _ := m.msgs.selected(); r.toMe {
			break
		}
		m, _ = update(m, tea.KeyPressMsg{Code: tea.KeyUp})
	}
	m, _ = update(m, keyText("n"))
	if !m.msgs.naming {
		t.Fatalf("n did not open the name input; status %q", m.status)
	}
	for _, r := range "Bob q" { // q is text here, not quit
		m, _ = update(m, keyText(string(r)))
	}
	m, _ = update(m, keyEnter)
	if s := screen(m); !strings.Contains(s, "Bob q") {
		t.Errorf("the name is not shown:\n%s", s)
	}
	data, err := os.ReadFile(filepath.Join(dir, namesFile))
	if err != nil || !strings.Contains(string(data), bobKey) || !strings.Contains(string(data), "Bob q") {
		t.Fatalf("names.json: %v %s", err, data)
	}
	// Another dashboard on the same data dir knows the name.
	m2, _ := busyModel(t, 100, 30)
	m2.state.DataDir = dir
	m2, _ = update(m2, keyText("m"))
	if !strings.Contains(screen(m2), "Bob q") {
		t.Errorf("the name was not kept:\n%s", screen(m2))
	}
}

func TestNotifyIsSanitized(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	text := "@" + aliceKey[:10] + " hi\x1b]0;owned\a; there"
	for _, c := range []struct{ notify, prefix string }{
		{"osc9", "\x1b]9;"}, {"osc777", "\x1b]777;notify;meshchain;"}, {"bell", "\a"},
	} {
		m.opts.Notify = c.notify
		cmd := m.notify(bobKey, text)
		if cmd == nil {
			t.Fatalf("%s: no notification", c.notify)
		}
		raw, _ := cmd().(tea.RawMsg).Msg.(string)
		if !strings.HasPrefix(raw, c.prefix) || !strings.HasSuffix(raw, "\a") || strings.Count(raw, "\a") != 1 ||
			strings.Count(raw, "\x1b") > 1 || c.notify != "bell" && (!strings.Contains(raw, "hi") || strings.Count(raw, ";") != strings.Count(c.prefix, ";")) {
			t.Errorf("%s: notification %q", c.notify, raw)
		}
	}
	m.opts.Notify = ""
	if m.notify(bobKey, text) != nil {
		t.Error("a notification with notify off")
	}
}

func TestComposerCompletesAddresses(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	m, _ = update(m, keyText("i"), keyText("@"))
	m, _ = update(m, keyTab)
	v := m.compose.msg.Value()
	if m.focus != focusComposer || !(strings.HasPrefix(v, "@"+bobKey[:16]+" ") || strings.HasPrefix(v, "@"+carolKey[:16]+" ")) {
		t.Fatalf("@ then Tab: focus %v, value %q", m.focus, v)
	}
	// Without an address to complete, Tab moves on as before.
	m, _ = update(m, keyText("x"), keyTab)
	if m.focus == focusComposer {
		t.Error("Tab after the address did not leave the composer")
	}
}

func goldenMessages(t *testing.T, w, h int) {
	evs := busyEvents()
	snap := busySnapshot()
	evs = append(evs, node.Event{Seq: snap.Seq + 1, Time: fixedNow, Payload: node.BlockAccepted{
		Height: 21, Hash: hashAt("to-alice"), PrevHash: snap.Tip, Sender: bobKey,
		Message: "@" + aliceKey[:10] + " lunch at noon?", TimeStamp: fixedNow.Format(chain.TimeLayout),
		MessageID: hexOf("to-alice"), Peer: "127.0.0.1:8334", OnBest: true}})
	f := newFakeNode(snap, evs...)
	hs := startHarness(t, f, w, h)
	hs.waitUntil("snapshot and events", allLoaded(evs))
	hs.tm.Type("m")
	hs.waitUntil("messages view", func(m Model) bool { return m.focus == focusMessages })
	teatest.RequireEqualOutput(t, []byte(hs.finish()))
}

func TestGoldenMessages80(t *testing.T)  { goldenMessages(t, 80, 24) }
func TestGoldenMessages160(t *testing.T) { goldenMessages(t, 160, 48) }
