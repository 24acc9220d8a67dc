//go:build tools

// Package tools pins bazel-remote, the production REAPI cache the tests run
// (scripts/peers builds it from this module with `go build`: the module
// proxy refuses the version list `go install pkg@version` asks for).
package tools

import _ "github.com/buchgr/bazel-remote"
