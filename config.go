package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is config.toml: every setting, with its default in defaultConfig.
type Config struct {
	Listen       string   `toml:"listen"`
	Peers        []string `toml:"peers"`
	DataDir      string   `toml:"data_dir"`
	Difficulty   int      `toml:"difficulty"`
	Threads      int      `toml:"threads"`
	PingInterval string   `toml:"ping_interval"`
	MaxPeers     int      `toml:"max_peers"`
	LogFile      string   `toml:"log_file"`
	Mouse        bool     `toml:"mouse"`
	Notify       string   `toml:"notify"`
}

// defaultConfig holds every default in one place.
func defaultConfig() Config {
	return Config{
		Listen:       "0.0.0.0:8333",
		Difficulty:   24,
		PingInterval: "10s",
		MaxPeers:     32,
		Mouse:        true,
	}
}

// defaultDataDir is $XDG_DATA_HOME/meshchain or ~/.local/share/meshchain.
func defaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "meshchain")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "meshchain-data"
	}
	return filepath.Join(home, ".local", "share", "meshchain")
}

// loadConfig reads a config file over the defaults. Unknown keys and bad
// values are errors that name the file and line.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := toml.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			var lines []string
			for _, e := range strict.Errors {
				row, _ := e.Position()
				lines = append(lines, fmt.Sprintf("%s:%d: unknown setting %q", path, row, strings.Join(e.Key(), ".")))
			}
			return cfg, errors.New(strings.Join(lines, "\n"))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			if key := strings.Join(de.Key(), "."); settingForms[key] != "" {
				// go-toml names Go types ("main.Config.Difficulty of type
				// int"); say it in the user's terms.
				return cfg, fmt.Errorf("%s:%d: %s: the value is not %s", path, row, key, settingForms[key])
			}
			return cfg, fmt.Errorf("%s:%d: %s", path, row, de.Error())
		}
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if err := cfg.check(); err != nil {
		return cfg, fmt.Errorf("%s:%d: %w", path, lineOf(string(data), err.key), err)
	}
	return cfg, nil
}

// settingForms says, for each setting, the form its value must take.
var settingForms = map[string]string{
	"listen":        `a "host:port" string, e.g. "0.0.0.0:8333" ("" to accept no peers)`,
	"peers":         `a list of "host:port" strings, e.g. ["10.0.0.2:8333"]`,
	"data_dir":      `a directory path string`,
	"difficulty":    `a whole number from 1 to 255, e.g. 24`,
	"threads":       `a whole number from 0 (all cores) to 1024`,
	"ping_interval": `a duration string from "100ms" to "10s", e.g. "10s"`,
	"max_peers":     `a whole number from 1 to 1000`,
	"log_file":      `a file path string`,
	"mouse":         `true or false`,
	"notify":        `one of "", "bell", "osc9", "osc777"`,
}

// flagNames maps a setting to the flag that overrides it, where they differ.
var flagNames = map[string]string{"peers": "peer"}

// flagName is the command-line spelling of setting key.
func flagName(key string) string {
	if f, ok := flagNames[key]; ok {
		return f
	}
	return strings.ReplaceAll(key, "_", "-")
}

// settingError names the setting a bad value belongs to.
type settingError struct {
	key string
	msg string
}

func (e *settingError) Error() string { return e.key + ": " + e.msg }

func (c *Config) check() *settingError {
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return &settingError{"listen", fmt.Sprintf("%q is not host:port (e.g. 0.0.0.0:8333)", c.Listen)}
		}
	}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return &settingError{"peers", fmt.Sprintf("%q is not host:port (e.g. 10.0.0.2:8333)", p)}
		}
	}
	if c.Difficulty < 1 || c.Difficulty > 255 {
		return &settingError{"difficulty", fmt.Sprintf("%d is not between 1 and 255", c.Difficulty)}
	}
	if c.Threads < 0 || c.Threads > 1024 {
		return &settingError{"threads", fmt.Sprintf("%d is not between 0 (all cores) and 1024", c.Threads)}
	}
	if d, err := time.ParseDuration(c.PingInterval); err != nil || d < 100*time.Millisecond || d > 10*time.Second {
		return &settingError{"ping_interval", fmt.Sprintf("%q is not a duration from 100ms to 10s", c.PingInterval)}
	}
	switch c.Notify {
	case "", "bell", "osc9", "osc777":
	default:
		return &settingError{"notify", fmt.Sprintf(`%q is not "", "bell", "osc9" or "osc777"`, c.Notify)}
	}
	if c.MaxPeers < 1 || c.MaxPeers > 1000 {
		return &settingError{"max_peers", fmt.Sprintf("%d is not between 1 and 1000", c.MaxPeers)}
	}
	return nil
}

