package engine

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"qwentune/engine/config"
	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/peft"
	"qwentune/model/safetensors"
	"qwentune/model/tokenizer"
)

// tinySession is a session on a tiny random model with the built-in
// tokenizer, and a saved adapter (dir) whose B matrices are random.
func tinySession(t *testing.T, shape model.Config, lc nn.LoRAConfig) (*Session, *nn.Adapter, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := model.MakeModel(dir, shape, 5, "f32"); err != nil {
		t.Fatal(err)
	}
	if err := tokenizer.Builtin().SaveFiles(dir); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDir(dir, dir, "float32")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Model.NewAdapter(lc, 11)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 1))
	for _, p := range a.Params() {
		if strings.Contains(p.Name, "lora_B") {
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * 0.05)
			}
		}
	}
	adir := filepath.Join(t.TempDir(), "adapter")
	if err := peft.Save(adir, a.ToPEFT(dir)); err != nil {
		t.Fatal(err)
	}
	return s, a, adir
}

var testLoRA = nn.LoRAConfig{R: 4, Alpha: 8, TargetModules: []string{"q_proj", "v_proj"}}

func logitsWith(s *Session, a *nn.Adapter, ids []int) [][]float32 {
	s.Model.SetAdapter(a)
	defer s.Model.SetAdapter(nil)
	return s.Model.Logits(ids)
}

func equalLogits(a, b [][]float32) bool {
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// pickler writes the protocol-2 pickle torch.save writes for a state dict.
type pickler struct{ bytes.Buffer }

func (p *pickler) str(s string) {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
}

func (p *pickler) int(n int) {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, int32(n))
}

func (p *pickler) global(module, name string) { p.WriteString("c" + module + "\n" + name + "\n") }

func (p *pickler) tuple(ns ...int) {
	p.WriteByte('(')
	for _, n := range ns {
		p.int(n)
	}
	p.WriteByte('t')
}

// torchBin packs tensors (F32, contiguous) as a PyTorch zip checkpoint like
// PEFT's legacy adapter_model.bin.
func torchBin(t *testing.T, tensors map[string]peft.Tensor) []byte {
	var p pickler
	p.Write([]byte{0x80, 2})
	p.global("collections", "OrderedDict")
	p.Write([]byte{')', 'R', '('})
	storages := map[string][]byte{}
	keys := make([]string, 0, len(tensors))
	for k := range tensors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		tn := tensors[k]
		key := strconv.Itoa(i)
		p.str(k)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.WriteByte('(')
		p.WriteByte('(')
		p.str("storage")
		p.global("torch", "FloatStorage")
		p.str(key)
		p.str("cpu")
		p.int(len(tn.Data))
		p.Write([]byte{'t', 'Q'})
		p.int(0)
		p.tuple(tn.Shape...)
		p.tuple(tn.Shape[1], 1)
		p.WriteByte(0x89)
		p.global("collections", "OrderedDict")
		p.Write([]byte{')', 'R', 't', 'R'})
		b := make([]byte, 0, 4*len(tn.Data))
		for _, v := range tn.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		storages[key] = b
	}
	p.Write([]byte{'u', '.'})
	return zipArchive(t, p.Bytes(), storages)
}

func zipArchive(t *testing.T, program []byte, storages map[string][]byte) []byte {
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
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExportPEFT: an adapter saved, exported and loaded again gives
// identical logits, from safetensors and from a legacy adapter_model.bin
// (which the export converts to safetensors).
func TestExportPEFT(t *testing.T) {
	s, a, adir := tinySession(t, model.Shapes["tiny"], testLoRA)
	ids := s.Tokenizer.Encode("Hello, world! <|im_end|>")
	want := logitsWith(s, a, ids)
	if equalLogits(want, s.Model.Logits(ids)) {
		t.Fatal("the adapter does not change the logits: the test would prove nothing")
	}
	legacy := filepath.Join(t.TempDir(), "legacy")
	os.MkdirAll(legacy, 0o755)
	cfgJSON, _ := os.ReadFile(filepath.Join(adir, peft.ConfigName))
	os.WriteFile(filepath.Join(legacy, peft.ConfigName), cfgJSON, 0o644)
	os.WriteFile(filepath.Join(legacy, peft.LegacyWeightsName), torchBin(t, a.ToPEFT("x").Tensors), 0o644)
	for name, src := range map[string]string{"safetensors": adir, "legacy bin": legacy} {
		t.Run(name, func(t *testing.T) {
			loaded, err := s.LoadAdapter(src)
			if err != nil {
				t.Fatal(err)
			}
			if !equalLogits(want, logitsWith(s, loaded, ids)) {
				t.Fatal("loaded adapter gives different logits")
			}
			out := filepath.Join(t.TempDir(), "clean")
			if err := s.Export(context.Background(), ExportOptions{Format: ExportPEFT, AdapterDir: src, OutDir: out}, nil); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{peft.WeightsName, peft.ConfigName, "tokenizer.json"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Error(err)
				}
			}
			if _, err := os.Stat(filepath.Join(out, peft.LegacyWeightsName)); err == nil {
				t.Error("the clean folder has a pickle")
			}
			again, err := s.LoadAdapter(out)
			if err != nil {
				t.Fatal(err)
			}
			if !equalLogits(want, logitsWith(s, again, ids)) {
				t.Fatal("exported adapter gives different logits")
			}
		})
	}
}

