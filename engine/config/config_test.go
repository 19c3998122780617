package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the whole error text
	}{
		{"int word", "lora:\n  r: sixty\n",
			`config.yml:2: lora.r: must be a positive integer, got "sixty"`},
		{"int zero", "lora:\n  r: 0\n",
			`config.yml:2: lora.r: must be a positive integer, got 0`},
		{"int float", "lora:\n  r: 8.5\n",
			`config.yml:2: lora.r: must be a positive integer, got 8.5`},
		{"int quoted", "lora:\n  r: \"8\"\n",
			`config.yml:2: lora.r: must be a positive integer, got "8"`},
		{"int null", "lora:\n  r:\n",
			`config.yml:2: lora.r: must be a positive integer, got nothing`},
		{"int overflow", "lora:\n  r: 99999999999999999999999\n",
			`config.yml:2: lora.r: must be a positive integer, got 99999999999999999999999`},
		{"dropout one", "lora:\n  dropout: 1\n",
			`config.yml:2: lora.dropout: must be a number in [0, 1), got 1`},
		{"dropout negative", "lora:\n  dropout: -0.1\n",
			`config.yml:2: lora.dropout: must be a number in [0, 1), got -0.1`},
		{"alpha zero", "lora:\n  alpha: 0\n",
			`config.yml:2: lora.alpha: must be a number > 0, got 0`},
		{"lr zero", "training:\n  learning_rate: 0.0\n",
			`config.yml:2: training.learning_rate: must be a number > 0, got 0.0`},
		{"lr nan", "training:\n  learning_rate: .nan\n",
			`config.yml:2: training.learning_rate: must be a number > 0, got .nan`},
		{"lr inf", "training:\n  learning_rate: .inf\n",
			`config.yml:2: training.learning_rate: must be a number > 0, got .inf`},
		{"lr string", "training:\n  learning_rate: fast\n",
			`config.yml:2: training.learning_rate: must be a number > 0, got "fast"`},
		{"max_length small", "dataset:\n  max_length: 4\n",
			`config.yml:2: dataset.max_length: must be an integer from 8 to 32768, got 4`},
		{"scheduler typo", "training:\n  lr_scheduler: cosin\n",
			`config.yml:2: training.lr_scheduler: must be one of cosine, linear, constant, constant_with_warmup, got "cosin" (did you mean "cosine"?)`},
		{"optimizer", "training:\n  optimizer: sgd\n",
			`config.yml:2: training.optimizer: must be one of adamw, got "sgd"`},
		{"dtype", "model:\n  dtype: half\n",
			`config.yml:2: model.dtype: must be one of float32, bfloat16, q8_0, got "half"`},
		{"padding", "dataset:\n  padding: longst\n",
			`config.yml:2: dataset.padding: must be one of max_length, longest, got "longst" (did you mean "longest"?)`},
		{"loss_on", "dataset:\n  loss_on: answers\n",
			`config.yml:2: dataset.loss_on: must be one of auto, all, completion, got "answers"`},
		{"level", "logging:\n  level: verbose\n",
			`config.yml:2: logging.level: must be one of DEBUG, INFO, WARNING, ERROR, got "verbose"`},
		{"bool yes", "dataset:\n  truncation: yes\n",
			`config.yml:2: dataset.truncation: must be true or false, got "yes"`},
		{"bool number", "lora:\n  use_rslora: 1\n",
			`config.yml:2: lora.use_rslora: must be true or false, got 1`},
		{"string list", "model:\n  name: [a, b]\n",
			`config.yml:2: model.name: must be a Hugging Face model id, a local folder or a .gguf file, got a list`},
		{"string empty", "model:\n  name: \"\"\n",
			`config.yml:2: model.name: must be a Hugging Face model id, a local folder or a .gguf file, got ""`},
		{"evaluator empty", "evaluation:\n  evaluator:\n",
			`config.yml:2: evaluation.evaluator: must be an evaluator plugin name, got nothing`},
		{"module typo", "lora:\n  target_modules: [q_proj, qproj]\n",
			`config.yml:2: lora.target_modules: must be a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear, got "qproj" (did you mean "q_proj"?)`},
		{"module all-linear mixed", "lora:\n  target_modules: [all-linear, q_proj]\n",
			`config.yml:2: lora.target_modules: "all-linear" must stand alone, got a list`},
		{"module twice", "lora:\n  target_modules: [q_proj, v_proj, q_proj]\n",
			`config.yml:2: lora.target_modules: lists "q_proj" twice`},
		{"modules empty", "lora:\n  target_modules: []\n",
			`config.yml:2: lora.target_modules: must be a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear, got an empty list`},
		{"modules nested", "lora:\n  target_modules: [[q_proj]]\n",
			`config.yml:2: lora.target_modules: must be a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear, got a list in the list`},
		{"modules mapping", "lora:\n  target_modules: {q: 1}\n",
			`config.yml:2: lora.target_modules: must be a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear, got a mapping`},
		{"max_steps zero", "training:\n  max_steps: 0\n",
			`config.yml:2: training.max_steps: must be -1 (use epochs) or a positive integer, got 0`},
		{"max_steps below", "training:\n  max_steps: -2\n",
			`config.yml:2: training.max_steps: must be -1 (use epochs) or a positive integer, got -2`},
		{"top_p zero", "chat:\n  top_p: 0\n",
			`config.yml:2: chat.top_p: must be a number in (0, 1], got 0`},
		{"chat seed", "chat:\n  seed: -5\n",
			`config.yml:2: chat.seed: must be -1 (random) or a non-negative integer, got -5`},
		{"warmup negative", "training:\n  warmup_steps: -1\n",
			`config.yml:2: training.warmup_steps: must be a non-negative integer, got -1`},
		{"unknown key near", "lora:\n  alhpa: 8\n",
			`config.yml:2: lora.alhpa: unknown key (did you mean "lora.alpha"?)`},
		{"unknown key alias", "lora:\n  lora_alpha: 8\n",
			`config.yml:2: lora.lora_alpha: unknown key (did you mean "lora.alpha"?)`},
		{"unknown key other section", "training:\n  max_length: 8\n",
			`config.yml:2: training.max_length: unknown key (did you mean "dataset.max_length"?)`},
		{"unknown key far", "logging:\n  colour: red\n",
			`config.yml:2: logging.colour: unknown key; keys of logging are level, file, report_to`},
		{"unknown section near", "modle:\n  name: x\n",
			`config.yml:1: modle: unknown section (did you mean "model"?)`},
		{"unknown section far", "optimizer:\n  name: x\n",
			`config.yml:1: optimizer: unknown section; sections are model, lora, dataset, training, logging, evaluation, chat`},
		{"duplicate key", "lora:\n  r: 8\n  r: 16\n",
			`config.yml:3: lora.r: duplicate key (first at line 2)`},
		{"duplicate section", "lora:\n  r: 8\nchat: {}\nlora:\n  r: 16\n",
			`config.yml:4: lora: duplicate section (first at line 1)`},
		{"section scalar", "lora: 5\n",
			`config.yml:1: lora: must be a mapping of keys, got 5`},
		{"section list", "lora:\n  - r\n",
			`config.yml:2: lora: must be a mapping of keys, got a list`},
		{"root list", "- model\n",
			`config.yml:1: the file must be a mapping of sections (model, lora, dataset, training, logging, evaluation, chat), got a list`},
		{"root scalar", "hello\n",
			`config.yml:1: the file must be a mapping of sections (model, lora, dataset, training, logging, evaluation, chat), got "hello"`},
		{"key not scalar", "lora:\n  [r]: 8\n",
			`config.yml:2: lora: keys must be plain words, got a list`},
		{"two documents", "lora:\n  r: 8\n---\nchat: {}\n",
			`config.yml:3: only one YAML document is allowed`},
		{"syntax", "lora:\n  r: 8\n dropout: 0.1\n",
			`config.yml:2: invalid YAML: did not find expected key`},
		{"tab", "lora:\n\tr: 8\n",
			`config.yml:2: invalid YAML: found character that cannot start any token`},
		{"both warmups", "training:\n  warmup_steps: 10\n  warmup_ratio: 0.1\n",
			`config.yml:3: training.warmup_ratio: set warmup_steps or warmup_ratio, not both`},
		{"two errors", "lora:\n  r: 0\n  dropout: 2\n",
			"config.yml:2: lora.r: must be a positive integer, got 0\n" +
				"config.yml:3: lora.dropout: must be a number in [0, 1), got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.yaml), "config.yml")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "config.yml" {
				t.Errorf("error %v is not a located *Error", err)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	in := `
model: {name: ./my-model, dtype: bfloat16}
lora:
  r: 8
  alpha: 32          # an int is a fine float
  target_modules: all-linear
dataset: {padding: longest, loss_on: completion}
training:
  learning_rate: 2e-5
  epochs: 1
  max_grad_norm: 0   # clipping off
  warmup_ratio: 0.1
logging: {level: debug, file: ""}
chat: {system_prompt: "You are: terse.", seed: 7}
evaluation:
`
	got, warns, err := Parse([]byte(in), "c.yml")
	if err != nil || len(warns) != 0 {
		t.Fatalf("Parse: %v, warnings %v", err, warns)
	}
	want := Default()
	want.Model.Name, want.Model.Dtype = "./my-model", "bfloat16"
	want.LoRA.R, want.LoRA.Alpha, want.LoRA.TargetModules = 8, 32, []string{"all-linear"}
	want.Dataset.Padding, want.Dataset.LossOn = "longest", "completion"
	want.Training.LearningRate, want.Training.Epochs, want.Training.MaxGradNorm = 2e-5, 1, 0
	want.Training.WarmupRatio = 0.1
	want.Logging.Level, want.Logging.File = "DEBUG", ""
	want.Chat.SystemPrompt, want.Chat.Seed = "You are: terse.", 7
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse\n got %+v\nwant %+v", got, want)
	}
}

