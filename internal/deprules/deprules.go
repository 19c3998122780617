// Package deprules states the import rules of QwenTune's tree and checks a
// list of packages against them; its test runs the check on the real tree
// (through `go list -json ./...`), so a change that breaks a rule fails CI.
//
// The rules:
//   - the layers point one way: cmd → app → engine → model (a layer may
//     import any layer below it, never one above);
//   - engine, model, plugins, data and internal never import Fyne;
//   - plugins import nothing of ours but plugins/evaluators' own protocol,
//     and no plugin binary links the host (plugins/evaluators/host);
//   - data (the embedded defaults) and internal (shared leaves such as
//     atomicfile) import nothing of ours outside themselves.
package deprules

import (
	"fmt"
	"sort"
	"strings"
)

// Module is the module path of the tree.
const Module = "qwentune"

// Package is what the rules need of one package: `go list -json` fields.
type Package struct {
	ImportPath string
	Name       string
	// Deps are every package it imports, directly or not (non-test code).
	Deps []string
	// TestImports and XTestImports are what its tests import directly.
	TestImports  []string
	XTestImports []string
}

// layers ranks the layered trees: a package may depend on its own layer and
// the ones below it.
var layers = map[string]int{"model": 1, "engine": 2, "app": 3, "cmd": 4}

// hostPkg is the plugin host, which no plugin may link.
const hostPkg = Module + "/plugins/evaluators/host"

// top returns the first path element inside the module ("engine" for
// qwentune/engine/nn), or "" for a package outside it.
func top(path string) string {
	rest, ok := strings.CutPrefix(path, Module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// Check returns one line per broken rule, sorted; none means the tree
// follows every rule.
func Check(pkgs []Package) []string {
	var bad []string
	for _, p := range pkgs {
		from := top(p.ImportPath)
		if from == "" {
			continue
		}
		imports := append(append(append([]string(nil), p.Deps...), p.TestImports...), p.XTestImports...)
		seen := map[string]bool{}
		for _, dep := range imports {
			if seen[dep] {
				continue
			}
			seen[dep] = true
			if why := rule(p, from, dep); why != "" {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", p.ImportPath, dep, why))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// rule says why p (in tree from) may not import dep, or "".
func rule(p Package, from, dep string) string {
	if strings.HasPrefix(dep, "fyne.io/") && from != "app" && from != "cmd" {
		return "only app and cmd may use Fyne"
	}
	to := top(dep)
	if to == "" {
		return ""
	}
	switch from {
	case "plugins":
		if to != "plugins" {
			return "plugins depend on nothing of ours but their protocol"
		}
		if p.Name == "main" && dep == hostPkg {
			return "a plugin binary must not link the host"
		}
		if p.ImportPath == Module+"/plugins/evaluators" && dep == hostPkg {
			return "the protocol every plugin imports must not import the host"
		}
	case "data", "internal":
		if to != from {
			return from + " imports nothing of ours outside itself"
		}
	}
	if rf, ok := layers[from]; ok {
		if rt, ok := layers[to]; ok && rt > rf {
			return "dependencies point cmd → app → engine → model, never up"
		}
	}
	return ""
}
