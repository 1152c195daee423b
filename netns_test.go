package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// netnsHosts makes n network namespaces joined by a bridge, each with one
// address in 10.233.<k>.0/24 (inside the namespaces only), and removes them
// at cleanup. It skips the test where namespaces cannot be made.
func netnsHosts(t *testing.T, n int) (names, addrs []string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; skipping the multi-host test")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2); skipping the multi-host test")
	}
	tag := fmt.Sprintf("%x", os.Getpid()&0xfff)
	subnet := 10 + os.Getpid()%200
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	bridge := "mcbr" + tag
	if err := run("link", "add", bridge, "type", "bridge"); err != nil {
		t.Skipf("cannot make a bridge here: %v", err)
	}
	t.Cleanup(func() { _ = run("link", "del", bridge) })
	if err := run("link", "set", bridge, "up"); err != nil {
		t.Skipf("cannot bring a bridge up here: %v", err)
	}
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("mc%s-%d", tag, i)
		host, peer := fmt.Sprintf("mcv%s%dh", tag, i), fmt.Sprintf("mcv%s%dn", tag, i)
		addr := fmt.Sprintf("10.233.%d.%d", subnet, i)
		if err := run("netns", "add", ns); err != nil {
			t.Skipf("cannot make network namespaces here: %v", err)
		}
		t.Cleanup(func() { _ = run("netns", "del", ns) })
		for _, args := range [][]string{
			{"link", "add", host, "type", "veth", "peer", "name", peer},
			{"link", "set", host, "master", bridge},
			{"link", "set", host, "up"},
			{"link", "set", peer, "netns", ns},
			{"netns", "exec", ns, "ip", "addr", "add", addr + "/24", "dev", peer},
			{"netns", "exec", ns, "ip", "link", "set", peer, "up"},
			{"netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		} {
			if err := run(args...); err != nil {
				t.Skipf("cannot wire network namespaces here: %v", err)
			}
		}
		names = append(names, ns)
		addrs = append(addrs, addr)
	}
	return names, addrs
}

func TestThreeHostsInNamespacesOnPort8333(t *testing.T) {
	names, addrs := netnsHosts(t, 3)
	var procs []*proc
	for i, ns := range names {
		args := []string{"netns", "exec", ns, binPath, "--headless", "--data-dir", t.TempDir(),
			"--difficulty", "10", "--threads", "1"}
		// Host 1 knows nobody; 2 knows 1; 3 knows 2: the rest is gossip.
		if i > 0 {
			args = append(args, "--peer", addrs[i-1]+":8333")
		}
		p := startProc(t, "ip", args...)
		started := p.waitFor("started", 20*time.Second, nil)
		if l, _ := started["listen"].(string); !strings.HasSuffix(l, ":8333") {
			t.Fatalf("host %d listens on %q, want the default port 8333", i+1, l)
		}
		procs = append(procs, p)
	}
	procs[1].waitFor("peer_online", 20*time.Second, nil)
	procs[2].waitFor("peer_online", 20*time.Second, nil)
	procs[0].post("hello across namespaces")
	mined := procs[0].waitFor("block_mined", 30*time.Second, nil)
	for i, p := range procs[1:] {
		ev := p.waitFor("block_accepted", 30*time.Second, func(ev map[string]any) bool { return ev["hash"] == mined["hash"] })
		if ev["message"] != "hello across namespaces" {
			t.Errorf("host %d got %v", i+2, ev["message"])
		}
	}
}
