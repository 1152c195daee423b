//go:build race

package pow

// raceEnabled: under -race, crypto/sha256's AppendBinary allocates the
// zero padding it appends (the race instrumentation disables the compiler's
// append(b, make(...)...) optimisation), so allocation counts mean nothing.
const raceEnabled = true
