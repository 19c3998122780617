package engine

import (
	"context"
	"fmt"
	"os"
	"time"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/model/tokenizer"
)

// Dataset is a training file inspected once: its rows read, tokenised into
// examples with their loss masks, linted, measured and hashed (the embedded
// Report). The Dataset screen, `qwentune data inspect` and `qwentune train`
// make it with InspectDataset, and Session.Train trains on it as it is.
type Dataset struct {
	dataset.Report
	// tok is the tokenizer the examples were made with.
	tok *tokenizer.Tokenizer
	// size and modTime are the file's as it was read, to notice a change
	// without reading it again.
	size    int64
	modTime time.Time
	// stream is data read from a pipe or standard input: it cannot change
	// and cannot be read again.
	stream bool
}

// InspectDataset reads the training file path with tok under the dataset
// settings dc (max_length, truncation, append_eos, loss_on). Bad rows are in
// the result's Errors; the error is an I/O error.
func InspectDataset(path string, tok *tokenizer.Tokenizer, dc config.DatasetConfig) (*Dataset, error) {
	return InspectDatasetContext(context.Background(), path, tok, dc)
}

// InspectDatasetContext is InspectDataset that stops when ctx is done
// (SIGINT in the CLI, Stop in the app). path may be a pipe or "-" for
// standard input: it is read once, and its SHA-256 is that of what was read.
func InspectDatasetContext(ctx context.Context, path string, tok *tokenizer.Tokenizer, dc config.DatasetConfig) (*Dataset, error) {
	d := &Dataset{tok: tok, stream: dataset.IsStream(path)}
	if !d.stream {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		d.size, d.modTime = st.Size(), st.ModTime()
	}
	rep, err := dataset.InspectContext(ctx, path, tok, dataset.OptionsFrom(dc))
	if err != nil {
		return nil, err
	}
	d.Report = rep
	return d, nil
}

// Matches reports whether d is what training with dc and tok would read:
// the same file, dataset settings and tokenizer. It does not look at the
// disk (Check does).
func (d *Dataset) Matches(dc config.DatasetConfig, tok *tokenizer.Tokenizer) bool {
	return d != nil && d.File == dc.TrainFile && d.Options == dataset.OptionsFrom(dc) && d.tok == tok
}

// Ready reports whether d can be trained on: no bad line and at least one
// row.
func (d *Dataset) Ready() bool {
	return d != nil && len(d.Errors) == 0 && len(d.Examples) > 0
}

// Check says why d cannot be trained on as dc and tok would: another file,
// other settings or another model's tokenizer; a bad line (the first, and
// how many more); no token to train on; or a file that changed on disk since
// it was read (its size or time differs and so does its SHA-256). nil means
// d is exactly the data training would read.
func (d *Dataset) Check(dc config.DatasetConfig, tok *tokenizer.Tokenizer) error {
	switch {
	case d == nil:
		return fmt.Errorf("%s has not been inspected", dc.TrainFile)
	case d.File != dc.TrainFile:
		return fmt.Errorf("the inspected training data is %s, but dataset.train_file is %s: inspect it first", d.File, dc.TrainFile)
	case d.Options != dataset.OptionsFrom(dc):
		return fmt.Errorf("%s was inspected with other dataset settings (max_length, truncation, append_eos or loss_on): inspect it again", d.File)
	case d.tok != tok:
		return fmt.Errorf("%s was inspected with another model's tokenizer: inspect it again", d.File)
	case len(d.Errors) > 0:
		return d.Errors.First()
	}
	trained := 0
	for _, e := range d.Examples {
		trained += e.TrainedTokens()
	}
	if trained == 0 {
		return fmt.Errorf("%s: no row has a token to train on (check dataset.loss_on and the rows' completions)", d.File)
	}
	if d.stream {
		return nil
	}
	st, err := os.Stat(d.File)
	if err != nil {
		return err
	}
	if st.Size() == d.size && st.ModTime().Equal(d.modTime) {
		return nil
	}
	sum, err := dataset.SHA256(d.File)
	if err != nil {
		return err
	}
	if sum != d.SHA256 {
		return fmt.Errorf("%s changed on disk since it was inspected (sha256 %.12s…, now %.12s…): inspect it again to train on what it holds now", d.File, d.SHA256, sum)
	}
	return nil
}
