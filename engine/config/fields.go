package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is the type of a config value, which also picks the widget the app
// shows for it.
type Kind int

// The kinds of config values.
const (
	KindString Kind = iota // free text
	KindPath               // a file or folder, relative to the config file
	KindModel              // a Hugging Face model id, a local folder or a .gguf file
	KindChoice             // one of Field.Choices
	KindInt                // an integer within Min..Max
	KindFloat              // a number within Min..Max
	KindBool               // true or false
	KindList               // a list of Field.Choices
)

var kindNames = [...]string{"string", "path", "model", "choice", "int", "float", "bool", "list"}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Field describes one key of config.yml.
type Field struct {
	// Key is the dotted key, "section.name".
	Key  string
	Kind Kind
	// Default is the default value as config.yml writes it.
	Default string
	// Help is one or two sentences for the form's tooltip and the README.
	Help string
	// Min and Max bound KindInt and KindFloat values when HasMin/HasMax are
	// set; MinExclusive/MaxExclusive make the bound strict.
	Min, Max                   float64
	HasMin, HasMax             bool
	MinExclusive, MaxExclusive bool
	// Choices are the allowed values of KindChoice and the allowed elements
	// of KindList.
	Choices []string
	// Expect describes the valid values; errors read "must be <Expect>".
	Expect string

	index      []int // reflect field path into Config
	allowEmpty bool  // strings: "" is valid
	notZero    bool  // ints: 0 is excluded from the range (max_steps)
	foldCase   bool  // choices: matched case-insensitively, stored as written in Choices
	allLinear  bool  // lists: "all-linear" may stand alone
}

// Section is a top-level key of config.yml with the comment written above it.
type Section struct {
	Key     string
	Comment string
}

// Sections lists the sections in file order.
func Sections() []Section {
	return append([]Section(nil), sections...)
}

var sections = []Section{
	{"model", "The base model: a Hugging Face id (downloaded into the HF cache) or a local folder."},
	{"lora", "LoRA adapter (PEFT): rank, scaling alpha/r, dropout and the Qwen2 layers it adapts."},
	{"dataset", "Training and test data (JSONL) and how rows become token ids and a loss mask."},
	{"training", "The training loop, like the Hugging Face Trainer's arguments."},
	{"logging", "Log level, log file and where the training metrics are reported."},
	{"evaluation", "Evaluation of the fine-tuned model on dataset.test_file with an evaluator plugin."},
	{"chat", "Sampling settings for chat and generate."},
}

// IgnoredKey is a key the original Python pipeline accepted that means nothing
// to QwenTune: it is accepted and reported as a warning.
type IgnoredKey struct {
	Key    string
	Reason string
}

// IgnoredKeys lists the accepted-but-ignored keys.
func IgnoredKeys() []IgnoredKey {
	return append([]IgnoredKey(nil), ignoredKeys...)
}

var ignoredKeys = []IgnoredKey{
	{"model.trust_remote_code", "QwenTune builds Qwen2 itself and never runs code from the Hub"},
}

func ignoredReason(key string) (string, bool) {
	for _, k := range ignoredKeys {
		if k.Key == key {
			return k.Reason, true
		}
	}
	return "", false
}

func intRange(min float64) Field { return Field{Kind: KindInt, Min: min, HasMin: true} }

func choice(c ...string) Field { return Field{Kind: KindChoice, Choices: c} }

