package host

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"qwentune/plugins/evaluators"
)

// Folders filled on first use by needPlugins: goodDir holds the real
// evaluators built by scripts/build-plugins.sh, badDir the misbehaving test
// plugins; both approved in a temporary user config folder (TestMain sets
// XDG_CONFIG_HOME). Building lazily keeps fuzz
// workers and unit-only runs from building binaries.
var (
	buildOnce       sync.Once
	buildErr        error
	tmpRoot         string
	goodDir, badDir string
)

// needPlugins builds the plugin binaries once per test process.
func needPlugins(t testing.TB) {
	t.Helper()
	buildOnce.Do(func() {
		tmpRoot, buildErr = os.MkdirTemp("", "evaluators-test-")
		if buildErr != nil {
			return
		}
		goodDir, badDir = filepath.Join(tmpRoot, "good"), filepath.Join(tmpRoot, "bad")
		buildErr = buildPlugins(goodDir, badDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// TestMain runs the tests, then, if plugins were built, checks that
// Shutdown stops a plugin left open and that no plugin process survives.
func TestMain(m *testing.M) {
	// Approvals go to a throw-away config folder, never the user's.
	cfgHome, err := os.MkdirTemp("", "evaluators-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", cfgHome)
	defer os.RemoveAll(cfgHome)
	code := m.Run()
	if tmpRoot != "" && buildErr == nil {
		err := checkShutdown()
		if kids := children(); err == nil && len(kids) > 0 {
			err = fmt.Errorf("plugin processes left running after the tests: %v", kids)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "evaluators TestMain:", err)
			code = 1
		}
	}
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.RemoveAll(cfgHome)
	os.Exit(code)
}

// buildPlugins builds the evaluators with the project script and, at the
// same time, the test plugins with go build, and approves both folders
// (Trust; the script's own approval step, a go run of the CLI, is skipped
// with NO_TRUST=1 to keep the test fast).
func buildPlugins(good, bad string) error {
	scriptErr := make(chan error, 1)
	go func() {
		script := exec.Command("sh", filepath.Join("..", "..", "..", "scripts", "build-plugins.sh"), good)
		script.Env = append(os.Environ(), "NO_TRUST=1")
		if out, err := script.CombinedOutput(); err != nil {
			scriptErr <- fmt.Errorf("build-plugins.sh: %v\n%s", err, out)
			return
		}
		_, err := Trust(good)
		scriptErr <- err
	}()
	return errors.Join(buildTestPlugins(bad), <-scriptErr)
}

func buildTestPlugins(bad string) error {
	tmp := filepath.Join(bad, "raw")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	build := exec.Command("go", "build", "-trimpath", "-o", tmp+string(filepath.Separator), "../internal/testplugins/...")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build test plugins: %v\n%s", err, out)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		bin := evaluators.BinaryPrefix + e.Name()
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(bad, bin)); err != nil {
			return err
		}
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	_, err = Trust(bad)
	return err
}

// checkShutdown opens a plugin, leaves it open and checks that Shutdown
// stops it.
func checkShutdown() error {
	p, err := find(goodDir, "heuristic")
	if err != nil {
		return err
	}
	c, err := Open(context.Background(), p)
	if err != nil {
		return err
	}
	pid := c.pc.ID()
	Shutdown()
	if processExists(pid) {
		return fmt.Errorf("Shutdown left plugin process %s running", pid)
	}
	return nil
}

// find returns the plugin called name discovered in dir.
func find(dir, name string) (Plugin, error) {
	ps, err := Discover(dir)
	if err != nil {
		return Plugin{}, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, nil
		}
	}
	return Plugin{}, fmt.Errorf("no plugin %q in %s (found %v)", name, dir, ps)
}

// open discovers and opens a plugin, closing it when the test ends.
func open(t *testing.T, dir, name string, opts ...Option) *Client {
	t.Helper()
	needPlugins(t)
	p, err := find(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), p, opts...)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// processExists reports whether a process with the given pid is alive or a
// zombie (a reaped process has no /proc entry). Always false off Linux.
func processExists(pid string) bool {
	if runtime.GOOS != "linux" || pid == "" {
		return false
	}
	_, err := os.Stat(filepath.Join("/proc", pid))
	return err == nil
}

// children lists the pids of this process's child processes (Linux only).
func children() []int {
	if runtime.GOOS != "linux" {
		return nil
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			kids = append(kids, pid)
		}
	}
	return kids
}

