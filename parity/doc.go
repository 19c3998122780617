// Package parity holds QwenTune against the real Python stack: transformers, PEFT and the gguf package (the
// versions pinned in tools/python/requirements.txt). Its tests carry the build tag "parity", so a plain
// `go test ./...` does not run them; scripts/parity.sh does:
//
//	QWENTUNE_PYTHON=$(scripts/pyenv.sh) go test -tags parity ./parity/...
//
// Each test computes a result with QwenTune's engine (or the qwentune CLI) and the same result with a Python
// reference script in this folder, run by the venv's interpreter (QWENTUNE_PYTHON), and compares them. A missing
// interpreter or a reference that fails is a test failure, never a skip.
//
// harness_test.go is shared by every check: TestMain (the tiny models of models.py, made once per run, or taken
// from QWENTUNE_PARITY_MODELS), runPython, modelDir, cli (the qwentune binary, built once) and the comparisons.
// A new check is a new *_test.go file (with the parity build tag) and, if it needs one, a new script here.
package parity
