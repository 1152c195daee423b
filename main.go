// Command meshchain is a full node for a peer-to-peer proof-of-work chain of
// signed messages, with a terminal dashboard.
//
// main reads config.toml and flags, builds the logger, starts the node under
// a context, runs the dashboard or the headless loop, and is the only place
// that exits.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/chain/store"
	"github.com/meshchain/meshchain/node"
	"github.com/meshchain/meshchain/ui"
	"github.com/meshchain/meshchain/wallet"
)

const usage = `meshchain: a full node for a peer-to-peer proof-of-work chain of signed messages.

Usage:
  meshchain [flags]                      start a node and open the dashboard
  meshchain --headless [flags]           run without the dashboard: each line on
                                         stdin is posted; events are JSON lines on stdout
  meshchain wallet new [--force]         make a wallet and print its 12 words once
  meshchain wallet show [--words]        print the wallet's sender (public key)
  meshchain wallet import [--force]      read words (line 1) and passphrase (line 2) from stdin
  meshchain export                       print the best chain as /get-blockchaindata JSON
  meshchain verify                       re-check the whole local chain, signatures included
                                         (export and verify read through the node running
                                         on the data dir, at its --listen address)
  meshchain devnet -n N [--chatter] [--headless]
                                         run N nodes on loopback with simulated link delays
  meshchain devnet -n N --simulate [--blocks B] [--max-peers P] [--seed S] [--json]
                                         measure each block's arrival against the
                                         shortest-path latency bound, print the figures, exit
  meshchain bench [--quick] [--json]     measure the performance figures against same-run baselines

Flags (they override config.toml):
`

// printUsage writes the commands and every flag, spelled with "--".
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usage)
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		arg := "--" + f.Name
		if len(f.Name) == 1 {
			arg = "-" + f.Name // -n N, as the usage and README write it
		}
		if name != "" {
			arg += " " + name
		}
		fmt.Fprintf(w, "  %-24s %s\n", arg, help)
	})
}

// showHelp answers --help on standard output, as a request, not an error.
func showHelp(stdout io.Writer, fs *flag.FlagSet) error {
	printUsage(stdout, fs)
	return nil
}

// The node is what the dashboard drives.
var _ ui.Node = (*node.Node)(nil)

// exitError carries an exit status to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	var err error
	stopProfile := startCPUProfile(os.Getenv(envCPUProfile))
	stopTrace, err := startGoTrace()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshchain:", err)
		os.Exit(1)
	}
	if spec := os.Getenv(envPlainNode); spec != "" {
		err = runPlainNode(spec)
	} else {
		err = run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	stopTrace()
	stopProfile()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "meshchain:", err)
	}
	os.Exit(code)
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o options
	fs := o.flagSet("meshchain")
	// main reports parse errors once, with a hint; --help is answered on stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return showHelp(stdout, fs)
		}
		return &exitError{2, fmt.Errorf("%w (run meshchain --help for the commands and flags)", err)}
	}
	rest := fs.Args()
	cmd := ""
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	sub := ""
	if cmd == "wallet" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub, rest = rest[0], rest[1:]
	}
	// Flags may follow the subcommand too.
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return showHelp(stdout, fs)
		}
		return &exitError{2, fmt.Errorf("%w (run meshchain --help for the commands and flags)", err)}
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))}
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })

	switch cmd {
	case "":
		cfg, err := o.resolve()
		if err != nil {
			return &exitError{2, err}
		}
		if o.headless {
			return runHeadless(cfg, stdin, stdout, stderr)
		}
		return runDashboard(cfg, stderr)
	case "wallet":
		cfg, err := o.resolve()
		if err != nil {
			return &exitError{2, err}
		}
		return runWallet(sub, cfg.DataDir, o, stdin, stdout, stderr)
	case "export":
		cfg, err := o.resolve()
		if err != nil {
			return &exitError{2, err}
		}
		err = node.Export(cfg.DataDir, uint32(cfg.Difficulty), o.set["difficulty"], stdout)
		if errors.Is(err, store.ErrLocked) {
			// A node runs on it: read through that node.
			err = exportLive(cfg, o, stdout)
		}
		if err != nil {
			return &exitError{1, fmt.Errorf("%w%s", err, nextStep(cfg.DataDir, err))}
		}
		return nil
	case "verify":
		cfg, err := o.resolve()
		if err != nil {
			return &exitError{2, err}
		}
		return runVerify(o, cfg, stdout)
	case "devnet":
		return runDevnet(o, stdin, stdout, stderr)
	case "bench":
		return runBench(o, stdout, stderr)
	case "help":
		return showHelp(stdout, fs)
	default:
		return &exitError{2, fmt.Errorf("unknown command %q (see --help)", cmd)}
	}
}

