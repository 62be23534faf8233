//go:build race

package memberlist

// simRace says the tests run under the race detector, which slows the
// single-goroutine simulator about fifteenfold and finds nothing in it; the
// largest simulations shrink under it.
const simRace = true
