package runs_test

import (
	"fmt"
	"os"
	"path/filepath"

	"qwentune/engine/runs"
)

// A training job records itself in three calls: Start before the loop,
// Observe on each log event (optional: End recomputes the losses from
// trainer_state.json), and End with the loop's error.
func Example() {
	tmp, _ := os.MkdirTemp("", "runs-example")
	defer os.RemoveAll(tmp)
	os.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(tmp, "history"))
	defer os.Unsetenv("QWENTUNE_RUNS_DIR")

	id, err := runs.Start(runs.Record{Kind: runs.Train, Model: "demo", Dir: filepath.Join(tmp, "out"),
		DataFile: "data/train.jsonl", Config: "training:\n  learning_rate: 0.0002\n"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for step, loss := range []float64{2.5, 1.75, 2} {
		runs.Observe(id, map[string]float64{"loss": loss, "step": float64(step + 1)})
	}
	var trainErr error // what the training loop returned
	runs.End(id, trainErr)

	s, _ := runs.Default()
	list, _, _ := s.List(runs.Filter{Model: "demo"})
	r := list[0]
	fmt.Println(r.Status, r.Steps, *r.FinalLoss, *r.BestLoss, r.Missing)
	// Output: finished 3 2 1.75 true
}
