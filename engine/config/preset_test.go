package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	if got := PresetNames(); !slices.Equal(got, []string{"quick", "seed", "quality"}) {
		t.Fatalf("PresetNames() = %v", got)
	}
	for _, p := range Presets() {
		// Every preset sets the same keys, so switching never leaves a value
		// of the previous preset behind, and every result is valid.
		var keys []string
		for _, kv := range p.Settings {
			k, _, _ := strings.Cut(kv, "=")
			keys = append(keys, k)
		}
		if !slices.Equal(keys, presetKeys) {
			t.Errorf("%s sets %v, want %v", p.Name, keys, presetKeys)
		}
		c := Default()
		c.Model.Name, c.Training.OutputDir = "demo", "run" // not a preset's business
		if _, err := p.Apply(&c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if c.Model.Name != "demo" || c.Training.OutputDir != "run" || !p.Matches(c) {
			t.Errorf("%s: %+v", p.Name, c)
		}
	}
}

func TestSeedPresetIsTheDefaults(t *testing.T) {
	seed, err := FindPreset("seed")
	if err != nil {
		t.Fatal(err)
	}
	if !seed.Matches(Default()) {
		t.Errorf("seed differs from Default(): %v", seed.Settings)
	}
	c := Default()
	quick, _ := FindPreset("quick")
	changes, err := quick.Apply(&c)
	if err != nil {
		t.Fatal(err)
	}
	// The changes name each key with its old and new values, in order.
	want := []string{"lora.r 64 → 16", "lora.alpha 16.0 → 32.0", "lora.dropout 0.05 → 0.0",
		"lora.target_modules q_proj,v_proj → all-linear", "training.batch_size 1 → 2",
		"training.gradient_accumulation_steps 4 → 1", "training.learning_rate 0.0002 → 0.003",
		"training.warmup_ratio 0.0 → 0.05", "training.max_steps -1 → 300", "training.save_steps 500 → 100"}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("quick changed\n%v\nwant\n%v", got, want)
	}
	if _, err := seed.Apply(&c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("seed after quick is not the defaults: %+v", c)
	}
}

func TestFindPresetUnknown(t *testing.T) {
	_, err := FindPreset("fast")
	if err == nil || err.Error() != `unknown preset "fast"; presets are quick, seed, quality` {
		t.Errorf("FindPreset(fast) = %v", err)
	}
}
