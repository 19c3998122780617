package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"qwentune/engine/runs"
)

func init() {
	register(&command{name: "runs", summary: "list, show, compare and remove the recorded training and evaluation runs",
		usage: `list [--kind train|eval] [--model S] [--data S] [--status S] [--json]
       qwentune runs show RUN [--json]
       qwentune runs compare RUN RUN... [--json]
       qwentune runs rm RUN... [--delete-folder] [--yes]

RUN is a run id, or a prefix or suffix of exactly one (its last 8 characters
are enough). The history lives in $QWENTUNE_RUNS_DIR, else the user's data
folder (~/.local/share/qwentune/runs on Linux).`,
		example: `qwentune runs list --model demo
qwentune runs show 3fa9c2d1
qwentune runs compare 3fa9c2d1 8be01f44 --json
qwentune runs rm 3fa9c2d1 --delete-folder --yes`,
		run: runRuns})
}

// The confirmation of runs rm reads these; tests replace them.
var (
	runsStdin         io.Reader = os.Stdin
	runsStdinTerminal           = func() bool { return isTerminal(os.Stdin) }
)

func runRuns(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 {
		return usagef("want a sub-command: list, show, compare or rm")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fs.Usage()
		return flag.ErrHelp
	case "list":
		return runsList(fs, args)
	case "show":
		return runsShow(fs, args)
	case "compare":
		return runsCompare(fs, args)
	case "rm":
		return runsRemove(fs, args)
	}
	return usagef("unknown sub-command %q: want list, show, compare or rm", sub)
}

// runsWarn writes to the command's stderr (the flag set's output).
func runsWarn(fs *flag.FlagSet, format string, a ...any) {
	fmt.Fprintf(fs.Output(), format+"\n", a...)
}

func runsList(fs *flag.FlagSet, args []string) error {
	kind := fs.String("kind", "", "only train or eval runs")
	model := fs.String("model", "", "only runs whose model.name contains this (case-insensitive)")
	data := fs.String("data", "", "only runs whose data file contains this, or whose data SHA-256 starts with it")
	status := fs.String("status", "", "only runs with this status: running, finished, stopped, failed or interrupted")
	asJSON := fs.Bool("json", false, "print one JSON object per run")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("list takes no arguments, got %q", fs.Args())
	}
	f := runs.Filter{Kind: runs.Kind(*kind), Model: *model, Data: *data}
	if f.Kind != "" && f.Kind != runs.Train && f.Kind != runs.Eval {
		return usagef("--kind must be train or eval, got %q", *kind)
	}
	if *status != "" {
		st, err := runs.ParseStatus(*status)
		if err != nil {
			return usagef("--status: %v", err)
		}
		f.Status = st
	}
	s, err := runs.Default()
	if err != nil {
		return err
	}
	list, skipped, err := s.List(f)
	if err != nil {
		return err
	}
	for _, e := range skipped {
		runsWarn(fs, "warning: skipped %v", e)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, r := range list {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(list) == 0 {
		runsWarn(fs, "no runs recorded in %s", s.Dir())
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tSTATUS\tMODEL\tDATA\tSTARTED\tDURATION\tFINAL LOSS\tBEST LOSS\tMETRICS\tFOLDER")
	for _, r := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Status, runsDash(r.Model),
			runsDash(r.DataFile), r.Start.Local().Format("2006-01-02 15:04"), runsDuration(r.Elapsed()),
			runsLoss(r.FinalLoss), runsLoss(r.BestLoss), runsDash(runsHeadline(r)), runsFolder(r))
	}
	return w.Flush()
}

