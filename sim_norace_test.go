//go:build !race

package memberlist

// simRace says the tests run under the race detector; see sim_race_test.go.
const simRace = false
