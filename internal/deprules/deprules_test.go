package deprules

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// listTree runs `go list -json ./...` from the module root: each package
// with its transitive imports and its tests' direct imports.
func listTree(t *testing.T) []Package {
	t.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	dir := strings.TrimSpace(string(root))
	statSources(t, dir)
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -json ./...: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// statSources stats every Go file and go.mod under root. go test caches a
// result by the files the test itself touched, and go list runs in another
// process; without this an import added later would hit the cache.
func statSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || d.Name() == "go.mod") {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTreeFollowsRules checks every package of the tree.
func TestTreeFollowsRules(t *testing.T) {
	pkgs := listTree(t)
	// The check must have seen the trees it guards, or it proves nothing.
	for _, want := range []string{"qwentune/model", "qwentune/engine", "qwentune/app", "qwentune/cmd/qwentune",
		"qwentune/plugins/evaluators", "qwentune/plugins/evaluators/host", "qwentune/plugins/evaluators/heuristic"} {
		found := false
		for _, p := range pkgs {
			found = found || p.ImportPath == want
		}
		if !found {
			t.Fatalf("go list did not report %s", want)
		}
	}
	for _, b := range Check(pkgs) {
		t.Error(b)
	}
}

// TestPluginsLinkNoProcessControl: a plugin binary carries none of our
// process control. os/exec itself stays linked, through
// github.com/hashicorp/go-plugin, whose one package holds both Serve and the
// client; what we check is that no package of ours brings it.
func TestPluginsLinkNoProcessControl(t *testing.T) {
	mains := 0
	for _, p := range listTree(t) {
		if p.Name != "main" || top(p.ImportPath) != "plugins" {
			continue
		}
		mains++
		cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "-deps", p.ImportPath)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p.ImportPath, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if f[0] == hostPkg {
				t.Errorf("%s links %s", p.ImportPath, hostPkg)
			}
			if top(f[0]) != "" && f[0] != p.ImportPath {
				for _, imp := range f[1:] {
					if imp == "os/exec" {
						t.Errorf("%s links %s, which imports os/exec", p.ImportPath, f[0])
					}
				}
			}
		}
	}
	if mains < 3 {
		t.Fatalf("found %d plugin mains under plugins/, want the three evaluators at least", mains)
	}
}

// TestCheckCatchesEachRule feeds Check one broken package per rule.
func TestCheckCatchesEachRule(t *testing.T) {
	for _, c := range []struct {
		p    Package
		want string
	}{
		{Package{ImportPath: "qwentune/model/peft", Deps: []string{"qwentune/engine/nn"}}, "never up"},
		{Package{ImportPath: "qwentune/model", TestImports: []string{"qwentune/app"}}, "never up"},
		{Package{ImportPath: "qwentune/engine", Deps: []string{"qwentune/app"}}, "never up"},
		{Package{ImportPath: "qwentune/app", XTestImports: []string{"qwentune/cmd/qwentune"}}, "never up"},
		{Package{ImportPath: "qwentune/engine/nn", Deps: []string{"fyne.io/fyne/v2"}}, "Fyne"},
		{Package{ImportPath: "qwentune/model/hub", Deps: []string{"fyne.io/fyne/v2/data/binding"}}, "Fyne"},
		{Package{ImportPath: "qwentune/plugins/evaluators/rules", Deps: []string{"qwentune/engine/eval"}}, "protocol"},
		{Package{ImportPath: "qwentune/plugins/evaluators/rules", Deps: []string{"qwentune/model"}}, "protocol"},
		{Package{ImportPath: "qwentune/plugins/evaluators/rules", Name: "main", Deps: []string{hostPkg}}, "host"},
		{Package{ImportPath: "qwentune/plugins/evaluators", Deps: []string{hostPkg}}, "host"},
		{Package{ImportPath: "qwentune/internal/atomicfile", Deps: []string{"qwentune/model"}}, "outside itself"},
		{Package{ImportPath: "qwentune/data", Deps: []string{"qwentune/model/tokenizer"}}, "outside itself"},
	} {
		got := Check([]Package{c.p})
		if len(got) != 1 || !strings.Contains(got[0], c.want) {
			t.Errorf("%s → %v: Check gave %q, want one line containing %q", c.p.ImportPath, append(c.p.Deps, c.p.TestImports...), got, c.want)
		}
	}
	ok := []Package{
		{ImportPath: "qwentune/cmd/qwentune", Deps: []string{"qwentune/app", "qwentune/engine", "fyne.io/fyne/v2"}},
		{ImportPath: "qwentune/app", Deps: []string{"qwentune/engine", "qwentune/model", "fyne.io/fyne/v2"}},
		{ImportPath: "qwentune/engine/eval", Deps: []string{"qwentune/model", "qwentune/plugins/evaluators", "qwentune/internal/atomicfile"}},
		{ImportPath: "qwentune/model/tokenizer", Deps: []string{"qwentune/data", "qwentune/internal/atomicfile"}},
		{ImportPath: "qwentune/plugins/evaluators/host", Deps: []string{"qwentune/plugins/evaluators", "os/exec"}},
		{ImportPath: "qwentune/plugins/evaluators/heuristic", Name: "main", Deps: []string{"qwentune/plugins/evaluators"}},
	}
	if got := Check(ok); len(got) != 0 {
		t.Errorf("allowed imports reported: %q", got)
	}
}
