package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ChangedError is returned (wrapped) by Train when a resume would continue
// a checkpoint with other data or another config than it was made with.
// TrainOptions.ResumeChanged accepts the change.
type ChangedError struct {
	Checkpoint string
	Keys       []string // config keys that differ; "dataset.train_file (SHA-256)" for the data
	Details    []string // one "key: was → now" per key
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s was made with other settings: %s differ (%s); pass --resume-changed (or confirm in the app) if the change is intended",
		e.Checkpoint, strings.Join(e.Keys, ", "), strings.Join(e.Details, "; "))
}

// resumeFree are the keys a resume may change without asking: how long to
// train on (extending a run is what resume is for), how often to log and
// save, and sections training does not read.
var resumeFree = map[string]bool{
	"training.max_steps": true, "training.epochs": true, "training.save_steps": true,
	"training.save_total_limit": true, "training.logging_steps": true, "training.output_dir": true,
	"model.adapter": true,
}

var resumeFreeSections = map[string]bool{"logging": true, "evaluation": true, "chat": true}

// compareResume compares the resolved config (YAML) and data hash of this
// run with the ones the checkpoint dir recorded.
func compareResume(dir string, resolved []byte, dataSHA string) error {
	e := &ChangedError{Checkpoint: dir}
	old, err := os.ReadFile(filepath.Join(dir, ResolvedConfigFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A checkpoint written by the trainer alone (no engine files).
	case err != nil:
		return err
	default:
		was, err := flattenYAML(old)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, ResolvedConfigFile), err)
		}
		now, err := flattenYAML(resolved)
		if err != nil {
			return err
		}
		keys := map[string]bool{}
		for k := range was {
			keys[k] = true
		}
		for k := range now {
			keys[k] = true
		}
		var names []string
		for k := range keys {
			sec, _, _ := strings.Cut(k, ".")
			if resumeFree[k] || resumeFreeSections[sec] {
				continue
			}
			if was[k] != now[k] {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			e.Keys = append(e.Keys, k)
			e.Details = append(e.Details, fmt.Sprintf("%s: %s → %s", k, orNone(was[k]), orNone(now[k])))
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, DatasetHashFile)); err == nil {
		was, _, _ := strings.Cut(strings.TrimSpace(string(data)), " ")
		if was != dataSHA {
			e.Keys = append(e.Keys, "dataset.train_file (SHA-256)")
			e.Details = append(e.Details, fmt.Sprintf("the training data's SHA-256: %s → %s", short(was), short(dataSHA)))
		}
	}
	if len(e.Keys) == 0 {
		return nil
	}
	return e
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// flattenYAML turns a two-level config document into "section.key" → the
// value as YAML text.
func flattenYAML(data []byte) (map[string]string, error) {
	var doc map[string]map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for sec, body := range doc {
		for k, v := range body {
			b, err := yaml.Marshal(v)
			if err != nil {
				return nil, err
			}
			out[sec+"."+k] = strings.TrimSpace(string(b))
		}
	}
	return out, nil
}
