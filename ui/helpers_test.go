package ui

import (
	"time"

	tea "charm.land/bubbletea/v2"
)

// testModel is New with the fixed clock and UTC, so output is the same on
// every machine.
func testModel(n Node) Model { return testModelOpts(n, Options{Title: "devnet node 1"}) }

// testModelOpts is testModel with other options.
func testModelOpts(n Node, opts Options) Model {
	m := New(n, opts)
	m.now = func() time.Time { return fixedNow }
	m.clock = fixedNow
	m.loc = time.UTC
	m.layout()
	return m
}

func keyText(s string) tea.KeyPressMsg {
	r := []rune(s)[0]
	return tea.KeyPressMsg{Code: r, Text: s}
}

var (
	keyTab      = tea.KeyPressMsg{Code: tea.KeyTab}
	keyShiftTab = tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	keyEnter    = tea.KeyPressMsg{Code: tea.KeyEnter}
	keyEsc      = tea.KeyPressMsg{Code: tea.KeyEscape}
	keyCtrlC    = tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	keyDown     = tea.KeyPressMsg{Code: tea.KeyDown}
)

// update feeds msgs to m in order and returns the model and the last command.
func update(m Model, msgs ...tea.Msg) (Model, tea.Cmd) {
	var cmd tea.Cmd
	for _, msg := range msgs {
		var tm tea.Model
		tm, cmd = m.Update(msg)
		m = tm.(Model)
	}
	return m, cmd
}