func runWallet(sub, dataDir string, o options, stdin io.Reader, stdout, stderr io.Writer) error {
	switch sub {
	case "new":
		w, err := wallet.New()
		if err != nil {
			return err
		}
		if err := w.Save(dataDir, o.force); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "New wallet saved to %s\n\n", wallet.Path(dataDir))
		fmt.Fprintf(stdout, "  %s\n\n", w.Mnemonic())
		fmt.Fprintln(stdout, "Write these 12 words down now and keep them safe: they are the only way to")
		fmt.Fprintln(stdout, "recover this wallet, and meshchain will not show them again unless asked")
		fmt.Fprintln(stdout, "(meshchain wallet show --words).")
		fmt.Fprintf(stdout, "\nsender: %s\n", w.SenderHex())
		return wallet.MarkWordsShown(dataDir)
	case "show":
		w, err := wallet.Load(dataDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sender: %s\n", w.SenderHex())
		fmt.Fprintf(stdout, "file:   %s\n", wallet.Path(dataDir))
		if o.words {
			fmt.Fprintf(stdout, "words:  %s\n", w.Mnemonic())
			return wallet.MarkWordsShown(dataDir)
		}
		if !wallet.WordsShown(dataDir) {
			fmt.Fprintln(stdout, "\nThe words of this wallet have not been shown yet: back them up with")
			fmt.Fprintln(stdout, "meshchain wallet show --words")
		}
		return nil
	case "import":
		words, pass, err := readWords(stdin, stderr)
		if err != nil {
			return &exitError{1, err}
		}
		if err := wallet.CheckMnemonic(words); err != nil {
			return &exitError{1, fmt.Errorf("%w (the words go on the first line of standard input, an optional passphrase on the second)", err)}
		}
		w, err := wallet.FromMnemonic(words, pass)
		if err != nil {
			return &exitError{1, err}
		}
		if err := w.Save(dataDir, o.force); err != nil {
			return &exitError{1, err}
		}
		fmt.Fprintf(stdout, "Wallet imported to %s\nsender: %s\n", wallet.Path(dataDir), w.SenderHex())
		return wallet.MarkWordsShown(dataDir) // the user typed them
	default:
		return &exitError{2, fmt.Errorf("wallet needs one of new, show, import (got %q)", sub)}
	}
}

