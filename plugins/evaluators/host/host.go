// Package host is the application's side of the evaluator plugins: it finds
// evaluator executables (Discover, DefaultDirs), runs only trusted ones —
// their SHA-256 built into the binary (shipped plugins) or approved once by
// the user (Trust, recorded in the user's config folder, never beside the
// plugins) — as child processes with go-plugin (Open), calls them with
// timeouts (Client) and stops them (Close, Shutdown). Plugins import the
// protocol package evaluators, never this one.
package host

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"qwentune/plugins/evaluators"
)

// TrustFileName is the file in the user's QwenTune config folder that lists
// the SHA-256 of every plugin the user approved, in sha256sum format
// ("<hex>  <path it was approved at>" per line).
const TrustFileName = "trusted-plugins.sha256"

// Default timeouts; see WithCallTimeout and WithStartTimeout.
const (
	DefaultStartTimeout = 10 * time.Second
	DefaultCallTimeout  = 5 * time.Minute
)

// shutdownGrace bounds the gRPC calls go-plugin makes without a deadline
// (health checks, the shutdown request), so a frozen plugin cannot hang Close.
const shutdownGrace = 3 * time.Second

// stderrTailSize is how much of a plugin's stderr is kept for error messages.
const stderrTailSize = 4096

// Plugin is an evaluator executable found by Discover.
type Plugin struct {
	// Name is the file name without evaluators.BinaryPrefix (and ".exe"), e.g. "heuristic".
	Name string `json:"name"`
	// Path is the absolute path of the executable.
	Path string `json:"path"`
	// Checksum is the executable's SHA-256 when it was discovered.
	Checksum []byte `json:"checksum,omitempty"`
	// Trust says why it may run: TrustBuiltIn, TrustApproved, or "" for an
	// untrusted plugin, which Open refuses (approve it with Trust).
	Trust string `json:"trust,omitempty"`
}

// Trusted reports whether Open will run the plugin.
func (p Plugin) Trusted() bool { return p.Trust != "" }

// Why a plugin is trusted.
const (
	TrustBuiltIn  = "built-in"      // its checksum is compiled into this binary
	TrustApproved = "user approved" // the user approved it (Trust)
)

// DefaultDirs returns the folders Discover searches when given none, in
// priority order: the folder of the running executable and the user folder
// UserDir. No folder under the working directory is searched unless it is
// named (evaluation.plugin_dir, --plugin-dir).
func DefaultDirs() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	if d := UserDir(); d != "" {
		dirs = append(dirs, d)
	}
	return dirs
}

// UserDir is the user's plugin folder, $XDG_CONFIG_HOME/qwentune/plugins
// (os.UserConfigDir on other systems); "" when there is no config folder.
func UserDir() string {
	cfg, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cfg, "qwentune", "plugins")
}

// Discover lists the evaluator executables (files named evaluators.BinaryPrefix+name)
// in dirs, or in DefaultDirs when dirs is empty. It looks in each folder and
// in its direct sub-folders (build outputs laid out as <dir>/<name>/), and
// attaches each executable's SHA-256 and whether it is trusted (built in,
// or approved by the user). Discovery starts nothing. When two folders hold
// the same name the earlier folder wins. Folders that do not exist are
// skipped. The result is sorted by name; the error joins the problems met
// (unreadable folder or binary, malformed trust file line) and does not
// mean the list is empty.
func Discover(dirs ...string) ([]Plugin, error) {
	if len(dirs) == 0 {
		dirs = DefaultDirs()
	}
	var (
		found []Plugin
		errs  []error
		seen  = map[string]bool{}
		names = map[string]bool{}
	)
	add := func(ps []Plugin) {
		for _, p := range ps {
			if !names[p.Name] {
				names[p.Name] = true
				found = append(found, p)
			}
		}
	}
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[abs] {
			continue
		}
		seen[abs] = true
		ps, err := discoverDir(abs)
		if err != nil {
			errs = append(errs, err)
		}
		add(ps)
	}
	slices.SortFunc(found, func(a, b Plugin) int { return strings.Compare(a.Name, b.Name) })
	return found, errors.Join(errs...)
}

