package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.etcd.io/bbolt"
)

// binPath is the meshchain binary built once for the process tests.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if fuzzing() {
		os.Exit(m.Run()) // FuzzLoadConfig needs no binary; fuzz workers would each build one
	}
	dir, err := os.MkdirTemp("", "meshchain-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "meshchain")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fuzzing reports whether this process runs a fuzz target or is one of its
// workers.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// proc is the binary running headless, its events parsed as they come.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	stderr *strings.Builder
	mu     sync.Mutex
}

func startHeadless(t *testing.T, args ...string) *proc {
	t.Helper()
	return startProc(t, binPath, append([]string{"--headless"}, args...)...)
}

// startProc runs a command whose standard output is JSON-lines events.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, stdin: stdin, events: make(chan map[string]any, 100000), stderr: &strings.Builder{}}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				p.events <- map[string]any{"event": "NOT_JSON", "line": sc.Text()}
				continue
			}
			p.events <- ev
		}
		close(p.events)
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// waitFor returns the next event of kind that satisfies ok, failing after d.
func (p *proc) waitFor(kind string, d time.Duration, ok func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, open := <-p.events:
			if !open {
				p.t.Fatalf("process ended while waiting for %s; stderr:\n%s", kind, p.stderrText())
			}
			if ev["event"] == "NOT_JSON" {
				p.t.Fatalf("stdout line is not JSON: %q", ev["line"])
			}
			if _, ok := ev["time"]; !ok {
				p.t.Fatalf("event without time: %v", ev)
			}
			if ev["event"] == kind && (ok == nil || ok(ev)) {
				return ev
			}
		case <-deadline:
			p.t.Fatalf("no %s event within %v; stderr:\n%s", kind, d, p.stderrText())
		}
	}
}

func (p *proc) stderrText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) post(lines ...string) {
	p.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(p.stdin, l+"\n"); err != nil {
			p.t.Fatal(err)
		}
	}
}