func runsShow(fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print the record and its log history as one JSON object")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("show wants exactly one run")
	}
	s, err := runs.Default()
	if err != nil {
		return err
	}
	r, err := s.Get(fs.Arg(0))
	if err != nil {
		return err
	}
	var hist []map[string]float64
	var histErr error
	if r.Kind == runs.Train && !r.Missing {
		hist, histErr = runs.History(r.Dir)
	}
	if *asJSON {
		out := map[string]any{"run": r, "log_history": runsFloatMaps(hist)}
		if histErr != nil {
			out["log_history_error"] = histErr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, v)
		}
	}
	line("id", r.ID)
	line("kind", string(r.Kind))
	status := string(r.Status)
	if r.Error != "" {
		status += ": " + r.Error
	}
	line("status", status)
	line("model", r.Model)
	line("folder", runsFolder(r))
	line("adapter", r.Adapter)
	line("evaluator", r.Evaluator)
	line("data", strings.TrimSpace(r.DataFile+" "+runsShortSHA(r.DataSHA256)))
	line("resumed from", r.Resumed)
	line("started", r.Start.Local().Format("2006-01-02 15:04:05"))
	line("duration", runsDuration(r.Elapsed()))
	line("host", fmt.Sprintf("%s (pid %d)", r.Host, r.PID))
	if r.Steps > 0 {
		steps := fmt.Sprint(r.Steps)
		if r.MaxSteps > 0 {
			steps += fmt.Sprintf(" of %d", r.MaxSteps)
		}
		line("steps", steps)
		line("epoch", fmt.Sprintf("%.2f", r.Epoch))
	}
	if r.FinalLoss != nil {
		line("final loss", runsLoss(r.FinalLoss))
		line("best loss", runsLoss(r.BestLoss))
	}
	for _, k := range runsSortedKeys(r.Metrics) {
		line(k, runsFloat(r.Metrics[k]))
	}
	w.Flush()
	if len(hist) > 0 {
		fmt.Fprintln(stdout, "\nlog history:")
		w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  STEP\tEPOCH\tLOSS\tLEARNING RATE\tGRAD NORM\tOTHER")
		for _, e := range hist {
			var other []string
			for _, k := range runsSortedKeys(e) {
				switch k {
				case "step", "epoch", "loss", "learning_rate", "grad_norm":
				default:
					other = append(other, k+"="+runsFloat(e[k]))
				}
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", runsKey(e, "step"), runsKey(e, "epoch"), runsKey(e, "loss"),
				runsKey(e, "learning_rate"), runsKey(e, "grad_norm"), strings.Join(other, " "))
		}
		w.Flush()
	} else if histErr != nil {
		runsWarn(fs, "warning: no log history: %v", histErr)
	}
	if r.Config != "" {
		fmt.Fprintf(stdout, "\nconfig:\n%s\n", indent(r.Config))
	}
	return nil
}

func runsCompare(fs *flag.FlagSet, args []string) error {
	asJSON := fs.Bool("json", false, "print the comparison as one JSON object")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usagef("compare wants two runs or more")
	}
	s, err := runs.Default()
	if err != nil {
		return err
	}
	c, err := s.Compare(fs.Args())
	if err != nil {
		return err
	}
	for _, wmsg := range c.Warnings {
		runsWarn(fs, "warning: %s", wmsg)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(c)
	}
	cols := make([]string, len(c.Runs))
	for i, r := range c.Runs {
		cols[i] = runsShortID(r.ID)
		fmt.Fprintf(stdout, "[%s] %s  %s %s, %s, %s\n", cols[i], r.ID, r.Kind, r.Status, runsDash(r.Model), runsFolder(r))
	}
	head := "\t" + strings.Join(cols, "\t")

	fmt.Fprintln(stdout, "\nconfig keys that differ:")
	if len(c.Config) == 0 {
		fmt.Fprintln(stdout, "  (none)")
	} else {
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  KEY"+head)
		for _, d := range c.Config {
			vals := make([]string, len(d.Values))
			for i, v := range d.Values {
				vals[i] = "(unset)"
				if v != nil {
					vals[i] = *v
				}
			}
			fmt.Fprintf(w, "  %s\t%s\n", d.Key, strings.Join(vals, "\t"))
		}
		w.Flush()
	}

	fmt.Fprintln(stdout, "\nmetrics:")
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  NAME"+head)
	for _, m := range c.Metrics {
		vals := make([]string, len(m.Values))
		for i, v := range m.Values {
			switch {
			case v == nil:
				vals[i] = "-"
			case m.Name == "duration_seconds":
				vals[i] = runsDuration(time.Duration(*v * float64(time.Second)))
			case m.Name == "steps":
				vals[i] = fmt.Sprintf("%.0f", *v)
			default:
				vals[i] = runsFloat(*v)
			}
		}
		name := m.Name
		if name == "duration_seconds" {
			name = "duration"
		}
		fmt.Fprintf(w, "  %s\t%s\n", name, strings.Join(vals, "\t"))
	}
	w.Flush()

	// The loss curves side by side, one row per logged step.
	steps := map[int]bool{}
	byRun := make([]map[int]float64, len(c.Curves))
	for i, cv := range c.Curves {
		byRun[i] = map[int]float64{}
		for _, p := range cv.Points {
			steps[p.Step] = true
			byRun[i][p.Step] = p.Value
		}
		if cv.Err != "" {
			runsWarn(fs, "warning: %s: no loss curve: %s", runsShortID(cv.ID), cv.Err)
		}
	}
	if len(steps) > 0 {
		order := make([]int, 0, len(steps))
		for s := range steps {
			order = append(order, s)
		}
		sort.Ints(order)
		fmt.Fprintln(stdout, "\ntraining loss:")
		w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  STEP"+head)
		for _, st := range order {
			vals := make([]string, len(byRun))
			for i, m := range byRun {
				vals[i] = "-"
				if v, ok := m[st]; ok {
					vals[i] = runsFloat(v)
				}
			}
			fmt.Fprintf(w, "  %d\t%s\n", st, strings.Join(vals, "\t"))
		}
		w.Flush()
	}
	return nil
}

