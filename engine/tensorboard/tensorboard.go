// Package tensorboard writes (and reads back) TensorBoard event files in pure
// Go: TFRecord framing around hand-encoded Event protobufs, scalars as
// simple_value summaries, exactly what the Hugging Face Trainer's
// TensorBoardCallback writes through torch's SummaryWriter. Point
// `tensorboard --logdir` at the folder holding the files.
package tensorboard

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FileVersion is the version string of the first event of every file.
const FileVersion = "brain.Event:2"

// FilePrefix starts the name of every event file; TensorBoard finds event
// files by the "tfevents" in their names.
const FilePrefix = "events.out.tfevents."

// Writer appends scalar summaries to one event file. Its methods are safe
// for concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	path string
	now  func() time.Time
	err  error // the first write error; every later call returns it
}

// Open creates dir if needed and a new event file in it named
// events.out.tfevents.<unix seconds>.<host>.<pid> (torch's SummaryWriter's
// name without its counter), and writes the file_version event.
// TensorBoard reads the event files of a folder in name order, so a file
// opened in the same second as (or a clock step behind) an existing one
// takes the next second in its name: names always sort in creation order.
func Open(dir string) (*Writer, error) {
	return open(dir, time.Now)
}

func open(dir string, now func() time.Time) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, host)
	t := now()
	sec := t.Unix()
	for range 100 {
		if files, err := EventFiles(dir); err == nil && len(files) > 0 {
			if last := fileSecond(files[len(files)-1]); last >= sec {
				sec = last + 1
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("%s%010d.%s.%d", FilePrefix, sec, host, os.Getpid()))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue // another writer took the name between the listing and now
		}
		if err != nil {
			return nil, fmt.Errorf("tensorboard: %w", err)
		}
		w := &Writer{f: f, path: path, now: now}
		if err := w.write([]Event{{WallTime: wallTime(t), FileVersion: FileVersion}}); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		return w, nil
	}
	return nil, fmt.Errorf("tensorboard: %s: no free event-file name", dir)
}

// fileSecond is the Unix second in an event file's name, 0 when it has
// none.
func fileSecond(path string) int64 {
	rest, ok := strings.CutPrefix(filepath.Base(path), FilePrefix)
	if !ok {
		return 0
	}
	digits, _, _ := strings.Cut(rest, ".")
	n, _ := strconv.ParseInt(digits, 10, 64)
	return n
}

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

// wallTime is t in seconds since the Unix epoch, as Python's time.time().
func wallTime(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// Scalars writes one scalar event per tag at step, in sorted tag order, all
// with the same wall time, and hands them to the operating system before it
// returns (a crash loses nothing already logged; TensorBoard sees them
// live). Values are stored as float32, as TensorBoard's simple_value is.
func (w *Writer) Scalars(step int64, values map[string]float64) error {
	tags := make([]string, 0, len(values))
	for t := range values {
		if t == "" {
			return errors.New("tensorboard: empty tag")
		}
		tags = append(tags, t)
	}
	sort.Strings(tags)
	wall := wallTime(w.now())
	evs := make([]Event, len(tags))
	for i, t := range tags {
		evs[i] = Event{WallTime: wall, Step: step, Values: []Value{{Tag: t, Simple: float32(values[t]), HasSimple: true}}}
	}
	return w.write(evs)
}

// Resumed records that the run restarted from a checkpoint at step: a
// SessionLog START event at step+1, on which TensorBoard drops every value
// an earlier file logged after step, as it did for TensorFlow's restarts,
// so a resumed run's curves do not double back. Call it right after Open.
func (w *Writer) Resumed(step int64) error {
	return w.write([]Event{{WallTime: wallTime(w.now()), Step: step + 1, SessionStatus: SessionStart}})
}

// Log writes one log_history entry of trainer_state.json the way the
// Trainer's TensorBoardCallback does: at the entry's "step", with the tags
// TrainerTags gives.
func (w *Writer) Log(entry map[string]float64) error {
	step, values := TrainerTags(entry)
	return w.Scalars(step, values)
}

// TrainerTags maps a log_history entry to the Trainer's TensorBoard step
// and tags (transformers' rewrite_logs): "step" is the step, not a scalar;
// eval_X becomes eval/X, test_X becomes test/X and every other key train/X
// (train/loss, train/learning_rate, train/grad_norm, train/epoch, and the
// summary's train/train_loss, train/train_runtime, ...).
func TrainerTags(entry map[string]float64) (step int64, values map[string]float64) {
	values = make(map[string]float64, len(entry))
	for k, v := range entry {
		switch {
		case k == "step":
			step = int64(math.Round(v))
		case strings.HasPrefix(k, "eval_"):
			values["eval/"+k[len("eval_"):]] = v
		case strings.HasPrefix(k, "test_"):
			values["test/"+k[len("test_"):]] = v
		default:
			values["train/"+k] = v
		}
	}
	return step, values
}

func (w *Writer) write(evs []Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if w.f == nil {
		return errors.New("tensorboard: write after Close")
	}
	var buf []byte
	for _, e := range evs {
		buf = appendRecord(buf, e.marshal())
	}
	if _, err := w.f.Write(buf); err != nil {
		w.err = fmt.Errorf("tensorboard: %w", err)
		return w.err
	}
	return nil
}

// Close syncs the file to disk and closes it. Closing twice is a no-op.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(w.err, serr, cerr); err != nil {
		return fmt.Errorf("tensorboard: %s: %w", w.path, err)
	}
	return nil
}

// Reader decodes the events of one event file.
type Reader struct {
	rr recordReader
}

// NewReader reads events from r.
func NewReader(r io.Reader) *Reader { return &Reader{rr: recordReader{r: r}} }

// Next returns the next event, io.EOF after the last one, or an error
// wrapping ErrCorrupt that names the byte offset of the bad record.
func (r *Reader) Next() (Event, error) {
	off := r.rr.off
	data, err := r.rr.next()
	if err != nil {
		return Event{}, err
	}
	e, err := unmarshalEvent(data)
	if err != nil {
		return Event{}, fmt.Errorf("record at byte %d: %w", off, err)
	}
	return e, nil
}

// ReadFile reads every event of an event file.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := NewReader(f)
	var evs []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, fmt.Errorf("%s: %w", path, err)
		}
		evs = append(evs, e)
	}
}

// Scalar is one logged value of a tag.
type Scalar struct {
	Step     int64
	WallTime float64
	Value    float32
}

// ReadScalars reads every event file in dir (in name order, which is
// creation order) and groups the scalar values by tag, in file order.
func ReadScalars(dir string) (map[string][]Scalar, error) {
	files, err := EventFiles(dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]Scalar{}
	for _, p := range files {
		evs, err := ReadFile(p)
		if err != nil {
			return out, err
		}
		for _, e := range evs {
			for _, v := range e.Values {
				if v.HasSimple {
					out[v.Tag] = append(out[v.Tag], Scalar{Step: e.Step, WallTime: e.WallTime, Value: v.Simple})
				}
			}
		}
	}
	return out, nil
}

// EventFiles lists the event files directly in dir, sorted by name.
func EventFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range ents {
		if !e.IsDir() && strings.Contains(e.Name(), "tfevents") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}