func runCmd(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// exported reads the data directory's best chain through `meshchain export`.
func exported(t *testing.T, dataDir, difficulty string) []map[string]any {
	t.Helper()
	cmd := exec.Command(binPath, "export", "--data-dir", dataDir, "--difficulty", difficulty)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	var doc struct {
		WalletAuthor   string           `json:"WalletAuthor"`
		BlockChainData []map[string]any `json:"BlockChainData"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("export output: %v", err)
	}
	return doc.BlockChainData
}

func TestHeadlessMinesInOrderAndShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	p := startHeadless(t, "--data-dir", dir, "--difficulty", "10", "--listen", "127.0.0.1:0", "--threads", "2")
	started := p.waitFor("started", 20*time.Second, nil)
	for _, k := range []string{"listen", "node_id", "genesis", "sender"} {
		if s, _ := started[k].(string); s == "" {
			t.Errorf("started event has no %s: %v", k, started)
		}
	}
	msgs := []string{"first", "", "second: ünïcödé", "third"}
	p.post(msgs...)
	var mined []string
	for len(mined) < 3 {
		ev := p.waitFor("block_mined", 30*time.Second, nil)
		mined = append(mined, ev["message"].(string))
	}
	want := []string{"first", "second: ünïcödé", "third"}
	for i := range want {
		if mined[i] != want[i] {
			t.Fatalf("mined %q, want %q in that order", mined, want)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, p.stderrText())
	}
	out, code := runCmd(t, "", "verify", "--data-dir", dir, "--difficulty", "10")
	if code != 0 || !strings.Contains(out, "ok: 3 blocks") {
		t.Fatalf("verify: exit %d, output:\n%s", code, out)
	}
}

func TestKill9WithPendingQueueLosesNothing(t *testing.T) {
	dir := t.TempDir()
	const n = 120
	// Difficulty 20 keeps most of the queue pending when the kill comes.
	p := startHeadless(t, "--data-dir", dir, "--difficulty", "20", "--listen", "", "--threads", "1")
	p.waitFor("started", 20*time.Second, nil)
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, fmt.Sprintf("message %03d", i))
	}
	p.post(want...)
	for i := 0; i < n; i++ {
		p.waitFor("message_queued", 30*time.Second, nil)
	}
	p.waitFor("block_mined", 30*time.Second, nil)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	before := len(exported(t, dir, "20")) - 1
	t.Logf("%d of %d messages were mined before kill -9", before, n)
	if before < 1 || before >= n {
		t.Fatalf("all %d messages were mined before the kill; the test needs some mined and a pending queue", n)
	}

	p2 := startHeadless(t, "--data-dir", dir, "--difficulty", "20", "--listen", "", "--threads", "2")
	p2.waitFor("started", 20*time.Second, nil)
	for i := before; i < n; i++ {
		p2.waitFor("block_mined", 120*time.Second, nil)
	}
	p2.cmd.Process.Signal(syscall.SIGINT)
	if err := p2.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	blocks := exported(t, dir, "20")[1:]
	if len(blocks) != n {
		t.Fatalf("chain has %d blocks, want %d", len(blocks), n)
	}
	for i, b := range blocks {
		if b["message"] != want[i] {
			t.Fatalf("block %d holds %q, want %q (each message once, in post order)", i+1, b["message"], want[i])
		}
	}
}

func TestWalletCommands(t *testing.T) {
	dir := t.TempDir()
	out, code := runCmd(t, "", "wallet", "new", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "Write these 12 words down") {
		t.Fatalf("wallet new: exit %d\n%s", code, out)
	}
	st, err := os.Stat(filepath.Join(dir, "wallet.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("wallet file: %v, mode %v", err, st.Mode())
	}
	show, code := runCmd(t, "", "wallet", "show", "--data-dir", dir)
	if code != 0 || !strings.Contains(show, "sender: 0") || strings.Contains(show, "words:") {
		t.Fatalf("wallet show: exit %d\n%s", code, show)
	}
	words := "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	_, code = runCmd(t, words+"\nTREZOR\n", "wallet", "import", "--data-dir", dir)
	if code == 0 {
		t.Fatal("import over an existing wallet without --force succeeded")
	}
	out, code = runCmd(t, words+"\nTREZOR\n", "wallet", "import", "--force", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "02f632717d78bf73e74aa8461e2e782532abae4eed5110241025afb59ebfd3d2fd") {
		t.Fatalf("import --force: exit %d\n%s", code, out)
	}
	for _, bad := range []struct{ words, want string }{
		{"abandon abandon nonsense\n", `word 3 "nonsense" is not in the English BIP39 word list`},
		{strings.TrimSuffix(words, " about") + "\n", "11 words given"},
		{strings.TrimSuffix(words, "about") + "abandon\n", "the checksum does not match"},
	} {
		out, code = runCmd(t, bad.words, "wallet", "import", "--data-dir", t.TempDir())
		if code != 1 || !strings.Contains(out, bad.want) {
			t.Fatalf("invalid import %q: exit %d, want %q in\n%s", bad.words, code, bad.want, out)
		}
	}
	out, code = runCmd(t, "", "wallet", "show", "--words", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, words) {
		t.Fatalf("show --words: exit %d\n%s", code, out)
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.toml")
	os.WriteFile(path, []byte("listen = \"127.0.0.1:1\"\nbogus = 3\n"), 0o600)
	out, code := runCmd(t, "", "--config", path, "--headless", "--data-dir", dir)
	if code == 0 || !strings.Contains(out, "bad.toml:2") || !strings.Contains(out, "bogus") {
		t.Fatalf("unknown key: exit %d\n%s", code, out)
	}
	os.WriteFile(path, []byte("# c\ndifficulty = 999\n"), 0o600)
	out, code = runCmd(t, "", "--config", path, "--headless", "--data-dir", dir)
	if code == 0 || !strings.Contains(out, "bad.toml:2") || !strings.Contains(out, "difficulty") {
		t.Fatalf("bad value: exit %d\n%s", code, out)
	}
	// The repository's own config.toml is valid.
	if _, err := loadConfig("config.toml"); err != nil {
		t.Fatalf("config.toml: %v", err)
	}
	help := exec.Command(binPath, "--help")
	var stderr strings.Builder
	help.Stderr = &stderr
	stdout, err := help.Output()
	if err != nil || stderr.Len() != 0 {
		t.Fatalf("--help: %v, stderr %q", err, stderr.String())
	}
	for _, want := range []string{"wallet new", "wallet show", "wallet import", "export", "verify", "devnet", "--headless",
		"--data-dir", "--peer", "--difficulty", "--threads", "--listen", "--config", "--words", "--force", "--chatter", "-n N "} {
		if !strings.Contains(string(stdout), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if out, code := runCmd(t, "", "--no-such-flag"); code != 2 || !strings.Contains(out, "--help") {
		t.Errorf("unknown flag: exit %d\n%s", code, out)
	}
}

func TestVerifyReportsTheFirstBadBlock(t *testing.T) {
	dir := t.TempDir()
	p := startHeadless(t, "--data-dir", dir, "--difficulty", "8", "--listen", "", "--threads", "1")
	p.waitFor("started", 20*time.Second, nil)
	p.post("one", "two", "three")
	for i := 0; i < 3; i++ {
		p.waitFor("block_mined", 20*time.Second, nil)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Without --difficulty, verify uses the one the data directory records.
	out, code := runCmd(t, "", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "ok: 3 blocks") || !strings.Contains(out, "work 768") {
		t.Fatalf("verify of a good chain: exit %d\n%s", code, out)
	}
	if out, code := runCmd(t, "", "verify", "--data-dir", dir, "--difficulty", "9"); code == 0 || !strings.Contains(out, "difficulty 8, not 9") {
		t.Fatalf("verify with another network's difficulty: exit %d\n%s", code, out)
	}
	tamperBlockMessage(t, dir, 2, "two, rewritten")
	out, code = runCmd(t, "", "verify", "--data-dir", dir, "--difficulty", "8")
	if code != 1 || !strings.Contains(out, "block 2") || !strings.Contains(out, "InvalidBlockHash") {
		t.Fatalf("verify of a tampered chain: exit %d\n%s", code, out)
	}
}

// tamperBlockMessage rewrites a stored block's message in the bbolt file.
func tamperBlockMessage(t *testing.T, dir string, height uint64, msg string) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, "chain.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], height)
		hash := tx.Bucket([]byte("best")).Get(key[:])
		blocks := tx.Bucket([]byte("blocks"))
		var b map[string]any
		if err := json.Unmarshal(blocks.Get(hash), &b); err != nil {
			return err
		}
		b["message"] = msg
		raw, _ := json.Marshal(b)
		return blocks.Put(append([]byte(nil), hash...), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHeadlessRefusesOverlongLinesAndCarriesOn(t *testing.T) {
	p := startHeadless(t, "--data-dir", t.TempDir(), "--difficulty", "8", "--listen", "127.0.0.1:0", "--threads", "1")
	started := p.waitFor("started", 20*time.Second, nil)
	p.post(strings.Repeat("x", 5000), "after the long one")
	ev := p.waitFor("post_refused", 10*time.Second, nil)
	if !strings.Contains(ev["reason"].(string), "InvalidMessage") {
		t.Errorf("refusal %v", ev)
	}
	p.waitFor("block_mined", 20*time.Second, func(ev map[string]any) bool { return ev["message"] == "after the long one" })
	// End of input does not stop the node: it still serves its chain.
	p.stdin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+started["listen"].(string)+"/get-blockchaindata", nil)
	if err != nil {
		t.Fatalf("node gone after end of input: %v", err)
	}
	if _, data, err := conn.Read(ctx); err != nil || !strings.Contains(string(data), "after the long one") {
		t.Fatalf("chain data after end of input: %v", err)
	}
	conn.CloseNow()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

func TestExportAndVerifyOfAnEmptyDataDir(t *testing.T) {
	dir := t.TempDir()
	out, code := runCmd(t, "", "export", "--data-dir", dir, "--difficulty", "8")
	if code != 0 || !strings.Contains(out, "275c783b3c8f2bce6a665cfabfd501e1df7d7ab5a0ab77909de567611ef7f5a4") {
		t.Fatalf("export of a new data dir: exit %d\n%s", code, out)
	}
	out, code = runCmd(t, "", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "ok: 0 blocks") {
		t.Fatalf("verify of a new data dir: exit %d\n%s", code, out)
	}
	missing := filepath.Join(dir, "typo")
	if out, code := runCmd(t, "", "verify", "--data-dir", missing); code != 1 || !strings.Contains(out, "no data directory") {
		t.Fatalf("verify of a missing data dir: exit %d\n%s", code, out)
	}
}
