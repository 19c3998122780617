package atomicfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReplacesWithMode0644(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new content")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "new content" {
		t.Fatalf("read back %q, %v", got, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Windows has only a read-only bit: a writable file reads as 0666.
	if want := map[bool]os.FileMode{false: 0o644, true: 0o666}[runtime.GOOS == "windows"]; st.Mode().Perm() != want {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), want)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want only a.json", names)
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.json")
	if err := WriteJSON(path, map[string]any{"a": 1, "b": []int{2}}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if err := WriteJSON(path, func() {}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("unencodable value: %v", err)
	}
}

// A fill that fails halfway leaves the old file and no temporary file.
func TestFailedWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.bin")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		if _, err := w.Write(make([]byte, 3<<20)); err != nil { // past the buffer: bytes reach the disk
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want boom naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("old file became %d bytes", len(got))
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want only model.bin", names)
	}
}

// A folder that does not exist is an error naming the path, and nothing is
// created.
func TestWriteMissingFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "f")
	if err := WriteFile(path, []byte("x")); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
}

// crashEnv makes the test binary act as a writer killed mid-write.
const crashEnv = "ATOMICFILE_CRASH_PATH"

// TestMain lets TestCrashMidWrite run this binary as the process that dies.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		Write(path, func(w io.Writer) error {
			w.Write(make([]byte, 3<<20))
			os.Exit(7) // no deferred cleanup runs, as in a crash
			return nil
		})
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// A process that dies mid-write leaves the old file whole; only a hidden
// temporary file remains.
func TestCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("the writer process ended with %v, want exit 7 mid-write", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("after the crash the file holds %d bytes, want the old 3", len(got))
	}
	temps := 0
	for _, n := range entries(t, dir) {
		switch {
		case strings.HasPrefix(n, ".config.json.tmp-"):
			temps++
		case n != "config.json":
			t.Errorf("unexpected file %s after the crash", n)
		}
	}
	if temps != 1 {
		t.Errorf("%d temporary files after the crash, want the one the killed writer had filled", temps)
	}
}
