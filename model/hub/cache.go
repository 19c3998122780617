package hub

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"qwentune/internal/atomicfile"
)

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// RepoFolderName returns the cache folder name of a model repository,
// "models--" + the id with "/" replaced by "--", as huggingface_hub names it.
func RepoFolderName(repoID string) string {
	return "models--" + strings.ReplaceAll(repoID, "/", "--")
}

func (c *Client) repoDir(repoID string) string {
	return filepath.Join(c.CacheDir, RepoFolderName(repoID))
}

// CachedSnapshot returns the snapshot folder of repoID at revision (a branch,
// tag or commit hash; "" means main) if it is in the cache, whoever wrote it,
// without touching the network. A branch or tag is resolved through
// refs/<revision>, as huggingface_hub does. The folder may hold only some of
// the repository's files; see MissingFiles.
func (c *Client) CachedSnapshot(repoID, revision string) (dir string, ok bool) {
	if revision == "" {
		revision = DefaultRevision
	}
	if checkRepo(repoID, revision) != nil {
		return "", false
	}
	commit := revision
	if !commitPattern.MatchString(revision) {
		b, err := os.ReadFile(filepath.Join(c.repoDir(repoID), "refs", filepath.FromSlash(revision)))
		if err != nil {
			return "", false
		}
		commit = strings.TrimSpace(string(b))
		if !commitPattern.MatchString(commit) {
			return "", false
		}
	}
	dir = filepath.Join(c.repoDir(repoID), "snapshots", commit)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", false
	}
	return dir, true
}

// MissingFiles lists what a model folder lacks for the engine to load it:
// config.json, tokenizer.json and the safetensors weights (model.safetensors,
// or every shard named by model.safetensors.index.json). Broken symlinks
// count as missing. An empty result means the folder is usable.
func MissingFiles(dir string) []string {
	var missing []string
	has := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		return err == nil && st.Mode().IsRegular()
	}
	for _, f := range []string{"config.json", "tokenizer.json"} {
		if !has(f) {
			missing = append(missing, f)
		}
	}
	if has("model.safetensors") {
		return missing
	}
	b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	if err != nil {
		return append(missing, "model.safetensors")
	}
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &index); err != nil || len(index.WeightMap) == 0 {
		return append(missing, "model.safetensors.index.json (unreadable)")
	}
	seen := map[string]bool{}
	for _, shard := range index.WeightMap {
		if !seen[shard] && (!safeRelPath(shard) || !has(shard)) {
			missing = append(missing, shard)
		}
		seen[shard] = true
	}
	return missing
}

// writeRef records that revision points to commit, like huggingface_hub: the
// file holds the bare hash, no newline. Commit hashes are not recorded.
func writeRef(repoDir, revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := filepath.Join(repoDir, "refs", filepath.FromSlash(revision))
	if b, err := os.ReadFile(p); err == nil && string(b) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(commit))
}

// linkBlob points snapshots/<commit>/<name> at blobs/<etag> with a relative
// symlink (so the cache can be moved), replacing whatever was there. Where
// symlinks are not supported the blob is copied instead, as huggingface_hub
// does.
func linkBlob(repoDir, commit, name, etag string) error {
	dst := filepath.Join(repoDir, "snapshots", commit, filepath.FromSlash(name))
	blob := filepath.Join(repoDir, "blobs", etag)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(dst), blob)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp-link"
	os.Remove(tmp)
	if os.Symlink(rel, tmp) == nil {
		// A link must lead to the blob: Windows makes links only with
		// Developer Mode or as administrator, and Wine makes some that do
		// not resolve (and cannot be renamed). Such a link becomes a copy.
		if _, err := os.Stat(tmp); err == nil && os.Rename(tmp, dst) == nil {
			return nil
		}
		os.Remove(tmp)
	}
	if err := copyFile(blob, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("linking %s: %w", name, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
