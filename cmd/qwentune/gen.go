package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/engine/generate"
	"qwentune/engine/nn"
	"qwentune/model/tokenizer"
)

func init() {
	register(&command{name: "generate", summary: "continue a prompt (text or token ids) with a model and an optional adapter",
		usage: "--model DIR [--adapter DIR] (--prompt TEXT | --ids JSON_ARRAY) [--chat [--think on|off]] [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S] [--dtype float32|bfloat16] [--json]",
		example: `qwentune generate --model demo --prompt "In the beginning" --max-new-tokens 30
qwentune generate --model ./qwen_finetune/base --adapter ./qwen_finetune --prompt "How do I reset my password?" --chat
qwentune generate --model /tmp/tiny --ids '[1,2,3]' --temperature 0 --json`,
		run: runGenerate})
	register(&command{name: "chat", summary: "chat with the model (and the fine-tuned adapter): interactive until 'quit', or one answer for PROMPT",
		usage: "[--config config.yml] [--set key=value ...] [--adapter DIR|none] [--think on|off] [PROMPT]",
		example: `qwentune chat --config config.yml
qwentune chat --config config.yml "What can you help me with?"
qwentune chat --set model.name=demo --adapter none "Hello!"`,
		run: runChat})
}

// thinkHelp documents --think.
const thinkHelp = "on or off: let a model whose chat template has enable_thinking (Qwen3) think first or answer directly; empty keeps the template's default"

// parseThink reads --think: nil for the template's default.
func parseThink(v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "on", "true":
		on := true
		return &on, nil
	case "off", "false":
		off := false
		return &off, nil
	}
	return nil, usagef("--think %q: want on or off", v)
}

// configFlags adds --config and --set to fs and returns a loader for them.
// The loader reads the file, then applies --preset when the command has
// that flag (presetFlag), then every --set.
func configFlags(fs *flag.FlagSet) func() (config.Config, string, error) {
	path := fs.String("config", "config.yml", "config file (the defaults are used when the default file is absent)")
	var sets multiFlag
	fs.Var(&sets, "set", "override a config key, e.g. --set lora.r=8 (repeatable)")
	return func() (config.Config, string, error) {
		var cfg config.Config
		var warns []config.Warning
		var err error
		explicit := false
		fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
		if _, statErr := os.Stat(*path); statErr != nil && !explicit {
			cfg = config.Default()
		} else if cfg, warns, err = config.Load(*path); err != nil {
			return cfg, "", err
		}
		for _, w := range warns {
			fmt.Fprintf(os.Stderr, "warning: %s\n", w)
		}
		if err := applyPresetFlag(fs, &cfg); err != nil {
			return cfg, "", err
		}
		for _, s := range sets {
			if err := cfg.Set(s); err != nil {
				return cfg, "", usageError{err.Error()}
			}
		}
		base, _ := filepath.Abs(filepath.Dir(*path))
		return cfg.Resolve(base), *path, cfg.Validate()
	}
}

