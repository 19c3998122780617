// Command qwentune is the headless twin of the QwenTune desktop app: every
// job of the app (train, eval, chat, generate, tokenize, inspect, make-model,
// export, bench, download) from a terminal, with the same engine and files.
//
// Exit codes: 0 success, 1 failure, 2 usage error. Messages go to stderr;
// results to stdout (JSON lines with --json).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"qwentune/plugins/evaluators/host"
)

// command is one sub-command of the CLI.
type command struct {
	name    string
	summary string
	usage   string // the argument synopsis after the command name
	example string
	run     func(ctx context.Context, fs *flag.FlagSet, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError marks errors caused by how the command was called (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

var stdout io.Writer = os.Stdout

func run(args []string, out, errOut io.Writer) int {
	stdout = out
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fs := newFlagSet(c, errOut)
				fs.Usage()
				return 0
			}
		}
		printUsage(errOut)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "qwentune: unknown command %q\n\n", args[0])
		printUsage(errOut)
		return 2
	}
	fs := newFlagSet(c, errOut)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Evaluator plugins are child processes: never leave one behind.
	defer host.Shutdown()
	err := c.run(ctx, fs, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(errOut, "qwentune %s: %v\n", c.name, err)
		fmt.Fprintf(errOut, "run 'qwentune %s --help' for usage\n", c.name)
		return 2
	default:
		fmt.Fprintf(errOut, "qwentune %s: %v\n", c.name, err)
		return 1
	}
}

func newFlagSet(c *command, errOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprintf(errOut, "usage: qwentune %s %s\n\n%s\n", c.name, c.usage, c.summary)
		if c.example != "" {
			fmt.Fprintf(errOut, "\nexamples:\n%s\n", indent(c.example))
		}
		fmt.Fprintf(errOut, "\nflags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "qwentune: fine-tune Qwen2 models with LoRA on the CPU, evaluate them and chat with them.")
	fmt.Fprintln(w, "\nusage: qwentune <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nrun 'qwentune <command> --help' for a command's flags and examples.")
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

// multiFlag collects a repeated flag such as --set.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

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
