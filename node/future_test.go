package node

import (
	"testing"
	"time"

	"github.com/meshchain/meshchain/chain"
)

func TestChainAheadOfOurClockIsFetchedOnceValid(t *testing.T) {
	// B's clock runs 2h2s ahead: its block is refused by A for its time
	// alone, and becomes valid for A about 2 seconds after it was signed.
	skew := chain.MaxFutureDrift + 2*time.Second
	a := startNode(t, "a")
	b := startNode(t, "b", withPeers(a.Addr()), func(c *Config) {
		c.Clock = func() time.Time { return time.Now().Add(skew) }
	})
	a.waitFor("b online", 10*time.Second, isKind("peer_online"))
	b.waitFor("a online", 10*time.Second, isKind("peer_online"))

	b.post("from a fast clock")
	mined := b.waitFor("mined", 20*time.Second, minedMessage("from a fast clock")).(BlockMined)
	signed := time.Now()
	rej := a.waitFor("refusal", 10*time.Second, func(p Payload) bool {
		r, ok := p.(BlockRejected)
		return ok && r.Hash == mined.Hash
	}).(BlockRejected)
	if rej.Reason != "InvalidTimestamp" {
		t.Fatalf("refused for %s, want InvalidTimestamp", rej.Reason)
	}
	// B stays quiet from now on: A must ask again by itself.
	a.waitTip(mined.Hash, 15*time.Second)
	if waited := time.Since(signed); waited > 10*time.Second {
		t.Errorf("fetched %v after signing; the block was valid after about 2s", waited)
	}
	t.Logf("A took B's block %v after it was mined", time.Since(signed).Round(time.Millisecond))
}
