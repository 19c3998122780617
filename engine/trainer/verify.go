package trainer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ManifestFile lists every other file of a checkpoint with its SHA-256
// (sha256sum format, slash-separated paths relative to the checkpoint). It
// is written last, so a checkpoint with a manifest is complete, and resume
// refuses one whose files do not match it.
const ManifestFile = "checkpoint.sha256"

// writeManifest hashes every regular file under dir (except the manifest)
// and writes the manifest.
func writeManifest(dir string) error {
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == ManifestFile {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("checkpoint %s: %s is not a regular file", dir, rel)
		}
		sum, err := fileSum(path)
		if err != nil {
			return err
		}
		lines = append(lines, sum+"  "+rel)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(lines)
	f, err := os.OpenFile(filepath.Join(dir, ManifestFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, strings.Join(lines, "\n")+"\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyCheckpoint checks every file the checkpoint's manifest lists
// against its SHA-256. The error names the checkpoint and the first file
// that is missing or differs; a checkpoint without a manifest (unfinished,
// or written before checkpoints carried one) is refused too.
func VerifyCheckpoint(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint %s has no %s: it is unfinished or was written by an older QwenTune, and cannot be verified", dir, ManifestFile)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		if l == "" {
			continue
		}
		sum, rel, ok := strings.Cut(l, "  ")
		if b, err := hex.DecodeString(sum); !ok || err != nil || len(b) != sha256.Size || rel == "" ||
			filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(filepath.FromSlash(rel)), "..") {
			return fmt.Errorf("checkpoint %s: %s:%d: want \"<sha256>  <file>\", got %q", dir, ManifestFile, line, l)
		}
		got, err := fileSum(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("checkpoint %s is damaged: %s: %w", dir, rel, err)
		}
		if got != sum {
			return fmt.Errorf("checkpoint %s is damaged: %s has SHA-256 %s, but %s lists %s", dir, rel, got, ManifestFile, sum)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("checkpoint %s: %s lists no file", dir, ManifestFile)
	}
	return nil
}

// LatestIntactCheckpoint returns the newest checkpoint-N in outputDir that
// passes VerifyCheckpoint ("" when none does) and the reasons the newer ones
// were passed over.
func LatestIntactCheckpoint(outputDir string) (string, []error, error) {
	cks, err := Checkpoints(outputDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return "", nil, err
	}
	var skipped []error
	for i := len(cks) - 1; i >= 0; i-- {
		if err := VerifyCheckpoint(cks[i]); err != nil {
			skipped = append(skipped, err)
			continue
		}
		return cks[i], skipped, nil
	}
	return "", skipped, nil
}
