package app

import (
	"errors"
	"path/filepath"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/engine/nn"
)

// state is what the screens share: the config and its file, the loaded
// model session, the inspected training data, the adapter folder (and the
// fine-tune loaded from it), the running job and the pre-flight estimate.
// It belongs to the UI goroutine. A screen reads it directly and changes it
// only through its setters, which tell every observer what changed, so no
// screen calls another: each keeps itself up to date in its own observer.
type state struct {
	// cfg is the config as the form shows it, paths relative to cfgPath's
	// folder; cfgPath is "" until a config is loaded or saved.
	cfg     config.Config
	cfgPath string
	// sess is the loaded model, nil until a load succeeds.
	sess *engine.Session
	// data is the inspected training data, made with sess's tokenizer.
	data *engine.Dataset
	// job names the engine job running ("" when idle); a session runs one
	// job at a time.
	job string
	// estimate is the latest memory and time estimate for a run.
	estimate string

	// tuned is the fine-tune loaded from tunedDir, kept until the folder,
	// the model or the adapter on disk changes.
	tuned    *nn.Adapter
	tunedDir string

	observers []func(change)
}

// change says what a setter changed. from is the screen that made a config
// change (it already shows the new value), nil when none did.
type change struct {
	config   bool   // the config's values
	key      string // the one key set, "" when the whole config was replaced
	file     bool   // the config file in use
	session  bool   // the model
	data     bool   // the inspected training data
	adapter  bool   // the adapter on disk (a run finished)
	job      bool   // a job started or ended
	estimate bool   // the estimate
	from     any
}

// observe calls f after every change, in registration order.
func (st *state) observe(f func(change)) { st.observers = append(st.observers, f) }

func (st *state) notify(c change) {
	for _, f := range st.observers {
		f(c)
	}
}

// setConfig replaces the whole config (a file opened, a preset).
func (st *state) setConfig(c config.Config, from any) {
	st.cfg = c
	st.notify(change{config: true, from: from})
}

// setKey sets one key (key=value as --set takes it) and reports whether the
// config changed: an unchanged or invalid value leaves it alone.
func (st *state) setKey(key, v string, from any) bool {
	if vals, _ := configValues(st.cfg); vals[key] == v {
		return false
	}
	c := st.cfg
	if err := c.Set(key + "=" + v); err != nil {
		return false
	}
	st.cfg = c
	st.notify(change{config: true, key: key, from: from})
	return true
}

// setConfigPath records the config file in use.
func (st *state) setConfigPath(path string) {
	st.cfgPath = path
	st.notify(change{file: true})
}

// setSession makes sess the model; the data inspected with the previous
// tokenizer and the fine-tune loaded onto the previous model are dropped.
func (st *state) setSession(sess *engine.Session) {
	dropped := st.data != nil
	st.sess, st.data = sess, nil
	st.tuned, st.tunedDir = nil, ""
	st.notify(change{session: true, data: dropped, adapter: true})
}

// setData makes d the inspected training data.
func (st *state) setData(d *engine.Dataset) {
	st.data = d
	st.notify(change{data: true})
}

// adapterWritten forgets the loaded fine-tune: a run wrote a new one.
func (st *state) adapterWritten() {
	st.tuned, st.tunedDir = nil, ""
	st.notify(change{adapter: true})
}

// setEstimate shows a new memory and time estimate.
func (st *state) setEstimate(text string) {
	st.estimate = text
	st.notify(change{estimate: true})
}

// startJob claims the session for a job; it returns false when another job
// is running.
func (st *state) startJob(name string) bool {
	if st.job != "" {
		return false
	}
	st.job = name
	st.notify(change{job: true})
	return true
}

// endJob releases the session.
func (st *state) endJob() {
	st.job = ""
	st.notify(change{job: true})
}

// idle reports whether no job is running.
func (st *state) idle() bool { return st.job == "" }

// resolved is the config with its paths made relative to the config file's
// folder (the working directory while no file is in use): what the engine
// is given.
func (st *state) resolved() config.Config {
	dir := "."
	if st.cfgPath != "" {
		dir = filepath.Dir(st.cfgPath)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return st.cfg.Resolve(dir)
}

// adapterDir is the adapter evaluation, chat and export use
// (engine.AdapterDir), "" for the base model.
func (st *state) adapterDir() string { return engine.AdapterDir(st.resolved()) }

// adapterWhere names the folder a fine-tune is (or will be) in, for
// messages: the adapter folder, or training.output_dir while there is none.
func (st *state) adapterWhere() string {
	if dir := st.adapterDir(); dir != "" {
		return dir
	}
	return st.resolved().Training.OutputDir
}

// fineTune loads the adapter of adapterDir once.
func (st *state) fineTune() (*nn.Adapter, string, error) {
	dir := st.adapterDir()
	if !engine.HasAdapter(dir) {
		return nil, "", errors.New("no fine-tuned adapter in " + st.adapterWhere())
	}
	if st.tuned != nil && st.tunedDir == dir {
		return st.tuned, dir, nil
	}
	a, err := st.sess.LoadAdapter(dir)
	if err != nil {
		return nil, "", err
	}
	st.tuned, st.tunedDir = a, dir
	return a, dir, nil
}

// datasetSeen reports whether the config's training file was inspected,
// with the config's dataset settings and the loaded model's tokenizer.
func (st *state) datasetSeen() bool {
	return st.sess != nil && st.data.Matches(st.resolved().Dataset, st.sess.Tokenizer)
}

// datasetReady reports whether the training data in the config is the one
// inspected, without bad lines.
func (st *state) datasetReady() bool { return st.datasetSeen() && st.data.Ready() }
