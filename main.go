// Command meshchain is a full node for a peer-to-peer proof-of-work chain of
// signed messages, with a terminal dashboard.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "meshchain: the node is not wired up yet; see README.md")
	os.Exit(2)
}