// discoverDir scans one folder and its direct sub-folders.
func discoverDir(dir string) ([]Plugin, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evaluator plugins: %w", err)
	}
	trusted, errs := trustedSums()
	var found, nested []Plugin
	add := func(list *[]Plugin, name, path string) {
		p := Plugin{Name: name, Path: path}
		sum, err := sha256File(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("evaluator plugins: %w", err))
		} else {
			p.Checksum = sum
			p.Trust = trusted[hex.EncodeToString(sum)]
		}
		*list = append(*list, p)
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if name, ok := pluginName(path); ok {
			add(&found, name, path)
			continue
		}
		if !isDir(path) {
			continue
		}
		sub, err := os.ReadDir(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("evaluator plugins: %w", err))
			continue
		}
		for _, se := range sub {
			bin := filepath.Join(path, se.Name())
			if name, ok := pluginName(bin); ok {
				add(&nested, name, bin)
			}
		}
	}
	return append(found, nested...), errors.Join(errs...)
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// pluginName reports whether path is an evaluator executable and its name.
func pluginName(path string) (string, bool) {
	base := filepath.Base(path)
	if runtime.GOOS == "windows" {
		// Only .exe files run; Windows' file names ignore case.
		if len(base) < 4 || !strings.EqualFold(base[len(base)-4:], ".exe") {
			return "", false
		}
		base = base[:len(base)-4]
	}
	name, ok := strings.CutPrefix(base, evaluators.BinaryPrefix)
	if !ok || name == "" {
		return "", false
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
		return "", false
	}
	return name, true
}

// ParseManifest reads a checksum manifest in sha256sum format: per line a
// 64-digit hex SHA-256, a space, a space or '*', and a file name relative to
// the manifest's folder. Blank lines and lines starting with '#' are
// skipped. File names are returned cleaned and slash-separated. Malformed
// lines are reported as name:line errors; the valid lines are still returned.
func ParseManifest(r io.Reader, name string) (map[string][]byte, error) {
	sums := map[string][]byte{}
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, file, ok := strings.Cut(line, " ")
		digest, err := hex.DecodeString(sum)
		if ok && len(file) > 1 && (file[0] == ' ' || file[0] == '*') {
			file = file[1:]
		} else {
			ok = false
		}
		if !ok || err != nil || len(digest) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s:%d: want \"<sha256 hex>  <file>\", got %q", name, n, line))
			continue
		}
		sums[filepath.ToSlash(filepath.Clean(file))] = digest
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return sums, errors.Join(errs...)
}

// Option changes how Open runs a plugin.
type Option func(*openConfig)

type openConfig struct {
	startTimeout time.Duration
	callTimeout  time.Duration
	log          io.Writer
	skipVerify   bool
	generator    evaluators.Generator
}

// WithStartTimeout bounds how long the plugin may take to start and
// complete the handshake (default DefaultStartTimeout).
func WithStartTimeout(d time.Duration) Option {
	return func(c *openConfig) { c.startTimeout = d }
}

// WithCallTimeout bounds each Info, Configure and Judge call (default
// DefaultCallTimeout). A plugin that does not answer in time is stopped and
// the Client refuses further calls.
func WithCallTimeout(d time.Duration) Option {
	return func(c *openConfig) { c.callTimeout = d }
}

// WithLog sends go-plugin's log and the plugin's stderr to w (default:
// discarded), e.g. a log file in the run folder.
func WithLog(w io.Writer) Option {
	return func(c *openConfig) { c.log = w }
}

// SkipVerify runs the binary without checking that it is trusted. Meant for
// development builds only (a --dev-plugins flag); without it a binary whose
// SHA-256 is neither built in nor approved by the user is refused.
func SkipVerify() Option {
	return func(c *openConfig) { c.skipVerify = true }
}

// WithGenerator offers g to the plugin: during every Judge call the host
// serves it over go-plugin's broker, so an evaluator that asks a model (an
// evaluators.ModelEvaluator such as the judge) generates with the model the
// host already holds instead of linking the engine. Plugins that do not
// generate ignore it.
func WithGenerator(g evaluators.Generator) Option {
	return func(c *openConfig) { c.generator = g }
}

// Client is a running evaluator plugin. It implements evaluators.Evaluator; its
// methods are safe for concurrent use. After a crash or a timeout every call
// returns the error that broke it; Close is still needed.
type Client struct {
	plugin Plugin
	info   evaluators.Info
	cfg    openConfig
	pc     *plugin.Client
	remote evaluators.Evaluator
	stderr *tail

	mu     sync.Mutex
	broken error
}

