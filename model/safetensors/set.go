package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Set is every tensor of a model folder, possibly spread over shards.
type Set struct {
	files  []*File
	byName map[string]*File
	names  []string
}

// OpenDir opens the weights of a model folder: model.safetensors when
// present, else the shards listed by model.safetensors.index.json, else
// every *.safetensors file in dir. A tensor name appearing in two files, or
// an index entry missing from the shard it names, is an error.
func OpenDir(dir string) (*Set, error) {
	single := filepath.Join(dir, SingleName)
	if _, err := os.Stat(single); err == nil {
		return openFiles([]string{single})
	}
	indexPath := filepath.Join(dir, IndexName)
	data, err := os.ReadFile(indexPath)
	switch {
	case err == nil:
		var idx Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("safetensors: %s: %v", indexPath, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("safetensors: %s: empty \"weight_map\"", indexPath)
		}
		seen := map[string]bool{}
		var paths []string
		for tensor, file := range idx.WeightMap {
			if file == "" || filepath.Base(file) != file {
				return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q is not a plain file name", indexPath, tensor, file)
			}
			if !seen[file] {
				seen[file] = true
				paths = append(paths, filepath.Join(dir, file))
			}
		}
		sort.Strings(paths)
		s, err := openFiles(paths)
		if err != nil {
			return nil, err
		}
		for tensor, file := range idx.WeightMap {
			if f := s.byName[tensor]; f == nil || filepath.Base(f.name) != file {
				s.Close()
				return nil, fmt.Errorf("safetensors: %s: tensor %q is not in shard %s", indexPath, tensor, file)
			}
		}
		return s, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("safetensors: %s: no %s, %s or *.safetensors file", dir, SingleName, IndexName)
	}
	sort.Strings(paths)
	return openFiles(paths)
}

// openFiles opens every path into one Set, closing everything on error.
func openFiles(paths []string) (*Set, error) {
	s := &Set{byName: map[string]*File{}}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.files = append(s.files, f)
		for _, n := range f.names {
			if prev, dup := s.byName[n]; dup {
				s.Close()
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", n, prev.name, f.name)
			}
			s.byName[n] = f
			s.names = append(s.names, n)
		}
	}
	sort.Strings(s.names)
	return s, nil
}

// Names returns every tensor name of the set, sorted.
func (s *Set) Names() []string {
	return append([]string(nil), s.names...)
}

// Tensor returns the named tensor from whichever file holds it. Its Data
// stays valid until Close.
func (s *Set) Tensor(name string) (Tensor, bool) {
	f, ok := s.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return f.Tensor(name)
}

// Files returns the paths of the files making up the set, in open order.
func (s *Set) Files() []string {
	out := make([]string, len(s.files))
	for i, f := range s.files {
		out[i] = f.name
	}
	return out
}

// Close releases every file of the set.
func (s *Set) Close() error {
	var first error
	for _, f := range s.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.files = nil
	return first
}

// Release drops the named tensor's pages from the resident set (see
// File.Release).
func (s *Set) Release(name string) {
	if f, ok := s.byName[name]; ok {
		f.Release(name)
	}
}
