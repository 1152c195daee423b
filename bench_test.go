package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestBenchQuickJSON runs `meshchain bench --quick --json` as CI does: it
// must finish, exit 0 whatever the ratios, print one JSON report with the
// machine and every figure, and show progress on standard error.
func TestBenchQuickJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every figure, about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "bench", "--quick", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bench --quick did not finish in 3 min; stderr:\n%s", stderr.String())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("bench --quick exited %d; stderr:\n%s\nstdout:\n%s", ee.ExitCode(), stderr.String(), stdout.String())
		}
		t.Fatal(err)
	}
	t.Logf("bench --quick took %.1f s", time.Since(start).Seconds())

	var report struct {
		Machine struct {
			Cores int    `json:"cores"`
			CPU   string `json:"cpu"`
			Go    string `json:"go"`
		} `json:"machine"`
		Quick   bool `json:"quick"`
		Figures []struct {
			Name         string   `json:"name"`
			Value        *float64 `json:"value"`
			Unit         string   `json:"unit"`
			Baseline     *float64 `json:"baseline"`
			BaselineUnit string   `json:"baseline_unit"`
			Ratio        *float64 `json:"ratio"`
			Target       string   `json:"target"`
			Pass         *bool    `json:"pass"`
		} `json:"figures"`
	}
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&report); err != nil {
		t.Fatalf("stdout is not the bench report: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON value")
	}
	if report.Machine.Cores < 1 || report.Machine.CPU == "" || !strings.HasPrefix(report.Machine.Go, "go") {
		t.Errorf("machine = %+v, want cores, cpu and a Go version", report.Machine)
	}
	if !report.Quick {
		t.Error("quick = false for a --quick run")
	}
	want := []string{"mining ÷ bulk", "open ", "resident memory", "sync ", "verify ", "spread to 8 nodes, median", "spread to 8 nodes, worst", "keypress"}
	for _, w := range want {
		found := false
		for _, f := range report.Figures {
			found = found || strings.HasPrefix(f.Name, w)
		}
		if !found {
			t.Errorf("no figure named %q...", w)
		}
	}
	for _, f := range report.Figures {
		if f.Value == nil || f.Baseline == nil || f.Ratio == nil || f.Pass == nil {
			t.Errorf("figure %q misses value, baseline, ratio or pass", f.Name)
			continue
		}
		if !(*f.Value > 0) || math.IsInf(*f.Value, 0) || !(*f.Baseline > 0) || math.IsInf(*f.Baseline, 0) || math.IsNaN(*f.Ratio) {
			t.Errorf("figure %q: value %v, baseline %v, ratio %v: want finite, positive", f.Name, *f.Value, *f.Baseline, *f.Ratio)
		}
		if f.Unit == "" || f.BaselineUnit == "" || f.Target == "" {
			t.Errorf("figure %q: unit %q, baseline unit %q, target %q", f.Name, f.Unit, f.BaselineUnit, f.Target)
		}
	}
	if n := strings.Count(stderr.String(), "measuring "); n < 6 {
		t.Errorf("stderr shows %d progress lines, want one per measurement (6):\n%s", n, stderr.String())
	}
}

// TestBenchTableColumns checks the text table: one header and one row per
// figure, columns aligned, notes numbered below.
func TestBenchTableColumns(t *testing.T) {
	r := benchReport{
		Machine: benchMachine{Cores: 2, CPU: "Test CPU", Go: "go1.26", OS: "linux", Arch: "amd64"},
		Figures: []benchFigure{
			{Name: "short", Value: 13.2e6, Unit: "attempts/s", Baseline: 5.6e6, BaselineUnit: "compressions/s", Ratio: 2.36, Target: "ratio >= 1", Pass: true},
			{Name: "a much longer figure name", Value: 0.42, Unit: "s", Baseline: 0.3, BaselineUnit: "s", Ratio: 1.4, Target: "< 0.5 s", Pass: false, Note: "why"},
		},
	}
	var buf bytes.Buffer
	if err := r.writeTable(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(buf.String(), "\n")
	var rows []string
	for _, l := range lines {
		if strings.HasPrefix(l, "figure") || strings.HasPrefix(l, "short") || strings.HasPrefix(l, "a much") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("table rows %q, want a header and 2 figures:\n%s", rows, buf.String())
	}
	col := strings.Index(rows[0], "ours")
	for _, row := range rows[1:] {
		if col <= 0 || len(row) <= col || row[col-1] != ' ' || row[col] == ' ' {
			t.Errorf("row %q: ours column not at %d as in the header %q", row, col, rows[0])
		}
	}
	for _, want := range []string{"13.2 M attempts/s", "2.36", "FAIL", "a much longer figure name [1]", "[1] why", "Test CPU, 2 cores, go1.26 linux/amd64, load average 0.00"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}
