// Command qwentune-eval-judge is the model-as-judge evaluator plugin: for
// each sample it asks a model the host has loaded (over the host's
// Generator service) a rubric question and maps the answer to a label.
// Build it with scripts/build-plugins.sh; the host starts it.
package main

import "qwentune/plugins/evaluators"

func main() { evaluators.Serve(newJudge()) }