func TestDiscover(t *testing.T) {
	needPlugins(t)
	ps, err := Discover(goodDir, badDir, filepath.Join(t.TempDir(), "missing"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if len(p.Checksum) != sha256.Size || p.Trust != TrustApproved || !filepath.IsAbs(p.Path) {
			t.Errorf("%s: checksum %x trust %q path %q", p.Name, p.Checksum, p.Trust, p.Path)
		}
	}
	want := []string{"badversion", "crash", "garbage", "hang", "heuristic", "judge", "liar", "reference", "rules"}
	if !slices.Equal(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
}

// TestDiscoverLayouts covers nested build outputs, non-executables,
// shadowing by an earlier folder, and trust by checksum: a copy of an
// approved binary is trusted wherever it is, a changed one is not, and a
// checksum file planted beside the binaries counts for nothing.
func TestDiscoverLayouts(t *testing.T) {
	needPlugins(t)
	src, err := find(goodDir, "heuristic")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	other := append(slices.Clone(bin), 0)
	sum := fileSHA256(src.Path)
	root := t.TempDir()
	write := func(rel string, data []byte, mode os.FileMode) {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a/one/qwentune-eval-one", bin, 0o755)
	write("a/two/qwentune-eval-two", bin, 0o755)
	write("a/qwentune-eval-notexec", bin, 0o644)
	write("a/unrelated", bin, 0o755)
	write("b/qwentune-eval-one", other, 0o755) // shadowed by a/one
	write("b/qwentune-eval-three", other, 0o755)
	write("b/plugins.sha256", []byte(fileSHA256(filepath.Join(root, "b/qwentune-eval-three"))+"  qwentune-eval-three\n"), 0o644)

	ps, err := Discover(filepath.Join(root, "a"), filepath.Join(root, "b"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Plugin{}
	for _, p := range ps {
		got[p.Name] = p
	}
	if len(got) != 3 {
		t.Fatalf("found %v, want one, two, three", ps)
	}
	for _, name := range []string{"one", "two"} {
		if p := got[name]; fmt.Sprintf("%x", p.Checksum) != sum || !p.Trusted() || !strings.Contains(p.Path, filepath.Join("a", name)) {
			t.Errorf("%s: %+v", name, p)
		}
	}
	if p := got["three"]; p.Trusted() || p.Checksum == nil {
		t.Errorf("three: %+v, want untrusted (a planted checksum file is no approval)", p)
	}
}

func TestParseManifest(t *testing.T) {
	const h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name, in string
		files    []string
		errLine  string
	}{
		{"text mode", h + "  a\n", []string{"a"}, ""},
		{"binary mode", h + " *dir/./b\n", []string{"dir/b"}, ""},
		{"bom crlf blank comment", "\ufeff" + h + "  a\r\n\r\n# x\n" + h + "  c", []string{"a", "c"}, ""},
		{"short digest", "abcd  a\n", nil, "m:1:"},
		{"not hex", strings.Repeat("z", 64) + "  a\n", nil, "m:1:"},
		{"one space", h + " a\n", nil, "m:1:"},
		{"no file", h + "  \n" + h + "  ok\n", []string{"ok"}, "m:1:"},
		{"second line", h + "  a\n" + h + "\n", []string{"a"}, "m:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums, err := ParseManifest(strings.NewReader(tt.in), "m")
			if tt.errLine == "" && err != nil || tt.errLine != "" && (err == nil || !strings.Contains(err.Error(), tt.errLine)) {
				t.Errorf("err = %v, want %q", err, tt.errLine)
			}
			var files []string
			for f := range sums {
				files = append(files, f)
			}
			slices.Sort(files)
			if !slices.Equal(files, tt.files) {
				t.Errorf("files %v, want %v", files, tt.files)
			}
		})
	}
}

// readmeExamples parses the heuristic examples table of README.md.
func readmeExamples(t *testing.T) [][3]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][3]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "<!-- heuristic-examples -->":
			in = true
		case line == "<!-- /heuristic-examples -->":
			in = false
		case in && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| output"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) != 3 {
				t.Fatalf("README row %q: want 3 cells", line)
			}
			output := strings.TrimSpace(cells[0])
			if output == "(empty)" {
				output = ""
			} else {
				output = strings.Trim(output, "`")
			}
			rows = append(rows, [3]string{output, strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])})
		}
	}
	if len(rows) < 5 {
		t.Fatalf("README has %d heuristic examples, want at least 5", len(rows))
	}
	return rows
}

