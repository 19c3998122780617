package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"qwentune/data"
	"qwentune/model"
)

// DemoShape is the architecture of the built-in demo model: a small Qwen2
// (5.1M parameters) over the built-in 8192-token tokenizer, pretrained by
// scripts/make-demo-model.sh on the King James Bible with chat turns mixed in.
var DemoShape = func() model.Config {
	c := model.Shapes["tiny"]
	c.HiddenSize = 256
	c.IntermediateSize = 768
	c.NumHiddenLayers = 4
	c.NumAttentionHeads = 8
	c.NumKeyValueHeads = 2
	c.HeadDim = 32
	c.MaxWindowLayers = 4
	return c
}()

// DemoDir returns the folder of the built-in demo model, unpacking it into
// the user cache on first use.
var DemoDir = demoDir

// demoDir unpacks the demo model embedded in the binary into the user cache
// (once per content hash) and returns that folder, so the demo works from a
// packaged app without the source tree.
func demoDir() (string, error) {
	files, err := fs.ReadDir(data.Demo, "demo")
	if err != nil || len(files) == 0 {
		return "", errors.New("the built-in demo model is missing from this build (data/demo)")
	}
	h := sha256.New()
	contents := make([][]byte, len(files))
	for i, f := range files {
		b, err := fs.ReadFile(data.Demo, "demo/"+f.Name())
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f.Name(), len(b))
		h.Write(b)
		contents[i] = b
	}
	sum := hex.EncodeToString(h.Sum(nil))[:16]
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "qwentune", "demo-"+sum)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("unpacking the demo model: %w", err)
	}
	for i, f := range files {
		if err := os.WriteFile(filepath.Join(tmp, f.Name()), contents[i], 0o644); err != nil {
			return "", fmt.Errorf("unpacking the demo model: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "config.json")); statErr == nil {
			os.RemoveAll(tmp) // another process unpacked it first
			return dir, nil
		}
		return "", fmt.Errorf("unpacking the demo model: %w", err)
	}
	return dir, nil
}
