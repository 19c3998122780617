// Package runs keeps the history of every training and evaluation run, from
// the app and the CLI alike, in one folder of the user's data folder: one
// JSON record per run, named by its id.
//
// Why files and not an embedded database: the app and the CLI run at once
// and both write. A pure-Go key-value store (bbolt) holds an exclusive lock
// on its file for as long as it is open, so one of them would wait or fail;
// SQLite in pure Go is a large dependency. A record per run, replaced
// atomically (temporary file, fsync, rename), never shows a reader half a
// write, and an exclusive lock file serialises the read-modify-write of
// Update, Finish and Remove across processes, so no update is lost. The
// index is the folder itself: List reads it afresh, so nothing can drift out
// of step with the records. A record that cannot be read is reported and
// skipped; a run folder moved or deleted by hand shows as missing.
//
// The folder is $QWENTUNE_RUNS_DIR when set, else qwentune/runs in the
// user's data folder ($XDG_DATA_HOME or ~/.local/share on Linux and the BSDs,
// os.UserConfigDir elsewhere).
package runs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"qwentune/engine/trainer"
	"qwentune/internal/atomicfile"
)

// Kind is what a run did.
type Kind string

// Run kinds.
const (
	Train Kind = "train"
	Eval  Kind = "eval"
)

// Status is where a run stands.
type Status string

// Statuses. Running, Finished, Stopped and Failed are recorded; Interrupted
// is never written: List and Get report it for a record still marked
// running by a process of this machine that no longer exists (killed,
// crashed, the power went out).
const (
	Running     Status = "running"
	Finished    Status = "finished"
	Stopped     Status = "stopped"
	Failed      Status = "failed"
	Interrupted Status = "interrupted"
)

// ParseStatus checks a status name given by a user.
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case Running, Finished, Stopped, Failed, Interrupted:
		return st, nil
	}
	return "", fmt.Errorf("unknown status %q (want running, finished, stopped, failed or interrupted)", s)
}

// Record is one run.
type Record struct {
	ID     string `json:"id"`
	Kind   Kind   `json:"kind"`
	Status Status `json:"status"`
	// Model is model.name: a Hugging Face id, a folder or "demo".
	Model string `json:"model"`
	// Dir is the run folder: training.output_dir for training, the output
	// folder (metrics.json, predictions) for evaluation.
	Dir string `json:"dir"`
	// Adapter is the adapter folder the run wrote (training) or applied
	// (evaluation; empty for the base model).
	Adapter string `json:"adapter,omitempty"`
	// DataFile and DataSHA256 name the data: dataset.train_file for
	// training, dataset.test_file for evaluation.
	DataFile   string `json:"data_file,omitempty"`
	DataSHA256 string `json:"data_sha256,omitempty"`
	// Config is the resolved config.yml of the run (config.Config.Marshal).
	Config string `json:"config,omitempty"`
	// Evaluator is the evaluator plugin of an evaluation run.
	Evaluator string `json:"evaluator,omitempty"`
	// Resumed names the checkpoint a training run resumed from.
	Resumed string    `json:"resumed,omitempty"`
	Start   time.Time `json:"start"`
	// Duration is the wall time from Start to Finish; while a run is
	// running, Elapsed gives the time so far.
	Duration time.Duration `json:"-"`
	Steps    int           `json:"steps,omitempty"`
	MaxSteps int           `json:"max_steps,omitempty"`
	Epoch    float64       `json:"epoch,omitempty"`
	// FinalLoss is the last logged training loss, BestLoss the lowest; nil
	// before the first log (and for evaluation runs).
	FinalLoss *float64 `json:"-"`
	BestLoss  *float64 `json:"-"`
	// Metrics are the evaluation metrics (accuracy, precision, recall, f1,
	// ...) of an evaluation run; for training, the log's eval_* values and
	// the final summary (train_loss, train_runtime, ...).
	Metrics map[string]float64 `json:"-"`
	// Error is why a failed run failed.
	Error string `json:"error,omitempty"`
	// Host and PID are the process that runs it; they tell an interrupted
	// run from a running one.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
	// Missing is set by List and Get when Dir no longer exists (moved or
	// deleted by hand); it is never stored.
	Missing bool `json:"-"`
}

