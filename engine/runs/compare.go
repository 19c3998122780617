package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"qwentune/engine/trainer"
)

// History reads the log_history of the training run in dir from its
// trainer_state.json: the one at the top of the folder (written when the run
// ends) or the latest checkpoint's (a stopped or running run), whichever has
// gone further.
func History(dir string) ([]map[string]float64, error) {
	paths := []string{filepath.Join(dir, trainer.TrainerStateFile)}
	if ck, err := trainer.LatestCheckpoint(dir); err == nil && ck != "" {
		paths = append(paths, filepath.Join(ck, trainer.TrainerStateFile))
	}
	var best *trainer.TrainerState
	var errs []error
	for _, p := range paths {
		st, err := trainer.ReadTrainerState(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if best == nil || st.GlobalStep > best.GlobalStep {
			best = &st
		}
	}
	if best == nil {
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("%s: no %s (at the top or in a checkpoint)", dir, trainer.TrainerStateFile)
	}
	out := make([]map[string]float64, len(best.LogHistory))
	for i, e := range best.LogHistory {
		out[i] = e
	}
	return out, nil
}

// Point is one value of a curve.
type Point struct {
	Step  int
	Value float64
}

// MarshalJSON writes [step, value], with a non-finite value as a string.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]any{p.Step, Float(p.Value)})
}

// Series extracts key (loss, learning_rate, grad_norm, eval_loss, ...) from
// a log_history, at each entry's step, in log order.
func Series(hist []map[string]float64, key string) []Point {
	var pts []Point
	for _, e := range hist {
		v, ok := e[key]
		if !ok {
			continue
		}
		pts = append(pts, Point{Step: int(math.Round(e["step"])), Value: v})
	}
	return pts
}

// Curve is one run's training-loss curve in a Comparison.
type Curve struct {
	ID     string  `json:"id"`
	Points []Point `json:"points"`
	// Err says why the curve is empty (no trainer_state.json, the folder
	// is missing); empty for evaluation runs, which have no curve.
	Err string `json:"error,omitempty"`
}

// KeyDiff is a config key whose value differs between the compared runs.
type KeyDiff struct {
	Key string `json:"key"`
	// Values holds each run's value, in Comparison.Runs order; nil where the
	// run's config lacks the key.
	Values []*string `json:"values"`
}

// MetricRow is one figure of every compared run, side by side.
type MetricRow struct {
	Name string `json:"name"`
	// Values holds each run's value, in Comparison.Runs order; nil where the
	// run has none.
	Values []*float64 `json:"-"`
}

// MarshalJSON writes the values with Float, so a NaN loss survives.
func (m MetricRow) MarshalJSON() ([]byte, error) {
	vals := make([]*Float, len(m.Values))
	for i, v := range m.Values {
		vals[i] = floatPtr(v)
	}
	return json.Marshal(struct {
		Name   string   `json:"name"`
		Values []*Float `json:"values"`
	}{m.Name, vals})
}

// Comparison sets runs side by side.
type Comparison struct {
	Runs []Record `json:"runs"`
	// Config lists the keys (flattened, dotted: training.learning_rate)
	// whose values differ, sorted.
	Config []KeyDiff `json:"config_diff"`
	// Metrics lists final_loss, best_loss, steps, epoch, duration_seconds,
	// then every metric any run has (sorted), then, for training runs, the
	// metrics of the newest finished evaluation of their adapter as
	// eval/<name>.
	Metrics []MetricRow `json:"metrics"`
	// Curves holds each run's training-loss curve, in Runs order.
	Curves []Curve `json:"curves"`
	// Warnings name what could not be compared (a config that does not
	// parse).
	Warnings []string `json:"warnings,omitempty"`
}