// fieldTable lists every key in file order. Kind-specific parts come from the
// helpers above; Key and Help are filled in by with.
var fieldTable = []Field{
	with("model.name", Field{Kind: KindModel, Expect: "a Hugging Face model id, a local folder or a .gguf file"},
		"Hugging Face model id (Qwen/Qwen2-0.5B, Qwen/Qwen2.5-1.5B-Instruct, ...), a local folder with config.json, tokenizer.json and safetensors weights, or a GGUF model file (qwen2 or qwen3 in F32, F16, BF16 or Q8_0, as llama.cpp's converter and `qwentune export --format gguf` write; config and tokenizer come from its metadata; with `dtype: q8_0` its Q8_0 blocks are used as they are)."),
	with("model.dtype", choice("float32", "bfloat16", "q8_0"),
		"Storage of the frozen weights (model.compute_dtype says how they are multiplied): float32 (4 bytes a weight), bfloat16 (half the memory and faster decoding; lossless for checkpoints shipped in bfloat16, as Qwen2's are) or q8_0 (GGUF's 8-bit blocks as llama.cpp stores them, 1.06 bytes a weight, quantised at load: about a quarter of float32's memory and the fastest decoding, at a small loss of accuracy; LoRA and the optimizer stay float32)."),
	with("model.compute_dtype", choice("float32", "bfloat16", "auto"),
		"Arithmetic of the products with the frozen weights: float32, or bfloat16 as torch.autocast computes them (weights and activations rounded to bfloat16, float32 sums; norms, softmax, loss, LoRA and the optimizer stay float32), or auto: bfloat16 where the CPU has AVX512_BF16, float32 elsewhere."),
	with("model.revision", Field{Kind: KindString},
		"Hub branch, tag or commit to download."),
	with("model.adapter", Field{Kind: KindPath, allowEmpty: true},
		"PEFT adapter folder that evaluation and chat apply on top of the model; empty means training.output_dir."),

	with("lora.r", intRange(1),
		"LoRA rank: the width of the A and B matrices; trainable parameters grow linearly with it."),
	with("lora.alpha", Field{Kind: KindFloat, HasMin: true, MinExclusive: true},
		"LoRA alpha: the update is scaled by alpha/r (alpha/sqrt(r) with use_rslora)."),
	with("lora.dropout", Field{Kind: KindFloat, HasMin: true, HasMax: true, Max: 1, MaxExclusive: true},
		"Dropout on the LoRA input during training (0 turns it off)."),
	with("lora.target_modules", Field{Kind: KindList, Choices: LinearModules, allLinear: true},
		"Qwen2 Linear layers that get an adapter: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear for all seven."),
	with("lora.use_rslora", Field{Kind: KindBool},
		"Rank-stabilised LoRA: scale by alpha/sqrt(r) instead of alpha/r."),

	with("dataset.train_file", Field{Kind: KindPath},
		"Training data, JSONL: text, prompt/completion, instruction/input/output, chat messages, or \"User: ... Assistant: ...\" text."),
	with("dataset.test_file", Field{Kind: KindPath, allowEmpty: true},
		"Evaluation data, JSONL rows {\"input\", \"label\"} with an optional \"reference\"; empty means none."),
	with("dataset.max_length", Field{Kind: KindInt, Min: 8, HasMin: true, Max: 32768, HasMax: true},
		"Longest row in tokens; longer rows are cut when truncation is on."),
	with("dataset.padding", choice("max_length", "longest"),
		"Pad each batch only to its longest row (the default: the same loss, and no time spent on padding) or every row to max_length (like the original script, which mostly trains padding)."),
	with("dataset.truncation", Field{Kind: KindBool},
		"Cut rows longer than max_length (the cut tokens are counted and reported); off keeps them whole."),
	with("dataset.append_eos", Field{Kind: KindBool},
		"End text and prompt/completion rows with the eos token and train on it, so answers learn to stop. Chat rows end with the template's end token."),
	with("dataset.loss_on", choice("auto", "all", "completion"),
		"Tokens the loss counts: auto (like TRL: completion only for prompt/completion rows, everything otherwise), all, or completion (chat rows: assistant turns only)."),

	with("training.output_dir", Field{Kind: KindPath},
		"Run folder: adapter, checkpoints, trainer_state.json, the resolved config and the data hash."),
	with("training.mode", choice("lora", "full"),
		"lora trains the adapter only; full trains every weight (needs far more memory)."),
	with("training.batch_size", intRange(1),
		"Rows per micro-batch."),
	with("training.gradient_accumulation_steps", intRange(1),
		"Micro-batches per optimizer step; the effective batch is batch_size times this."),
	with("training.learning_rate", Field{Kind: KindFloat, HasMin: true, MinExclusive: true},
		"Peak learning rate of AdamW."),
	with("training.lr_scheduler", choice("cosine", "linear", "constant", "constant_with_warmup"),
		"Learning-rate schedule after warmup."),
	with("training.warmup_steps", intRange(0),
		"Optimizer steps of linear warmup from 0 to learning_rate."),
	with("training.warmup_ratio", Field{Kind: KindFloat, HasMin: true, HasMax: true, Max: 1, MaxExclusive: true},
		"Warmup as a fraction of all optimizer steps (rounded up); use it or warmup_steps, not both."),
	with("training.weight_decay", Field{Kind: KindFloat, HasMin: true},
		"Decoupled weight decay of AdamW (not applied to biases and norms)."),
	with("training.optimizer", choice("adamw"),
		"Optimizer: AdamW as in torch (betas 0.9, 0.999, eps 1e-8), the one QwenTune has; training_args.json records it as adamw_torch."),
	with("training.epochs", intRange(1),
		"Passes over the training data (ignored when max_steps is set)."),
	with("training.max_steps", Field{Kind: KindInt, Min: -1, HasMin: true, notZero: true,
		Expect: "-1 (use epochs) or a positive integer"},
		"Total optimizer steps; -1 runs the given number of epochs."),
	with("training.max_grad_norm", Field{Kind: KindFloat, HasMin: true},
		"Clip the gradient's total L2 norm to this; 0 turns clipping off."),
	with("training.save_steps", intRange(0),
		"Save a checkpoint every this many optimizer steps; 0 saves only at the end."),
	with("training.save_total_limit", intRange(0),
		"Keep only the newest this many checkpoints (never deleting the one a run resumed from); 0 keeps them all."),
	with("training.logging_steps", intRange(1),
		"Log loss, learning rate and grad norm every this many optimizer steps."),
	with("training.seed", intRange(0),
		"Seed of the LoRA initialisation, dropout and the data shuffle."),
	with("training.recompute", Field{Kind: KindBool},
		"Recompute activations in the backward pass (gradient checkpointing): less memory, about a third more time."),

	with("logging.level", Field{Kind: KindChoice, Choices: []string{"DEBUG", "INFO", "WARNING", "ERROR"}, foldCase: true},
		"Least severe line written to the log file: DEBUG adds a line per optimizer step, INFO (the default) the run banner, log entries and checkpoints, WARNING only data warnings and failures, ERROR only failures."),
	with("logging.file", Field{Kind: KindPath, allowEmpty: true},
		"Log file, relative to training.output_dir (an absolute path is used as it is); empty means no log file."),
	with("logging.report_to", choice("none", "tensorboard"),
		"Also report every log entry (train/loss, train/learning_rate, train/grad_norm, ...) and the metrics of an evaluation of the run's adapter (eval/accuracy, ...) as TensorBoard event files in training.output_dir/runs (tensorboard --logdir there); none writes only trainer_state.json."),

	with("evaluation.max_new_tokens", intRange(1),
		"Longest generated answer per test row."),
	with("evaluation.evaluator", Field{Kind: KindString, Expect: "an evaluator plugin name"},
		"Evaluator plugin that judges each answer (heuristic is built in)."),
	with("evaluation.positive_label", Field{Kind: KindString},
		"The label counted as positive for precision, recall and F1."),
	with("evaluation.compare_base", Field{Kind: KindBool},
		"Also evaluate the base model without the adapter and show both side by side."),
	with("evaluation.batch_size", intRange(1),
		"Test rows generated and judged together; each answer is exactly what generating it alone gives, so this changes only the speed."),
	with("evaluation.judge_model", Field{Kind: KindString, Expect: "base, finetune, or a model folder"},
		"Model the judge evaluator asks its rubric question: base (the base model), finetune (the adapter being evaluated) or a local model folder (or demo), loaded once per evaluation."),
	with("evaluation.judge_prompt", Field{Kind: KindString, allowEmpty: true},
		"The judge's rubric question; {input}, {output}, {reference} and {labels} are filled in per sample. Empty uses the judge plugin's built-in rubric."),
	with("evaluation.judge_labels", Field{Kind: KindString, allowEmpty: true},
		"Comma-separated labels the judge chooses from, positive first (empty: ok, not ok). An answer naming none is \"unjudged\": counted, and left out of the metrics."),
	with("evaluation.judge_max_new_tokens", intRange(0),
		"Longest judge answer in tokens; 0 uses the judge plugin's default."),
	with("evaluation.plugin_dir", Field{Kind: KindPath, allowEmpty: true},
		"Another folder to search for evaluator plugins, besides the one next to the executable and the user's plugin folder; a plugin found there runs only once approved (qwentune evaluators --trust)."),
	with("evaluation.strip_thinking", Field{Kind: KindBool},
		"Judge a reasoning model's answer without its thinking (the <think>…</think> block Qwen3 writes first)."),

	with("chat.max_new_tokens", intRange(1),
		"Longest answer in tokens."),
	with("chat.temperature", Field{Kind: KindFloat, HasMin: true},
		"Sampling temperature; 0 is greedy decoding."),
	with("chat.top_p", Field{Kind: KindFloat, HasMin: true, MinExclusive: true, HasMax: true, Max: 1},
		"Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p; 1 turns it off."),
	with("chat.top_k", intRange(0),
		"Keep only the top_k most likely tokens; 0 turns it off."),
	with("chat.repetition_penalty", Field{Kind: KindFloat, HasMin: true, MinExclusive: true},
		"Penalise tokens already in the text (1 turns it off)."),
	with("chat.system_prompt", Field{Kind: KindString, allowEmpty: true},
		"System message put first in every chat; empty uses the template's default."),
	with("chat.seed", Field{Kind: KindInt, Min: -1, HasMin: true, Expect: "-1 (random) or a non-negative integer"},
		"Sampling seed; -1 picks a new one each session."),
}