// Elapsed is Duration for an ended run and the time since Start for one
// still running.
func (r Record) Elapsed() time.Duration {
	if r.Status == Running && r.Duration == 0 {
		return time.Since(r.Start)
	}
	return r.Duration
}

// Observe folds one log_history entry (trainer_state.json, or a trainer log
// event) into the record: step, epoch, final and best loss, and every other
// value (eval_*, the summary's train_*) into Metrics. NaN losses count as
// the final loss (a diverged run must say so) but never as the best.
func (r *Record) Observe(entry map[string]float64) {
	for k, v := range entry {
		switch k {
		case "step":
			r.Steps = int(math.Round(v))
		case "epoch":
			r.Epoch = v
		case "loss":
			l := v
			r.FinalLoss = &l
			if !math.IsNaN(v) && (r.BestLoss == nil || v < *r.BestLoss) {
				b := v
				r.BestLoss = &b
			}
		case "learning_rate", "grad_norm":
			// Per-step curves, read from trainer_state.json when needed.
		default:
			if r.Metrics == nil {
				r.Metrics = map[string]float64{}
			}
			r.Metrics[k] = v
		}
	}
}

// ErrNotFound is returned for an id or prefix that names no record.
var ErrNotFound = errors.New("no such run")

// Store is a run-history folder.
type Store struct {
	dir string
}

// DefaultDir is the history folder: $QWENTUNE_RUNS_DIR, else qwentune/runs
// in the user's data folder.
func DefaultDir() (string, error) {
	if d := os.Getenv("QWENTUNE_RUNS_DIR"); d != "" {
		return d, nil
	}
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9", "android":
		base, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("runs: no data folder: %w", err)
		}
		return filepath.Join(base, "qwentune", "runs"), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "qwentune", "runs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("runs: no data folder: %w", err)
	}
	return filepath.Join(home, ".local", "share", "qwentune", "runs"), nil
}

// Open opens (creating it if needed) the history folder dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Default opens the history folder DefaultDir names.
func Default() (*Store, error) {
	dir, err := DefaultDir()
	if err != nil {
		return nil, err
	}
	return Open(dir)
}

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(id string) string { return filepath.Join(s.dir, id+".json") }

// validID keeps ids to file-name characters, so an id never names a path
// outside the store.
func validID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") {
		return fmt.Errorf("runs: invalid id %q", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("runs: invalid id %q", id)
		}
	}
	return nil
}

// newID is the start time (UTC, so ids sort by start) and kind, with 32
// random bits against collisions: 20260517-142233-train-3fa9c2d1.
func newID(kind Kind, start time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	k := string(kind)
	if validID(k) != nil {
		k = "run"
	}
	return start.UTC().Format("20060102-150405") + "-" + k + "-" + hex.EncodeToString(b[:])
}

// Start records a new run and returns its id. The record's Status becomes
// Running, and Start, Host and PID are filled in when zero; Dir and Adapter
// are made absolute, so the record still finds them from another working
// folder.
func (s *Store) Start(r Record) (string, error) {
	if r.Kind == "" {
		return "", errors.New("runs: Start: the record has no kind")
	}
	if r.Start.IsZero() {
		r.Start = time.Now()
	}
	r.ID = newID(r.Kind, r.Start)
	r.Status = Running
	if r.Host == "" {
		r.Host, _ = os.Hostname()
	}
	if r.PID == 0 {
		r.PID = os.Getpid()
	}
	r.Dir = absPath(r.Dir)
	r.Adapter = absPath(r.Adapter)
	unlock, err := s.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	s.removeStaleTemps()
	if err := s.write(r); err != nil {
		return "", err
	}
	return r.ID, nil
}

// Update applies fn to the record id under the store's lock and writes it
// back atomically. fn must not change the ID.
func (s *Store) Update(id string, fn func(*Record)) error {
	if err := validID(id); err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r, err := s.read(id)
	if err != nil {
		return err
	}
	fn(&r)
	r.ID = id
	return s.write(r)
}