// Compare sets the runs named by refs (ids, or unique prefixes or
// suffixes) side by side: the config keys that differ, the figures and
// metrics, and the loss curves read from each run folder.
func (s *Store) Compare(refs []string) (Comparison, error) {
	var c Comparison
	if len(refs) == 0 {
		return c, errors.New("runs: nothing to compare")
	}
	for _, ref := range refs {
		r, err := s.Get(ref)
		if err != nil {
			return c, err
		}
		c.Runs = append(c.Runs, r)
	}
	n := len(c.Runs)

	configs := make([]map[string]string, n)
	keys := map[string]bool{}
	for i, r := range c.Runs {
		flat, err := FlattenConfig(r.Config)
		if err != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: config: %v", r.ID, err))
		}
		configs[i] = flat
		for k := range flat {
			keys[k] = true
		}
	}
	for _, k := range sortedKeys(keys) {
		vals := make([]*string, n)
		differ := false
		for i, flat := range configs {
			if v, ok := flat[k]; ok {
				vals[i] = &v
			}
			if i > 0 && !sameString(vals[i], vals[0]) {
				differ = true
			}
		}
		if differ {
			c.Config = append(c.Config, KeyDiff{Key: k, Values: vals})
		}
	}

	evals, _, _ := s.List(Filter{Kind: Eval, Status: Finished})
	figures := []struct {
		name string
		get  func(Record) *float64
	}{
		{"final_loss", func(r Record) *float64 { return r.FinalLoss }},
		{"best_loss", func(r Record) *float64 { return r.BestLoss }},
		{"steps", func(r Record) *float64 { return countOrNil(r.Steps) }},
		{"epoch", func(r Record) *float64 { return countOrNil(r.Epoch) }},
		{"duration_seconds", func(r Record) *float64 { d := r.Elapsed().Seconds(); return &d }},
	}
	for _, f := range figures {
		row := MetricRow{Name: f.name, Values: make([]*float64, n)}
		some := false
		for i, r := range c.Runs {
			row.Values[i] = f.get(r)
			some = some || row.Values[i] != nil
		}
		if some {
			c.Metrics = append(c.Metrics, row)
		}
	}
	c.Metrics = append(c.Metrics, metricRows(c.Runs, "", func(r Record) map[string]float64 { return r.Metrics })...)
	c.Metrics = append(c.Metrics, metricRows(c.Runs, "eval/", func(r Record) map[string]float64 {
		if e := latestEvalOf(r, evals); e != nil {
			return e.Metrics
		}
		return nil
	})...)

	for _, r := range c.Runs {
		cv := Curve{ID: r.ID}
		if r.Kind == Train {
			switch hist, err := History(r.Dir); {
			case r.Missing:
				cv.Err = "run folder missing: " + r.Dir
			case err != nil:
				cv.Err = err.Error()
			default:
				cv.Points = Series(hist, "loss")
			}
		}
		c.Curves = append(c.Curves, cv)
	}
	return c, nil
}

// metricRows makes a row per metric name any run has, prefixed.
func metricRows(runs []Record, prefix string, metrics func(Record) map[string]float64) []MetricRow {
	names := map[string]bool{}
	ms := make([]map[string]float64, len(runs))
	for i, r := range runs {
		ms[i] = metrics(r)
		for k := range ms[i] {
			names[k] = true
		}
	}
	var rows []MetricRow
	for _, k := range sortedKeys(names) {
		row := MetricRow{Name: prefix + k, Values: make([]*float64, len(runs))}
		for i, m := range ms {
			if v, ok := m[k]; ok {
				row.Values[i] = &v
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// latestEvalOf finds the newest finished evaluation of a training run's
// adapter (evals is newest first).
func latestEvalOf(r Record, evals []Record) *Record {
	if r.Kind != Train {
		return nil
	}
	for i, e := range evals {
		if e.Adapter != "" && (e.Adapter == r.Adapter || e.Adapter == r.Dir) {
			return &evals[i]
		}
	}
	return nil
}

func countOrNil[T int | float64](v T) *float64 {
	if v == 0 {
		return nil
	}
	f := float64(v)
	return &f
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FlattenConfig turns a config.yml into dotted keys (training.learning_rate)
// and their values as text: numbers in their shortest form (so 2e-4 and
// 0.0002 compare equal), lists and maps inside lists as compact JSON
// (["q_proj","v_proj"]).
func FlattenConfig(yml string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(yml) == "" {
		return out, nil
	}
	var doc any
	if err := yaml.Unmarshal([]byte(yml), &doc); err != nil {
		return out, err
	}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		if m, ok := v.(map[string]any); ok {
			for k, sub := range m {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				if err := walk(key, sub); err != nil {
					return err
				}
			}
			return nil
		}
		if prefix == "" {
			return fmt.Errorf("not a mapping of sections")
		}
		switch x := v.(type) {
		case nil:
			out[prefix] = "null"
		case string:
			out[prefix] = x
		case []any, map[any]any:
			b, err := json.Marshal(x)
			if err != nil {
				out[prefix] = fmt.Sprint(x)
				return nil
			}
			out[prefix] = string(b)
		default:
			out[prefix] = fmt.Sprint(x)
		}
		return nil
	}
	return out, walk("", doc)
}
