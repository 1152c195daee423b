package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/meshchain/meshchain/node"
)

// chainPane lists the best chain's newest blocks, or (after t) the recent
// fork tree. Both views have a cursor; Enter opens the block under it.
type chainPane struct {
	st      *Styles
	w, h    int
	focused bool

	blocks []node.BlockSummary // newest first
	cursor int
	offset int

	treeMode   bool
	tree       []node.TreeNode
	rows       []treeRow
	treeCursor int // index into rows, always a block row when any exists
	treeOffset int
	olderForks int // side blocks forking below the kept best chain, not drawn

	tip    uint64
	mining *node.MiningState
	now    time.Time
	loc    *time.Location
}

func (p *chainPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.follow()
}

// visible is the number of rows of blocks that fit under the column headers.
func (p *chainPane) visible() int {
	if p.treeMode {
		return max(1, p.h-2)
	}
	return max(1, p.h-3)
}

// SetBlocks replaces the list, keeping the cursor on the same block unless it
// was on the newest one, in which case it stays on the (new) newest.
func (p *chainPane) SetBlocks(blocks []node.BlockSummary, tip uint64) {
	sel := ""
	if p.cursor > 0 && p.cursor < len(p.blocks) {
		sel = p.blocks[p.cursor].Hash
	}
	p.blocks = blocks
	p.tip = tip
	p.cursor = 0
	if sel != "" {
		for i, b := range blocks {
			if b.Hash == sel {
				p.cursor = i
				break
			}
		}
	}
	p.follow()
}

// SetTree replaces the fork tree, keeping the cursor on the same block.
func (p *chainPane) SetTree(tree []node.TreeNode, mining *node.MiningState) {
	sel := ""
	if r := p.treeSelected(); r != nil && p.treeCursor != p.firstBlockRow(0, 1) {
		sel = r.Hash // the cursor stays on a block the user moved to
	}
	p.tree = tree
	p.mining = mining
	if len(tree) == 0 && len(p.blocks) > 0 {
		// A node that sends no tree still has a best chain: draw that.
		for _, b := range p.blocks {
			tree = append([]node.TreeNode{{BlockSummary: b, OnBest: true, MiningOn: mining != nil && b.Hash == mining.Parent}}, tree...)
		}
	}
	p.rows = layoutTree(tree, mining)
	if p.olderForks > 0 {
		p.rows = append(p.rows, treeRow{note: fmt.Sprintf("older forks: %s more, below the %s blocks kept", commas(uint64(p.olderForks)), commas(keepBest))})
	}
	p.treeCursor = p.firstBlockRow(0, 1)
	if sel != "" {
		for i, r := range p.rows {
			if r.node != nil && r.node.Hash == sel {
				p.treeCursor = i
				break
			}
		}
	}
	p.follow()
}

// SetMining updates the block being mined without a new snapshot.
func (p *chainPane) SetMining(m *node.MiningState) {
	if (m == nil) == (p.mining == nil) {
		p.mining = m
		return
	}
	p.SetTree(p.tree, m)
}

func (p *chainPane) ToggleTree() {
	p.treeMode = !p.treeMode
	p.follow()
}

// firstBlockRow finds the nearest row holding a block from i in direction dir.
func (p *chainPane) firstBlockRow(i, dir int) int {
	for ; i >= 0 && i < len(p.rows); i += dir {
		if p.rows[i].node != nil {
			return i
		}
	}
	return -1
}

func (p *chainPane) treeSelected() *node.TreeNode {
	if p.treeCursor >= 0 && p.treeCursor < len(p.rows) {
		return p.rows[p.treeCursor].node
	}
	return nil
}

// Selected is the block under the cursor.
func (p *chainPane) Selected() (node.BlockSummary, bool) {
	if p.treeMode {
		if n := p.treeSelected(); n != nil {
			return n.BlockSummary, true
		}
		return node.BlockSummary{}, false
	}
	if p.cursor >= 0 && p.cursor < len(p.blocks) {
		return p.blocks[p.cursor], true
	}
	return node.BlockSummary{}, false
}

// Move moves the cursor by delta rows (negative: towards the newest).
func (p *chainPane) Scroll(delta int) {
	if p.treeMode {
		dir := 1
		if delta < 0 {
			dir, delta = -1, -delta
		}
		for ; delta > 0; delta-- {
			next := p.firstBlockRow(p.treeCursor+dir, dir)
			if next < 0 {
				break
			}
			p.treeCursor = next
		}
	} else {
		p.cursor = clamp(p.cursor+delta, 0, len(p.blocks)-1)
	}
	p.follow()
}

// follow scrolls so the cursor stays in view.
func (p *chainPane) follow() {
	n := p.visible()
	p.offset = scrollTo(p.offset, p.cursor, n, len(p.blocks))
	p.treeOffset = scrollTo(p.treeOffset, max(p.treeCursor, 0), n, len(p.rows))
	if p.treeCursor == p.firstBlockRow(0, 1) {
		p.treeOffset = 0 // show the mining row above the first block
	}
}

func (p *chainPane) View() string {
	title := "Chain"
	note := fmt.Sprintf("%s %s · newest first", commas(uint64(len(p.blocks))), plural(uint64(len(p.blocks)), "block", "blocks"))
	var lines []string
	if p.treeMode {
		title = "Fork tree"
		note = "● best chain · ○ side branch"
		lines = p.treeLines(p.w - 4)
	} else {
		lines = p.listLines(p.w - 4)
	}
	return p.st.box(title, note, "", lines, p.w, p.h, p.focused)
}