func TestHeuristicREADMEExamples(t *testing.T) {
	c := open(t, goodDir, "heuristic")
	rows := readmeExamples(t)
	samples := make([]evaluators.Sample, len(rows))
	for i, r := range rows {
		samples[i] = evaluators.Sample{ID: strconv.Itoa(i), Input: "q", Output: r[0], ExpectedLabel: "ok"}
	}
	verdicts, err := c.Judge(context.Background(), samples)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		v := verdicts[i]
		if v.ID != samples[i].ID || v.Label != r[1] || v.Reason != r[2] {
			t.Errorf("output %q: got %q %q (id %q), README says %q %q", r[0], v.Label, v.Reason, v.ID, r[1], r[2])
		}
	}
}

func TestInfo(t *testing.T) {
	tests := []struct {
		name     string
		settings []string
	}{
		{"heuristic", []string{"min_chars", "min_words"}},
		{"reference", []string{"mode", "threshold", "normalize"}},
		{"rules", []string{"require_regex", "forbid_regex", "keywords", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t, goodDir, tt.name)
			info, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range info.Settings {
				names = append(names, s.Name)
				if s.Description == "" {
					t.Errorf("setting %s has no description", s.Name)
				}
			}
			if info.Name != tt.name || info.Version == "" || info.Description == "" ||
				!slices.Equal(info.Labels, []string{"ok", "not ok"}) || !slices.Equal(names, tt.settings) {
				t.Errorf("Info = %+v", info)
			}
			if about := c.About(); about.Name != info.Name || c.Plugin().Name != tt.name {
				t.Errorf("About = %+v, Plugin = %+v", about, c.Plugin())
			}
		})
	}
}

