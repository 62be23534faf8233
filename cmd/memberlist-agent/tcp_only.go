package main

import (
	"errors"

	"github.com/swimgo/memberlist"
)

// enableTCPOnly turns on the library's TCP-only mode for -tcp-only.
func enableTCPOnly(*memberlist.Config) error {
	return errors.New("-tcp-only is not available yet")
}
