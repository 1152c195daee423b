package ui

import (
	"charm.land/bubbles/v2/key"
)

// keyMap is every key binding of the dashboard. Global keys are checked
// before the focused pane's; in the composer and the add-peer input only
// ForceQuit, Tab and the input's own keys apply, so q and ? can be typed.
type keyMap struct {
	// Global.
	Quit      key.Binding
	ForceQuit key.Binding
	Help      key.Binding
	NextPane  key.Binding
	PrevPane  key.Binding
	Sync      key.Binding
	AddPeer   key.Binding
	Compose   key.Binding
	Tree      key.Binding
	Zoom      key.Binding
	Copy      key.Binding
	Devnet    key.Binding // only in a devnet
	Messages  key.Binding
	Filter    key.Binding
	Network   key.Binding

	// Scrolling, in every pane.
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding

	// Chain pane and block detail.
	Open  key.Binding
	Close key.Binding

	// Peers pane and a peer's detail.
	Disconnect key.Binding
	Ban        key.Binding
	Unban      key.Binding
	Forget     key.Binding
	Bans       key.Binding
	Sort       key.Binding
	Freeze     key.Binding

	// A confirmation.
	Yes key.Binding
	No  key.Binding

	// Composer and add-peer input.
	Post    key.Binding
	Leave   key.Binding
	Connect key.Binding
	Cancel  key.Binding
}

func defaultKeys() keyMap {
	return keyMap{
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		NextPane:  key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		PrevPane:  key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Sync:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sync now")),
		AddPeer:   key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add peer")),
		Compose:   key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "write message")),
		Tree:      key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "fork tree")),
		Zoom:      key.NewBinding(key.WithKeys("z"), key.WithHelp("z", "zoom pane")),
		Copy:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy hash/id")),
		Devnet:    key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "devnet controls"), key.WithDisabled()),
		Messages:  key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "messages")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter rows")),
		Network:   key.NewBinding(key.WithKeys("w"), key.WithHelp("w", "network view")),

		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b", "ctrl+u"), key.WithHelp("pgup/^u", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "ctrl+d", "space"), key.WithHelp("pgdn/^d", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "bottom")),

		Open:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "block detail")),
		Close: key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "close")),

		Disconnect: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "disconnect")),
		Ban:        key.NewBinding(key.WithKeys("b"), key.WithHelp("b", "ban")),
		Unban:      key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "unban")),
		Forget:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "forget")),
		Bans:       key.NewBinding(key.WithKeys("B"), key.WithHelp("B", "bans list")),
		Sort:       key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sort")),
		Freeze:     key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "freeze")),

		Yes: key.NewBinding(key.WithKeys("y", "enter"), key.WithHelp("y", "yes")),
		No:  key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n", "no")),

		Post:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "post")),
		Leave:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "leave")),
		Connect: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "connect")),
		Cancel:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// paneHelp is the help.KeyMap for one focus. The short line shows the
// focused pane's keys, then the actions; tail (help and quit) is drawn apart
// at the right end so it never gets cut.
type paneHelp struct {
	short []key.Binding
	tail  []key.Binding
	full  [][]key.Binding
}

func (h paneHelp) ShortHelp() []key.Binding  { return h.short }
func (h paneHelp) FullHelp() [][]key.Binding { return h.full }

// relabel is b with another description.
func relabel(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// scrollKey is the help line for the arrow keys of a pane that scrolls.
var scrollKey = key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓/jk", "scroll"))

// treeKey is t, named for what it switches to.
func (k keyMap) treeKey(tree bool) key.Binding {
	if tree {
		return relabel(k.Tree, "block list")
	}
	return k.Tree
}

// helpFor builds the help for focus f from the focused pane's own keys
// (nil for the inputs) and the keys every pane shares.
func (k keyMap) helpFor(f focus, p pane, tree bool) paneHelp {
	short := relabel
	actions := []key.Binding{k.Compose, k.Sync, k.AddPeer, k.treeKey(tree), k.Zoom, k.Copy, k.Filter, k.Network, k.Messages, k.Devnet}
	shortActions := []key.Binding{short(k.Network, "network"), short(k.Compose, "write"), short(k.Sync, "sync"), k.AddPeer, short(k.Zoom, "zoom"), short(k.NextPane, "next pane")}
	app := []key.Binding{k.NextPane, k.PrevPane, short(k.Help, "toggle help"), k.Quit}
	nav := []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}
	tail := []key.Binding{short(k.Help, "more"), k.Quit}

	switch f {
	case focusComposer:
		in := []key.Binding{k.Post, k.Leave, k.NextPane}
		return paneHelp{short: in, tail: []key.Binding{k.ForceQuit}, full: [][]key.Binding{in, {k.ForceQuit}}}
	case focusAddPeer:
		in := []key.Binding{k.Connect, k.Cancel}
		return paneHelp{short: in, tail: []key.Binding{k.ForceQuit}, full: [][]key.Binding{in, {k.ForceQuit}}}
	case focusChain:
		actions = []key.Binding{k.Compose, k.Sync, k.AddPeer, k.Zoom, k.Copy, k.Filter, k.Network, k.Messages, k.Devnet}
	case focusDetail:
		shortActions = []key.Binding{short(k.Network, "network"), short(k.Compose, "write"), short(k.Sync, "sync"), k.AddPeer}
	}
	if _, ok := p.(*netPane); ok {
		actions = []key.Binding{k.Compose, k.Sync, k.AddPeer}
		shortActions = []key.Binding{short(k.Compose, "write"), short(k.Sync, "sync"), k.AddPeer}
		app = []key.Binding{short(k.Help, "toggle help"), k.Quit}
	}
	var own []key.Binding
	if p != nil {
		own = p.help(k)
	}
	return paneHelp{
		short: append(append([]key.Binding{}, own...), shortActions...),
		tail:  tail,
		full:  [][]key.Binding{own, nav, actions, app},
	}
}
