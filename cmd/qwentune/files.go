package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"qwentune/engine"
	"qwentune/model"
	"qwentune/model/hub"
	"qwentune/model/safetensors"
	"qwentune/model/tokenizer"
)

func init() {
	register(&command{name: "tokenize", summary: "encode JSON lines {\"text\"} to {\"ids\"} (or --decode the reverse)",
		usage: "--tokenizer PATH [--decode] < in.jsonl",
		example: `echo '{"text": "Hello, world!"}' | qwentune tokenize --tokenizer ./my-model
echo '{"ids": [9707, 11, 1879, 0]}' | qwentune tokenize --tokenizer ./my-model --decode`,
		run: runTokenize})
	register(&command{name: "inspect", summary: "show a model folder's architecture, parameters, dtypes, tensors and memory",
		usage: "PATH", example: "qwentune inspect ./my-model\nqwentune inspect demo", run: runInspect})
	register(&command{name: "make-model", summary: "write a Hugging Face Qwen2 folder with deterministic random weights",
		usage:   "--shape tiny|qwen2-0.5b|qwen2-1.5b --out DIR [--seed N] [--dtype f32|bf16] [--tokenizer PATH]",
		example: "qwentune make-model --shape tiny --out /tmp/tiny\nqwentune make-model --shape qwen2-1.5b --out /tmp/q15 --dtype bf16",
		run:     runMakeModel})
	register(&command{name: "download", summary: "download a model from the Hugging Face Hub into the standard cache",
		usage: "MODEL_ID [--revision R]", example: "qwentune download Qwen/Qwen2-0.5B-Instruct", run: runDownload})
}

func runTokenize(ctx context.Context, fs *flag.FlagSet, args []string) error {
	path := fs.String("tokenizer", "", "a model folder or a tokenizer.json (\"builtin\" for the built-in 8192-token tokenizer)")
	decode := fs.Bool("decode", false, "read {\"ids\": [...]} lines and write {\"text\": ...}")
	skip := fs.Bool("skip-special", false, "with --decode, leave special tokens out of the text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--tokenizer is required")
	}
	var tok *tokenizer.Tokenizer
	if *path == "builtin" {
		tok = tokenizer.Builtin()
	} else {
		var err error
		if tok, err = tokenizer.Load(*path); err != nil {
			return err
		}
	}
	return tokenizeStream(os.Stdin, stdout, tok, *decode, *skip)
}

func tokenizeStream(in io.Reader, out io.Writer, tok *tokenizer.Tokenizer, decode, skip bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		if decode {
			var row struct {
				IDs *[]int `json:"ids"`
			}
			if err := json.Unmarshal(b, &row); err != nil || row.IDs == nil {
				return fmt.Errorf("stdin:%d: want {\"ids\": [...]}: %v", line, errOr(err, "missing \"ids\""))
			}
			for _, id := range *row.IDs {
				if id < 0 || id >= tok.VocabSize() {
					return fmt.Errorf("stdin:%d: \"ids\": %d is outside the vocabulary (0..%d)", line, id, tok.VocabSize()-1)
				}
			}
			if err := enc.Encode(map[string]string{"text": tok.Decode(*row.IDs, skip)}); err != nil {
				return err
			}
			continue
		}
		var row struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &row); err != nil || row.Text == nil {
			return fmt.Errorf("stdin:%d: want {\"text\": \"...\"}: %v", line, errOr(err, "missing \"text\""))
		}
		ids := tok.Encode(*row.Text)
		if ids == nil {
			ids = []int{}
		}
		if err := enc.Encode(map[string][]int{"ids": ids}); err != nil {
			return err
		}
	}
	return sc.Err()
}

func errOr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}

