// Command app is one of the parity fixtures' programs.
package main

import (
	"fmt"

	"example.com/app/internal/greet"
)

var greeting = "plain"

func main() { fmt.Println(greet.Line("app"), greeting) }