// readWords reads the mnemonic and the passphrase: on a terminal by two
// prompts that do not echo, otherwise as the first two lines of stdin.
func readWords(stdin io.Reader, stderr io.Writer) (words, pass string, err error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(f.Fd()) {
		fmt.Fprint(stderr, "Wallet words (12 to 24, not shown as you type), then Enter: ")
		w, err := term.ReadPassword(f.Fd())
		fmt.Fprintln(stderr)
		if err != nil {
			return "", "", fmt.Errorf("read the words: %w", err)
		}
		fmt.Fprint(stderr, "Passphrase, if the wallet has one (Enter for none; not shown): ")
		p, err := term.ReadPassword(f.Fd())
		fmt.Fprintln(stderr)
		if err != nil {
			return "", "", fmt.Errorf("read the passphrase: %w", err)
		}
		return string(w), string(p), nil
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	if sc.Scan() {
		words = sc.Text()
	}
	if sc.Scan() {
		pass = strings.TrimRight(sc.Text(), "\r")
	}
	return words, pass, nil
}

func runVerify(o options, cfg Config, stdout io.Writer) error {
	fmt.Fprintf(stdout, "verifying %s ...\n", cfg.DataDir)
	sum, err := node.Verify(context.Background(), cfg.DataDir, uint32(cfg.Difficulty), o.set["difficulty"], time.Now())
	if errors.Is(err, store.ErrLocked) {
		// A node runs on it: verify what it serves as its best chain.
		sum, err = verifyLive(o, cfg, stdout)
	}
	if err != nil {
		// Said once, by main on standard error, with what to do next.
		failed := fmt.Errorf("verify FAILED: %w", err)
		var ve *node.VerifyError
		if errors.As(err, &ve) {
			failed = fmt.Errorf("verify FAILED at block %d (%s): %w", ve.Height, ve.Hash, ve.Err)
		}
		return &exitError{1, fmt.Errorf("%w%s", failed, nextStep(cfg.DataDir, err))}
	}
	fmt.Fprintf(stdout, "ok: %d blocks, tip %s, work %s, verified in %v on %d cores\n",
		sum.Blocks, sum.Tip, sum.Work, sum.Duration.Round(time.Millisecond), sum.Workers)
	return nil
}

// exportLive prints the best chain of the node running on the data
// directory, read through its /get-blockchaindata answer.
func exportLive(cfg Config, o options, stdout io.Writer) error {
	cd, _, err := readLiveChain(context.Background(), cfg.DataDir, cfg.Listen)
	if err != nil {
		return fmt.Errorf("%s is in use by a running node, and reading through it failed: %w", cfg.DataDir, err)
	}
	if o.set["difficulty"] && cd.BlockChainData[0] != chain.Genesis(uint32(cfg.Difficulty)) {
		return fmt.Errorf("the node using %s runs a chain of difficulty %d, not %d", cfg.DataDir, cd.BlockChainData[0].Difficulty, cfg.Difficulty)
	}
	return json.NewEncoder(stdout).Encode(cd)
}

// verifyLive verifies the best chain of the node running on the data
// directory, read through it: the chain it would serve a peer.
func verifyLive(o options, cfg Config, stdout io.Writer) (node.VerifySummary, error) {
	cd, addr, err := readLiveChain(context.Background(), cfg.DataDir, cfg.Listen)
	if err != nil {
		return node.VerifySummary{}, fmt.Errorf("%s is in use by a running node, and reading through it failed: %w", cfg.DataDir, err)
	}
	fmt.Fprintf(stdout, "a node is running on it: verifying the best chain it serves on %s ...\n", addr)
	difficulty := cd.BlockChainData[0].Difficulty
	if o.set["difficulty"] {
		difficulty = uint32(cfg.Difficulty)
	}
	return node.VerifyChain(context.Background(), cd.BlockChainData, difficulty, time.Now())
}

// nextStep says, after a failure to read or verify a data directory's
// chain, what the user can do about it ("" when it is not that kind).
func nextStep(dataDir string, err error) string {
	var ve *node.VerifyError
	switch {
	case errors.Is(err, store.ErrCorrupt) && isEmptyFile(node.StorePath(dataDir)):
		return fmt.Sprintf("\nnext step: start the node on this data directory (meshchain --data-dir %s): it starts a new chain database "+
			"and fetches the chain from peers; post again any message of yours that was not yet mined", dataDir)
	case errors.Is(err, store.ErrCorrupt):
		return fmt.Sprintf("\nnext step: start the node on this data directory (meshchain --data-dir %s): it keeps what can still be read, "+
			"moves the damaged chain.db aside (chain.db.damaged-<time>) and fetches the rest of the chain from peers", dataDir)
	case errors.As(err, &ve):
		return fmt.Sprintf("\nnext step: start the node on this data directory (meshchain --data-dir %s): it cuts the stored chain back to its valid part "+
			"and fetches the rest from peers; if verify still fails after that, stop the node, move %s away and start it again to fetch the whole chain",
			dataDir, node.StorePath(dataDir))
	}
	return ""
}

func isEmptyFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

// nodeConfig turns the resolved config into the node's.
func nodeConfig(cfg Config, log *slog.Logger) node.Config {
	return node.Config{
		DataDir:      cfg.DataDir,
		Listen:       cfg.Listen,
		Peers:        cfg.Peers,
		Difficulty:   uint32(cfg.Difficulty),
		Threads:      cfg.Threads,
		PingInterval: cfg.pingInterval(),
		MaxPeers:     cfg.MaxPeers,
		Logger:       log,
	}
}

// openLog opens the log file, or falls back to fallback when none is set.
func openLog(path string, fallback io.Writer) (*slog.Logger, func(), error) {
	if path == "" {
		return slog.New(slog.NewTextHandler(fallback, nil)), func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, nil)), func() { f.Close() }, nil
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runHeadless(cfg Config, stdin io.Reader, stdout, stderr io.Writer) error {
	return runOne(cfg.LogFile, cfg, stderr, func(ctx context.Context, n *node.Node) error {
		return runNodes(ctx, []*node.Node{n}, stdin, stdout, nil)
	})
}

// runOne opens the configured node with its log and runs it under a
// context that SIGINT and SIGTERM end.
func runOne(logPath string, cfg Config, stderr io.Writer, run func(context.Context, *node.Node) error) error {
	log, closeLog, err := openLog(logPath, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	n, err := node.Open(nodeConfig(cfg, log))
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	return run(ctx, n)
}

// runNodes runs nodes until ctx ends, printing every event as a JSON line
// and posting stdin lines on the first node. chatter, when set, runs too.
func runNodes(ctx context.Context, nodes []*node.Node, stdin io.Reader, stdout io.Writer, chatter func(context.Context)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes))
	out := newLineWriter(stdout, outputQueueBytes)
	written := make(chan struct{})
	go func() { defer close(written); out.run() }()
	// After the nodes and their subscriptions end, the last lines are written.
	defer func() { out.close(); <-written }()
	for _, n := range nodes {
		evs := n.Subscribe(ctx)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for ev := range evs {
				out.writeJSON(ev)
			}
		}()
		go func() {
			defer wg.Done()
			if err := n.Run(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	for _, n := range nodes {
		select {
		case <-n.Started():
		case <-ctx.Done():
		}
	}
	if stdin != nil && ctx.Err() == nil {
		// The reader goroutine is not waited for: a read on a terminal or
		// pipe cannot be interrupted, and end of input does not stop the node.
		go postLines(ctx, nodes[0], stdin, out)
	}
	if chatter != nil {
		wg.Add(1)
		go func() { defer wg.Done(); chatter(ctx) }()
	}
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func postLines(ctx context.Context, n *node.Node, stdin io.Reader, out *lineWriter) {
	r := bufio.NewReader(stdin)
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			if perr := n.Post(ctx, line); perr != nil {
				if ctx.Err() != nil {
					return
				}
				shown := line
				if len(shown) > 80 {
					shown = shown[:80] + "…"
				}
				out.writeJSON(map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "event": "post_refused", "reason": perr.Error(), "message": shown})
			}
		}
		if err != nil {
			return // end of input: the node carries on
		}
	}
}

