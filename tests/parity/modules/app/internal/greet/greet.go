// Package greet is shared by the parity fixtures' commands.
package greet

// Greeting is set with -ldflags=-X in the fixtures that pin ldflags.
var Greeting = "hello"

// Line is what every command prints.
func Line(who string) string { return Greeting + " from " + who + " (" + tagged + ")" }