// TestSettings drives each evaluator's settings through the plugin.
func TestSettings(t *testing.T) {
	tests := []struct {
		plugin   string
		settings map[string]string
		sample   evaluators.Sample
		label    string
		reason   string // substring
		errText  string // substring of the Configure error, if any
	}{
		{plugin: "heuristic", settings: map[string]string{"min_chars": "0", "min_words": "0"}, sample: evaluators.Sample{Output: "a"}, label: "ok", reason: "1 characters, 1 words"},
		{plugin: "heuristic", settings: map[string]string{"min_words": "5"}, sample: evaluators.Sample{Output: "one two three four"}, label: "not ok", reason: "too few words: 4, need more than 5"},
		{plugin: "heuristic", settings: map[string]string{"min_char": "3"}, errText: `unknown setting "min_char" (valid: min_chars, min_words)`},
		{plugin: "heuristic", settings: map[string]string{"min_chars": "-1"}, errText: `min_chars: want a whole number >= 0, got "-1"`},
		{plugin: "reference", settings: nil, sample: evaluators.Sample{Output: "The capital is Paris.", Reference: "Paris"}, label: "not ok", reason: "token F1 0.400, below threshold 0.5"},
		{plugin: "reference", settings: map[string]string{"mode": "contains"}, sample: evaluators.Sample{Output: "The capital is Paris.", Reference: "paris"}, label: "ok", reason: "contains the reference"},
		{plugin: "reference", settings: map[string]string{"mode": "exact"}, sample: evaluators.Sample{Output: " paris!", Reference: "Paris"}, label: "ok", reason: "exact match"},
		{plugin: "reference", settings: map[string]string{"mode": "exact", "normalize": "false"}, sample: evaluators.Sample{Output: "paris", Reference: "Paris"}, label: "not ok", reason: "not exact match"},
		{plugin: "reference", settings: map[string]string{"mode": "rouge_l", "threshold": "0.3"}, sample: evaluators.Sample{Output: "the cat sat", Reference: "the cat was sitting"}, label: "ok", reason: "ROUGE-L 0.571, at or above threshold 0.3"},
		{plugin: "reference", settings: nil, sample: evaluators.Sample{Output: "anything"}, label: "not ok", reason: "no reference answer for this sample"},
		{plugin: "reference", settings: map[string]string{"mode": "bleu"}, errText: `mode: want exact, contains, token_f1 or rouge_l, got "bleu"`},
		{plugin: "reference", settings: map[string]string{"threshold": "1.5"}, errText: "threshold: want a number from 0 to 1"},
		{plugin: "rules", settings: map[string]string{"require_regex": `(?i)^answer:`, "keywords": "Paris, France"}, sample: evaluators.Sample{Output: "Answer: Paris, france"}, label: "ok", reason: "passed all 3 rules"},
		{plugin: "rules", settings: map[string]string{"forbid_regex": `(?i)as an ai`, "keywords": "paris"}, sample: evaluators.Sample{Output: "As an AI I cannot say"}, label: "not ok", reason: `contains forbidden "As an AI"; missing keyword "paris"`},
		{plugin: "rules", settings: map[string]string{"json": "true"}, sample: evaluators.Sample{Output: "```json\n{\"a\": 1}\n```"}, label: "ok", reason: "passed all 1 rules"},
		{plugin: "rules", settings: map[string]string{"json": "true"}, sample: evaluators.Sample{Output: "{\"a\": 1"}, label: "not ok", reason: "not valid JSON"},
		{plugin: "rules", settings: map[string]string{"require_regex": "("}, errText: "require_regex: error parsing regexp"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.plugin), func(t *testing.T) {
			c := open(t, goodDir, tt.plugin)
			err := c.Configure(context.Background(), tt.settings)
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Configure err = %v, want %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.sample.ID = "s"
			v, err := c.Judge(context.Background(), []evaluators.Sample{tt.sample})
			if err != nil {
				t.Fatal(err)
			}
			if v[0].Label != tt.label || !strings.Contains(v[0].Reason, tt.reason) {
				t.Errorf("verdict %+v, want %q with reason %q", v[0], tt.label, tt.reason)
			}
		})
	}
}

func TestRulesWithoutRules(t *testing.T) {
	c := open(t, goodDir, "rules")
	_, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: "x"}})
	if err == nil || !strings.Contains(err.Error(), `evaluator "rules": Judge: no rule configured`) {
		t.Fatalf("err = %v", err)
	}
	// A refused call leaves the plugin usable.
	if err := c.Configure(context.Background(), map[string]string{"keywords": "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: "x"}}); err != nil {
		t.Fatal(err)
	}
}

// checkGoodPluginWorks proves the host still runs a healthy plugin.
func checkGoodPluginWorks(t *testing.T) {
	t.Helper()
	c := open(t, goodDir, "heuristic")
	v, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "x", Output: "a perfectly fine answer"}})
	if err != nil || len(v) != 1 || v[0].Label != "ok" {
		t.Fatalf("good plugin after a bad one: %v %v", v, err)
	}
}