// outputQueueBytes bounds the headless output waiting for standard output.
const outputQueueBytes = 8 << 20

// lineWriter prints whole JSON lines from several goroutines. Lines wait in
// a queue bounded in bytes and are written by run's goroutine, so a slow
// reader of standard output costs lines (counted, then reported with an
// output_dropped line), never a wait for the node's subscription.
type lineWriter struct {
	w     io.Writer
	limit int

	mu      sync.Mutex
	queue   [][]byte
	bytes   int
	dropped int
	closed  bool
	wake    chan struct{}
}

func newLineWriter(w io.Writer, limit int) *lineWriter {
	return &lineWriter{w: w, limit: limit, wake: make(chan struct{}, 1)}
}

func (l *lineWriter) writeJSON(v any) {
	var b []byte
	var err error
	if ev, ok := v.(node.Event); ok {
		// Already compact and escaped as json.Marshal would leave it
		// (node's TestEventJSONAsByMap): its second pass is skipped.
		b, err = ev.MarshalJSON()
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.bytes+len(b) > l.limit {
		l.dropped++
		return
	}
	l.queue = append(l.queue, b)
	l.bytes += len(b)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// close ends run once the queued lines are written.
func (l *lineWriter) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// pipeAtomic is PIPE_BUF on Linux: a write to a pipe no larger is not
// interleaved with other writers' data.
const pipeAtomic = 4096

// run writes queued lines until close, then what is left.
func (l *lineWriter) run() {
	for {
		l.mu.Lock()
		batch, dropped, closed := l.queue, l.dropped, l.closed
		l.queue, l.bytes, l.dropped = nil, 0, 0
		l.mu.Unlock()
		// Whole lines go out together in writes of at most 4 KiB (a sync
		// prints a line per block): a pipe takes a write that size in one
		// piece, so a line is never split by another writer's output on
		// the same pipe (2>&1). A longer line is one write of its own.
		var buf []byte
		for _, b := range batch {
			if len(buf) > 0 && len(buf)+len(b) > pipeAtomic {
				l.w.Write(buf)
				buf = buf[:0]
			}
			buf = append(buf, b...)
		}
		if len(buf) > 0 {
			l.w.Write(buf)
		}
		if dropped > 0 {
			b, _ := json.Marshal(map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano),
				"event": "output_dropped", "lines": dropped, "reason": "standard output is read too slowly"})
			l.w.Write(append(b, '\n'))
		}
		if closed && len(batch) == 0 {
			return
		}
		if len(batch) == 0 && dropped == 0 {
			<-l.wake
		}
	}
}