func runInspect(ctx context.Context, fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one model folder (or a Hub id, or demo)")
	}
	dir, err := engine.ResolveModel(ctx, fs.Arg(0), "main", nil)
	if err != nil {
		return err
	}
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return err
	}
	defer set.Close()
	type row struct {
		Name  string `json:"name"`
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	}
	var rows []row
	dtypes := map[string]int{}
	var diskBytes int64
	for _, n := range set.Names() {
		t, _ := set.Tensor(n)
		rows = append(rows, row{n, t.DType, t.Shape})
		dtypes[t.DType]++
		diskBytes += int64(len(t.Data))
	}
	params := cfg.ParamCount()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"dir": dir, "architecture": cfg.Architectures,
			"params": params, "dtypes": dtypes, "tensors": rows, "disk_bytes": diskBytes,
			"memory_float32": params * 4, "memory_bfloat16": params * 2, "config": cfg})
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "folder\t%s\n", dir)
	fmt.Fprintf(w, "architecture\t%s (%s)\n", strings.Join(cfg.Architectures, ","), cfg.ModelType)
	fmt.Fprintf(w, "parameters\t%s\n", model.Thousands(params))
	fmt.Fprintf(w, "layers\t%d (hidden %d, intermediate %d, heads %d, kv heads %d, head_dim %d)\n", cfg.NumHiddenLayers,
		cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim)
	fmt.Fprintf(w, "vocabulary\t%d (tied embeddings: %v)\n", cfg.VocabSize, cfg.TieWordEmbeddings)
	fmt.Fprintf(w, "context\t%d (rope_theta %g)\n", cfg.MaxPositionEmbeddings, cfg.RopeTheta)
	var dt []string
	for k, v := range dtypes {
		dt = append(dt, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(dt)
	fmt.Fprintf(w, "dtypes on disk\t%s (%s)\n", strings.Join(dt, " "), model.ByteSize(diskBytes))
	fmt.Fprintf(w, "memory needed\t%s as float32, %s as bfloat16 (weights only)\n", model.ByteSize(params*4), model.ByteSize(params*2))
	w.Flush()
	fmt.Fprintln(stdout)
	w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENSOR\tDTYPE\tSHAPE")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%v\n", r.Name, r.DType, r.Shape)
	}
	return w.Flush()
}

func runMakeModel(ctx context.Context, fs *flag.FlagSet, args []string) error {
	shape := fs.String("shape", "", "tiny, demo (the demo model's architecture), qwen2-0.5b or qwen2-1.5b")
	out := fs.String("out", "", "output folder")
	seed := fs.Int64("seed", 1, "random seed of the weights")
	dtype := fs.String("dtype", "f32", "storage on disk: f32 or bf16")
	tokPath := fs.String("tokenizer", "", "tokenizer to copy into the folder (default: the built-in 8192-token tokenizer for tiny; required for the full-vocabulary shapes)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, ok := model.Shapes[*shape]
	if *shape == "demo" {
		cfg, ok = engine.DemoShape, true
	}
	if !ok {
		return usagef("--shape %q: want tiny, demo, qwen2-0.5b or qwen2-1.5b", *shape)
	}
	if *out == "" {
		return usagef("--out is required")
	}
	if *dtype != "f32" && *dtype != "bf16" {
		return usagef("--dtype %q: want f32 or bf16", *dtype)
	}
	var tok *tokenizer.Tokenizer
	if *tokPath != "" {
		var err error
		if tok, err = tokenizer.Load(*tokPath); err != nil {
			return err
		}
	} else {
		tok = tokenizer.Builtin()
	}
	if tok.VocabSize() > cfg.VocabSize {
		return fmt.Errorf("tokenizer has %d tokens but the %s shape only %d embedding rows", tok.VocabSize(), *shape, cfg.VocabSize)
	}
	cfg.BOSTokenID = tok.EOS()
	cfg.EOSTokenIDs = []int{tok.EOS()}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := model.MakeModel(*out, cfg, *seed, *dtype); err != nil {
		return err
	}
	if err := tok.SaveFiles(*out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s parameters (%s, %s)\n", *out, model.Thousands(cfg.ParamCount()), *shape, *dtype)
	return nil
}

func runDownload(ctx context.Context, fs *flag.FlagSet, args []string) error {
	rev := fs.String("revision", "main", "branch, tag or commit")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one model id, e.g. Qwen/Qwen2-0.5B")
	}
	bar := newProgressBar(os.Stderr)
	dir, err := hub.NewClient().Download(ctx, fs.Arg(0), *rev, hub.EngineFiles, downloadProgress(bar))
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, dir)
	return nil
}

// reorder moves flags after positional arguments to the front so that
// "download ID --revision R" parses like "download --revision R ID".
func reorder(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") && a != "-" {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") {
				if f := fs.Lookup(name); f != nil {
					if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !(ok && bf.IsBoolFlag()) && i+1 < len(args) {
						i++
						flags = append(flags, args[i])
					}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}
