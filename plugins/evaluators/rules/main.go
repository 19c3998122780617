// Command qwentune-eval-rules is the evaluator plugin that checks each answer
// against configurable rules: a required regex, a forbidden regex, required
// keywords and JSON validity. Build it with scripts/build-plugins.sh; the
// host starts it.
package main

import "qwentune/plugins/evaluators"

func main() { evaluators.Serve(&rules{}) }