// Observe folds a log_history entry into the record id (Record.Observe):
// call it on every log event of a training run for live figures.
func (s *Store) Observe(id string, entry map[string]float64) error {
	return s.Update(id, func(r *Record) { r.Observe(entry) })
}

// Finish ends the run id with status (Finished, Stopped or Failed; runErr,
// when not nil, becomes Error for a failed run), and sets Duration. For a training run whose
// folder holds trainer_state.json (at the top or in its latest checkpoint),
// steps, epoch, final and best loss and the summary are recomputed from its
// whole log_history, which also covers the steps before a resume.
func (s *Store) Finish(id string, status Status, runErr error) error {
	switch status {
	case Finished, Stopped, Failed:
	default:
		return fmt.Errorf("runs: Finish: status %q is not an end state", status)
	}
	return s.Update(id, func(r *Record) {
		r.Status = status
		r.Duration = time.Since(r.Start)
		if runErr != nil && status == Failed {
			r.Error = runErr.Error()
		}
		if r.Kind != Train || r.Dir == "" {
			return
		}
		if hist, err := History(r.Dir); err == nil && len(hist) > 0 {
			r.FinalLoss, r.BestLoss, r.Steps = nil, nil, 0
			for _, e := range hist {
				r.Observe(e)
			}
		}
	})
}

// EndStatus is the status a job's returned error means: nil is Finished,
// trainer.ErrStopped or a cancelled context Stopped, anything else Failed.
func EndStatus(err error) Status {
	switch {
	case err == nil:
		return Finished
	case errors.Is(err, trainer.ErrStopped), errors.Is(err, context.Canceled):
		return Stopped
	}
	return Failed
}

// End finishes the run id with the status its job's error means
// (EndStatus), so a job can end with one deferred call.
func (s *Store) End(id string, err error) error {
	return s.Finish(id, EndStatus(err), err)
}

// FlatMetrics collects the numeric top-level fields of v's JSON form, named
// prefix + the JSON name: an evaluation's metrics struct (accuracy,
// precision, recall, f1, total, correct) becomes a Record's Metrics without
// this package knowing its type. Strings, lists and objects are left out.
func FlatMetrics(v any, prefix string) (map[string]float64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("runs: metrics: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, fmt.Errorf("runs: metrics are not a JSON object: %w", err)
	}
	out := map[string]float64{}
	for k, x := range fields {
		if f, ok := x.(float64); ok {
			out[prefix+k] = f
		}
	}
	return out, nil
}

// Get returns the record named by ref: an id, or a prefix or suffix of
// exactly one id.
func (s *Store) Get(ref string) (Record, error) {
	id, err := s.Resolve(ref)
	if err != nil {
		return Record{}, err
	}
	r, err := s.read(id)
	if err != nil {
		return Record{}, err
	}
	s.annotate(&r)
	return r, nil
}

// Resolve turns ref (an id, or a prefix or suffix of exactly one id, such
// as its random tail) into an id.
func (s *Store) Resolve(ref string) (string, error) {
	if ref == "" {
		return "", errors.New("runs: empty run id")
	}
	ids, err := s.ids()
	if err != nil {
		return "", err
	}
	var match []string
	for _, id := range ids {
		if id == ref {
			return id, nil
		}
		if strings.HasPrefix(id, ref) || strings.HasSuffix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("runs: %q: %w", ref, ErrNotFound)
	case 1:
		return match[0], nil
	}
	return "", fmt.Errorf("runs: %q names %d runs (%s); give more of the id", ref, len(match), strings.Join(match, ", "))
}