// lineOf finds the line that sets key, for error messages; 0 when absent.
func lineOf(data, key string) int {
	for i, line := range strings.Split(data, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, key) && strings.HasPrefix(strings.TrimSpace(t[len(key):]), "=") {
			return i + 1
		}
	}
	return 0
}

// options are the command line: flags override the config file.
type options struct {
	configPath string
	dataDir    string
	listen     string
	peers      multiFlag
	difficulty int
	threads    int
	headless   bool
	// subcommand flags
	words, force, chatter bool
	quick, json           bool
	nodes                 int
	simulate              bool   // devnet --simulate
	blocks, maxPeers      int    // devnet --simulate
	seed                  uint64 // devnet --simulate
	set                   map[string]bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// flagSet declares every flag on one set, so they may stand before or
// after the subcommand.
func (o *options) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&o.configPath, "config", "", "config `file` (default ./config.toml when present)")
	fs.StringVar(&o.dataDir, "data-dir", "", "data `directory` (default $XDG_DATA_HOME/meshchain or ~/.local/share/meshchain)")
	fs.StringVar(&o.listen, "listen", "", "accept peers on `host:port` (default 0.0.0.0:8333)")
	fs.Var(&o.peers, "peer", "dial the peer at `host:port` (repeatable)")
	fs.IntVar(&o.difficulty, "difficulty", 0, "network difficulty in leading zero `bits` (default 24; devnet 20)")
	fs.IntVar(&o.threads, "threads", 0, "mining `threads`, 0 for all cores (default 0; devnet 1 per node)")
	fs.BoolVar(&o.headless, "headless", false, "run without the dashboard: post stdin lines, print events as JSON lines")
	fs.BoolVar(&o.words, "words", false, "wallet show: also print the mnemonic words")
	fs.BoolVar(&o.force, "force", false, "wallet new/import: replace an existing wallet")
	fs.BoolVar(&o.chatter, "chatter", false, "devnet: the other nodes post messages now and then")
	fs.BoolVar(&o.quick, "quick", false, "bench: small sizes, for CI (well under a minute)")
	fs.BoolVar(&o.json, "json", false, "bench: print the figures as JSON")
	fs.IntVar(&o.nodes, "n", 5, "devnet: number of nodes `N` (default 5)")
	fs.BoolVar(&o.simulate, "simulate", false, "devnet: measure block arrival against the shortest-path latency bound and exit")
	fs.IntVar(&o.blocks, "blocks", 20, "devnet --simulate: blocks to measure `N` (default 20)")
	fs.IntVar(&o.maxPeers, "max-peers", 8, "devnet --simulate: peers each node dials up to `N` (default 8)")
	fs.Uint64Var(&o.seed, "seed", 1, "devnet --simulate: `seed` of the link delays and the starting peers (default 1)")
	return fs
}

// resolve merges defaults, the config file and flags.
func (o *options) resolve() (Config, error) {
	cfg := defaultConfig()
	path := o.configPath
	if path == "" {
		if _, err := os.Stat("config.toml"); err == nil {
			path = "config.toml"
		}
	}
	if path != "" {
		var err error
		if cfg, err = loadConfig(path); err != nil {
			return cfg, err
		}
	}
	if o.set["data-dir"] {
		cfg.DataDir = o.dataDir
	}
	if o.set["listen"] {
		cfg.Listen = o.listen
	}
	if len(o.peers) > 0 {
		cfg.Peers = append([]string(nil), o.peers...)
	}
	if o.set["difficulty"] {
		cfg.Difficulty = o.difficulty
	}
	if o.set["threads"] {
		cfg.Threads = o.threads
	}
	if cfg.DataDir == "" {
		cfg.DataDir = defaultDataDir()
	}
	if err := cfg.check(); err != nil {
		return cfg, fmt.Errorf("--%s: %s", flagName(err.key), err.msg)
	}
	return cfg, nil
}

func (c Config) pingInterval() time.Duration {
	d, _ := time.ParseDuration(c.PingInterval)
	return d
}
