package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Preset is a named overlay of config keys: applying it sets those keys and
// leaves every other key (the model, the data, the output folder) alone.
// The app's preset picker and `qwentune train --preset` share these.
type Preset struct {
	// Name is the short name the CLI takes and the form shows.
	Name string
	// Summary says in one sentence what the preset is for.
	Summary string
	// Settings are key=value pairs as --set takes them.
	Settings []string
}

// Preset names.
const (
	PresetQuick   = "quick"
	PresetSeed    = "seed"
	PresetQuality = "quality"
)

// presetKeys are the keys every preset sets, so that switching from one
// preset to another never leaves a value of the first behind.
var presetKeys = []string{
	"lora.r", "lora.alpha", "lora.dropout", "lora.target_modules",
	"dataset.padding",
	"training.batch_size", "training.gradient_accumulation_steps", "training.learning_rate",
	"training.lr_scheduler", "training.warmup_steps", "training.warmup_ratio",
	"training.epochs", "training.max_steps", "training.logging_steps", "training.save_steps",
}

// presets lists the presets in the order the picker shows them. quick was
// tuned on the built-in demo model (5.1M parameters) and data/train.jsonl:
// a LoRA on every Linear layer at a learning rate tiny models take, for a
// fixed 300 steps of two rows, so the loss falls from about 5.5 to about 2
// and greedy answers to training questions move toward the training
// answers in well under two minutes on two cores (README, "The built-in
// demo model"). seed is config.yml's own values (Default) of the same keys.
var presets = []Preset{
	{PresetQuick, "a short run that visibly teaches a small model (the built-in demo) in about a minute: LoRA r 16 on every Linear layer, learning rate 3e-3, 300 steps of 2 rows",
		[]string{"lora.r=16", "lora.alpha=32", "lora.dropout=0", "lora.target_modules=all-linear",
			"dataset.padding=longest",
			"training.batch_size=2", "training.gradient_accumulation_steps=1", "training.learning_rate=3e-3",
			"training.lr_scheduler=cosine", "training.warmup_steps=0", "training.warmup_ratio=0.05",
			"training.epochs=3", "training.max_steps=300", "training.logging_steps=10", "training.save_steps=100"}},
	{PresetSeed, "the seed's settings from config.yml: LoRA r 64, alpha 16 on q_proj and v_proj, learning rate 2e-4 cosine, 3 epochs, batches of 4 rows",
		nil}, // Default's values, filled in by Presets

	{PresetQuality, "for real models and real data: LoRA r 16, alpha 32 on every Linear layer, learning rate 1e-4 with 5% warmup, 3 epochs, batches of 8 rows",
		[]string{"lora.r=16", "lora.alpha=32", "lora.dropout=0.05", "lora.target_modules=all-linear",
			"dataset.padding=longest",
			"training.batch_size=1", "training.gradient_accumulation_steps=8", "training.learning_rate=1e-4",
			"training.lr_scheduler=cosine", "training.warmup_steps=0", "training.warmup_ratio=0.05",
			"training.epochs=3", "training.max_steps=-1", "training.logging_steps=10", "training.save_steps=500"}},
}

// seedSettings writes Default's values of presetKeys as key=value pairs.
func seedSettings() []string {
	vals := Default().values()
	out := make([]string, len(presetKeys))
	for i, k := range presetKeys {
		out[i] = k + "=" + vals[k]
	}
	return out
}

// Presets lists the presets in the picker's order.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	for i, p := range presets {
		p.Settings = append([]string(nil), p.Settings...)
		if p.Name == PresetSeed {
			p.Settings = seedSettings()
		}
		out[i] = p
	}
	return out
}

// PresetNames lists the presets' short names.
func PresetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return names
}

// FindPreset returns the preset called name.
func FindPreset(name string) (Preset, error) {
	for _, p := range Presets() {
		if p.Name == name {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("unknown preset %q; presets are %s", name, strings.Join(PresetNames(), ", "))
}

// Change is one key a preset changed, with its values before and after as
// --set writes them.
type Change struct {
	Key, From, To string
}

// String is "key from → to".
func (c Change) String() string { return c.Key + " " + c.From + " → " + c.To }

// Apply sets the preset's keys on c and returns the keys whose values it
// changed, in the preset's order. c is left alone on an error.
func (p Preset) Apply(c *Config) ([]Change, error) {
	before := c.values()
	next := *c
	next.LoRA.TargetModules = append([]string(nil), c.LoRA.TargetModules...)
	for _, kv := range p.Settings {
		if err := next.Set(kv); err != nil {
			return nil, fmt.Errorf("preset %s: %w", p.Name, err)
		}
	}
	after := next.values()
	var changes []Change
	for _, kv := range p.Settings {
		k, _, _ := strings.Cut(kv, "=")
		if before[k] != after[k] {
			changes = append(changes, Change{k, before[k], after[k]})
		}
	}
	*c = next
	return changes, nil
}

// Matches reports whether c holds every value the preset sets.
func (p Preset) Matches(c Config) bool {
	probe := c
	changes, err := p.Apply(&probe)
	return err == nil && len(changes) == 0
}

// values returns every key's value as --set would write it.
func (c Config) values() map[string]string {
	cv := reflect.ValueOf(c)
	out := make(map[string]string, len(fieldTable))
	for i := range fieldTable {
		f := &fieldTable[i]
		v := cv.FieldByIndex(f.index)
		if v.Kind() == reflect.Slice {
			out[f.Key] = strings.Join(v.Interface().([]string), ",")
			continue
		}
		out[f.Key] = formatValue(v, false)
	}
	return out
}
