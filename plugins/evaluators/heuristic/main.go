// Command qwentune-eval-heuristic is the default evaluator plugin: an answer
// is "ok" when it is long enough, has enough words and holds a letter or
// digit. Build it with scripts/build-plugins.sh; the host starts it.
package main

import "qwentune/plugins/evaluators"

func main() { evaluators.Serve(newHeuristic()) }
