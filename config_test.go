package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigTable(t *testing.T) {
	for _, c := range []struct {
		name, text string
		wantErr    string // "" means valid
		check      func(Config) bool
	}{
		{"empty file keeps the defaults", "", "", func(c Config) bool {
			return c.Difficulty == 24 && c.Listen == "0.0.0.0:8333" && c.MaxPeers == 32 && c.Mouse
		}},
		{"mouse off", "mouse = false\n", "", func(c Config) bool { return !c.Mouse }},
		{"mouse not a bool", "mouse = \"no\"\n", ":1: mouse: the value is not true or false", nil},
		{"notify by OSC 9", "notify = \"osc9\"\n", "", func(c Config) bool { return c.Notify == "osc9" }},
		{"notify unknown", "\nnotify = \"email\"\n", `:2: notify: "email" is not "", "bell", "osc9" or "osc777"`, nil},
		{"every setting", "listen = \"127.0.0.1:9000\"\npeers = [\"10.0.0.2:8333\"]\ndata_dir = \"/tmp/x\"\ndifficulty = 12\nthreads = 3\nping_interval = \"2s\"\nmax_peers = 5\nlog_file = \"/tmp/x.log\"\n", "",
			func(c Config) bool {
				return c.Listen == "127.0.0.1:9000" && len(c.Peers) == 1 && c.Difficulty == 12 && c.Threads == 3 && c.pingInterval().Seconds() == 2
			}},
		{"unknown key", "listen = \"127.0.0.1:1\"\nport = 3\n", ":2: unknown setting \"port\"", nil},
		{"wrong type", "\n\ndifficulty = \"high\"\n", ":3: difficulty: the value is not a whole number from 1 to 255", nil},
		{"wrong type of list", "peers = \"10.0.0.2:8333\"\n", `:1: peers: the value is not a list of "host:port" strings`, nil},
		{"bad peer", "peers = [\"nohost\"]\n", ":1: peers", nil},
		{"zero difficulty", "difficulty = 0\n", ":1: difficulty", nil},
		{"negative threads", "# x\nthreads = -2\n", ":2: threads", nil},
		{"ping too slow", "ping_interval = \"1m\"\n", ":1: ping_interval", nil},
		{"not toml", "this is not toml", "config.toml", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.toml")
			os.WriteFile(path, []byte(c.text), 0o600)
			cfg, err := loadConfig(path)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func FuzzLoadConfig(f *testing.F) {
	seed, err := os.ReadFile("config.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("difficulty = 300\n")
	f.Add("peers = [1, 2]\n")
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "c.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg.check() != nil {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
	})
}

// TestFlagErrorsNameTheFlag: a bad flag value is reported under the flag as
// the user typed it, with the form it should take.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--peer", "nonsense"}, `--peer: "nonsense" is not host:port (e.g. 10.0.0.2:8333)`},
		{[]string{"--data-dir", t.TempDir(), "--listen", "nope"}, `--listen: "nope" is not host:port`},
		{[]string{"--difficulty", "0"}, "--difficulty: 0 is not between 1 and 255"},
	} {
		var o options
		fs := o.flagSet("meshchain")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		o.set = map[string]bool{}
		fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
		o.configPath = filepath.Join(t.TempDir(), "none.toml")
		os.WriteFile(o.configPath, nil, 0o600)
		_, err := o.resolve()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}
