package peft

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"qwentune/model/safetensors"
)

// pickler writes protocol-2 pickle opcodes by hand, as torch.save does.
type pickler struct{ bytes.Buffer }

func (p *pickler) op(b ...byte) *pickler { p.Write(b); return p }

func (p *pickler) str(s string) *pickler {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

func (p *pickler) int(n int) *pickler {
	switch {
	case n >= 0 && n < 256:
		p.op('K', byte(n))
	case n >= 0 && n < 65536:
		p.op('M', byte(n), byte(n>>8))
	default:
		p.WriteByte('J')
		binary.Write(p, binary.LittleEndian, int32(n))
	}
	return p
}

func (p *pickler) global(module, name string) *pickler {
	p.WriteByte('c')
	p.WriteString(module + "\n" + name + "\n")
	return p
}

func (p *pickler) tuple(ns ...int) *pickler {
	p.op('(')
	for _, n := range ns {
		p.int(n)
	}
	return p.op('t')
}

// tensor writes _rebuild_tensor_v2(storage, offset, size, stride, False,
// OrderedDict()) with the storage as a persistent id.
func (p *pickler) tensor(storageClass, key string, numel, offset int, size, stride []int) *pickler {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(').str("storage").global("torch", storageClass).str(key).str("cpu").int(numel).op('t', 'Q')
	p.int(offset).tuple(size...).tuple(stride...)
	p.op(0x89)
	p.global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R')
}

// zipCheckpoint packs a pickle program and storages like torch.save.
func zipCheckpoint(t testing.TB, program []byte, storages map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("adapter_model/data.pkl", program)
	add("adapter_model/byteorder", []byte("little"))
	for k, v := range storages {
		add("adapter_model/data/"+k, v)
	}
	add("adapter_model/version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f32bytes(v ...float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func u16bytes(v ...uint16) []byte {
	b := make([]byte, 0, 2*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

// validProgram is a state dict as torch.save writes it: an OrderedDict with
// a _metadata state, two tensors of layer 0 q_proj (A contiguous F32,
// B a transposed BF16 view) and a HalfStorage tensor with an offset.
func validProgram() []byte {
	var p pickler
	p.op(0x80, 2)
	p.global("collections", "OrderedDict").op(')', 'R', 'q', 0)
	p.op('(')
	p.str("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
	p.tensor("FloatStorage", "0", 8, 0, []int{2, 4}, []int{4, 1})
	p.op('q', 1)
	p.str("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
	p.tensor("BFloat16Storage", "1", 6, 0, []int{3, 2}, []int{1, 3}) // a .t() view of a [2, 3] storage
	p.str("extra.half")
	p.tensor("HalfStorage", "2", 4, 1, []int{3}, []int{1})
	p.op('u')
	p.op('}').str("_metadata").global("collections", "OrderedDict").op(')', 'R').op('s', 'b')
	p.op('.')
	return p.Bytes()
}

func validStorages() map[string][]byte {
	return map[string][]byte{
		"0": f32bytes(1, 2, 3, 4, 5, 6, 7, 8),
		"1": u16bytes(0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0), // 1..6 in bf16, row-major [2, 3]
		"2": u16bytes(0x0000, 0x3C00, 0xC000, 0x3800),                 // 0, 1, -2, 0.5 in f16
	}
}

func TestReadTorchValid(t *testing.T) {
	tensors, err := ReadTorch(zipCheckpoint(t, validProgram(), validStorages()), "adapter_model.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(tensors) != 3 {
		t.Fatalf("%d tensors", len(tensors))
	}
	want := []struct {
		name  string
		dtype string
		shape []int
		vals  []float32
	}{
		{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "F32", []int{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8}},
		{"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "BF16", []int{3, 2}, []float32{1, 4, 2, 5, 3, 6}},
		{"extra.half", "F16", []int{3}, []float32{1, -2, 0.5}},
	}
	for i, w := range want {
		g := tensors[i]
		v, err := g.Float32()
		if err != nil {
			t.Fatal(err)
		}
		if g.Name != w.name || g.DType != w.dtype || !reflect.DeepEqual(g.Shape, w.shape) || !reflect.DeepEqual(v, w.vals) {
			t.Errorf("tensor %d: %s %s %v %v, want %+v", i, g.Name, g.DType, g.Shape, v, w)
		}
	}
}

func TestLoadLegacyBin(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]}`), 0o644)
	var p pickler
	p.op(0x80, 2, '}', 'q', 0, '(')
	p.str("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
	p.tensor("FloatStorage", "0", 8, 0, []int{2, 4}, []int{4, 1})
	p.str("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
	p.tensor("BFloat16Storage", "1", 6, 0, []int{3, 2}, []int{1, 3})
	p.op('u', '.')
	data := zipCheckpoint(t, p.Bytes(), validStorages())
	os.WriteFile(filepath.Join(dir, LegacyWeightsName), data, 0o644)
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := a.Tensors[Key(0, "q_proj", "lora_B")]
	if !reflect.DeepEqual(b.Shape, []int{3, 2}) || !reflect.DeepEqual(b.Data, []float32{1, 4, 2, 5, 3, 6}) {
		t.Fatalf("lora_B %+v", b)
	}
	if a.Config.ScaleFor(ModulePath(0, "q_proj")) != 2 {
		t.Fatal("scale")
	}
	// Saving converts the legacy adapter to safetensors, which then wins.
	if err := Save(dir, a); err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir)
	if err != nil || !reflect.DeepEqual(again.Tensors, a.Tensors) {
		t.Fatalf("reload: %v", err)
	}
}

func TestReadTorchHostile(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	shell := "touch " + marker
	cases := []struct {
		name    string
		program func(p *pickler)
		want    string
	}{
		{"os.system", func(p *pickler) { p.global("os", "system").op('(').str(shell).op('t', 'R', '.') }, `"os.system" is not allowed`},
		{"posix.system", func(p *pickler) { p.global("posix", "system").str(shell).op(0x85, 'R', '.') }, `"posix.system" is not allowed`},
		{"builtins.eval", func(p *pickler) { p.global("builtins", "eval").str("1+1").op(0x85, 'R', '.') }, `"builtins.eval" is not allowed`},
		{"stack global exec", func(p *pickler) {
			p.op(0x8c, 8).WriteString("builtins")
			p.op(0x8c, 4).WriteString("exec")
			p.op(0x93, '.')
		}, `"builtins.exec" is not allowed`},
		{"torch.load", func(p *pickler) { p.global("torch", "load").op('.') }, "not allowed"},
		{"INST", func(p *pickler) { p.op('(').WriteString("ios\nsystem\n") }, "opcode INST is not allowed"},
		{"OBJ", func(p *pickler) { p.op('(', 'o') }, "opcode OBJ is not allowed"},
		{"NEWOBJ", func(p *pickler) { p.op(')', ')', 0x81) }, "opcode NEWOBJ is not allowed"},
		{"calling a storage class", func(p *pickler) { p.global("torch", "FloatStorage").op(')', 'R', '.') }, "cannot be called"},
		{"reduce on a string", func(p *pickler) { p.str("os.system").op(')', 'R', '.') }, "REDUCE on a string"},
		{"OrderedDict with args", func(p *pickler) { p.global("collections", "OrderedDict").str("x").op(0x85, 'R', '.') }, "called with arguments"},
		{"persistent id not storage", func(p *pickler) { p.str("x").op('Q') }, "persistent id"},
		{"storage of rebuild", func(p *pickler) {
			p.op('(').str("storage").global("torch._utils", "_rebuild_tensor_v2").str("0").str("cpu").int(1).op('t', 'Q')
		}, "storage type"},
		{"storage key escape", func(p *pickler) {
			p.op('(').str("storage").global("torch", "FloatStorage").str("../x").str("cpu").int(1).op('t', 'Q')
		}, "storage key"},
		{"not a dict", func(p *pickler) { p.int(5).op('.') }, "want a state dict"},
		{"no STOP", func(p *pickler) { p.op('}') }, "without STOP"},
		{"underflow", func(p *pickler) { p.op('t') }, "underflow"},
		{"memo miss", func(p *pickler) { p.op('h', 9) }, "memo 9"},
		{"truncated", func(p *pickler) { p.op('X', 0xff, 0xff) }, "truncated"},
		{"protocol 9", func(p *pickler) { p.op(0x80, 9) }, "protocol 9"},
		{"bad value", func(p *pickler) { p.op('}').str("k").int(3).op('s', '.') }, "want a tensor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p pickler
			p.op(0x80, 2)
			c.program(&p)
			_, err := ReadTorch(zipCheckpoint(t, p.Bytes(), nil), "adapter_model.bin")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "adapter_model.bin") {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the pickle ran a command")
			}
		})
	}
}

func TestReadTorchBadTensors(t *testing.T) {
	one := func(class string, numel, offset int, size, stride []int) []byte {
		var p pickler
		p.op(0x80, 2, '}', '(').str("t").tensor(class, "0", numel, offset, size, stride).op('u', '.')
		return p.Bytes()
	}
	cases := []struct {
		name     string
		program  []byte
		storages map[string][]byte
		want     string
	}{
		{"past storage", one("FloatStorage", 4, 1, []int{4}, []int{1}), map[string][]byte{"0": f32bytes(1, 2, 3, 4)}, "past storage"},
		{"stride past storage", one("FloatStorage", 4, 0, []int{2, 2}, []int{3, 1}), map[string][]byte{"0": f32bytes(1, 2, 3, 4)}, "past storage"},
		{"storage size", one("FloatStorage", 4, 0, []int{4}, []int{1}), map[string][]byte{"0": f32bytes(1, 2, 3)}, "has 12 bytes"},
		{"missing storage", one("FloatStorage", 4, 0, []int{4}, []int{1}), nil, "missing from the archive"},
		{"rank mismatch", one("FloatStorage", 4, 0, []int{4}, []int{1, 1}), map[string][]byte{"0": f32bytes(1, 2, 3, 4)}, "differ in rank"},
		{"huge", one("FloatStorage", 1, 0, []int{1 << 20, 1 << 20}, []int{0, 0}), map[string][]byte{"0": f32bytes(1)}, "too large"},
		{"expanded view", one("FloatStorage", 1, 0, []int{2, 2}, []int{0, 0}), map[string][]byte{"0": f32bytes(7)}, "overlapping views"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadTorch(zipCheckpoint(t, c.program, c.storages), "x.bin")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	// A strided view of part of a storage and an empty tensor are fine.
	tt, err := ReadTorch(zipCheckpoint(t, one("FloatStorage", 6, 1, []int{2, 2}, []int{3, 1}), map[string][]byte{"0": f32bytes(0, 1, 2, 3, 4, 5)}), "x.bin")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := tt[0].Float32(); !reflect.DeepEqual(v, []float32{1, 2, 4, 5}) {
		t.Fatalf("strided view %v", v)
	}
	if _, err := ReadTorch(zipCheckpoint(t, one("FloatStorage", 0, 0, []int{0, 3}, []int{3, 1}), map[string][]byte{"0": nil}), "x.bin"); err != nil {
		t.Fatalf("empty tensor: %v", err)
	}
}

func TestReadTorchBigEndian(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("a/data.pkl")
	w.Write([]byte{0x80, 2, '}', '.'})
	w, _ = zw.Create("a/byteorder")
	w.Write([]byte("big"))
	zw.Close()
	if _, err := ReadTorch(buf.Bytes(), "x.bin"); err == nil || !strings.Contains(err.Error(), "big") {
		t.Fatalf("error %v", err)
	}
}

func FuzzUnpickle(f *testing.F) {
	f.Add(validProgram())
	f.Add([]byte{0x80, 2, '}', '.'})
	f.Add([]byte{0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, 0x8c, 1, 'a', 0x94, 'h', 0, 0x8a, 2, 0xff, 0x7f, '.'})
	storages := validStorages()
	f.Fuzz(func(t *testing.T, program []byte) {
		v, err := unpickle(program)
		if err != nil {
			return
		}
		_ = typeName(v)
		tensors, err := ReadTorch(zipCheckpoint(t, program, storages), "fuzz.bin")
		if err != nil {
			return
		}
		for _, tt := range tensors {
			size, _ := safetensors.ItemSize(tt.DType)
			if len(tt.Data) != tt.NumElements()*size {
				t.Fatalf("%s: %d bytes for %v", tt.Name, len(tt.Data), tt.Shape)
			}
		}
	})
}
