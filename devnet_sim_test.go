package main

import (
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSimDelaysModel: the seeded delay model is deterministic, symmetric,
// inside 5-300 ms, and another seed gives other delays.
func TestSimDelaysModel(t *testing.T) {
	a, b, c := newSimDelays(64, 7), newSimDelays(64, 7), newSimDelays(64, 8)
	differ := 0
	for i := range 64 {
		for j := range 64 {
			d := a.delay[i][j]
			if d != b.delay[i][j] {
				t.Fatalf("seed 7 gave %v then %v for link %d-%d", d, b.delay[i][j], i, j)
			}
			if d != a.delay[j][i] {
				t.Fatalf("link %d-%d is %v one way and %v the other", i, j, d, a.delay[j][i])
			}
			if i == j {
				continue
			}
			if d < 5*time.Millisecond || d > 300*time.Millisecond {
				t.Fatalf("link %d-%d: %v is outside 5-300 ms", i, j, d)
			}
			if d != c.delay[i][j] {
				differ++
			}
		}
	}
	if differ == 0 {
		t.Fatal("seeds 7 and 8 gave the same delays")
	}
}

// TestSimShortest: Dijkstra over a small graph, a detour cheaper than the
// direct link included, and an unreachable node.
func TestSimShortest(t *testing.T) {
	ms := time.Millisecond
	d := &simDelays{delay: [][]time.Duration{
		{0, 100, 10, 0, 0},
		{100, 0, 20, 5, 0},
		{10, 20, 0, 0, 0},
		{0, 5, 0, 0, 0},
		{0, 0, 0, 0, 0},
	}}
	for i := range d.delay {
		for j := range d.delay[i] {
			d.delay[i][j] *= ms
		}
	}
	g := simGraph{adj: [][]int{{1, 2}, {0, 2, 3}, {0, 1}, {1}, {}}}
	dist, hops := g.shortest(0, d)
	want := []time.Duration{0, 30 * ms, 10 * ms, 35 * ms, -1}
	wantHops := []int{0, 2, 1, 3, 0}
	for i := range want {
		if dist[i] != want[i] || hops[i] != wantHops[i] {
			t.Errorf("node %d: got %v in %d hops, want %v in %d", i, dist[i], hops[i], want[i], wantHops[i])
		}
	}
	if g.connected() {
		t.Error("a graph with an isolated node counts as connected")
	}
}

// TestSimulation32 runs the simulation small: 32 nodes with at most 6
// dialled peers, 3 blocks. It checks what must hold on any machine: every
// node gets every block, no node gets one sooner than the shortest path
// allows (a ratio under 1 would mean the graph or the delays are measured
// wrong), the graph is not complete, every node ends on one tip, no node's
// goroutines grow and none is left after the stop. The ratios' targets are
// figures, not assertions: they depend on the machine's load.
func TestSimulation32(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 32 nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := runSim(ctx, simConfig{Nodes: 32, MaxPeers: 6, Blocks: 3, Seed: 3, Gap: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.writeText(&out)
	t.Log(out.String())
	if len(rep.Blocks) != 3 {
		t.Fatalf("%d blocks measured, want 3", len(rep.Blocks))
	}
	for k, b := range rep.Blocks {
		for i, r := range b.Ratios {
			if i == b.Miner {
				continue
			}
			if !(r >= 1) {
				t.Errorf("block %d reached node%d after %.1f ms, under the %.1f ms shortest path from node%d",
					k+1, i+1, b.Arrival[i], b.Bound[i], b.Miner+1)
			}
		}
	}
	if rep.DegreeMax >= rep.Nodes-1 || rep.DegreeMin < 1 {
		t.Errorf("degrees %d to %d: want a connected graph that is not complete", rep.DegreeMin, rep.DegreeMax)
	}
	if !rep.Converged || rep.Height != 3 {
		t.Errorf("converged %v at height %d, want one tip at height 3", rep.Converged, rep.Height)
	}
	if len(rep.GrewNodes) > 0 {
		t.Errorf("goroutines grew on nodes %v", rep.GrewNodes)
	}
	if rep.GoroutinesLeft != 0 {
		t.Errorf("%d of the nodes' goroutines left after the stop", rep.GoroutinesLeft)
	}
}

// TestSimulateCommand: `devnet -n 12 --simulate --json` prints one JSON
// report with a ratio for the run and one figure per node; the text form
// has the table and the plot.
func TestSimulateCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 12 nodes twice")
	}
	cmd := exec.Command(binPath, "devnet", "-n", "12", "--simulate", "--blocks", "2", "--max-peers", "4", "--seed", "5", "--json")
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("devnet --simulate --json: %v\n%s", err, out)
	}
	var rep struct {
		Nodes       int     `json:"nodes"`
		MaxPeers    int     `json:"max_peers"`
		Seed        uint64  `json:"seed"`
		RatioMedian float64 `json:"ratio_median"`
		Converged   bool    `json:"converged"`
		Blocks      []any   `json:"blocks"`
		PerNode     []struct {
			Node        int     `json:"node"`
			MedianRatio float64 `json:"median_ratio"`
		} `json:"per_node"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("not one JSON report: %v\n%s", err, out)
	}
	if rep.Nodes != 12 || rep.MaxPeers != 4 || rep.Seed != 5 || len(rep.Blocks) != 2 || len(rep.PerNode) != 12 {
		t.Fatalf("report of %d nodes, %d peers, seed %d, %d blocks, %d per-node rows; want 12, 4, 5, 2, 12",
			rep.Nodes, rep.MaxPeers, rep.Seed, len(rep.Blocks), len(rep.PerNode))
	}
	if rep.RatioMedian < 1 || !rep.Converged {
		t.Fatalf("ratio median %.3f, converged %v", rep.RatioMedian, rep.Converged)
	}

	text, code := runCmd(t, "", "devnet", "-n", "6", "--simulate", "--blocks", "1", "--max-peers", "3")
	if code != 0 {
		t.Fatalf("devnet --simulate exit %d:\n%s", code, text)
	}
	for _, want := range []string{"arrival ÷ shortest-path bound, median", "every node on one tip", "arrival ÷ bound, 5 node-blocks", "per node"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
	if _, code := runCmd(t, "", "devnet", "-n", "1", "--simulate"); code != 2 {
		t.Errorf("-n 1 --simulate: exit %d, want 2", code)
	}
}
