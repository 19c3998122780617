package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limits on a data file (constants, not config: they guard the machine,
// not the training). A file holding more is refused, naming it; so is a
// line longer than MaxLineBytes, naming its line.
const (
	MaxFileBytes = 1 << 30  // 1 GiB
	MaxLineBytes = 64 << 20 // 64 MiB
)

// Stdin names standard input as a data file.
const Stdin = "-"

// IsStream reports whether path is read as a stream (standard input or a
// pipe) rather than a file that can be read again.
func IsStream(path string) bool {
	if path == Stdin {
		return true
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&fs.ModeNamedPipe != 0
}

// ReadSource reads a data file once: a regular file, a pipe (a FIFO or
// /dev/stdin; read once, never opened again) or "-" for standard input. A
// device, a folder or a socket is refused, and so is more than
// MaxFileBytes. Cancelling ctx stops the read at once (a pipe whose writer
// never comes is abandoned).
func ReadSource(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	open := func() (*os.File, error) { return os.Stdin, nil }
	if path != Stdin {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		switch m := fi.Mode(); {
		case m.IsRegular(), m&fs.ModeNamedPipe != 0:
		case m.IsDir():
			return nil, fmt.Errorf("%s is a folder, not a data file", path)
		default:
			return nil, fmt.Errorf("%s is not a regular file (%s): give a file, a pipe, or - for standard input", path, kind(m))
		}
		if fi.Mode().IsRegular() && fi.Size() > MaxFileBytes {
			return nil, fmt.Errorf("%s holds %d bytes, more than the limit of %d", path, fi.Size(), MaxFileBytes)
		}
		open = func() (*os.File, error) { return os.Open(path) }
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f, err := open()
		if err != nil {
			done <- result{err: err}
			return
		}
		if f != os.Stdin {
			defer f.Close()
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, &ctxReader{ctx: ctx, r: io.LimitReader(f, MaxFileBytes+1)})
		if err == nil && buf.Len() > MaxFileBytes {
			err = fmt.Errorf("%s holds more than the limit of %d bytes", path, MaxFileBytes)
		}
		done <- result{buf.Bytes(), err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("reading %s: %w", path, ctx.Err())
	}
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// ctxReader stops reading when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var errLineTooLong = errors.New("line too long")
