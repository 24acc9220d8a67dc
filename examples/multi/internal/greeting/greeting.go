// Package greeting is shared by the example's commands.
package greeting

import (
	"fmt"
	"os"
)

// For says hello to whoever calls, with the greeting from $GREETING.
func For(who string) string {
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "Hello"
	}
	return fmt.Sprintf("%s, %s! (uid %d)", greeting, who, os.Getuid())
}