// ids lists the record files' ids, oldest first.
func (s *Store) ids() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("runs: %w", err)
	}
	var ids []string
	for _, e := range ents {
		name := e.Name()
		id, ok := strings.CutSuffix(name, ".json")
		if !ok || e.IsDir() || validID(id) != nil {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Filter selects runs for List; zero fields select everything.
type Filter struct {
	Kind   Kind
	Status Status
	// Model matches model.name, case-insensitively, as a substring.
	Model string
	// Data matches the data file's path as a substring, or its SHA-256 as
	// a prefix.
	Data string
}

func (f Filter) match(r Record) bool {
	if f.Kind != "" && r.Kind != f.Kind {
		return false
	}
	if f.Status != "" && r.Status != f.Status {
		return false
	}
	if f.Model != "" && !strings.Contains(strings.ToLower(r.Model), strings.ToLower(f.Model)) {
		return false
	}
	if f.Data != "" && !strings.Contains(r.DataFile, f.Data) && !strings.HasPrefix(r.DataSHA256, strings.ToLower(f.Data)) {
		return false
	}
	return true
}

// List returns the runs f selects, newest first. A record that cannot be
// read (corrupt, or from a newer QwenTune) is left out and reported in
// skipped, one error naming its file each; err is for a folder that cannot
// be read at all.
func (s *Store) List(f Filter) (list []Record, skipped []error, err error) {
	ids, err := s.ids()
	if err != nil {
		return nil, nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		r, err := s.read(ids[i])
		if errors.Is(err, ErrNotFound) {
			continue // removed since the folder was listed
		}
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		s.annotate(&r)
		if f.match(r) {
			list = append(list, r)
		}
	}
	// Ids sort by start only to the second.
	sort.SliceStable(list, func(i, j int) bool { return list[i].Start.After(list[j].Start) })
	return list, skipped, nil
}

// Remove deletes the record id (an exact id; see Resolve) and, with
// deleteFolder, its run folder. The folder is deleted only when it looks
// like a run folder (it holds a file a run writes) and is not the home
// folder, the working folder or one of their parents; otherwise nothing is
// removed and the error says why. A missing folder is no obstacle. The
// folder of a run still running is never deleted. A record that cannot be
// read can be removed without deleteFolder.
func (s *Store) Remove(id string, deleteFolder bool) error {
	if err := validID(id); err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	r, rerr := s.read(id)
	if errors.Is(rerr, ErrNotFound) {
		return rerr
	}
	if deleteFolder {
		if rerr != nil {
			return fmt.Errorf("%w; its folder is unknown: remove the record without deleting the folder", rerr)
		}
		if s.annotate(&r); r.Status == Running {
			return fmt.Errorf("runs: %s is still running (process %d on %s): stop it before deleting its folder", id, r.PID, r.Host)
		}
		if err := removeRunFolder(r.Dir); err != nil {
			return err
		}
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("runs: %w", err)
	}
	return syncDir(s.dir)
}

// runMarkers are files a run writes at the top of its folder: the resolved
// config and trainer_state.json of training (engine.ResolvedConfigFile,
// trainer.TrainerStateFile), an adapter, evaluation's metrics.json and
// predictions.
var runMarkers = []string{"run_config.yml", "trainer_state.json", "adapter_config.json", "metrics.json", "predictions.jsonl"}

func removeRunFolder(dir string) error {
	if dir == "" {
		return errors.New("runs: the record names no folder")
	}
	dir = filepath.Clean(dir)
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("runs: %s is not a folder; not deleted", dir)
	}
	var guarded []string
	if h, err := os.UserHomeDir(); err == nil {
		guarded = append(guarded, h)
	}
	if wd, err := os.Getwd(); err == nil {
		guarded = append(guarded, wd)
	}
	for _, g := range guarded {
		if within(g, dir) {
			return fmt.Errorf("runs: %s holds %s; not deleted", dir, g)
		}
	}
	if filepath.Dir(dir) == dir {
		return fmt.Errorf("runs: %s is a file-system root; not deleted", dir)
	}
	marked := false
	for _, m := range runMarkers {
		if _, err := os.Stat(filepath.Join(dir, m)); err == nil {
			marked = true
			break
		}
	}
	if !marked {
		if cks, _ := filepath.Glob(filepath.Join(dir, "checkpoint-*")); len(cks) > 0 {
			marked = true
		}
	}
	if !marked {
		return fmt.Errorf("runs: %s does not look like a run folder (none of %s); not deleted", dir, strings.Join(runMarkers, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	return nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// annotate sets what is derived at read time: Missing and Interrupted.
func (s *Store) annotate(r *Record) {
	if r.Dir != "" {
		if _, err := os.Stat(r.Dir); errors.Is(err, fs.ErrNotExist) {
			r.Missing = true
		}
	}
	if r.Status == Running && r.PID > 0 {
		if host, _ := os.Hostname(); host == r.Host && !processAlive(r.PID) {
			r.Status = Interrupted
		}
	}
}

// read reads the record id: ErrNotFound when its file is gone, an error
// naming the file when it is corrupt.
func (s *Store) read(id string) (Record, error) {
	p := s.path(id)
	b, err := atomicfile.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Record{}, fmt.Errorf("runs: %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("runs: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("runs: %s: corrupt record: %w", p, err)
	}
	if r.ID != id {
		return Record{}, fmt.Errorf("runs: %s: corrupt record: id %q does not match the file name", p, r.ID)
	}
	if r.Kind == "" || r.Start.IsZero() {
		return Record{}, fmt.Errorf("runs: %s: corrupt record: no kind or start time", p)
	}
	return r, nil
}

// write replaces the record's file atomically: a temporary file in the
// same folder, fsynced, renamed over the old one, and the folder fsynced so
// the rename survives a crash.
func (s *Store) write(r Record) (err error) {
	r.Missing = false
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("runs: %s: %w", r.ID, err)
	}
	p := s.path(r.ID)
	tmp, err := os.CreateTemp(s.dir, "."+r.ID+".json.tmp-*")
	if err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("runs: %s: %w", p, err)
		}
	}()
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := atomicfile.Replace(tmp.Name(), p); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// removeStaleTemps deletes temporary files a crashed writer left behind
// (older than an hour: a live writer's are milliseconds old). Called under
// the lock.
func (s *Store) removeStaleTemps() {
	tmps, _ := filepath.Glob(filepath.Join(s.dir, ".*.json.tmp-*"))
	for _, t := range tmps {
		if info, err := os.Stat(t); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.Remove(t)
		}
	}
}

// syncDir fsyncs a folder so a rename or removal in it is durable; systems
// that cannot open a folder for syncing (Windows) skip it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("runs: %w", err)
	}
	return nil
}

