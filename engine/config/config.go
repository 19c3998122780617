// Package config is QwenTune's config.yml: the typed settings of a fine-tuning
// project (model, LoRA, dataset, training, logging, evaluation, chat), their
// defaults, validation with errors that name file, line and key, the
// resolved-config copy written into every run folder, and the table of fields
// that the desktop app's form and the README's reference are generated from.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"qwentune/model"
)

// Config is the whole of config.yml. The yaml tags are the public keys.
type Config struct {
	Model      ModelConfig      `yaml:"model"`
	LoRA       LoRAConfig       `yaml:"lora"`
	Dataset    DatasetConfig    `yaml:"dataset"`
	Training   TrainingConfig   `yaml:"training"`
	Logging    LoggingConfig    `yaml:"logging"`
	Evaluation EvaluationConfig `yaml:"evaluation"`
	Chat       ChatConfig       `yaml:"chat"`
}

// ModelConfig names the base model and how it is loaded.
type ModelConfig struct {
	// Name is a Hugging Face model id ("Qwen/Qwen2-1.5B") or a local folder.
	Name string `yaml:"name"`
	// Dtype is the storage of the frozen weights: float32 or bfloat16.
	Dtype string `yaml:"dtype"`
	// ComputeDtype is the dtype of the products with frozen weights:
	// float32, bfloat16 (torch autocast's semantics) or auto (bfloat16
	// where the CPU has AVX512_BF16).
	ComputeDtype string `yaml:"compute_dtype"`
	// Revision is the Hub branch, tag or commit to download.
	Revision string `yaml:"revision"`
	// Adapter is a PEFT adapter folder applied on top of the model by
	// evaluation and chat; empty means training.output_dir.
	Adapter string `yaml:"adapter"`
}

// LoRAConfig holds the PEFT LoraConfig settings.
type LoRAConfig struct {
	R             int      `yaml:"r"`
	Alpha         float64  `yaml:"alpha"`
	Dropout       float64  `yaml:"dropout"`
	TargetModules []string `yaml:"target_modules"`
	UseRSLoRA     bool     `yaml:"use_rslora"`
}

// LinearModules are the seven Linear layers of a Qwen2 decoder layer, the
// modules LoRA can target, in the order PEFT lists them (from the
// architecture table, model.Arch).
var LinearModules = model.Qwen2.LinearNames()

// AllLinear is the target_modules shorthand for every Linear layer but the
// head; it is kept as written and expanded once, where the adapter's PEFT
// config is made (nn.LoRAConfig.PEFT).
const AllLinear = "all-linear"

// DatasetConfig says where the data is and how rows become token ids.
type DatasetConfig struct {
	TrainFile  string `yaml:"train_file"`
	TestFile   string `yaml:"test_file"`
	MaxLength  int    `yaml:"max_length"`
	Padding    string `yaml:"padding"`
	Truncation bool   `yaml:"truncation"`
	AppendEOS  bool   `yaml:"append_eos"`
	LossOn     string `yaml:"loss_on"`
}

// TrainingConfig holds the Trainer's arguments.
type TrainingConfig struct {
	OutputDir                 string  `yaml:"output_dir"`
	Mode                      string  `yaml:"mode"`
	BatchSize                 int     `yaml:"batch_size"`
	GradientAccumulationSteps int     `yaml:"gradient_accumulation_steps"`
	LearningRate              float64 `yaml:"learning_rate"`
	LRScheduler               string  `yaml:"lr_scheduler"`
	WarmupSteps               int     `yaml:"warmup_steps"`
	WarmupRatio               float64 `yaml:"warmup_ratio"`
	WeightDecay               float64 `yaml:"weight_decay"`
	Optimizer                 string  `yaml:"optimizer"`
	Epochs                    int     `yaml:"epochs"`
	MaxSteps                  int     `yaml:"max_steps"`
	MaxGradNorm               float64 `yaml:"max_grad_norm"`
	SaveSteps                 int     `yaml:"save_steps"`
	SaveTotalLimit            int     `yaml:"save_total_limit"`
	LoggingSteps              int     `yaml:"logging_steps"`
	Seed                      int     `yaml:"seed"`
	Recompute                 bool    `yaml:"recompute"`
}

// LoggingConfig sets the log level, the log file and where the Trainer's
// metrics are reported besides trainer_state.json.
type LoggingConfig struct {
	Level    string `yaml:"level"`
	File     string `yaml:"file"`
	ReportTo string `yaml:"report_to"`
}

// EvaluationConfig drives the evaluation runner on the test file.
type EvaluationConfig struct {
	MaxNewTokens  int    `yaml:"max_new_tokens"`
	Evaluator     string `yaml:"evaluator"`
	PositiveLabel string `yaml:"positive_label"`
	CompareBase   bool   `yaml:"compare_base"`
	BatchSize     int    `yaml:"batch_size"`
	// The judge evaluator's settings: the model it asks (JudgeBase,
	// JudgeFineTune or a model folder), and, when set, its rubric prompt,
	// labels and answer length (empty or 0 keeps the plugin's default).
	JudgeModel        string `yaml:"judge_model"`
	JudgePrompt       string `yaml:"judge_prompt"`
	JudgeLabels       string `yaml:"judge_labels"`
	JudgeMaxNewTokens int    `yaml:"judge_max_new_tokens"`
	// PluginDir is a folder searched for evaluator plugins besides the one
	// next to the executable and the user's plugin folder.
	PluginDir string `yaml:"plugin_dir"`
	// StripThinking judges a reasoning model's answer without its
	// <think>…</think> block.
	StripThinking bool `yaml:"strip_thinking"`
}

// The values of evaluation.judge_model that name no folder: the base model
// and the fine-tune being evaluated.
const (
	JudgeBase     = "base"
	JudgeFineTune = "finetune"
)

