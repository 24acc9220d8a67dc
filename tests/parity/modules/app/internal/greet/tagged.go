//go:build extra

package greet

const tagged = "built with -tags=extra"
