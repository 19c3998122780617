// Package engine runs QwenTune's jobs on top of the model files and the
// native transformer: it resolves and loads a model (a Hugging Face id, a
// local folder or the built-in demo), and drives training, evaluation, chat
// and generation with progress reports and cancellation through
// context.Context. Every training and evaluation run is recorded in the run
// history (engine/runs) and, with logging.report_to: tensorboard, in
// TensorBoard event files (history.go). The desktop app and the CLI both
// call it; it never imports a GUI toolkit.
package engine
