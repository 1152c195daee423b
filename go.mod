module github.com/meshchain/meshchain

go 1.26.8

require (
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.4.1
	github.com/tyler-smith/go-bip39 v1.1.0
)

require golang.org/x/crypto v0.59.0 // indirect