// TestLoadAdapterRefuses: adapters that do not fit the model, malformed
// configs and hostile pickles are refused with errors that say why.
func TestLoadAdapterRefuses(t *testing.T) {
	s, a, adir := tinySession(t, model.Shapes["tiny"], testLoRA)
	goodCfg, _ := os.ReadFile(filepath.Join(adir, peft.ConfigName))
	goodTensors := a.ToPEFT("x").Tensors
	three := model.Shapes["tiny"]
	three.NumHiddenLayers = 3
	s3, _, adir3 := tinySession(t, three, testLoRA)
	_ = s3
	writeST := func(dir string, ts map[string]peft.Tensor) {
		var list []safetensors.Tensor
		for k, v := range ts {
			list = append(list, safetensors.FromFloat32(k, v.Shape, v.Data))
		}
		if err := safetensors.Write(filepath.Join(dir, peft.WeightsName), list, nil); err != nil {
			t.Fatal(err)
		}
	}
	hostile := func() []byte {
		var p pickler
		p.Write([]byte{0x80, 2})
		p.global("os", "system")
		p.WriteByte('(')
		p.str("touch " + filepath.Join(t.TempDir(), "pwned"))
		p.Write([]byte{'t', 'R', '.'})
		return zipArchive(t, p.Bytes(), nil)
	}
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"wrong shapes", func(dir string) {
			os.WriteFile(filepath.Join(dir, peft.ConfigName), goodCfg, 0o644)
			ts := map[string]peft.Tensor{}
			for k, v := range goodTensors {
				ts[k] = v
			}
			key := peft.Key(0, "q_proj", "lora_B")
			ts[key] = peft.Tensor{Shape: []int{32, 4}, Data: make([]float32, 128)}
			writeST(dir, ts)
		}, "want [64 4]"},
		{"unknown target module", func(dir string) {
			cfg := strings.Replace(string(goodCfg), `"v_proj"`, `"v_proj", "foo_proj"`, 1)
			os.WriteFile(filepath.Join(dir, peft.ConfigName), []byte(cfg), 0o644)
			writeST(dir, goodTensors)
		}, "foo_proj"},
		{"wrong layer count", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(adir3, peft.ConfigName))
			os.WriteFile(filepath.Join(dir, peft.ConfigName), b, 0o644)
			w, _ := os.ReadFile(filepath.Join(adir3, peft.WeightsName))
			os.WriteFile(filepath.Join(dir, peft.WeightsName), w, 0o644)
		}, "layers.2"},
		{"malformed config", func(dir string) {
			os.WriteFile(filepath.Join(dir, peft.ConfigName), goodCfg[:len(goodCfg)/2], 0o644)
			writeST(dir, goodTensors)
		}, peft.ConfigName},
		{"config field of the wrong type", func(dir string) {
			os.WriteFile(filepath.Join(dir, peft.ConfigName), []byte(`{"peft_type": "LORA", "r": "eight", "target_modules": ["q_proj"]}`), 0o644)
			writeST(dir, goodTensors)
		}, `"r"`},
		{"hostile pickle", func(dir string) {
			os.WriteFile(filepath.Join(dir, peft.ConfigName), goodCfg, 0o644)
			os.WriteFile(filepath.Join(dir, peft.LegacyWeightsName), hostile(), 0o644)
		}, `"os.system" is not allowed`},
		{"no weights", func(dir string) {
			os.WriteFile(filepath.Join(dir, peft.ConfigName), goodCfg, 0o644)
		}, "no adapter_model.safetensors"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			_, err := s.LoadAdapter(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			t.Logf("%s: %v", tc.name, err)
			out := filepath.Join(t.TempDir(), "out")
			for _, f := range []string{ExportPEFT, ExportMerged, ExportGGUF, ExportGGUFAdapter} {
				if err := s.Export(context.Background(), ExportOptions{Format: f, AdapterDir: dir, OutDir: out}, nil); err == nil {
					t.Errorf("export %s accepted the bad adapter", f)
				}
			}
		})
	}
}