// chainColumns decides which columns fit in width w.
type chainColumns struct {
	height, time int
	sender, wide bool
}

func (p *chainPane) columns(w int) chainColumns {
	c := chainColumns{height: 6, time: 8}
	for _, b := range p.blocks {
		c.height = max(c.height, len(commas(b.Height)))
	}
	c.sender = w >= 56
	if w >= 100 {
		c.wide, c.time = true, 19
	}
	return c
}

func (p *chainPane) listLines(w int) []string {
	if len(p.blocks) == 0 {
		return []string{p.st.Dim.Render("no blocks yet"), "",
			p.st.Dim.Render("press i to write a message; it is mined into the next block")}
	}
	c := p.columns(w)
	head := "  " + fitRight("height", c.height) + " " + fit("hash", 8) + " "
	if c.sender {
		head += fit("sender", 8) + " "
	}
	head += fit("time", c.time) + " message"
	lines := []string{p.st.ColHeader.Render(fit(head, w))}
	n := p.visible()
	for i := p.offset; i < len(p.blocks) && i < p.offset+n; i++ {
		b := p.blocks[i]
		mark := "  "
		if i == p.cursor {
			mark = "▸ "
		}
		row := mark + fitRight(commas(b.Height), c.height) + " " + fit(shortHash(b.Hash), 8) + " "
		if c.sender {
			row += fit(short(b.Sender), 8) + " "
		}
		row += fit(blockTime(b.TimeStamp, p.now, p.loc, c.wide), c.time) + " " + messageText(b.Message)
		row = fit(row, w)
		switch {
		case i == p.cursor && p.focused:
			row = p.st.Selected.Render(row)
		case i == p.cursor:
			row = p.st.SelectedDim.Render(row)
		case b.Height == 0:
			row = p.st.Dim.Render(row)
		}
		lines = append(lines, row)
	}
	return lines
}

func (p *chainPane) treeLines(w int) []string {
	if len(p.rows) == 0 {
		return []string{p.st.Dim.Render("no blocks yet")}
	}
	n := p.visible()
	var lines []string
	for i := p.treeOffset; i < len(p.rows) && i < p.treeOffset+n; i++ {
		r := p.rows[i]
		mark := "  "
		if i == p.treeCursor {
			mark = "▸ "
		}
		graph := p.st.Accent.Render(r.graph)
		var text string
		switch {
		case r.mining && p.mining != nil:
			text = p.st.Accent.Render(fmt.Sprintf("#%s being mined: %s", commas(p.mining.Height), quote(p.mining.Message)))
		case r.node != nil:
			text = p.treeText(r.node, w-2-lipgloss.Width(r.graph)-1)
		case r.note != "":
			text = p.st.Dim.Render(r.note)
		}
		row := mark + graph
		if text != "" {
			row += " " + text
		}
		row = fit(row, w)
		if i == p.treeCursor {
			if p.focused {
				row = p.st.Selected.Render(row)
			} else {
				row = p.st.SelectedDim.Render(row)
			}
		}
		lines = append(lines, row)
	}
	return lines
}

// treeText is a block's line in the fork view, fitted to w: the message is
// cut before the tags, which say why the block matters.
func (p *chainPane) treeText(n *node.TreeNode, w int) string {
	head := fmt.Sprintf("#%s %s", commas(n.Height), shortHash(n.Hash))
	if w >= 60 {
		head += " " + short(n.Sender)
	}
	var tags []string
	if n.MiningOn {
		tags = append(tags, p.st.Accent.Render("[mining on this]"))
	}
	if n.ReorgAt {
		tags = append(tags, p.st.eventStyle("reorg").Render("[reorg here]"))
	}
	if n.LostWhy != "" {
		tags = append(tags, p.st.Bad.Render("[lost: "+Sanitize(n.LostWhy)+"]"))
	}
	if n.Remined > 0 {
		tags = append(tags, p.st.OK.Render("[re-mined as #"+commas(n.Remined)+"]"))
	}
	tag := strings.Join(tags, " ")
	room := w - lipgloss.Width(head) - 1
	if tag != "" {
		room -= lipgloss.Width(tag) + 1
	}
	body := head
	if room >= 8 {
		body += " " + trunc(quote(n.Message), room)
	} else if tag == "" {
		body += " " + trunc(quote(n.Message), max(room, 8))
	}
	// A narrow pane keeps the tag whole rather than a few letters of
	// the message: why a branch lost matters more than what it said.
	if !n.OnBest {
		body = p.st.Dim.Render(body)
	}
	if tag == "" {
		return body
	}
	return body + " " + tag
}

// scrollTo returns the offset that keeps cursor within a window of n rows
// over total rows, moving as little as possible from off.
func scrollTo(off, cursor, n, total int) int {
	if cursor < off {
		off = cursor
	}
	if cursor >= off+n {
		off = cursor - n + 1
	}
	return clamp(off, 0, max(0, total-n))
}

func clamp(v, lo, hi int) int {
	if hi < lo {
		return lo
	}
	return min(max(v, lo), hi)
}
