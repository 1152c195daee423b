package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/meshchain/meshchain/chain"
)

// chainDataSlots bounds the /get-blockchaindata answers written at once.
// Each holds about chainDataBuffer bytes and the best chain's list of
// index nodes (a pointer per block), whatever the chain's size.
const (
	chainDataSlots  = 16
	chainDataBuffer = 32 << 10
)

// WriteChainData writes the /get-blockchaindata object to w: the wallet's
// sender and every block of the best chain, genesis first, read from the
// store one block at a time as w takes them. The bytes are those of
// json.Marshal of the whole object.
func (h *handler) WriteChainData(ctx context.Context, w io.Writer) error {
	n := h.node()
	select {
	case n.chainDataSlots <- struct{}{}:
		defer func() { <-n.chainDataSlots }()
	case <-ctx.Done():
		return ctx.Err()
	}
	// The chain as it is now; its blocks are read by hash outside the
	// loop (blocks are immutable by hash), never in one long store
	// transaction, which would hold back the node's writes while a slow
	// client reads.
	var nodes []*chain.Node
	if err := n.do(ctx, func() { nodes = n.index.BestChain() }); err != nil {
		return err
	}
	author, err := json.Marshal(n.Sender())
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, chainDataBuffer)
	bw.WriteString(`{"WalletAuthor":`)
	bw.Write(author)
	bw.WriteString(`,"BlockChainData":[`)
	for i, nd := range nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := n.blockOf(nd)
		if err != nil {
			return fmt.Errorf("read block %d: %w", nd.Height, err)
		}
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		if _, err := bw.Write(data); err != nil {
			return err
		}
	}
	bw.WriteString(`]}`)
	return bw.Flush()
}
