package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"qwentune/engine"
	"qwentune/engine/formats"
	"qwentune/model"
	"qwentune/model/gguf"
	"qwentune/model/safetensors"
)

func init() {
	register(&command{name: "inspect", summary: "show a model folder's or GGUF file's architecture, parameters, dtypes, tensors and memory",
		usage: "PATH", example: "qwentune inspect ./my-model\nqwentune inspect demo", run: runInspect})
}

// runInspect is `qwentune inspect PATH`: a model folder's architecture,
// parameters, dtypes, tensors and memory.
func runInspect(ctx context.Context, fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one model folder (or a GGUF file, a Hub id, or demo)")
	}
	dir, err := engine.ResolveModel(ctx, fs.Arg(0), "main", nil)
	if err != nil {
		return err
	}
	type row struct {
		Name  string `json:"name"`
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
	}
	var rows []row
	dtypes := map[string]int{}
	var diskBytes int64
	var cfg model.Config
	if engine.IsGGUFModel(dir) {
		if cfg, _, err = formats.OpenGGUFFiles(dir); err != nil {
			return err
		}
		f, err := gguf.Open(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, t := range f.Tensors() {
			shape := make([]int, len(t.Dims))
			for i, d := range t.Dims {
				shape[len(shape)-1-i] = int(d)
			}
			rows = append(rows, row{t.Name, t.Type.String(), shape})
			dtypes[t.Type.String()]++
			diskBytes += t.Size
		}
	} else {
		if cfg, err = model.LoadConfig(dir); err != nil {
			return err
		}
		set, err := safetensors.OpenDir(dir)
		if err != nil {
			return err
		}
		defer set.Close()
		for _, n := range set.Names() {
			t, _ := set.Tensor(n)
			rows = append(rows, row{n, t.DType, t.Shape})
			dtypes[t.DType]++
			diskBytes += int64(len(t.Data))
		}
	}
	params := cfg.ParamCount()
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"dir": dir, "architecture": cfg.Architectures,
			"params": params, "dtypes": dtypes, "tensors": rows, "disk_bytes": diskBytes,
			"memory_float32": params * 4, "memory_bfloat16": params * 2, "config": cfg})
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	where := "folder"
	if engine.IsGGUFModel(dir) {
		where = "file"
	}
	fmt.Fprintf(w, "%s\t%s\n", where, dir)
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