func TestParseCommaList(t *testing.T) {
	c, _, err := Parse([]byte("lora: {target_modules: \"q_proj, k_proj\"}\n"), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"q_proj", "k_proj"}; !reflect.DeepEqual(c.LoRA.TargetModules, want) {
		t.Errorf("target_modules = %v, want %v", c.LoRA.TargetModules, want)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n# only a comment\n", "---\n", "~\n", "model:\nlora:\n"} {
		c, w, err := Parse([]byte(in), "c.yml")
		if err != nil || len(w) != 0 || !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) = %v, %v, want defaults", in, w, err)
		}
	}
}

func TestParseAliases(t *testing.T) {
	in := "lora:\n  r: &rank 16\nevaluation:\n  batch_size: *rank\n"
	c, _, err := Parse([]byte(in), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Evaluation.BatchSize != 16 {
		t.Errorf("alias value = %d, want 16", c.Evaluation.BatchSize)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"trust_remote_code", "model:\n  name: Qwen/Qwen2-0.5B\n  trust_remote_code: true\n",
			[]string{"config.yml:3: model.trust_remote_code: ignored: QwenTune builds Qwen2 itself and never runs code from the Hub"}},
		{"constant warmup", "training:\n  lr_scheduler: constant\n  warmup_steps: 5\n",
			[]string{"config.yml:2: training.lr_scheduler: constant ignores warmup; use constant_with_warmup"}},
		{"full mode lora keys", "lora:\n  r: 8\ntraining:\n  mode: full\n",
			[]string{"config.yml:2: lora.r: unused: training.mode is full"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns, err := Parse([]byte(tt.yaml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		kv      string
		wantErr string
		check   func(Config) bool
	}{
		{"lora.r=8", "", func(c Config) bool { return c.LoRA.R == 8 }},
		{" lora.r = 8 ", "", func(c Config) bool { return c.LoRA.R == 8 }},
		{"lora.target_modules=[q_proj,k_proj]", "",
			func(c Config) bool { return reflect.DeepEqual(c.LoRA.TargetModules, []string{"q_proj", "k_proj"}) }},
		{"lora.target_modules=q_proj,k_proj", "",
			func(c Config) bool { return reflect.DeepEqual(c.LoRA.TargetModules, []string{"q_proj", "k_proj"}) }},
		{"lora.target_modules=all-linear", "",
			func(c Config) bool { return reflect.DeepEqual(c.LoRA.TargetModules, []string{AllLinear}) }},
		{"model.name=./x", "", func(c Config) bool { return c.Model.Name == "./x" }},
		{"chat.system_prompt=You are: terse. #1", "",
			func(c Config) bool { return c.Chat.SystemPrompt == "You are: terse. #1" }},
		{"chat.system_prompt=", "", func(c Config) bool { return c.Chat.SystemPrompt == "" }},
		{"logging.level=debug", "", func(c Config) bool { return c.Logging.Level == "DEBUG" }},
		{"training.save_total_limit=2", "", func(c Config) bool { return c.Training.SaveTotalLimit == 2 }},
		{"training.save_total_limit=-1", `--set training.save_total_limit: must be a non-negative integer, got -1`, nil},
		{"training.learning_rate=1e-4", "", func(c Config) bool { return c.Training.LearningRate == 1e-4 }},
		{"training.max_grad_norm=0", "", func(c Config) bool { return c.Training.MaxGradNorm == 0 }},
		{"dataset.append_eos=false", "", func(c Config) bool { return !c.Dataset.AppendEOS }},
		{"lora.r=sixty", `--set lora.r: must be a positive integer, got "sixty"`, nil},
		{"lora.r=", `--set lora.r: must be a positive integer, got nothing`, nil},
		{"lora.r=[1", `--set lora.r: must be a positive integer, got "[1"`, nil},
		{"lora.r", `--set lora.r: expected key=value, e.g. lora.r=8`, nil},
		{"lora.rank=8", `--set lora.rank: unknown key (did you mean "lora.r"?)`, nil},
		{"lora.r8=8", `--set lora.r8: unknown key (did you mean "lora.r"?)`, nil},
		{"lr=1", `--set lr: unknown key`, nil},
		{"training.lr_scheduler=cosin",
			`--set training.lr_scheduler: must be one of cosine, linear, constant, constant_with_warmup, got "cosin" (did you mean "cosine"?)`, nil},
		{"lora.target_modules=q_proj,qproj",
			`--set lora.target_modules: must be a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear, got "qproj" (did you mean "q_proj"?)`, nil},
		{"dataset.truncation=yes", `--set dataset.truncation: must be true or false, got "yes"`, nil},
		{"model.name=", `--set model.name: must be a Hugging Face model id, a local folder or a .gguf file, got ""`, nil},
		{"chat.system_prompt=\xff", `--set chat.system_prompt: must be valid UTF-8 text, got "\xff"`, nil},
		{"model.trust_remote_code=true",
			`--set model.trust_remote_code: ignored: QwenTune builds Qwen2 itself and never runs code from the Hub`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.kv, func(t *testing.T) {
			c := Default()
			err := c.Set(tt.kv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Set error\n got %v\nwant %s", err, tt.wantErr)
				}
				if !reflect.DeepEqual(c, Default()) {
					t.Errorf("a failed Set changed the config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("Set(%q) gave %+v", tt.kv, c)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.LoRA.R = 0 }, `lora.r: must be a positive integer, got 0`},
		{func(c *Config) { c.Model.Dtype = "fp16" }, `model.dtype: must be one of float32, bfloat16, q8_0, got "fp16"`},
		{func(c *Config) { c.LoRA.TargetModules = nil }, `lora.target_modules: must be a list of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear, got []`},
		{func(c *Config) { c.Training.LearningRate = -1 }, `training.learning_rate: must be a number > 0, got -1.0`},
		{func(c *Config) { c.Training.WarmupSteps, c.Training.WarmupRatio = 3, 0.5 },
			`training.warmup_ratio: set warmup_steps or warmup_ratio, not both`},
		{func(c *Config) { c.Dataset.TrainFile, c.Chat.TopK = "", -1 },
			"dataset.train_file: must be a non-empty string, got \"\"\nchat.top_k: must be a non-negative integer, got -1"},
	}
	for _, tt := range tests {
		c := Default()
		tt.edit(&c)
		err := c.Validate()
		if err == nil || err.Error() != tt.want {
			t.Errorf("Validate\n got %v\nwant %s", err, tt.want)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	odd := Default()
	odd.Model.Name = "/abs/model: with colon"
	odd.Model.Adapter = "runs/a"
	odd.LoRA.TargetModules = []string{"all-linear"}
	odd.LoRA.Alpha = 1e-7
	odd.LoRA.UseRSLoRA = true
	odd.Training.LearningRate = 3.14159e-5
	odd.Training.MaxGradNorm = 0
	odd.Evaluation.PositiveLabel = "true"
	odd.Chat.SystemPrompt = "Line one\n  line two: \"quoted\" # not a comment\n\ttab \x00 \x1b[0m ~ null\r\n"
	odd.Chat.TopP = 0.95
	for _, c := range []Config{Default(), odd} {
		data, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, warns, err := Parse(data, "out.yml")
		if err != nil || len(warns) != 0 {
			t.Fatalf("Parse(Marshal) = %v, %v\n%s", warns, err, data)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("round trip\n got %+v\nwant %+v", back, c)
		}
		again, _ := back.Marshal()
		if string(again) != string(data) {
			t.Errorf("Marshal is not stable")
		}
		if back.Hash() != c.Hash() {
			t.Errorf("hash changed on round trip")
		}
	}
	if Default().Hash() == odd.Hash() {
		t.Errorf("different configs share a hash")
	}
}

func TestSeedConfigFile(t *testing.T) {
	c, warns, err := Load("../../config.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("config.yml differs from Default()\n got %+v\nwant %+v", c, Default())
	}
}

func TestLoadMissing(t *testing.T) {
	if _, _, err := Load(filepath.Join(t.TempDir(), "nope.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want not-exist", err)
	}
}

func TestFields(t *testing.T) {
	fields := Fields()
	n := 0
	ct := reflect.TypeFor[Config]()
	for i := 0; i < ct.NumField(); i++ {
		n += ct.Field(i).Type.NumField()
	}
	if len(fields) != n {
		t.Errorf("Fields() has %d entries, Config has %d keys", len(fields), n)
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.Key] {
			t.Errorf("%s listed twice", f.Key)
		}
		seen[f.Key] = true
		if f.Help == "" || f.Expect == "" || f.Default == "" {
			t.Errorf("%s: missing help, expect or default: %+v", f.Key, f)
		}
		if (f.Kind == KindChoice || f.Kind == KindList) != (len(f.Choices) > 0) {
			t.Errorf("%s: kind %v with choices %v", f.Key, f.Kind, f.Choices)
		}
		// Every default, written back through Set, gives the default.
		c := Default()
		def := f.Default
		if def == `""` {
			def = ""
		}
		if err := c.Set(f.Key + "=" + def); err != nil {
			t.Errorf("Set(%s=%s): %v", f.Key, def, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Set(%s=%s) changed the config", f.Key, def)
		}
	}
	sec := map[string]bool{}
	for _, s := range Sections() {
		sec[s.Key] = true
	}
	for _, f := range fields {
		if s, _, _ := strings.Cut(f.Key, "."); !sec[s] {
			t.Errorf("%s: section not in Sections()", f.Key)
		}
	}
	for _, k := range IgnoredKeys() {
		if seen[k.Key] {
			t.Errorf("%s is both a field and ignored", k.Key)
		}
	}
}

func TestResolve(t *testing.T) {
	base := t.TempDir()
	if err := os.Mkdir(filepath.Join(base, "local-model"), 0o755); err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	tests := []struct{ name, want string }{
		{"Qwen/Qwen2-1.5B", "Qwen/Qwen2-1.5B"},
		{"./models/q", filepath.Join(base, "models/q")},
		{"../q", filepath.Join(filepath.Dir(base), "q")},
		{"local-model", filepath.Join(base, "local-model")},
		{"/opt/q", "/opt/q"},
		{"~/q", filepath.Join(home, "q")},
	}
	for _, tt := range tests {
		c := Default()
		c.Model.Name = tt.name
		c.Logging.File = ""
		r := c.Resolve(base)
		if r.Model.Name != tt.want {
			t.Errorf("Resolve model %q = %q, want %q", tt.name, r.Model.Name, tt.want)
		}
		if r.Dataset.TrainFile != filepath.Join(base, "data/train.jsonl") ||
			r.Training.OutputDir != filepath.Join(base, "qwen_finetune") || r.Logging.File != "" ||
			r.Model.Adapter != "" {
			t.Errorf("Resolve paths: %+v", r)
		}
	}
}

func TestKindString(t *testing.T) {
	if KindList.String() != "list" || Kind(99).String() != "Kind(99)" {
		t.Errorf("Kind.String: %s %s", KindList, Kind(99))
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := Default().Marshal()
	f.Add(seed)
	for _, s := range []string{
		"lora:\n  r: sixty\n", "lora: &a {r: 8}\nchat: *a\n", "a: &a [*a]\n", "- x\n",
		"lora:\n  target_modules: all-linear\n", "training: {warmup_steps: 1, warmup_ratio: 0.5}\n",
		"model:\n  trust_remote_code: yes\n", "---\n---\n", "lora: {r: !!binary aGk=}\n",
		"<<: {lora: {r: 1}}\n", "lora:\n  r: 0x10\n  alpha: 1_000\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data, "fuzz.yml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid config: %v", err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := Parse(out, "again.yml")
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the config\n%s", out)
		}
	})
}

// TestOriginalSeed parses the original project's config.yml: the same
// settings as Default but for padding: max_length, plus trust_remote_code,
// which is reported as ignored.
func TestOriginalSeed(t *testing.T) {
	const original = `
model:      {name: Qwen/Qwen2-1.5B, dtype: float32, revision: main, trust_remote_code: true}
lora:       {r: 64, alpha: 16, dropout: 0.05, target_modules: [q_proj, v_proj], use_rslora: false}
dataset:    {train_file: data/train.jsonl, test_file: data/test.jsonl, max_length: 512,
             padding: max_length, truncation: true, append_eos: true, loss_on: auto}
training:   {output_dir: ./qwen_finetune, batch_size: 1, gradient_accumulation_steps: 4,
             learning_rate: 2.0e-4, lr_scheduler: cosine, warmup_steps: 0, weight_decay: 0.01,
             optimizer: adamw, epochs: 3, max_steps: -1, max_grad_norm: 1.0, save_steps: 500,
             logging_steps: 10, seed: 42}
logging:    {level: INFO, file: training.log}
evaluation: {max_new_tokens: 100, evaluator: heuristic, positive_label: ok}
chat:       {max_new_tokens: 100, temperature: 0.7, top_p: 1.0, top_k: 50, repetition_penalty: 1.0, system_prompt: ""}
`
	c, warns, err := Parse([]byte(original), "config.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Dataset.Padding = "max_length" // still accepted; the default is now longest
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	if len(warns) != 1 || warns[0].String() != "config.yml:2: model.trust_remote_code: ignored: QwenTune builds Qwen2 itself and never runs code from the Hub" {
		t.Errorf("warnings %v", warns)
	}
}

func TestReference(t *testing.T) {
	ref := Reference()
	for _, want := range []string{
		"### `lora`\n",
		"| `r` | `64` | a positive integer | LoRA rank:",
		"| `target_modules` | `[q_proj, v_proj]` | a list of q_proj,",
		"| `system_prompt` | `\"\"` | a string |",
		"- `model.trust_remote_code`: QwenTune builds Qwen2 itself",
	} {
		if !strings.Contains(ref, want) {
			t.Errorf("Reference lacks %q", want)
		}
	}
	if n := strings.Count(ref, "\n| `"); n != len(Fields()) {
		t.Errorf("Reference has %d rows, want %d", n, len(Fields()))
	}
}
