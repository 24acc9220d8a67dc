//go:build !extra

package greet

const tagged = "untagged"