func with(key string, f Field, help string) Field {
	f.Key = key
	f.Help = help
	return f
}

var fieldsByKey = map[string]*Field{}

func init() {
	def := reflect.ValueOf(Default())
	for i := range fieldTable {
		f := &fieldTable[i]
		f.index = fieldIndex(f.Key)
		if f.Expect == "" {
			f.Expect = f.expect()
		}
		f.Default = formatValue(def.FieldByIndex(f.index), false)
		fieldsByKey[f.Key] = f
	}
}

// fieldIndex finds the struct field whose yaml tags spell key; a key without
// one is a mistake in fieldTable.
func fieldIndex(key string) []int {
	sec, name, _ := strings.Cut(key, ".")
	t := reflect.TypeFor[Config]()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("yaml") != sec {
			continue
		}
		st := t.Field(i).Type
		for j := 0; j < st.NumField(); j++ {
			if st.Field(j).Tag.Get("yaml") == name {
				return []int{i, j}
			}
		}
	}
	panic("config: no struct field for key " + key)
}

// Fields describes every key of config.yml in file order.
func Fields() []Field {
	out := make([]Field, len(fieldTable))
	for i, f := range fieldTable {
		f.Choices = append([]string(nil), f.Choices...)
		out[i] = f
	}
	return out
}

