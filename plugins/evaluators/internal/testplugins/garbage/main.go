// Command garbage is a test evaluator that prints a banner on stdout before
// the go-plugin handshake line, which corrupts the handshake.
package main

import (
	"fmt"

	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/internal/testplugins"
)

func main() {
	fmt.Println("Welcome to garbage evaluator v0.1!")
	evaluators.Serve(testplugins.Base{Name: "garbage"})
}