func TestMisbehavingPluginsAtStart(t *testing.T) {
	needPlugins(t)
	tests := []struct{ plugin, want string }{
		{"garbage", "Unrecognized remote plugin message: Welcome to garbage evaluator v0.1!"},
		{"badversion", "incompatible API version with plugin. Plugin version: 2, Client versions: [1]"},
	}
	for _, tt := range tests {
		t.Run(tt.plugin, func(t *testing.T) {
			p, err := find(badDir, tt.plugin)
			if err != nil {
				t.Fatal(err)
			}
			before := len(children())
			c, err := Open(context.Background(), p, WithStartTimeout(5*time.Second))
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `evaluator "`+tt.plugin+`"`) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if after := len(children()); after > before {
				t.Errorf("%d child processes left behind", after-before)
			}
			checkGoodPluginWorks(t)
		})
	}
}

func TestMisbehavingPluginsDuringJudge(t *testing.T) {
	tests := []struct {
		plugin string
		want   []string
		is     error
	}{
		{"crash", []string{`evaluator "crash": Judge: the plugin process exited`, "crash: simulated fatal error in Judge"}, nil},
		{"hang", []string{`evaluator "hang": Judge: no answer within 300ms; the plugin was stopped`}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.plugin, func(t *testing.T) {
			c := open(t, badDir, tt.plugin, WithCallTimeout(300*time.Millisecond))
			pid := c.pc.ID()
			start := time.Now()
			_, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: "x"}})
			if err == nil {
				t.Fatal("Judge succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failure took %v", d)
			}
			if processExists(pid) {
				t.Errorf("plugin process %s still exists", pid)
			}
			if _, again := c.Info(context.Background()); again == nil || again.Error() != err.Error() {
				t.Errorf("call after failure: %v, want %v", again, err)
			}
			checkGoodPluginWorks(t)
		})
	}
}

func TestLyingVerdicts(t *testing.T) {
	c := open(t, badDir, "liar")
	tests := []struct{ lie, want string }{
		{"count", `evaluator "liar": Judge: returned 2 verdicts for 1 samples`},
		{"score", `evaluator "liar": Judge: sample "s": score 2 outside [0, 1]`},
		{"nan", `evaluator "liar": Judge: sample "s": score NaN outside [0, 1]`},
		{"label", `evaluator "liar": Judge: sample "s": label "maybe" is not one of its labels ["ok" "not ok"]`},
		{"id", `evaluator "liar": Judge: verdict 0 is for sample "someone-else", want "s"`},
		{"error", `evaluator "liar": Judge: liar: cannot judge today`},
		{"panic", `evaluator "liar": Judge: Judge panicked: liar: panicking on purpose`},
	}
	for _, tt := range tests {
		t.Run(tt.lie, func(t *testing.T) {
			_, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "s", Input: tt.lie}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// None of these breaks the plugin.
	if v, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "s", Input: "truth"}}); err != nil || v[0].Label != "ok" {
		t.Errorf("honest call: %v %v", v, err)
	}
}

