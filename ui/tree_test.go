package ui

import (
	"strings"
	"testing"

	"github.com/meshchain/meshchain/node"
)

// tn builds a tree node whose hash is its label.
func tn(label, parent string, h uint64, best bool) node.TreeNode {
	return node.TreeNode{BlockSummary: node.BlockSummary{Height: h, Hash: label, PrevHash: parent}, OnBest: best}
}

// drawTree renders layoutTree as "graph label" lines for comparison.
func drawTree(nodes []node.TreeNode, mining *node.MiningState) string {
	var out []string
	for _, r := range layoutTree(nodes, mining) {
		l := r.graph
		switch {
		case r.mining:
			l += " mining"
		case r.node != nil:
			l += " " + r.node.Hash
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return strings.Join(out, "\n")
}

func TestLayoutTree(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []node.TreeNode
		mining *node.MiningState
		want   string
	}{
		{
			name: "empty",
		},
		{
			name:  "straight chain",
			nodes: []node.TreeNode{tn("a1", "a0", 1, true), tn("a2", "a1", 2, true), tn("a3", "a2", 3, true)},
			want:  "● a3\n● a2\n● a1",
		},
		{
			name: "one side branch",
			nodes: []node.TreeNode{
				tn("a1", "a0", 1, true), tn("a2", "a1", 2, true), tn("b2", "a1", 2, false),
				tn("a3", "a2", 3, true), tn("b3", "b2", 3, false),
			},
			want: "●   a3\n" +
				"│ ○ b3\n" +
				"● │ a2\n" +
				"│ ○ b2\n" +
				"├─╯\n" +
				"●   a1",
		},
		{
			name: "mining row above the tip",
			nodes: []node.TreeNode{
				tn("a1", "a0", 1, true), {BlockSummary: node.BlockSummary{Height: 2, Hash: "a2", PrevHash: "a1"}, OnBest: true, MiningOn: true},
			},
			mining: &node.MiningState{Height: 3, Parent: "a2"},
			want:   "◌ mining\n● a2\n● a1",
		},
		{
			name: "two branches at different heights share a lane",
			nodes: []node.TreeNode{
				tn("a1", "a0", 1, true), tn("b2", "a1", 2, false),
				tn("a2", "a1", 2, true), tn("a3", "a2", 3, true),
				tn("a4", "a3", 4, true), tn("c4", "a3", 4, false),
			},
			want: "●   a4\n" +
				"│ ○ c4\n" +
				"├─╯\n" +
				"●   a3\n" +
				"●   a2\n" +
				"│ ○ b2\n" +
				"├─╯\n" +
				"●   a1",
		},
		{
			name: "overlapping branches get their own lanes",
			nodes: []node.TreeNode{
				tn("a1", "a0", 1, true), tn("a2", "a1", 2, true), tn("b2", "a1", 2, false),
				tn("a3", "a2", 3, true), tn("b3", "b2", 3, false), tn("c3", "a2", 3, false),
				tn("a4", "a3", 4, true), tn("b4", "b3", 4, false),
			},
			// The branch that joins higher takes the nearer lane, so the
			// lines do not cross.
			want: "●     a4\n" +
				"│   ○ b4\n" +
				"●   │ a3\n" +
				"│ ○ │ c3\n" +
				"│ │ ○ b3\n" +
				"├─╯ │\n" +
				"●   │ a2\n" +
				"│   ○ b2\n" +
				"├───╯\n" +
				"●     a1",
		},
		{
			name: "a fork off a side branch nests to its right",
			nodes: []node.TreeNode{
				tn("a1", "a0", 1, true), tn("a2", "a1", 2, true), tn("b2", "a1", 2, false),
				tn("b3", "b2", 3, false), tn("c3", "b2", 3, false), tn("a3", "a2", 3, true),
			},
			want: "●     a3\n" +
				"│ ○   b3\n" +
				"│ │ ○ c3\n" +
				"│ ├─╯\n" +
				"● │   a2\n" +
				"│ ○   b2\n" +
				"├─╯\n" +
				"●     a1",
		},
		{
			name: "a nested branch crosses a lane it passes",
			nodes: []node.TreeNode{
				tn("a1", "a0", 1, true), tn("a2", "a1", 2, true), tn("a3", "a2", 3, true), tn("a4", "a3", 4, true),
				tn("b2", "a1", 2, false), tn("b3", "b2", 3, false), tn("b4", "b3", 4, false),
				tn("c3", "a2", 3, false), tn("d4", "c3", 4, false), tn("e4", "c3", 4, false),
			},
			want: "●       a4\n" +
				"│ ○     d4\n" +
				"│ │ ○   b4\n" +
				"│ │ │ ○ e4\n" +
				"│ ├─┼─╯\n" +
				"● │ │   a3\n" +
				"│ ○ │   c3\n" +
				"│ │ ○   b3\n" +
				"├─╯ │\n" +
				"●   │   a2\n" +
				"│   ○   b2\n" +
				"├───╯\n" +
				"●       a1",
		},
		{
			name:  "side block whose parent is not in the tree",
			nodes: []node.TreeNode{tn("a5", "a4", 5, true), tn("x5", "gone", 5, false), tn("a6", "a5", 6, true)},
			want:  "●   a6\n●   a5\n  ○ x5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := drawTree(tt.nodes, tt.mining); got != tt.want {
				t.Errorf("got:\n%s\n\nwant:\n%s", got, tt.want)
			}
		})
	}
}