func runGenerate(ctx context.Context, fs *flag.FlagSet, args []string) error {
	modelName := fs.String("model", "", "model folder, Hub id or demo")
	adapter := fs.String("adapter", "", "PEFT adapter folder")
	prompt := fs.String("prompt", "", "prompt text")
	idsJSON := fs.String("ids", "", "prompt as a JSON array of token ids")
	chat := fs.Bool("chat", false, "wrap the prompt in the chat template as a user message and stop at <|im_end|>")
	maxNew := fs.Int("max-new-tokens", 100, "maximum number of generated tokens")
	temp := fs.Float64("temperature", 0, "sampling temperature; 0 is greedy")
	topK := fs.Int("top-k", 50, "keep the K most likely tokens when sampling (0 = off)")
	topP := fs.Float64("top-p", 1, "nucleus sampling threshold (1 = off)")
	rep := fs.Float64("repetition-penalty", 1, "penalty for tokens already in the sequence (1 = off)")
	seed := fs.Int64("seed", 0, "random seed for sampling")
	dtype := fs.String("dtype", "float32", "weight storage: float32, bfloat16 or q8_0")
	asJSON := fs.Bool("json", false, `print one line {"ids": [...], "text": "..."} instead of streaming text`)
	thinkFlag := fs.String("think", "", thinkHelp+" (with --chat)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	think, err := parseThink(*thinkFlag)
	if err != nil {
		return err
	}
	if *modelName == "" {
		return usagef("--model is required")
	}
	if (*prompt == "") == (*idsJSON == "") {
		return usagef("give exactly one of --prompt and --ids")
	}
	// Bad flag values are usage errors (exit 2), found before the model loads.
	if *dtype != "float32" && *dtype != "bfloat16" && *dtype != "q8_0" {
		return usagef("--dtype %q: want float32, bfloat16 or q8_0", *dtype)
	}
	if err := (generate.Options{MaxNewTokens: *maxNew, Temperature: *temp, TopK: *topK, TopP: *topP, RepetitionPenalty: *rep}).Validate(); err != nil {
		return usagef("%v", err)
	}
	s, err := engine.Open(ctx, *modelName, "main", *dtype, nil)
	if err != nil {
		return err
	}
	var a *nn.Adapter
	if *adapter != "" {
		if a, err = s.LoadAdapter(*adapter); err != nil {
			return err
		}
	}
	var ids []int
	switch {
	case *idsJSON != "":
		if err := json.Unmarshal([]byte(*idsJSON), &ids); err != nil {
			return usagef("--ids: want a JSON array of integers: %v", err)
		}
	case *chat:
		if ids, err = s.ChatPromptThinking("", []tokenizer.Message{{Role: "user", Content: *prompt}}, think); err != nil {
			return err
		}
	default:
		ids = s.Tokenizer.Encode(*prompt)
	}
	if len(ids) == 0 {
		return usagef("the prompt is empty")
	}
	smp := generate.Options{MaxNewTokens: *maxNew, Temperature: *temp, TopK: *topK, TopP: *topP, RepetitionPenalty: *rep, Seed: *seed, StopIDs: s.StopIDs(*chat)}
	var onText func(string)
	if !*asJSON {
		onText = func(t string) { io.WriteString(stdout, t) }
	}
	c, err := s.Generate(ctx, a, ids, smp, onText)
	if err != nil {
		return err
	}
	if *asJSON {
		out := c.IDs
		if out == nil {
			out = []int{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"ids": out, "text": c.Text})
	}
	fmt.Fprintln(stdout)
	return nil
}

// openConfigSession loads the configured model and the adapter to use:
// adapterFlag when set ("none" for the base model), else engine.AdapterDir's.
func openConfigSession(ctx context.Context, cfg config.Config, adapterFlag string) (*engine.Session, *nn.Adapter, string, error) {
	bar := newProgressBar(os.Stderr)
	s, err := engine.Open(ctx, cfg.Model.Name, cfg.Model.Revision, cfg.Model.Dtype, (&printer{bar: bar}).event)
	bar.finish()
	if err != nil {
		return nil, nil, "", err
	}
	if _, err := s.SetComputeDtype(cfg.Model.ComputeDtype); err != nil {
		return nil, nil, "", err
	}
	dir := adapterFlag
	if dir == "" {
		dir = engine.AdapterDir(cfg)
	}
	if dir == "" || dir == "none" {
		return s, nil, "", nil
	}
	a, err := s.LoadAdapter(dir)
	if err != nil {
		return nil, nil, "", err
	}
	return s, a, dir, nil
}

func runChat(ctx context.Context, fs *flag.FlagSet, args []string) error {
	load := configFlags(fs)
	adapter := fs.String("adapter", "", "PEFT adapter folder; none for the base model (default: model.adapter, else training.output_dir when it holds one)")
	thinkFlag := fs.String("think", "", thinkHelp)
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	think, err := parseThink(*thinkFlag)
	if err != nil {
		return err
	}
	cfg, _, err := load()
	if err != nil {
		return err
	}
	s, a, adapterDir, err := openConfigSession(ctx, cfg, *adapter)
	if err != nil {
		return err
	}
	smp := engine.ChatSampling(cfg.Chat)
	if adapterDir != "" {
		fmt.Fprintf(os.Stderr, "model %s with adapter %s\n", cfg.Model.Name, adapterDir)
	} else {
		fmt.Fprintf(os.Stderr, "model %s (base, no adapter)\n", cfg.Model.Name)
	}
	answer := func(history []tokenizer.Message) (string, error) {
		c, err := s.ChatThinking(ctx, a, cfg.Chat.SystemPrompt, history, think, smp, func(t string) { io.WriteString(stdout, t) })
		fmt.Fprintln(stdout)
		return c.Text, err
	}
	if fs.NArg() > 0 {
		_, err := answer([]tokenizer.Message{{Role: "user", Content: strings.Join(fs.Args(), " ")}})
		return err
	}
	fmt.Fprintln(os.Stderr, "type a message and press Enter; 'quit' ends the chat, 'clear' forgets the conversation")
	var history []tokenizer.Message
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for {
		fmt.Fprint(os.Stderr, "> ")
		if !in.Scan() {
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "quit", "exit":
			return nil
		case "clear":
			history = nil
			continue
		}
		history = append(history, tokenizer.Message{Role: "user", Content: line})
		reply, err := answer(history)
		if err != nil {
			return err
		}
		// The thinking stays apart; the template decides whether it returns.
		history = append(history, engine.AssistantMessage(reply))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