// Open checks that p is trusted (unless SkipVerify),
// starts it, completes the go-plugin handshake (gRPC only) and fetches its
// Info. ctx bounds the start. Any failure — refused checksum, a binary that
// exits, prints something else than the handshake, or speaks another
// protocol version — is an error naming the plugin, and leaves no process
// behind.
func Open(ctx context.Context, p Plugin, opts ...Option) (*Client, error) {
	cfg := openConfig{startTimeout: DefaultStartTimeout, callTimeout: DefaultCallTimeout, log: io.Discard}
	for _, o := range opts {
		o(&cfg)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("evaluator %q (%s): "+format, append([]any{p.Name, p.Path}, a...)...)
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("start: %w", err)
	}
	fi, err := os.Stat(p.Path)
	if err != nil {
		return nil, fail("%w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fail("not a regular file")
	}
	var secure *plugin.SecureConfig
	if !cfg.skipVerify {
		// The file as it is now, not as it was discovered; go-plugin
		// checks the same sum again when it starts the process.
		sum, err := sha256File(p.Path)
		if err != nil {
			return nil, fail("%w", err)
		}
		trusted, errs := trustedSums()
		if trusted[hex.EncodeToString(sum)] == "" {
			msg := "refused: untrusted (SHA-256 %x is neither built into QwenTune nor approved); approve it once with: qwentune evaluators --trust %s"
			if len(errs) > 0 {
				msg += " (" + errors.Join(errs...).Error() + ")"
			}
			return nil, fail(msg, sum, p.Path)
		}
		p.Checksum = sum
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < cfg.startTimeout {
		cfg.startTimeout = max(time.Until(deadline), time.Millisecond)
	}

	level := hclog.Debug
	if cfg.log == io.Discard {
		level = hclog.Off
	}
	stderr := &tail{}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  evaluators.Handshake,
		Plugins:          evaluators.PluginMap,
		Cmd:              exec.Command(p.Path),
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "evaluator." + p.Name, Output: cfg.log, Level: level}),
		Stderr:           stderr,
		SyncStderr:       stderr,
		StartTimeout:     cfg.startTimeout,
		Managed:          true,
		AutoMTLS:         true,
		GRPCDialOptions:  []grpc.DialOption{grpc.WithChainUnaryInterceptor(boundUnbounded)},
	})

	type started struct {
		remote evaluators.Evaluator
		err    error
	}
	done := make(chan started, 1)
	go func() {
		rpc, err := pc.Client()
		if err != nil {
			done <- started{err: err}
			return
		}
		raw, err := rpc.Dispense(evaluators.PluginName)
		if err != nil {
			done <- started{err: err}
			return
		}
		ev, ok := raw.(evaluators.Evaluator)
		if !ok {
			done <- started{err: fmt.Errorf("dispensed %T, not an Evaluator", raw)}
			return
		}
		done <- started{remote: ev}
	}()
	var st started
	select {
	case st = <-done:
	case <-ctx.Done():
		go func() {
			<-done
			pc.Kill()
		}()
		return nil, fail("start: %w", ctx.Err())
	}
	if st.err != nil {
		pc.Kill()
		if errors.Is(st.err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fail("refused: its SHA-256 changed to %s while it was being started (it was %x)",
				fileSHA256(p.Path), p.Checksum)
		}
		return nil, fail("start failed: %w%s", st.err, stderr.suffix())
	}

	c := &Client{plugin: p, cfg: cfg, pc: pc, remote: st.remote, stderr: stderr}
	infoCtx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	defer cancel()
	info, err := c.Info(infoCtx)
	if err != nil {
		c.Close()
		return nil, err
	}
	if info.Name == "" || len(info.Labels) == 0 {
		c.Close()
		return nil, fail("Info: a name and at least one label are required, got name %q labels %q", info.Name, info.Labels)
	}
	c.info = info
	return c, nil
}

// boundUnbounded gives gRPC calls made without a deadline (go-plugin's
// health check and shutdown request) one, so that Close cannot hang on a
// frozen plugin; go-plugin then kills the process.
func boundUnbounded(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, shutdownGrace)
		defer cancel()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// fileSHA256 returns the hex SHA-256 of a file, or a description of why it
// could not be read.
func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Plugin returns the executable this client runs.
func (c *Client) Plugin() Plugin { return c.plugin }

// About returns the evaluators.Info fetched when the plugin was opened, or
// after the last Configure.
func (c *Client) About() evaluators.Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Info asks the plugin to describe itself.
func (c *Client) Info(ctx context.Context) (evaluators.Info, error) {
	var info evaluators.Info
	err := c.call(ctx, "Info", func(ctx context.Context) (err error) {
		info, err = c.remote.Info(ctx)
		return err
	})
	return info, err
}

