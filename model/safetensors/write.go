package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"qwentune/internal/atomicfile"
)

// Spec describes a tensor to be written by Stream: everything but its data.
type Spec struct {
	Name  string
	DType string
	Shape []int
}

// ByteSize returns the number of data bytes the tensor occupies, or an error
// for an unsupported dtype or a negative dimension.
func (s Spec) ByteSize() (int64, error) {
	size, ok := itemSizes[s.DType]
	if !ok {
		return 0, fmt.Errorf("tensor %q: unsupported dtype %q", s.Name, s.DType)
	}
	n := int64(size)
	for _, d := range s.Shape {
		if d < 0 {
			return 0, fmt.Errorf("tensor %q: negative dimension in shape %v", s.Name, s.Shape)
		}
		n *= int64(d)
	}
	return n, nil
}

// Write writes tensors to path as one safetensors file, atomically (a
// temporary file in the same folder, fsynced, then renamed). The header
// lists "__metadata__" first, then the tensors sorted by name; data follows
// in the same order, and the header is padded with spaces to a multiple of 8
// bytes as the reference implementation does.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	specs := make([]Spec, len(tensors))
	byName := make(map[string][]byte, len(tensors))
	for i, t := range tensors {
		specs[i] = Spec{Name: t.Name, DType: t.DType, Shape: t.Shape}
		byName[t.Name] = t.Data
	}
	return Stream(path, specs, metadata, func(name string, w io.Writer) error {
		_, err := w.Write(byName[name])
		return err
	})
}

// Stream writes a safetensors file whose tensor data is produced on demand,
// so a checkpoint larger than memory can be written one tensor at a time.
// The header is built from specs; then, in name order, write is called once
// per tensor and must write exactly that tensor's byte size to w. The file
// is written atomically like Write.
func Stream(path string, specs []Spec, metadata map[string]string, write func(name string, w io.Writer) error) error {
	sorted := append([]Spec(nil), specs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	sizes := make([]int64, len(sorted))
	for i, s := range sorted {
		if s.Name == "" || s.Name == metadataKey {
			return fmt.Errorf("safetensors: %s: invalid tensor name %q", path, s.Name)
		}
		if i > 0 && sorted[i-1].Name == s.Name {
			return fmt.Errorf("safetensors: %s: duplicate tensor name %q", path, s.Name)
		}
		n, err := s.ByteSize()
		if err != nil {
			return fmt.Errorf("safetensors: %s: %v", path, err)
		}
		sizes[i] = n
	}
	header, err := encodeHeader(sorted, sizes, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: %s: %v", path, err)
	}
	err = atomicfile.Write(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(header); err != nil {
			return err
		}
		for i, s := range sorted {
			cw := &countingWriter{w: w}
			if err := write(s.Name, cw); err != nil {
				return fmt.Errorf("tensor %q: %w", s.Name, err)
			}
			if cw.n != sizes[i] {
				return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes, got %d", s.Name, s.Shape, s.DType, sizes[i], cw.n)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// encodeHeader renders the JSON header for sorted specs with the given data
// sizes, padded with spaces to a multiple of 8 bytes.
func encodeHeader(sorted []Spec, sizes []int64, metadata map[string]string) ([]byte, error) {
	type entry struct {
		DType       string  `json:"dtype"`
		Shape       []int   `json:"shape"`
		DataOffsets []int64 `json:"data_offsets"`
	}
	buf := []byte{'{'}
	sep := false
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata)
		if err != nil {
			return nil, err
		}
		buf = append(buf, `"__metadata__":`...)
		buf = append(buf, m...)
		sep = true
	}
	var offset int64
	for i, s := range sorted {
		shape := s.Shape
		if shape == nil {
			shape = []int{}
		}
		e, err := json.Marshal(entry{DType: s.DType, Shape: shape, DataOffsets: []int64{offset, offset + sizes[i]}})
		if err != nil {
			return nil, err
		}
		k, err := json.Marshal(s.Name)
		if err != nil {
			return nil, err
		}
		if sep {
			buf = append(buf, ',')
		}
		sep = true
		buf = append(buf, k...)
		buf = append(buf, ':')
		buf = append(buf, e...)
		offset += sizes[i]
	}
	buf = append(buf, '}')
	for len(buf)%8 != 0 {
		buf = append(buf, ' ')
	}
	return buf, nil
}

// countingWriter counts the bytes passed through to w.
type countingWriter struct {
	w io.Writer
	n int64
}

// Write passes p to the underlying writer and counts what was written.
func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// IndexName is the file name of a sharded checkpoint's index.
const IndexName = "model.safetensors.index.json"

// SingleName is the file name of an unsharded checkpoint.
const SingleName = "model.safetensors"

// Index is the content of model.safetensors.index.json.
type Index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// WriteSharded writes in-memory tensors into dir like StreamSharded, in
// name order.
func WriteSharded(dir string, tensors []Tensor, maxShardBytes int64, metadata map[string]string) error {
	sorted := append([]Tensor(nil), tensors...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	specs := make([]Spec, len(sorted))
	byName := make(map[string][]byte, len(sorted))
	for i, t := range sorted {
		specs[i] = Spec{Name: t.Name, DType: t.DType, Shape: t.Shape}
		byName[t.Name] = t.Data
	}
	return StreamSharded(dir, specs, maxShardBytes, metadata, func(name string, w io.Writer) error {
		_, err := w.Write(byName[name])
		return err
	})
}

// PlanShards splits tensors of the given byte sizes, in state-dict order,
// the way huggingface_hub's split_state_dict_into_shards does (and so
// save_pretrained): a tensor larger than the limit gets a shard of its own
// at once; otherwise a new shard starts when the next tensor would tip the
// current one over the limit. limit ≤ 0 means one shard. It returns the
// indices of each shard's tensors.
func PlanShards(sizes []int64, limit int64) [][]int {
	var out [][]int
	var cur []int
	var curBytes int64
	for i, n := range sizes {
		if limit > 0 && n > limit {
			out = append(out, []int{i})
			continue
		}
		if limit > 0 && curBytes+n > limit && len(cur) > 0 {
			out = append(out, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, i)
		curBytes += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// StreamSharded writes a checkpoint into dir the way save_pretrained does:
// model.safetensors when every tensor fits in one shard of maxShardBytes
// (or maxShardBytes ≤ 0), otherwise model-0000i-of-0000N.safetensors shards
// cut by PlanShards in the order of specs, plus model.safetensors.index.json
// with the total size and the weight map. Tensor data comes from write as in
// Stream; metadata goes into every shard. A single file replaces an index
// left by an earlier, sharded checkpoint.
func StreamSharded(dir string, specs []Spec, maxShardBytes int64, metadata map[string]string, write func(name string, w io.Writer) error) error {
	sizes := make([]int64, len(specs))
	var total int64
	for i, s := range specs {
		n, err := s.ByteSize()
		if err != nil {
			return fmt.Errorf("safetensors: %v", err)
		}
		sizes[i], total = n, total+n
	}
	shards := PlanShards(sizes, maxShardBytes)
	if len(shards) <= 1 {
		if err := Stream(filepath.Join(dir, SingleName), specs, metadata, write); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(dir, IndexName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("safetensors: %w", err)
		}
		return nil
	}
	idx := Index{Metadata: map[string]any{"total_size": total}, WeightMap: map[string]string{}}
	for i, shard := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		part := make([]Spec, len(shard))
		for j, k := range shard {
			part[j] = specs[k]
			idx.WeightMap[specs[k].Name] = name
		}
		if err := Stream(filepath.Join(dir, name), part, metadata, write); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, IndexName), idx); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}