func runsRemove(fs *flag.FlagSet, args []string) error {
	deleteFolder := fs.Bool("delete-folder", false, "also delete each run's folder (adapter, checkpoints, logs); it must look like a run folder")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := parseFlags(fs, reorder(fs, args)); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("rm wants one run or more")
	}
	if !*yes && !runsStdinTerminal() {
		return usagef("not a terminal to confirm on: pass --yes to remove without asking")
	}
	s, err := runs.Default()
	if err != nil {
		return err
	}
	var ids []string
	seen := map[string]bool{}
	for _, ref := range fs.Args() {
		id, err := s.Resolve(ref)
		if err != nil {
			return err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if !*yes {
		out := fs.Output()
		fmt.Fprintf(out, "remove %d run(s) from the history", len(ids))
		if *deleteFolder {
			fmt.Fprint(out, " and delete their folders")
		}
		fmt.Fprintln(out, ":")
		for _, id := range ids {
			where := ""
			if r, err := s.Get(id); err == nil && *deleteFolder {
				where = "  " + runsFolder(r)
			}
			fmt.Fprintf(out, "  %s%s\n", id, where)
		}
		fmt.Fprint(out, "proceed? [y/N] ")
		answer, _ := bufio.NewReader(runsStdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not confirmed: nothing removed")
		}
	}
	var errs []error
	for _, id := range ids {
		if err := s.Remove(id, *deleteFolder); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "removed %s\n", id)
	}
	return errors.Join(errs...)
}

// runsShortID is the random tail of an id, enough to name it in a table.
func runsShortID(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && i < len(id)-1 {
		return id[i+1:]
	}
	return id
}

func runsShortSHA(sha string) string {
	if len(sha) > 12 {
		return "sha256:" + sha[:12]
	}
	if sha != "" {
		return "sha256:" + sha
	}
	return ""
}

func runsFolder(r runs.Record) string {
	if r.Missing {
		return r.Dir + " (missing)"
	}
	return runsDash(r.Dir)
}

func runsDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runsDuration(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmtETA(d.Seconds())
}

func runsLoss(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.4f", *p)
}

// runsFloat prints a figure with 4 decimals, or in 4 significant digits
// when it is very small or large (learning rates, FLOPs).
func runsFloat(v float64) string {
	if a := math.Abs(v); a == 0 || (a >= 0.01 && a < 1e6) {
		return fmt.Sprintf("%.4f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func runsKey(e map[string]float64, k string) string {
	v, ok := e[k]
	switch {
	case !ok:
		return "-"
	case k == "step":
		return fmt.Sprintf("%.0f", v)
	}
	return runsFloat(v)
}

// runsHeadline is the short metrics column of runs list: an
// evaluation's accuracy and F1.
func runsHeadline(r runs.Record) string {
	var parts []string
	for _, k := range []string{"accuracy", "f1"} {
		if v, ok := r.Metrics[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.3f", k, v))
		}
	}
	return strings.Join(parts, " ")
}

func runsSortedKeys(m map[string]float64) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// runsFloatMaps makes a log history JSON-safe (a NaN loss is a string).
func runsFloatMaps(hist []map[string]float64) []map[string]runs.Float {
	out := make([]map[string]runs.Float, len(hist))
	for i, e := range hist {
		out[i] = make(map[string]runs.Float, len(e))
		for k, v := range e {
			out[i][k] = runs.Float(v)
		}
	}
	return out
}