// expect derives the "must be ..." phrase from the kind and range.
func (f *Field) expect() string {
	switch f.Kind {
	case KindBool:
		return "true or false"
	case KindChoice:
		return "one of " + strings.Join(f.Choices, ", ")
	case KindList:
		s := "a list of " + strings.Join(f.Choices, ", ")
		if f.allLinear {
			s += ", or " + AllLinear
		}
		return s
	case KindInt:
		switch {
		case f.HasMin && !f.HasMax && f.Min == 1:
			return "a positive integer"
		case f.HasMin && !f.HasMax && f.Min == 0:
			return "a non-negative integer"
		case f.HasMin && f.HasMax:
			return fmt.Sprintf("an integer from %s to %s", num(f.Min), num(f.Max))
		case f.HasMin:
			return "an integer >= " + num(f.Min)
		}
		return "an integer"
	case KindFloat:
		switch {
		case f.HasMin && f.HasMax:
			lo, hi := "[", "]"
			if f.MinExclusive {
				lo = "("
			}
			if f.MaxExclusive {
				hi = ")"
			}
			return fmt.Sprintf("a number in %s%s, %s%s", lo, num(f.Min), num(f.Max), hi)
		case f.HasMin && f.MinExclusive:
			return "a number > " + num(f.Min)
		case f.HasMin:
			return "a number >= " + num(f.Min)
		}
		return "a number"
	}
	if f.allowEmpty {
		return "a string"
	}
	return "a non-empty string"
}