func runDashboard(cfg Config, stderr io.Writer) error {
	logPath := cfg.LogFile
	if logPath == "" {
		logPath = filepath.Join(cfg.DataDir, "meshchain.log")
	}
	return runOne(logPath, cfg, stderr, func(ctx context.Context, n *node.Node) error {
		return runWithUI(ctx, n, nil, nil, ui.Options{Title: "meshchain", NoColor: os.Getenv("NO_COLOR") != "", Mouse: cfg.Mouse, Notify: cfg.Notify})
	})
}

// dashboardFPS is the dashboard's frame rate, the most Bubble Tea allows.
// Bubble Tea draws the screen on a ticker, never right after a key: at
// its default 60 frames a second a key's frame waited up to 16.7 ms for
// the next tick, the largest part of keypress-to-screen on an idle
// machine (issue 10.2, MESHCHAIN_KEYTRACE). A tick with nothing new
// compares the view and writes nothing, so the faster ticker costs next
// to nothing while idle.
const dashboardFPS = 120

// spareCoreFor is how long after a key or a click the miner leaves one
// core's share of the machine to the dashboard and the terminal
// (node.SpareCore): while a person uses the dashboard, and not while it
// is only watched.
const spareCoreFor = 10 * time.Second

// runWithUI runs the nodes (and background, when set) and the dashboard on
// the first node; quitting the dashboard stops them all.
func runWithUI(ctx context.Context, first *node.Node, others []*node.Node, background func(context.Context), opts ui.Options) error {
	traceOpts, keys, err := keyTraceOptions()
	if err != nil {
		return err
	}
	teaOpts := append([]tea.ProgramOption{
		tea.WithFPS(dashboardFPS),
		// Every key or click: the person is using the dashboard now.
		tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
			switch msg.(type) {
			case tea.KeyPressMsg:
				keys.log("key", 0)
				node.SpareCore(spareCoreFor)
			case tea.MouseClickMsg, tea.MouseWheelMsg:
				node.SpareCore(spareCoreFor)
			}
			return msg
		}),
	}, traceOpts...)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if background != nil {
		wg.Add(1)
		go func() { defer wg.Done(); background(ctx) }()
	}
	errs := make(chan error, 1+len(others))
	for _, n := range append([]*node.Node{first}, others...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Run(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	uiErr := ui.Run(ctx, first, opts, teaOpts...)
	cancel()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if errors.Is(uiErr, context.Canceled) {
		return nil
	}
	return uiErr
}