// ChatConfig holds the sampling settings of the chat screen and command.
type ChatConfig struct {
	MaxNewTokens      int     `yaml:"max_new_tokens"`
	Temperature       float64 `yaml:"temperature"`
	TopP              float64 `yaml:"top_p"`
	TopK              int     `yaml:"top_k"`
	RepetitionPenalty float64 `yaml:"repetition_penalty"`
	SystemPrompt      string  `yaml:"system_prompt"`
	Seed              int     `yaml:"seed"`
}

// Default returns the seed defaults: Qwen2-1.5B, LoRA r 64 on q_proj and
// v_proj, three epochs of the original fine-tuning script. Only padding
// differs from the script's: rows are padded to the longest of their batch
// rather than to max_length, which gives the same loss without training
// mostly padding.
func Default() Config {
	return Config{
		Model: ModelConfig{Name: "Qwen/Qwen2-1.5B", Dtype: "float32", ComputeDtype: "float32", Revision: "main"},
		LoRA: LoRAConfig{R: 64, Alpha: 16, Dropout: 0.05,
			TargetModules: []string{"q_proj", "v_proj"}},
		Dataset: DatasetConfig{TrainFile: "data/train.jsonl", TestFile: "data/test.jsonl",
			MaxLength: 512, Padding: "longest", Truncation: true, AppendEOS: true, LossOn: "auto"},
		Training: TrainingConfig{OutputDir: "./qwen_finetune", Mode: "lora", BatchSize: 1,
			GradientAccumulationSteps: 4, LearningRate: 2e-4, LRScheduler: "cosine",
			WeightDecay: 0.01, Optimizer: "adamw", Epochs: 3, MaxSteps: -1, MaxGradNorm: 1.0,
			SaveSteps: 500, LoggingSteps: 10, Seed: 42},
		Logging:    LoggingConfig{Level: "INFO", File: "training.log", ReportTo: "none"},
		Evaluation: EvaluationConfig{MaxNewTokens: 100, Evaluator: "heuristic", PositiveLabel: "ok", BatchSize: 8, JudgeModel: JudgeBase, StripThinking: true},
		Chat: ChatConfig{MaxNewTokens: 100, Temperature: 0.7, TopP: 1.0, TopK: 50,
			RepetitionPenalty: 1.0, Seed: -1},
	}
}

// Warning is a problem that does not stop the config from loading, such as
// a key QwenTune accepts but ignores.
type Warning struct {
	File    string
	Line    int
	Key     string
	Message string
}

// String formats the warning as "file:line: key: message".
func (w Warning) String() string { return locate(w.File, w.Line, w.Key, w.Message) }

// Error is one invalid setting. File is "--set" for values given with Set.
type Error struct {
	File    string
	Line    int
	Key     string
	Message string
}

// Error formats the error as "file:line: key: message".
func (e *Error) Error() string { return locate(e.File, e.Line, e.Key, e.Message) }

// ErrorList is every invalid setting found at once, in file order.
type ErrorList []*Error

// Error joins the errors one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap exposes the single errors to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// err returns the list as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

func locate(file string, line int, key, msg string) string {
	if file == SetFile {
		return SetFile + " " + key + ": " + msg
	}
	var b strings.Builder
	if file != "" {
		b.WriteString(file)
		if line > 0 {
			fmt.Fprintf(&b, ":%d", line)
		}
		b.WriteString(": ")
	}
	if key != "" {
		b.WriteString(key)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}

// Load reads and validates a config file. A missing key keeps its default.
func Load(path string) (Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, err
	}
	return Parse(data, path)
}

// Hash is the hex sha256 of Marshal's output: two configs with the same
// settings have the same hash.
func (c Config) Hash() string {
	data, err := c.Marshal()
	if err != nil {
		// Marshal fails only on values the yaml encoder cannot write, which
		// no field of Config holds; hash the Go form rather than panic.
		data = fmt.Appendf(nil, "%#v", c)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Resolve returns a copy whose relative paths are made relative to baseDir
// (the config file's folder) instead of the working directory: the data
// files, output_dir, the adapter, and model.name when it is a
// local folder. model.name counts as a folder when it starts with "./", "../"
// or "~/", is absolute, or names an existing directory under baseDir;
// otherwise it is a Hub id and is left alone. "~/" expands to the home folder.
func (c Config) Resolve(baseDir string) Config {
	c.LoRA.TargetModules = append([]string(nil), c.LoRA.TargetModules...)
	// logging.file stays relative: it is relative to training.output_dir,
	// so every run folder keeps its own log.
	for _, p := range []*string{&c.Dataset.TrainFile, &c.Dataset.TestFile, &c.Training.OutputDir, &c.Model.Adapter, &c.Evaluation.PluginDir} {
		*p = resolvePath(baseDir, *p)
	}
	if isLocalModel(baseDir, c.Model.Name) {
		c.Model.Name = resolvePath(baseDir, c.Model.Name)
	}
	if j := c.Evaluation.JudgeModel; j != JudgeBase && j != JudgeFineTune && isLocalModel(baseDir, j) {
		c.Evaluation.JudgeModel = resolvePath(baseDir, j)
	}
	return c
}

func isLocalModel(baseDir, name string) bool {
	if name == "" {
		return false
	}
	if filepath.IsAbs(name) || name == "." || name == ".." || name == "~" {
		return true
	}
	for _, p := range []string{"./", "../", "~/", `.\`, `..\`, `~\`} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	st, err := os.Stat(filepath.Join(baseDir, name))
	return err == nil && st.IsDir()
}

func resolvePath(baseDir, p string) string {
	if p == "" || p == "-" { // "-" is standard input (a data file)
		return p
	}
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`) {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(baseDir, p)
}
