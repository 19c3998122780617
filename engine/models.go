package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"qwentune/engine/progress"
	"qwentune/model/hub"
)

// DemoName is the reserved model name that selects the built-in demo model.
const DemoName = "demo"

// ErrModelUnavailable is returned when a Hub model is neither on disk nor
// downloadable right now; the message offers the demo model.
var ErrModelUnavailable = errors.New("model unavailable")

// ResolveModel turns config's model.name into a folder holding config.json,
// the tokenizer files and the safetensors weights: the demo model for
// "demo", an existing local folder as it is, a GGUF model file (name ending
// in .gguf: weights, config and tokenizer in one file) as it is, else the
// Hugging Face cache, downloading what is missing with Download events to
// on (may be nil). When
// the Hub cannot be reached and the model is not cached the error wraps
// ErrModelUnavailable and says how to use the demo model instead.
func ResolveModel(ctx context.Context, name, revision string, on progress.Func) (string, error) {
	if name == DemoName {
		return DemoDir()
	}
	if st, err := os.Stat(name); err == nil && (st.IsDir() || IsGGUFModel(name)) {
		return name, nil
	}
	if IsGGUFModel(name) {
		return "", fmt.Errorf("GGUF model file %s does not exist", name)
	}
	if looksLikePath(name) {
		return "", fmt.Errorf("model folder %s does not exist", name)
	}
	dir, err := hub.LocalOrDownload(ctx, name, revision, DownloadEvents(on))
	if err != nil {
		if errors.Is(err, hub.ErrOffline) || errors.Is(err, hub.ErrInterrupted) {
			return "", fmt.Errorf("%w: %v\nThe model %s is not on this machine and the Hugging Face Hub cannot be reached. "+
				"Use the built-in demo model instead (--set model.name=demo, or \"demo\" on the model screen), "+
				"or download the model on a machine with internet (qwentune download %s)", ErrModelUnavailable, err, name, name)
		}
		return "", err
	}
	return dir, nil
}

// DownloadEvents turns the Hub client's progress reports into Download
// events for on: the one place a download's progress changes shape.
func DownloadEvents(on progress.Func) func(hub.Progress) {
	if on == nil {
		return nil
	}
	return func(p hub.Progress) {
		on(progress.Event{Kind: progress.Download, Bytes: &progress.Bytes{What: p.File, Done: p.Done, Total: p.Total,
			Index: p.FileIndex, Files: p.Files, Speed: p.Speed, ETA: p.ETA}})
	}
}

// looksLikePath reports whether name is meant as a folder rather than a Hub id.
func looksLikePath(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "~") ||
		filepath.IsAbs(name) || strings.Count(name, "/") > 1
}

// IsGGUFModel reports whether name is meant as a GGUF model file (one
// whose name ends in .gguf) rather than a folder or a Hub id.
func IsGGUFModel(name string) bool { return strings.EqualFold(filepath.Ext(name), ".gguf") }

// OnDisk reports whether name can be loaded without the network: the demo,
// an existing folder or GGUF file, or a complete snapshot in the Hugging
// Face cache.
func OnDisk(name, revision string) bool {
	if name == DemoName {
		return true
	}
	if st, err := os.Stat(name); err == nil && (st.IsDir() || IsGGUFModel(name)) {
		return true
	}
	if revision == "" {
		revision = hub.DefaultRevision
	}
	dir, ok := hub.NewClient().CachedSnapshot(name, revision)
	return ok && len(hub.MissingFiles(dir)) == 0
}
