// Command other is one of the parity fixtures' programs.
package main

import (
	"fmt"

	"example.com/app/internal/greet"
)

var greeting = "plain"

func main() { fmt.Println(greet.Line("other"), greeting) }
