package runs

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const baseConfig = `model:
  name: demo
  dtype: float32
lora:
  r: 8
  alpha: 16.0
  target_modules: [q_proj, v_proj]
training:
  learning_rate: 0.0002
  epochs: 3
  output_dir: ./a
`

func TestFlattenConfig(t *testing.T) {
	got, err := FlattenConfig(baseConfig)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"model.name": "demo", "model.dtype": "float32", "lora.r": "8", "lora.alpha": "16",
		"lora.target_modules": `["q_proj","v_proj"]`, "training.learning_rate": "0.0002", "training.epochs": "3",
		"training.output_dir": "./a"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// The same numbers written another way flatten the same.
	other, _ := FlattenConfig("training:\n  learning_rate: 2e-4\n  epochs: 3.0\nlora:\n  alpha: 16\n")
	for _, k := range []string{"training.learning_rate", "training.epochs", "lora.alpha"} {
		if other[k] != want[k] {
			t.Errorf("%s: %q vs %q", k, other[k], want[k])
		}
	}
	for _, bad := range []string{"training: [", "- a\n- b\n", "just text"} {
		if _, err := FlattenConfig(bad); err == nil {
			t.Errorf("FlattenConfig(%q) accepted", bad)
		}
	}
	if m, err := FlattenConfig(""); err != nil || len(m) != 0 {
		t.Errorf("empty config: %v %v", m, err)
	}
}

func TestCompare(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	runA, runB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cfgB := strings.NewReplacer("learning_rate: 0.0002", "learning_rate: 0.0001", "r: 8", "r: 16",
		"[q_proj, v_proj]", "all-linear", "./a", "./b").Replace(baseConfig) + "dataset:\n  max_length: 256\n"
	histA := []map[string]float64{logEntry(1, 3), logEntry(2, 2), logEntry(3, 1.5)}
	histB := []map[string]float64{logEntry(1, 3.5), logEntry(2, 4)}
	writeState(t, runA, 3, histA)
	writeState(t, runB, 2, histB)
	a, _ := s.Start(Record{Kind: Train, Model: "demo", Dir: runA, Adapter: runA, Config: baseConfig})
	b, _ := s.Start(Record{Kind: Train, Model: "demo", Dir: runB, Adapter: runB, Config: cfgB})
	s.Finish(a, Finished, nil)
	s.Finish(b, Failed, nil)
	// A diverged run with no folder: its NaN loss is shown, its curve is not.
	d, _ := s.Start(Record{Kind: Train, Model: "demo", Config: baseConfig})
	s.Observe(d, map[string]float64{"loss": math.NaN(), "step": 1})
	// Two evaluations of a's adapter: the newer one is shown beside a.
	old, _ := s.Start(Record{Kind: Eval, Adapter: runA, Dir: filepath.Join(runA, "eval", "1")})
	s.Update(old, func(r *Record) { r.Metrics = map[string]float64{"accuracy": 0.25} })
	s.Finish(old, Finished, nil)
	ev, _ := s.Start(Record{Kind: Eval, Adapter: runA, Dir: filepath.Join(runA, "eval", "2")})
	s.Update(ev, func(r *Record) { r.Metrics = map[string]float64{"accuracy": 0.75, "f1": 0.5} })
	s.Finish(ev, Finished, nil)

	c, err := s.Compare([]string{a, b, d})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range c.Config {
		keys = append(keys, d.Key)
	}
	wantKeys := []string{"dataset.max_length", "lora.r", "lora.target_modules", "training.learning_rate", "training.output_dir"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("differing keys %v, want %v", keys, wantKeys)
	}
	for _, d := range c.Config {
		switch d.Key {
		case "dataset.max_length":
			if d.Values[0] != nil || *d.Values[1] != "256" {
				t.Errorf("%s: %v", d.Key, d.Values)
			}
		case "training.learning_rate":
			if *d.Values[0] != "0.0002" || *d.Values[1] != "0.0001" {
				t.Errorf("%s: %s %s", d.Key, *d.Values[0], *d.Values[1])
			}
		}
	}
	row := func(name string) []*float64 {
		for _, m := range c.Metrics {
			if m.Name == name {
				return m.Values
			}
		}
		t.Fatalf("no metric row %q in %+v", name, c.Metrics)
		return nil
	}
	if v := row("final_loss"); *v[0] != 1.5 || *v[1] != 4 || !math.IsNaN(*v[2]) {
		t.Errorf("final_loss %v %v %v", *v[0], *v[1], *v[2])
	}
	if v := row("best_loss"); *v[0] != 1.5 || *v[1] != 3.5 || v[2] != nil {
		t.Errorf("best_loss %v", v)
	}
	if v := row("eval/accuracy"); *v[0] != 0.75 || v[1] != nil {
		t.Errorf("eval/accuracy %v", v)
	}
	if v := row("eval/f1"); *v[0] != 0.5 {
		t.Errorf("eval/f1 %v", v)
	}
	if len(c.Curves) != 3 || len(c.Curves[0].Points) != 3 || c.Curves[0].Points[2] != (Point{3, 1.5}) ||
		len(c.Curves[1].Points) != 2 || c.Curves[1].Points[0] != (Point{1, 3.5}) || c.Curves[2].Err == "" {
		t.Errorf("curves %+v", c.Curves)
	}
	// The comparison prints as JSON even with a NaN loss in it.
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"values":[1.5,4,"NaN"]`) || !strings.Contains(string(js), `"config_diff"`) {
		t.Errorf("JSON: %s", js)
	}

	// An evaluation compared with a training run: no curve, no error.
	c, err = s.Compare([]string{a, ev})
	if err != nil {
		t.Fatal(err)
	}
	if c.Curves[1].Points != nil || c.Curves[1].Err != "" {
		t.Errorf("eval curve %+v", c.Curves[1])
	}
	if _, err := s.Compare([]string{a, "nope"}); err == nil {
		t.Error("Compare of an unknown run succeeded")
	}
	if _, err := s.Compare(nil); err == nil {
		t.Error("Compare of nothing succeeded")
	}
	// A config that does not parse is a warning, not a failure.
	bad, _ := s.Start(Record{Kind: Train, Config: "training: ["})
	c, err = s.Compare([]string{a, bad})
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], bad) {
		t.Errorf("bad config: %v, %v", c.Warnings, err)
	}
}