// checkValue returns "" when v is valid for f, else what is wrong with it.
// got is how the value is shown in the message.
func (f *Field) checkValue(v reflect.Value, got string) string {
	bad := "must be " + f.Expect + ", got " + got
	switch f.Kind {
	case KindInt:
		n := float64(v.Int())
		if !f.inRange(n) || (f.notZero && n == 0) {
			return bad
		}
	case KindFloat:
		if x := v.Float(); math.IsNaN(x) || math.IsInf(x, 0) || !f.inRange(x) {
			return bad
		}
	case KindChoice:
		if !contains(f.Choices, v.String()) {
			return bad + suggest(v.String(), f.Choices)
		}
	case KindList:
		return f.checkList(v.Interface().([]string), got)
	case KindString, KindPath, KindModel:
		if v.String() == "" && !f.allowEmpty {
			return bad
		}
		if !utf8.ValidString(v.String()) {
			return "must be valid UTF-8 text, got " + got
		}
	}
	return ""
}

func (f *Field) checkList(list []string, got string) string {
	if len(list) == 0 {
		return "must be " + f.Expect + ", got " + got
	}
	seen := map[string]bool{}
	for _, m := range list {
		switch {
		case f.allLinear && m == AllLinear:
			if len(list) > 1 {
				return fmt.Sprintf("%q must stand alone, got %s", AllLinear, got)
			}
		case !contains(f.Choices, m):
			choices := f.Choices
			if f.allLinear {
				choices = append(append([]string(nil), choices...), AllLinear)
			}
			return "must be " + f.Expect + ", got " + strconv.Quote(m) + suggest(m, choices)
		case seen[m]:
			return fmt.Sprintf("lists %q twice", m)
		}
		seen[m] = true
	}
	return ""
}

func (f *Field) inRange(x float64) bool {
	if f.HasMin && (x < f.Min || (f.MinExclusive && x == f.Min)) {
		return false
	}
	if f.HasMax && (x > f.Max || (f.MaxExclusive && x == f.Max)) {
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// formatValue writes a Go value as config.yml would; strings are quoted when
// quote is set or they are empty.
func formatValue(v reflect.Value, quote bool) string {
	switch v.Kind() {
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return fmtFloat(v.Float())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		return "[" + strings.Join(v.Interface().([]string), ", ") + "]"
	}
	if quote || v.String() == "" {
		return strconv.Quote(v.String())
	}
	return v.String()
}

// fmtFloat prints the shortest decimal that reads back as x, with a ".0" on
// whole numbers so a float stays recognisable as one.
func fmtFloat(x float64) string {
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") {
		s += ".0"
	}
	return s
}

func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// suggest returns ` (did you mean "x"?)` for the closest candidate within a
// small edit distance, or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
