//go:build unix

// FIFOs and /dev exist only on Unix; Windows has neither.

package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/model/tokenizer"
)

// TestDataFileKinds: a FIFO is read once (and hashed as what was read; Check
// does not open it again), a device is refused, a line over the limit is an
// error naming its line, and reading stops when the context is cancelled
// even while no writer ever comes.
func TestDataFileKinds(t *testing.T) {
	tok := tokenizer.Builtin()
	dc := config.Default().Dataset
	data, err := os.ReadFile("../data/train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "train.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	dc.TrainFile = fifo
	d, err := InspectDatasetContext(context.Background(), fifo, tok, dc)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if d.SHA256 != hex.EncodeToString(sum[:]) || len(d.Examples) == 0 {
		t.Fatalf("FIFO: sha256 %s with %d rows, want %x", d.SHA256, len(d.Examples), sum)
	}
	checked := make(chan error, 1)
	go func() { checked <- d.Check(dc, tok) }()
	select {
	case err := <-checked:
		if err != nil {
			t.Fatalf("Check of FIFO data: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Check opened the FIFO again and hangs")
	}

	if _, err := InspectDataset("/dev/zero", tok, dc); err == nil || !strings.Contains(err.Error(), "/dev/zero is not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}

	long := filepath.Join(t.TempDir(), "long.jsonl")
	line := `{"text": "` + strings.Repeat("a", dataset.MaxLineBytes) + `"}`
	if err := os.WriteFile(long, []byte(string(data[:strings.IndexByte(string(data), '\n')+1])+line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := InspectDataset(long, tok, dc); err == nil || !strings.Contains(err.Error(), long+":2: line too long") {
		t.Errorf("long line: %v", err)
	}

	lonely := filepath.Join(t.TempDir(), "nobody.fifo")
	if err := syscall.Mkfifo(lonely, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := InspectDatasetContext(ctx, lonely, tok, dc); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("cancelled read: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cancelled read took %v", d)
	}
	// Unblock the abandoned reader.
	if f, err := os.OpenFile(lonely, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		f.Close()
	}
}
