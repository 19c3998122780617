package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// shipped is the SHA-256 (hex, comma-separated) of every plugin shipped with
// this build, set at link time by scripts/package.sh:
//
//	go build -ldflags "-X qwentune/plugins/evaluators/host.shipped=<hex>,<hex>" ./cmd/desktop
//
// A plain `go build` or `go run` has none: scripts/build-plugins.sh approves
// the plugins it builds instead (qwentune evaluators --trust bin/plugins).
var shipped string

// BuiltIn returns the checksums compiled into this binary.
func BuiltIn() []string {
	var out []string
	for _, s := range strings.Split(shipped, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// TrustFile is the user's approval list, in the user's QwenTune config
// folder (never in a plugin folder); "" when there is no config folder.
func TrustFile() string {
	cfg, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cfg, "qwentune", TrustFileName)
}

// trustedSums maps hex SHA-256 to why it is trusted, with the problems met
// reading the user's list (a malformed line is skipped, not trusted).
func trustedSums() (map[string]string, []error) {
	out := map[string]string{}
	var errs []error
	if f := TrustFile(); f != "" {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("evaluator plugins: %w", err))
		}
		if err == nil {
			sums, err := parseTrust(data, f)
			if err != nil {
				errs = append(errs, err)
			}
			for _, s := range sums {
				out[s] = TrustApproved
			}
		}
	}
	for _, s := range BuiltIn() {
		out[s] = TrustBuiltIn
	}
	return out, errs
}

// parseTrust reads the trust file: the same sha256sum format as
// ParseManifest, with absolute paths.
func parseTrust(data []byte, name string) ([]string, error) {
	m, err := ParseManifest(bytes.NewReader(data), name)
	var sums []string
	for _, d := range m {
		sums = append(sums, hex.EncodeToString(d))
	}
	return sums, err
}

// Trust approves the plugin executable at path, or every plugin executable
// in the folder path (and its direct sub-folders), by recording their
// SHA-256 in TrustFile. It returns the plugins approved. A file that is not
// a plugin executable (qwentune-eval-NAME, executable) is an error.
func Trust(path string) ([]Plugin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	var ps []Plugin
	if isDir(abs) {
		if ps, err = discoverDir(abs); err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("%s holds no evaluator plugin (files named qwentune-eval-NAME)", path)
		}
	} else {
		name, ok := pluginName(abs)
		if !ok {
			if _, err := os.Stat(abs); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s is not an evaluator plugin: want an executable file named qwentune-eval-NAME", path)
		}
		sum, err := sha256File(abs)
		if err != nil {
			return nil, err
		}
		ps = []Plugin{{Name: name, Path: abs, Checksum: sum}}
	}
	file := TrustFile()
	if file == "" {
		return nil, errors.New("evaluator plugins: no user config folder to record the approval in ($HOME or $XDG_CONFIG_HOME)")
	}
	lines := map[string]string{} // path → line
	if data, err := os.ReadFile(file); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if _, p, ok := strings.Cut(l, "  "); ok {
				lines[p] = l
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for i := range ps {
		ps[i].Trust = TrustApproved
		lines[filepath.ToSlash(ps[i].Path)] = hex.EncodeToString(ps[i].Checksum) + "  " + filepath.ToSlash(ps[i].Path)
	}
	var out []string
	for _, l := range lines {
		out = append(out, l)
	}
	sort.Strings(out)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	return ps, writeAtomic(file, []byte("# evaluator plugins approved with qwentune evaluators --trust (SHA-256  path)\n"+strings.Join(out, "\n")+"\n"))
}

// writeAtomic writes data beside path and renames it into place, so a
// reader never sees half a list (host depends on nothing of ours but the
// protocol, hence not internal/atomicfile).
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func sha256File(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
