package ui

import (
	"sort"
	"strings"

	"github.com/meshchain/meshchain/node"
)

// Glyphs of the fork tree, drawn like `git log --graph` with box drawing.
const (
	glyphBest    = "●"
	glyphSide    = "○"
	glyphMining  = "◌"
	glyphLine    = "│"
	glyphJoin    = "├"
	glyphStart   = "╭"
	glyphCorner  = "╯"
	glyphCross   = "┼"
	glyphHorizon = "─"
)

// treeRow is one line of the fork view: the graph prefix and what it shows.
type treeRow struct {
	graph  string
	node   *node.TreeNode // nil for connector, mining and note rows
	mining bool           // the block being mined, above the block it extends
	note   string         // a line of text under the tree ("older forks: …")
}

// branch is a run of side-chain blocks from a tip down to the block below
// which it joins another lane.
type branch struct {
	members   []int // indices into the node slice, tip first
	low, high uint64
	parent    int // index of the block it forks from, -1 when not in the tree
	depth     int // 0 when forking off the best chain
	lane      int
}

// layoutTree lays the recent block tree out newest first: the best chain is
// lane 0 (the trunk), each side branch gets a lane to its right and a
// connector row where it joins the block it forks from. mining, when not nil,
// adds a row for the block being mined above the block it builds on.
func layoutTree(nodes []node.TreeNode, mining *node.MiningState) []treeRow {
	if len(nodes) == 0 {
		return nil
	}
	byHash := make(map[string]int, len(nodes))
	for i, n := range nodes {
		byHash[n.Hash] = i
	}
	hasChild := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		hasChild[n.PrevHash] = true
	}

	lane := make([]int, len(nodes))
	for i, n := range nodes {
		lane[i] = -1
		if n.OnBest {
			lane[i] = 0
		}
	}

	// Claim side branches from the highest tip down, so the longest path to
	// the trunk belongs to one branch and shorter forks off it nest inside.
	order := make([]int, 0, len(nodes))
	for i, n := range nodes {
		if !n.OnBest {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return nodes[order[a]].Height > nodes[order[b]].Height })
	owner := make([]int, len(nodes)) // branch index of each side block
	var branches []*branch
	for _, start := range order {
		if lane[start] != -1 {
			continue
		}
		b := &branch{high: nodes[start].Height, parent: -1}
		cur := start
		for cur >= 0 && lane[cur] == -1 {
			lane[cur] = -2 // claimed; real lane set below
			owner[cur] = len(branches)
			b.members = append(b.members, cur)
			b.low = nodes[cur].Height
			p, ok := byHash[nodes[cur].PrevHash]
			if !ok {
				cur = -1
				break
			}
			cur = p
		}
		b.parent = cur
		if cur >= 0 && !nodes[cur].OnBest {
			b.depth = branches[owner[cur]].depth + 1
		}
		branches = append(branches, b)
	}

	// The mining row extends the lane of the block mined on.
	miningAt := -1
	if mining != nil {
		for i, n := range nodes {
			if n.MiningOn || (n.Hash == mining.Parent && miningAt < 0) {
				miningAt = i
			}
		}
		if miningAt >= 0 && hasChild[nodes[miningAt].Hash] {
			miningAt = -1 // not a tip: the tag on the block says enough
		}
	}
	if miningAt >= 0 && !nodes[miningAt].OnBest {
		b := branches[owner[miningAt]]
		b.high = max(b.high, nodes[miningAt].Height+1)
	}

	// Lanes: branches nearer the trunk first, those joining higher first (so
	// lanes cross as little as possible); a nested branch sits right of the
	// lane it forks from.
	laneOrder := make([]*branch, len(branches))
	copy(laneOrder, branches)
	parentHeight := func(b *branch) uint64 {
		if b.parent < 0 {
			return b.low
		}
		return nodes[b.parent].Height
	}
	sort.SliceStable(laneOrder, func(i, j int) bool {
		if laneOrder[i].depth != laneOrder[j].depth {
			return laneOrder[i].depth < laneOrder[j].depth
		}
		return parentHeight(laneOrder[i]) > parentHeight(laneOrder[j])
	})
	type span struct{ lo, hi uint64 }
	used := map[int][]span{}
	maxLane := 0
	for _, b := range laneOrder {
		lo := b.low
		if b.parent >= 0 && lo > 0 {
			lo-- // the connector row sits just below the branch's lowest block
		}
		first := 1
		if b.parent >= 0 && lane[b.parent] > 0 {
			first = lane[b.parent] + 1
		}
		for l := first; ; l++ {
			free := true
			for _, s := range used[l] {
				if lo <= s.hi && s.lo <= b.high {
					free = false
					break
				}
			}
			if free {
				b.lane = l
				used[l] = append(used[l], span{lo, b.high})
				break
			}
		}
		for _, m := range b.members {
			lane[m] = b.lane
		}
		maxLane = max(maxLane, b.lane)
	}

	// lowest[i] says that block i is the last of its lane's run: the trunk's
	// lowest block, or a branch's lowest block with no connector below it.
	lowest := make(map[int]bool)
	trunkLowest := -1
	for i, n := range nodes {
		if n.OnBest && (trunkLowest < 0 || n.Height < nodes[trunkLowest].Height) {
			trunkLowest = i
		}
	}
	if trunkLowest >= 0 {
		lowest[trunkLowest] = true
	}
	for _, b := range branches {
		if b.parent < 0 {
			lowest[b.members[len(b.members)-1]] = true
		}
	}

	// open[l]: a line in lane l has started above and continues below, as
	// in git's graph: lines only join rows that are connected.
	open := make([]bool, maxLane+1)
	cellsFor := func(self int, glyph string) string {
		var sb strings.Builder
		for l := 0; l <= maxLane; l++ {
			switch {
			case l == self:
				sb.WriteString(glyph)
			case open[l]:
				sb.WriteString(glyphLine)
			default:
				sb.WriteString(" ")
			}
			if l < maxLane {
				sb.WriteString(" ")
			}
		}
		return sb.String()
	}

	rowsAt := make(map[uint64][]int)
	var heights []uint64
	for i, n := range nodes {
		if _, ok := rowsAt[n.Height]; !ok {
			heights = append(heights, n.Height)
		}
		rowsAt[n.Height] = append(rowsAt[n.Height], i)
	}
	if miningAt >= 0 {
		if h := nodes[miningAt].Height + 1; rowsAt[h] == nil {
			heights = append(heights, h)
		}
	}
	sort.Slice(heights, func(i, j int) bool { return heights[i] > heights[j] })

	var rows []treeRow
	for _, h := range heights {
		if miningAt >= 0 && h == nodes[miningAt].Height+1 {
			l := lane[miningAt]
			rows = append(rows, treeRow{graph: cellsFor(l, glyphMining), mining: true})
			open[l] = true
		}
		at := rowsAt[h]
		sort.SliceStable(at, func(a, b int) bool {
			na, nb := nodes[at[a]], nodes[at[b]]
			if na.OnBest != nb.OnBest {
				return na.OnBest
			}
			return lane[at[a]] < lane[at[b]]
		})
		for _, i := range at {
			glyph := glyphSide
			if nodes[i].OnBest {
				glyph = glyphBest
			}
			rows = append(rows, treeRow{graph: cellsFor(lane[i], glyph), node: &nodes[i]})
			open[lane[i]] = !lowest[i]
		}
		// Connectors of branches whose lowest block is at h, rightmost first.
		var joining []*branch
		for _, b := range branches {
			if b.low == h && b.parent >= 0 {
				joining = append(joining, b)
			}
		}
		sort.SliceStable(joining, func(i, j int) bool { return joining[i].lane > joining[j].lane })
		for _, b := range joining {
			p := lane[b.parent]
			var sb strings.Builder
			for l := 0; l <= maxLane; l++ {
				c, gap := " ", " "
				switch {
				case l == p:
					c = glyphJoin
					if !open[p] {
						c = glyphStart
					}
					if p < b.lane {
						gap = glyphHorizon
					}
				case l == b.lane:
					c = glyphCorner
				case l > p && l < b.lane:
					c, gap = glyphHorizon, glyphHorizon
					if open[l] {
						c = glyphCross
					}
				case open[l]:
					c = glyphLine
				}
				sb.WriteString(c)
				if l < maxLane {
					sb.WriteString(gap)
				}
			}
			rows = append(rows, treeRow{graph: sb.String()})
			open[b.lane] = false
			open[p] = true
		}
	}
	return rows
}
