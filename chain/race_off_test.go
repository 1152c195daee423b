//go:build !race

package chain_test

// raceDetector is set under -race, where signature checks run about 20
// times slower: flood tests then send fewer blocks past the bound.
const raceDetector = false
