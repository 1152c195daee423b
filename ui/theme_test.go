package ui

import (
	"image/color"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"
)

func sameColor(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// TestLightBackgroundPicksTheLightPalette: the terminal's answer to the
// background query switches every pane to the light palette (and back);
// NO_COLOR stays without colour either way.
func TestLightBackgroundPicksTheLightPalette(t *testing.T) {
	m, _ := busyModel(t, 100, 30)
	accent := func(m Model) color.Color { return m.st.Accent.GetForeground() }
	if !sameColor(accent(m), lipgloss.Color(darkPalette.accent)) {
		t.Fatalf("before any answer the palette is not the dark one: accent %v", accent(m))
	}
	dark := ansiScreen(m)

	m, _ = update(m, tea.BackgroundColorMsg{Color: color.White})
	if !m.light || !sameColor(accent(m), lipgloss.Color(lightPalette.accent)) {
		t.Fatalf("white background: light %v, accent %v", m.light, accent(m))
	}
	// The panes share the styles: the chain pane draws in the new colours.
	if !sameColor(m.chain.st.Accent.GetForeground(), lipgloss.Color(lightPalette.accent)) {
		t.Error("the chain pane kept the old styles")
	}
	if light := ansiScreen(m); light == dark {
		t.Error("the screen's colours did not change")
	}
	m, _ = update(m, tea.BackgroundColorMsg{Color: color.Black})
	if m.light || !sameColor(accent(m), lipgloss.Color(darkPalette.accent)) {
		t.Fatalf("black background: light %v, accent %v", m.light, accent(m))
	}

	nc := New(m.n, Options{NoColor: true})
	nc, _ = update(nc, tea.WindowSizeMsg{Width: 100, Height: 30}, tea.BackgroundColorMsg{Color: color.White})
	if _, ok := nc.st.Accent.GetForeground().(lipgloss.NoColor); !ok {
		t.Errorf("NO_COLOR on a light background has colour %v", nc.st.Accent.GetForeground())
	}
}

// ansiScreen is the view rendered in true colour, escapes kept.
func ansiScreen(m Model) string {
	var b strings.Builder
	w := colorprofile.NewWriter(&b, nil)
	w.Profile = colorprofile.TrueColor
	_, _ = w.WriteString(m.View().Content)
	return b.String()
}
