package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/meshchain/meshchain/node"
	"github.com/meshchain/meshchain/ui"
)

// devnetDifficulty keeps a local demo network quick: about a million
// attempts a block.
const devnetDifficulty = 20

// chatterLines are what devnet nodes say to each other.
var chatterLines = []string{
	"hello from %s", "%s here: anyone awake?", "%s mined this on a laptop",
	"ping from %s", "%s says the weather is fine", "%s: forks are healthy",
	"%s checking in", "greetings, mesh, from %s",
}

// linkDelay is a one-way delay for the link between two ports, the same
// both ways, spread from 5 to 300 ms.
func linkDelay(a, b string) time.Duration {
	if a > b {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte(a + "|" + b))
	return time.Duration(5+binary.BigEndian.Uint32(sum[:4])%296) * time.Millisecond
}

// openListeners listens on n free loopback ports and keeps them open, to
// be handed to the nodes that will serve on them (node.Config.Listener):
// reservePorts' ports are free again until a node listens, and another
// process (a test, a dial's local port) may take one meanwhile.
func openListeners(n int) ([]net.Listener, []string, error) {
	var ls []net.Listener
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, nil, err
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return ls, addrs, nil
}

// reservePorts finds n free loopback ports.
func reservePorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

func runDevnet(o options, stdin io.Reader, stdout, stderr io.Writer) error {
	if o.simulate {
		return runSimulate(o, stdout, stderr)
	}
	if o.nodes < 1 || o.nodes > 64 {
		return &exitError{2, fmt.Errorf("-n %d: a devnet has 1 to 64 nodes", o.nodes)}
	}
	difficulty := devnetDifficulty
	if o.set["difficulty"] {
		difficulty = o.difficulty
	}
	if difficulty < 1 || difficulty > 255 {
		return &exitError{2, fmt.Errorf("--difficulty %d is not between 1 and 255", difficulty)}
	}
	root := o.dataDir
	if root == "" {
		dir, err := os.MkdirTemp("", "meshchain-devnet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		root = dir
	} else if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	logPath := filepath.Join(root, "devnet.log")
	logW := stderr
	if !o.headless {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		logW = f
	}
	log := slog.New(slog.NewTextHandler(logW, &slog.HandlerOptions{Level: slog.LevelWarn}))
	threads := 1 // the nodes share this machine's cores
	if o.set["threads"] {
		threads = o.threads // 0: all cores each
	}
	ctl, err := newDevnetCtl(root, o.nodes, uint32(difficulty), threads, log)
	if err != nil {
		return err
	}
	nodes := ctl.nodes
	// Chatter posts on the nodes running at each post: in the dashboard
	// the user may stop and start them.
	chatterOn := func(running func() []*node.Node) func(context.Context) {
		if !o.chatter || len(nodes) < 2 {
			return nil
		}
		return func(ctx context.Context) { runChatter(ctx, running) }
	}
	ctx, cancel := signalContext()
	defer cancel()
	if o.headless {
		return runNodes(ctx, nodes, stdin, stdout, chatterOn(func() []*node.Node { return nodes[1:] }))
	}
	chatter := chatterOn(func() []*node.Node { return ctl.running()[1:] })
	// The dashboard's node runs with it; the others under ctl, which the
	// devnet view (D) stops and starts.
	ctl.start(ctx)
	defer ctl.wait()
	dash := devnetUI(o)
	return runWithUI(ctx, nodes[0], nil, chatter, ui.Options{
		Title:   fmt.Sprintf("devnet node 1 of %d", len(nodes)),
		NoColor: os.Getenv("NO_COLOR") != "",
		Mouse:   dash.Mouse,
		Notify:  dash.Notify,
		Devnet:  ctl,
	})
}

// newDevnet opens n nodes on free loopback ports, node k dialling nodes 1
// to k-1, with a one-way delay on every link.
func newDevnet(root string, n int, difficulty uint32, threads int, log *slog.Logger) ([]*node.Node, error) {
	ctl, err := newDevnetCtl(root, n, difficulty, threads, log)
	if err != nil {
		return nil, err
	}
	return ctl.nodes, nil
}

// runChatter has the given nodes post now and then, sometimes two at once
// so that forks happen.
func runChatter(ctx context.Context, running func() []*node.Node) {
	for _, n := range running() {
		select {
		case <-n.Started():
		case <-ctx.Done():
			return
		}
	}
	count := 0
	for {
		wait := time.Duration(2000+rand.IntN(4000)) * time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		burst := 1
		if rand.IntN(3) == 0 {
			burst = 2 // two nodes at once: a likely fork
		}
		nodes := running()
		if len(nodes) == 0 {
			continue
		}
		for k := 0; k < burst; k++ {
			i := rand.IntN(len(nodes))
			count++
			msg := fmt.Sprintf(chatterLines[count%len(chatterLines)], fmt.Sprintf("node%d", i+2))
			_ = nodes[i].Post(ctx, fmt.Sprintf("%s (#%d)", msg, count))
		}
	}
}

// devnetUI is config.toml's dashboard settings (the defaults when there is
// no file or it does not load: a devnet runs without the node settings it
// holds).
func devnetUI(o options) Config {
	cfg, err := o.resolve()
	if err != nil {
		return defaultConfig()
	}
	return cfg
}