// The package functions work on the Default store.

// Start records a new run in the default store (Store.Start).
func Start(r Record) (string, error) {
	return with(func(s *Store) (string, error) { return s.Start(r) })
}

// Update changes a run of the default store (Store.Update).
func Update(id string, fn func(*Record)) error {
	_, err := with(func(s *Store) (string, error) { return "", s.Update(id, fn) })
	return err
}

// Observe folds a log entry into a run of the default store (Store.Observe).
func Observe(id string, entry map[string]float64) error {
	_, err := with(func(s *Store) (string, error) { return "", s.Observe(id, entry) })
	return err
}

// Finish ends a run of the default store (Store.Finish).
func Finish(id string, status Status, runErr error) error {
	_, err := with(func(s *Store) (string, error) { return "", s.Finish(id, status, runErr) })
	return err
}

// End finishes a run of the default store (Store.End).
func End(id string, err error) error {
	_, werr := with(func(s *Store) (string, error) { return "", s.End(id, err) })
	return werr
}

// Get returns a run of the default store (Store.Get).
func Get(ref string) (Record, error) {
	s, err := Default()
	if err != nil {
		return Record{}, err
	}
	return s.Get(ref)
}

// List lists the runs of the default store (Store.List).
func List(f Filter) (list []Record, skipped []error, err error) {
	s, err := Default()
	if err != nil {
		return nil, nil, err
	}
	return s.List(f)
}

// Remove removes a run of the default store (Store.Remove; id exact).
func Remove(id string, deleteFolder bool) error {
	_, err := with(func(s *Store) (string, error) { return "", s.Remove(id, deleteFolder) })
	return err
}

// Compare compares runs of the default store (Store.Compare).
func Compare(refs []string) (Comparison, error) {
	s, err := Default()
	if err != nil {
		return Comparison{}, err
	}
	return s.Compare(refs)
}

func with(f func(*Store) (string, error)) (string, error) {
	s, err := Default()
	if err != nil {
		return "", err
	}
	return f(s)
}