// Configure sends settings to the plugin; unknown names are refused by it.
// Settings may change the labels an evaluator emits (the judge's labels
// setting), so its Info is fetched again afterwards and About returns it.
func (c *Client) Configure(ctx context.Context, settings map[string]string) error {
	err := c.call(ctx, "Configure", func(ctx context.Context) error {
		return c.remote.Configure(ctx, settings)
	})
	if err != nil {
		return err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return err
	}
	if info.Name == "" || len(info.Labels) == 0 {
		return fmt.Errorf("evaluator %q: Info after Configure: a name and at least one label are required, got name %q labels %q",
			c.plugin.Name, info.Name, info.Labels)
	}
	c.mu.Lock()
	c.info = info
	c.mu.Unlock()
	return nil
}

// Judge asks the plugin for one verdict per sample and checks its answer:
// one verdict per sample in order (a verdict without ID gets its sample's),
// a label the plugin declared, a score in [0, 1].
func (c *Client) Judge(ctx context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	var verdicts []evaluators.Verdict
	err := c.call(ctx, "Judge", func(ctx context.Context) (err error) {
		if me, ok := c.remote.(evaluators.ModelEvaluator); ok && c.cfg.generator != nil {
			verdicts, err = me.JudgeWith(ctx, samples, c.cfg.generator)
		} else {
			verdicts, err = c.remote.Judge(ctx, samples)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("evaluator %q: Judge: %s", c.plugin.Name, fmt.Sprintf(format, a...))
	}
	if len(verdicts) != len(samples) {
		return nil, bad("returned %d verdicts for %d samples", len(verdicts), len(samples))
	}
	for i := range verdicts {
		v := &verdicts[i]
		if v.ID == "" {
			v.ID = samples[i].ID
		}
		if v.ID != samples[i].ID {
			return nil, bad("verdict %d is for sample %q, want %q", i, v.ID, samples[i].ID)
		}
		if labels := c.About().Labels; len(labels) > 0 && !slices.Contains(labels, v.Label) {
			return nil, bad("sample %q: label %q is not one of its labels %q", v.ID, v.Label, labels)
		}
		if math.IsNaN(v.Score) || v.Score < 0 || v.Score > 1 {
			return nil, bad("sample %q: score %v outside [0, 1]", v.ID, v.Score)
		}
	}
	return verdicts, nil
}

// call runs one RPC under the per-call timeout and turns transport failures
// into errors that say what happened to the plugin. A timeout or a lost
// plugin stops the process and breaks the client.
func (c *Client) call(ctx context.Context, method string, f func(context.Context) error) error {
	c.mu.Lock()
	broken := c.broken
	c.mu.Unlock()
	if broken != nil {
		return broken
	}
	limit := c.cfg.callTimeout
	if d, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(d))
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.callTimeout)
	defer cancel()
	err := f(cctx)
	if err == nil {
		return nil
	}
	prefix := fmt.Sprintf("evaluator %q: %s", c.plugin.Name, method)
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
	case errors.Is(cctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return c.fail(fmt.Errorf("%s: no answer within %v; the plugin was stopped: %w", prefix, limit.Round(time.Millisecond), context.DeadlineExceeded))
	case errors.Is(err, evaluators.ErrUnavailable) || c.pc.Exited():
		if c.waitExit(time.Second) {
			return c.fail(fmt.Errorf("%s: the plugin process exited%s", prefix, c.stderr.suffix()))
		}
		return c.fail(fmt.Errorf("%s: lost the connection to the plugin; it was stopped: %w", prefix, err))
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// waitExit reports whether the plugin process exits within d.
func (c *Client) waitExit(d time.Duration) bool {
	for end := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		if c.pc.Exited() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

// fail records err as the reason the client is unusable, stops the plugin
// and returns err.
func (c *Client) fail(err error) error {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = err
	}
	c.mu.Unlock()
	c.pc.Kill()
	return err
}

// Close stops the plugin process and waits for it to exit. It is safe to
// call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.broken == nil {
		c.broken = fmt.Errorf("evaluator %q: closed", c.plugin.Name)
	}
	c.mu.Unlock()
	c.pc.Kill()
	return nil
}

var shutdownOnce sync.Once

// Shutdown stops every plugin process started by Open that is still
// running. Call it once on the host's exit path (also after a signal).
func Shutdown() {
	shutdownOnce.Do(plugin.CleanupClients)
}

// tail keeps the last stderrTailSize bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - stderrTailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// suffix returns the plugin's last stderr lines that are not go-plugin's
// own JSON log, formatted to end an error message, or "".
func (t *tail) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.buf), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, `{"@`) {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	if len(lines) == 0 {
		return ""
	}
	return "; its stderr ends with:\n\t" + strings.Join(lines, "\n\t")
}