// TestChecksumRefusal: an unapproved binary is refused before it starts,
// naming the command that approves it; Trust lets it run; a binary changed
// after its approval is refused again; a checksum built into the binary
// (host.shipped) needs no approval; SkipVerify runs anything.
func TestChecksumRefusal(t *testing.T) {
	needPlugins(t)
	src, err := find(goodDir, "heuristic")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "qwentune-eval-heuristic")
	put := func(data []byte) Plugin {
		t.Helper()
		if err := os.WriteFile(path, data, 0o755); err != nil {
			t.Fatal(err)
		}
		p, err := find(dir, "heuristic")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	refused := func(p Plugin, what string) {
		t.Helper()
		before := len(children())
		c, err := Open(context.Background(), p)
		if err == nil {
			c.Close()
			t.Fatalf("%s: Open ran an untrusted binary", what)
		}
		if !strings.Contains(err.Error(), "untrusted") || !strings.Contains(err.Error(), "qwentune evaluators --trust "+path) {
			t.Errorf("%s: err = %v", what, err)
		}
		if after := len(children()); after > before {
			t.Errorf("%s: a refused binary was started", what)
		}
	}
	changed := append(slices.Clone(bin), 1)
	p := put(changed)
	if p.Trusted() {
		t.Fatal("a changed binary is listed as trusted")
	}
	refused(p, "unapproved")
	dev, err := Open(context.Background(), p, SkipVerify())
	if err != nil {
		t.Fatalf("SkipVerify: %v", err)
	}
	dev.Close()

	if _, err := Trust(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(TrustFile())
	if err != nil || !strings.Contains(string(data), fileSHA256(path)) {
		t.Fatalf("trust file %s: %v\n%s", TrustFile(), err, data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("Trust wrote into the plugin folder: %v", entries)
	}
	c, err := Open(context.Background(), put(changed))
	if err != nil {
		t.Fatalf("approved: %v", err)
	}
	c.Close()

	p = put(append(slices.Clone(bin), 2))
	refused(p, "changed after approval")

	old := shipped
	shipped = "0000," + fileSHA256(path)
	t.Cleanup(func() { shipped = old })
	p = put(append(slices.Clone(bin), 2))
	if p.Trust != TrustBuiltIn {
		t.Errorf("built-in checksum: trust %q", p.Trust)
	}
	c, err = Open(context.Background(), p)
	if err != nil {
		t.Fatalf("built-in checksum: %v", err)
	}
	c.Close()

	if _, err := Trust(filepath.Join(dir, "nope")); err == nil {
		t.Error("Trust of a missing file succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	needPlugins(t)
	p, err := find(goodDir, "heuristic")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, p); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Open: %v", err)
	}
	missing := Plugin{Name: "ghost", Path: filepath.Join(t.TempDir(), "qwentune-eval-ghost")}
	if _, err := Open(context.Background(), missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), `evaluator "ghost"`) {
		t.Errorf("missing binary: %v", err)
	}
	c := open(t, goodDir, "heuristic")
	c.Close()
	if _, err := c.Judge(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Judge after Close: %v", err)
	}
	c.Close()
}

func TestCancelledJudgeKeepsPlugin(t *testing.T) {
	c := open(t, goodDir, "heuristic")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Judge(ctx, []evaluators.Sample{{ID: "1"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if _, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "1"}}); err != nil {
		t.Errorf("after a cancelled call: %v", err)
	}
}

func TestDefaultDirs(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	dirs := DefaultDirs()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, _ = filepath.EvalSymlinks(exe)
	want := []string{filepath.Dir(exe)}
	if runtime.GOOS == "linux" {
		want = append(want, filepath.Join(xdg, "qwentune", "plugins"))
	}
	// Nothing under the working directory (or the module root, where a
	// planted bin/plugins used to shadow the user's plugins).
	if !slices.Equal(dirs, want) {
		t.Errorf("DefaultDirs = %q, want %q", dirs, want)
	}
}

// lockedBuffer is a strings.Builder safe for the concurrent writes of
// go-plugin's logger.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestWithLog(t *testing.T) {
	var log lockedBuffer
	c := open(t, goodDir, "heuristic", WithLog(&log))
	if _, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "1"}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if out := log.String(); !strings.Contains(out, "evaluator.heuristic") || !strings.Contains(out, "plugin process exited") {
		t.Errorf("log lacks the plugin's lifecycle:\n%s", out)
	}
}

func FuzzParseManifest(f *testing.F) {
	const h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add(h + "  qwentune-eval-a\n")
	f.Add("\ufeff" + h + " *dir/b\r\n\n# c\n")
	f.Add("zz  a\n" + h + "\n")
	f.Fuzz(func(t *testing.T, in string) {
		sums, err := ParseManifest(strings.NewReader(in), "m")
		for file, sum := range sums {
			if len(sum) != sha256.Size || file == "" || strings.Contains(file, "\\n") {
				t.Fatalf("entry %q: %x", file, sum)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "m:") {
			t.Fatalf("error without file name: %v", err)
		}
	})
}
