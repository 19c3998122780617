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
// Shared by every check (don't define another TestMain): harness_test.go has TestMain (the models of models.py,
// made once per run or taken from QWENTUNE_PARITY_MODELS), Shapes and modelDir, runPython and pythonJSON (a
// reference script, its failure a test failure), cli (the qwentune binary, built once from this tree), loadTensors,
// relDiff and maxAbs; fixtures_test.go has fixture (a folder made once per run), loadModel, loadTokenizer, the
// shared adapters (peftMadeAdapter, peftTrainedAdapter, qwentuneAdapter) and batchRows. The tests don't run in
// parallel. A new check is a new *_test.go file with the parity build tag (scripts/parity.sh picks it up) and, if it
// needs one, a new reference script here that reads a JSON request and writes its answer.
package parity
