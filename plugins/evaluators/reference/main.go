// Command qwentune-eval-reference is the evaluator plugin that compares each
// answer with the test set's reference answer (exact, contains, token F1 or
// ROUGE-L). Build it with scripts/build-plugins.sh; the host starts it.
package main

import "qwentune/plugins/evaluators"

func main() { evaluators.Serve(newReference()) }
