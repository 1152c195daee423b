package ui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"
)

// Styles holds every colour and text style of the dashboard. It is built once
// by newStyles and only read afterwards, so panes share one pointer.
type Styles struct {
	Title  lipgloss.Style // the node's name in the header
	Label  lipgloss.Style // "height", "tip" and other field names
	Value  lipgloss.Style // figures next to labels
	Dim    lipgloss.Style // secondary text, column headers, side branches
	Accent lipgloss.Style
	OK     lipgloss.Style
	Warn   lipgloss.Style
	Bad    lipgloss.Style

	Selected    lipgloss.Style // the chain pane's cursor row when focused
	SelectedDim lipgloss.Style // the cursor row when the pane is not focused
	ColHeader   lipgloss.Style
	Offline     lipgloss.Style // whole rows of peers that are not online

	BorderFocused lipgloss.Style
	BorderBlurred lipgloss.Style
	PaneTitle     lipgloss.Style
	PaneTitleOn   lipgloss.Style

	// Event kinds, by node.Payload.Kind().
	Event        map[string]lipgloss.Style
	EventDefault lipgloss.Style

	BarFull  color.Color
	BarEmpty color.Color

	Help  help.Styles
	Input textinput.Styles
}

// newStyles returns the palette; with noColor (NO_COLOR, Options.NoColor) it
// sets no colour at all and relies on bold, faint and reverse, which NO_COLOR
// allows.
func newStyles(noColor bool) *Styles { return newStylesFor(noColor, false) }

// palette is the colours of one theme, as hex strings.
type palette struct{ accent, cyan, green, yellow, red, purple, grey, dark string }

var (
	// darkPalette is for dark backgrounds, the default: a terminal that
	// does not say its background is most often dark.
	darkPalette = palette{"#7D56F4", "#3FB6C8", "#4FB86B", "#D7A93B", "#E0565B", "#C874D9", "#8A8A8A", "#5C5C5C"}
	// lightPalette keeps the same hues, darker (yellow and cyan are
	// unreadable on white as they are), and blurred borders lighter.
	lightPalette = palette{"#5A32D6", "#1D7F8E", "#2E7D32", "#8A6100", "#C62828", "#8E3FA8", "#6B6B6B", "#B4B4B4"}
)

// newStylesFor is newStyles for a light or a dark background (the terminal
// says which when asked; see Model.Update).
func newStylesFor(noColor, light bool) *Styles {
	c := func(s string) color.Color {
		if noColor {
			return lipgloss.NoColor{}
		}
		return lipgloss.Color(s)
	}
	pal := darkPalette
	if light {
		pal = lightPalette
	}
	var (
		accent = c(pal.accent)
		cyan   = c(pal.cyan)
		green  = c(pal.green)
		yellow = c(pal.yellow)
		red    = c(pal.red)
		purple = c(pal.purple)
		grey   = c(pal.grey)
		dark   = c(pal.dark)
	)
	// Plain text keeps the terminal's own foreground, readable on light
	// and dark backgrounds alike.
	plain := lipgloss.NewStyle()
	fg := func(col color.Color) lipgloss.Style { return lipgloss.NewStyle().Foreground(col) }

	s := &Styles{
		Title:  fg(accent).Bold(true),
		Label:  fg(grey),
		Value:  plain.Bold(true),
		Dim:    fg(grey),
		Accent: fg(accent),
		OK:     fg(green),
		Warn:   fg(yellow),
		Bad:    fg(red).Bold(true),

		Selected:    lipgloss.NewStyle().Reverse(true),
		SelectedDim: lipgloss.NewStyle().Bold(true),
		ColHeader:   fg(grey).Bold(true),
		Offline:     fg(dark).Faint(true),

		BorderFocused: fg(accent).Bold(true),
		BorderBlurred: fg(dark),
		PaneTitle:     fg(grey).Bold(true),
		PaneTitleOn:   fg(accent).Bold(true),

		EventDefault: plain,
		BarFull:      accent,
		BarEmpty:     dark,
	}
	if noColor {
		s.Dim = lipgloss.NewStyle().Faint(true)
		s.Label = lipgloss.NewStyle()
		s.Bad = lipgloss.NewStyle().Bold(true)
	}
	s.Event = map[string]lipgloss.Style{
		"started":          fg(accent),
		"message_queued":   fg(green),
		"block_mined":      fg(green).Bold(true),
		"block_accepted":   plain,
		"block_rejected":   fg(red).Bold(true),
		"fork":             fg(yellow).Bold(true),
		"reorg":            fg(purple).Bold(true),
		"peer_online":      fg(green),
		"peer_offline":     fg(grey),
		"peer_penalized":   fg(red),
		"peer_dial_failed": fg(yellow),
		"peer_banned":      fg(red),
		"sync_started":     fg(cyan),
		"sync_backtrack":   fg(yellow),
		"sync_finished":    fg(cyan),
		"warning":          fg(yellow).Bold(true),
	}

	s.Help = help.Styles{
		ShortKey:       fg(accent).Bold(true),
		ShortDesc:      fg(grey),
		ShortSeparator: fg(dark),
		Ellipsis:       fg(dark),
		FullKey:        fg(accent).Bold(true),
		FullDesc:       fg(grey),
		FullSeparator:  fg(dark),
	}

	in := textinput.DefaultStyles(true)
	in.Focused.Prompt = fg(accent).Bold(true)
	in.Focused.Text = lipgloss.NewStyle()
	in.Focused.Placeholder = fg(grey)
	in.Blurred.Prompt = fg(grey)
	in.Blurred.Text = fg(grey)
	in.Blurred.Placeholder = fg(grey)
	in.Cursor.Color = lipgloss.NoColor{} // reverse video of the text itself
	// A blinking cursor would redraw twice a second for nothing and make
	// golden files depend on timing.
	in.Cursor.Blink = false
	s.Input = in
	return s
}

// eventStyle returns the colour of an event kind.
func (s *Styles) eventStyle(kind string) lipgloss.Style {
	if st, ok := s.Event[kind]; ok {
		return st
	}
	return s.EventDefault
}

// statusStyle is the style a status of this kind is drawn in.
func (s *Styles) statusStyle(kind statusKind) lipgloss.Style {
	switch kind {
	case statusOK:
		return s.OK
	case statusBad:
		return s.Bad
	}
	return s.Dim
}