// TestExportFormats drives every format through the facade.
func TestExportFormats(t *testing.T) {
	s, a, adir := tinySession(t, model.Shapes["tiny"], testLoRA)
	ids := s.Tokenizer.Encode("Hello, world!")
	want := logitsWith(s, a, ids)
	ctx := context.Background()
	check := func(o ExportOptions) {
		t.Helper()
		var last, total int64
		var calls int
		err := s.Export(ctx, o, func(ev progress.Event) {
			done, tot := ev.Bytes.Done, ev.Bytes.Total
			if done < last {
				t.Errorf("progress went back from %d to %d", last, done)
			}
			last, total, calls = done, tot, calls+1
		})
		if err != nil {
			t.Fatalf("%s: %v", o.Format, err)
		}
		if calls == 0 || last != total {
			t.Errorf("%s: progress ended at %d of %d after %d calls", o.Format, last, total, calls)
		}
	}
	merged := filepath.Join(t.TempDir(), "merged")
	check(ExportOptions{Format: ExportMerged, AdapterDir: adir, OutDir: merged})
	m, err := nn.Load(merged, nn.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var d float64
	got := m.Logits(ids)
	for i := range want {
		for j := range want[i] {
			d = max(d, math.Abs(float64(want[i][j]-got[i][j])))
		}
	}
	if d > 1e-5 {
		t.Errorf("merged folder: logits differ by %g", d)
	}

	gdir := filepath.Join(t.TempDir(), "gguf")
	cfg := config.Default()
	cfg.Chat.SystemPrompt = "You answer in one line."
	check(ExportOptions{Format: ExportGGUF, AdapterDir: adir, OutDir: gdir, DType: "q8_0", Config: &cfg})
	f, err := gguf.Open(filepath.Join(gdir, GGUFModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if ft, _ := f.KV("general.file_type"); ft != uint32(7) {
		t.Errorf("general.file_type %v", ft)
	}
	f.Close()
	mf, err := os.ReadFile(filepath.Join(gdir, ModelfileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"FROM ./model.gguf", "# ADAPTER ./adapter.gguf", "You answer in one line."} {
		if !strings.Contains(string(mf), w) {
			t.Errorf("Modelfile lacks %q", w)
		}
	}

	check(ExportOptions{Format: ExportGGUFAdapter, AdapterDir: adir, OutDir: gdir})
	f, err = gguf.Open(filepath.Join(gdir, GGUFAdapterFile))
	if err != nil {
		t.Fatal(err)
	}
	if alpha, _ := f.KV("adapter.lora.alpha"); alpha != float32(8) {
		t.Errorf("adapter.lora.alpha %v, want 8", alpha)
	}
	f.Close()

	for _, tc := range []struct {
		o    ExportOptions
		want string
	}{
		{ExportOptions{Format: "onnx", OutDir: gdir}, "want one of"},
		{ExportOptions{Format: ExportPEFT, OutDir: gdir}, "needs an adapter"},
		{ExportOptions{Format: ExportGGUFAdapter, OutDir: gdir}, "needs an adapter"},
		{ExportOptions{Format: ExportHFJob, OutDir: gdir}, "needs the config"},
		{ExportOptions{Format: ExportMerged, OutDir: gdir, DType: "q8_0"}, "q8_0"},
		{ExportOptions{Format: ExportMerged, OutDir: gdir, DType: "int4"}, "int4"},
		{ExportOptions{Format: ExportMerged, OutDir: gdir, MaxShardSize: "lots"}, "lots"},
		{ExportOptions{Format: ExportGGUF}, "no output folder"},
	} {
		if err := s.Export(ctx, tc.o, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	cdir := filepath.Join(t.TempDir(), "cancelled")
	if err := s.Export(cctx, ExportOptions{Format: ExportGGUF, OutDir: cdir}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled export: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cdir, GGUFModelFile)); err == nil {
		t.Error("a cancelled export left a GGUF file")
	}
}

// TestOpenWithoutWeights exports an adapter and a job without loading the
// model's weights, and refuses the formats that need them.
func TestOpenWithoutWeights(t *testing.T) {
	s, _, adir := tinySession(t, model.Shapes["tiny"], testLoRA)
	light, err := OpenWithoutWeights(context.Background(), s.Dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if light.Model != nil {
		t.Fatal("weights were loaded")
	}
	out := t.TempDir()
	if err := light.Export(context.Background(), ExportOptions{Format: ExportGGUFAdapter, AdapterDir: adir, OutDir: out}, nil); err != nil {
		t.Fatal(err)
	}
	if err := light.Export(context.Background(), ExportOptions{Format: ExportGGUF, AdapterDir: adir, OutDir: out}, nil); err == nil ||
		!strings.Contains(err.Error(), "needs the model's weights") {
		t.Errorf("gguf without weights: %v", err)
	}
	train := filepath.Join(t.TempDir(), "train.jsonl")
	os.WriteFile(train, []byte(`{"text": "one"}`+"\n"+`{"text": "two"}`+"\n"), 0o644)
	cfg := config.Default()
	cfg.Model.Name = s.Dir
	cfg.Dataset.TrainFile = train
	job := filepath.Join(t.TempDir(), "job")
	if err := light.Export(context.Background(), ExportOptions{Format: ExportHFJob, OutDir: job, Config: &cfg}, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"train.jsonl", "train.py", "accelerate_config.yaml", "README.md", "run_config.yml"} {
		if _, err := os.Stat(filepath.Join(job, f)); err != nil {
			t.Error(err)
		}
	}
}
