package gguf

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"qwentune/internal/npmtest"
)

// ggufScript prints @huggingface/gguf's parse of a local file as JSON, with
// bigints as {"big": "…"} and non-finite or negative-zero numbers as {"num": "…"}.
const ggufScript = `
const { gguf } = await import(process.argv[2]);
const r = await gguf(process.argv[3], { allowLocalFile: true });
const conv = (v) => typeof v === "bigint" ? { big: v.toString() }
	: typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0)) ? { num: String(v) } : v;
process.stdout.write(JSON.stringify(r, (k, v) => conv(v)));
`

// jsonForm converts a metadata value to the form ggufScript prints.
func jsonForm(v any) any {
	num := func(f float64) any {
		switch {
		case math.IsInf(f, 1):
			return map[string]any{"num": "Infinity"}
		case math.IsInf(f, -1):
			return map[string]any{"num": "-Infinity"}
		case f == 0 && math.Signbit(f):
			return map[string]any{"num": "0"}
		}
		return f
	}
	big := func(s string) any { return map[string]any{"big": s} }
	switch x := v.(type) {
	case uint8:
		return num(float64(x))
	case int8:
		return num(float64(x))
	case uint16:
		return num(float64(x))
	case int16:
		return num(float64(x))
	case uint32:
		return num(float64(x))
	case int32:
		return num(float64(x))
	case float32:
		return num(float64(x))
	case float64:
		return num(x)
	case uint64:
		return big(strconv.FormatUint(x, 10))
	case int64:
		return big(strconv.FormatInt(x, 10))
	case bool, string:
		return x
	}
	rv := reflect.ValueOf(v)
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = jsonForm(rv.Index(i).Interface())
	}
	return out
}

func TestHuggingFaceGGUFReadsOurFile(t *testing.T) {
	dir, node := npmtest.Module(t, "@huggingface/gguf")
	tmp := t.TempDir()
	path := filepath.Join(tmp, "m.gguf")
	buildFile(t, path)
	script := filepath.Join(tmp, "read.mjs")
	if err := os.WriteFile(script, []byte(ggufScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, "file://"+filepath.Join(dir, "dist", "index.mjs"), path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("node: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got struct {
		Metadata    map[string]any
		TensorInfos []struct {
			Name   string
			NDims  float64 `json:"n_dims"`
			Shape  []map[string]string
			Dtype  float64
			Offset map[string]string
		}
		TensorDataOffset map[string]string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := f.Metadata()
	want := map[string]any{
		"version":      3.0,
		"tensor_count": map[string]any{"big": strconv.Itoa(len(f.Tensors()))},
		"kv_count":     map[string]any{"big": strconv.Itoa(len(md))},
	}
	for _, kv := range md {
		want[kv.Key] = jsonForm(kv.Value)
	}
	for k, w := range want {
		if !reflect.DeepEqual(got.Metadata[k], w) {
			t.Errorf("metadata %q: @huggingface/gguf read %#v, we wrote %#v", k, got.Metadata[k], w)
		}
	}
	if len(got.Metadata) != len(want) {
		t.Errorf("@huggingface/gguf read %d metadata entries, want %d", len(got.Metadata), len(want))
	}
	if got.TensorDataOffset["big"] != strconv.FormatInt(f.DataOffset, 10) {
		t.Errorf("tensor data offset: theirs %v, ours %d", got.TensorDataOffset, f.DataOffset)
	}
	infos := f.Tensors()
	if len(got.TensorInfos) != len(infos) {
		t.Fatalf("%d tensor infos, want %d", len(got.TensorInfos), len(infos))
	}
	for i, ti := range got.TensorInfos {
		w := infos[i]
		shape := make([]uint64, len(ti.Shape))
		for j, s := range ti.Shape {
			shape[j], _ = strconv.ParseUint(s["big"], 10, 64)
		}
		if ti.Name != w.Name || int(ti.NDims) != len(w.Dims) || !reflect.DeepEqual(shape, w.Dims) ||
			GGMLType(ti.Dtype) != w.Type || ti.Offset["big"] != strconv.FormatInt(w.Offset, 10) {
			t.Errorf("tensor %d: theirs %+v, ours %+v", i, ti, w)
		}
	}
}
