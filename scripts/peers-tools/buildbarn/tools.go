//go:build tools

// Package tools pins Buildbarn (bb-storage, and the bb-remote-execution
// that requires it): the storage, scheduler, worker and runner of a remote
// execution cluster the tests run. scripts/peers builds each binary from
// this module with `go build` (the module proxy refuses the version lists
// `go install pkg@version` asks for), after applying patches.txt.
package tools

import (
	_ "github.com/buildbarn/bb-remote-execution/cmd/bb_runner"
	_ "github.com/buildbarn/bb-remote-execution/cmd/bb_scheduler"
	_ "github.com/buildbarn/bb-remote-execution/cmd/bb_worker"
	_ "github.com/buildbarn/bb-storage/cmd/bb_storage"
)
