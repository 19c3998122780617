package runs

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// recordVersion is the version of the record file format; a reader refuses
// records of a later one rather than misreading them.
const recordVersion = 1

// Float is a float64 that survives JSON when it is not finite (a diverged
// run's NaN loss): NaN and ±Inf are written as the strings "NaN",
// "Infinity" and "-Infinity", the spelling of Python's json module and
// JavaScript, and read back.
type Float float64

// MarshalJSON writes f as a number, or a string when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads a number or one of the three strings.
func (f *Float) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "NaN":
			*f = Float(math.NaN())
		case "Infinity":
			*f = Float(math.Inf(1))
		case "-Infinity":
			*f = Float(math.Inf(-1))
		default:
			return fmt.Errorf("not a number: %q", s)
		}
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = Float(v)
	return nil
}

func floatPtr(p *float64) *Float {
	if p == nil {
		return nil
	}
	f := Float(*p)
	return &f
}

func fromFloatPtr(p *Float) *float64 {
	if p == nil {
		return nil
	}
	f := float64(*p)
	return &f
}

func floatMap(m map[string]float64) map[string]Float {
	if m == nil {
		return nil
	}
	out := make(map[string]Float, len(m))
	for k, v := range m {
		out[k] = Float(v)
	}
	return out
}

func fromFloatMap(m map[string]Float) map[string]float64 {
	if m == nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v)
	}
	return out
}

// recordAlias has Record's fields without its methods.
type recordAlias Record

// recordJSON is a record as stored and printed: the duration in seconds and
// the floats that may be NaN as Float.
type recordJSON struct {
	Version int `json:"version"`
	recordAlias
	DurationSeconds float64          `json:"duration_seconds,omitempty"`
	FinalLoss       *Float           `json:"final_loss,omitempty"`
	BestLoss        *Float           `json:"best_loss,omitempty"`
	Metrics         map[string]Float `json:"metrics,omitempty"`
	Missing         bool             `json:"missing,omitempty"`
}

// MarshalJSON writes the record as its file holds it (plus "missing" when
// List or Get found the folder gone).
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(recordJSON{Version: recordVersion, recordAlias: recordAlias(r),
		DurationSeconds: r.Duration.Seconds(), FinalLoss: floatPtr(r.FinalLoss), BestLoss: floatPtr(r.BestLoss),
		Metrics: floatMap(r.Metrics), Missing: r.Missing})
}

// UnmarshalJSON reads a record file, refusing one of a later format.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j recordJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.Version > recordVersion {
		return fmt.Errorf("record version %d is newer than this QwenTune reads (%d)", j.Version, recordVersion)
	}
	*r = Record(j.recordAlias)
	r.Duration = time.Duration(j.DurationSeconds * float64(time.Second))
	r.FinalLoss = fromFloatPtr(j.FinalLoss)
	r.BestLoss = fromFloatPtr(j.BestLoss)
	r.Metrics = fromFloatMap(j.Metrics)
	r.Missing = j.Missing
	return nil
}
