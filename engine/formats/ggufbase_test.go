package formats

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/model/gguf"
)

// A GGUF in a type we do not decode (a k-quant, as most Ollama downloads
// are) is refused before loading, naming the tensor and its type; its
// config and tokenizer still read (inspect shows what the file is).
func TestLoadGGUFRefusesKQuants(t *testing.T) {
	shape := q8Shape()
	shape.IntermediateSize = 256 // ffn_down's rows: one Q4_K block
	f := newFixture(t, shape, qvLoRA)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := WriteGGUF(context.Background(), path, f.base, f.tok, GGUFOptions{DType: F16}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Retype one F16 matrix as Q4_K in the header, drop the bytes its
	// smaller size frees and move the later tensors' offsets back by as
	// much, so the file is a well-formed GGUF holding a k-quant.
	const name = "blk.0.ffn_down.weight"
	field := func(n string, dims int) int { // where n's type field is in the header
		key := binary.LittleEndian.AppendUint64(nil, uint64(len(n)))
		return bytes.Index(data, append(key, n...)) + 8 + len(n) + 4 + 8*dims
	}
	pad := func(n int64) int64 { return (n + 31) / 32 * 32 }
	var cut, start int64
	var out []byte
	for _, ti := range g.Tensors() {
		at := field(ti.Name, len(ti.Dims))
		switch {
		case ti.Name == name:
			if ti.Type != gguf.F16 || ti.Dims[0]%256 != 0 {
				t.Fatalf("%s is %s %v: the fixture needs an F16 matrix with rows of whole 256-value blocks", name, ti.Type, ti.Dims)
			}
			size, err := gguf.TensorSize(ti.Dims, gguf.Q4_K)
			if err != nil {
				t.Fatal(err)
			}
			binary.LittleEndian.PutUint32(data[at:], uint32(gguf.Q4_K))
			start, cut = g.DataOffset+ti.Offset+pad(size), pad(ti.Size)-pad(size)
		case cut > 0:
			binary.LittleEndian.PutUint64(data[at+4:], uint64(ti.Offset-cut))
		}
	}
	if cut == 0 {
		t.Fatalf("no tensor %s", name)
	}
	out = append(append(out, data[:start]...), data[start+cut:]...)
	bad := filepath.Join(dir, "q4.gguf")
	if err := os.WriteFile(bad, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenGGUFFiles(bad); err != nil {
		t.Fatalf("config and tokenizer of a Q4_K file: %v", err)
	}
	for _, dtype := range []string{"float32", "q8_0"} {
		_, err := ReadGGUF(bad, dtype)
		if err == nil || !strings.Contains(err.Error(), name+" is stored as Q4_K") || !strings.HasPrefix(err.Error(), bad) {
			t.Errorf("%s: got %v", dtype, err)
		}
	}
}
