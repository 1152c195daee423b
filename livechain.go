package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/coder/websocket"

	"github.com/meshchain/meshchain/chain"
	"github.com/meshchain/meshchain/wallet"
)

// verify and export read the data directory's store read-only. While a
// node runs on it, bbolt's lock (exclusive for the node, shared for
// readers) keeps them out; they then read the best chain through that node,
// from its /get-blockchaindata answer on the listen address the config (or
// --listen) gives, and check that the answer is this directory's node by
// its wallet.

// liveTimeout bounds the whole download; liveDial the connection.
const (
	liveTimeout = 10 * time.Minute
	liveDial    = 5 * time.Second
)

// chainData is the /get-blockchaindata object (PROTOCOL.md §2).
type chainData struct {
	WalletAuthor   string        `json:"WalletAuthor"`
	BlockChainData []chain.Block `json:"BlockChainData"`
}

// localAddr is the address to reach a node listening on listen from this
// machine: the wildcard hosts become loopback.
func localAddr(listen string) (string, error) {
	if listen == "" {
		return "", errors.New("it accepts no peers (listen is empty), so it cannot be read through; stop it, or give --listen HOST:PORT of its listen address")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("its listen address %s has no fixed port; give --listen HOST:PORT with the port it uses (its started event and log say it)", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// readLiveChain downloads the best chain from the node listening on listen
// and checks that it is the node of dataDir (same wallet).
func readLiveChain(ctx context.Context, dataDir, listen string) (chainData, string, error) {
	addr, err := localAddr(listen)
	if err != nil {
		return chainData{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, liveDial)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, "ws://"+addr+"/get-blockchaindata", nil)
	if err != nil {
		return chainData{}, addr, fmt.Errorf("no node answers on %s (the listen address of the config or --listen): %w", addr, err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1) // the whole chain is one message
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return chainData{}, addr, fmt.Errorf("read the chain from %s: %w", addr, err)
	}
	if typ != websocket.MessageText {
		return chainData{}, addr, fmt.Errorf("read the chain from %s: not a text message", addr)
	}
	var cd chainData
	if err := json.NewDecoder(r).Decode(&cd); err != nil {
		return chainData{}, addr, fmt.Errorf("read the chain from %s: %w", addr, err)
	}
	_, _ = io.Copy(io.Discard, r)
	if w, err := wallet.Load(dataDir); err == nil && w.SenderHex() != cd.WalletAuthor {
		return chainData{}, addr, fmt.Errorf("the node on %s is not the one using %s (its wallet is %s, this directory's %s); give --listen HOST:PORT of the node that holds it",
			addr, dataDir, short8(cd.WalletAuthor), short8(w.SenderHex()))
	}
	if len(cd.BlockChainData) == 0 {
		return chainData{}, addr, fmt.Errorf("the node on %s sent no blocks", addr)
	}
	return cd, addr, nil
}

func short8(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
