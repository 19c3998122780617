package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

var engineNames = []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}

// checkLayout verifies the huggingface_hub cache layout of a finished download.
func checkLayout(t *testing.T, c *Client, fh *fakeHub, snapshot string) {
	t.Helper()
	repoDir := filepath.Join(c.CacheDir, "models--Qwen--Qwen2-Tiny")
	if want := filepath.Join(repoDir, "snapshots", fh.commit); snapshot != want {
		t.Fatalf("snapshot %s, want %s", snapshot, want)
	}
	if b, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err != nil || string(b) != fh.commit {
		t.Errorf("refs/main = %q, %v; want the bare commit hash", b, err)
	}
	ents, _ := os.ReadDir(snapshot)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, engineNames) {
		t.Errorf("snapshot holds %v, want %v", got, engineNames)
	}
	var blobs []string
	for _, name := range engineNames {
		content := fh.files[name]
		etag := gitSHA1(content)
		if fh.lfs[name] {
			etag = sha256Hex(content)
		}
		blobs = append(blobs, etag)
		p := filepath.Join(snapshot, name)
		link, err := os.Readlink(p)
		if err != nil || link != "../../blobs/"+etag {
			t.Errorf("%s -> %q, %v; want ../../blobs/%s", name, link, err, etag)
		}
		if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, content) {
			t.Errorf("%s content differs: %v", name, err)
		}
	}
	ents, _ = os.ReadDir(filepath.Join(repoDir, "blobs"))
	got = got[:0]
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(blobs)
	if !slices.Equal(got, blobs) {
		t.Errorf("blobs %v, want %v", got, blobs)
	}
	if m := MissingFiles(snapshot); len(m) != 0 {
		t.Errorf("MissingFiles = %v", m)
	}
}

func TestDownloadFresh(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	c.Token = "hf_secret"
	var events []Progress
	dir, err := c.Download(context.Background(), fh.repo, "", nil, func(p Progress) { events = append(events, p) })
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
	var total int64
	for _, n := range engineNames {
		total += int64(len(fh.files[n]))
	}
	last := events[len(events)-1]
	if last.Done != total || last.Total != total || last.Files != 5 || last.FileIndex != 5 || last.FileDone != last.FileSize {
		t.Errorf("last progress %+v, want done = total = %d over 5 files", last, total)
	}
	seen := map[string]bool{}
	for i, e := range events {
		seen[e.File] = true
		if i > 0 && e.Done < events[i-1].Done {
			t.Errorf("progress went backwards: %+v after %+v", e, events[i-1])
		}
	}
	if len(seen) != 5 {
		t.Errorf("progress named files %v", seen)
	}
	fh.with(func() {
		for _, a := range fh.hubAuth {
			if a != "Bearer hf_secret" {
				t.Errorf("Hub request without the token: %q", a)
			}
		}
		if len(fh.cdnAuth) != 1 || fh.cdnAuth[0] != "" {
			t.Errorf("CDN saw Authorization %q; the token must not leave the Hub's host", fh.cdnAuth)
		}
		fh.resolves = nil
	})
	// Run again: everything is cached, only the revision is asked.
	dir2, err := c.Download(context.Background(), fh.repo, "main", nil, nil)
	fh.with(func() {
		if err != nil || dir2 != dir || len(fh.resolves) != 0 {
			t.Errorf("second download: %s, %v, fetched %v", dir2, err, fh.resolves)
		}
	})
	if got, ok := c.CachedSnapshot(fh.repo, ""); !ok || got != dir {
		t.Errorf("CachedSnapshot = %s, %v", got, ok)
	}
	if got, ok := c.CachedSnapshot(fh.repo, fh.commit); !ok || got != dir {
		t.Errorf("CachedSnapshot by commit = %s, %v", got, ok)
	}
	if _, ok := c.CachedSnapshot(fh.repo, "v2"); ok {
		t.Error("CachedSnapshot found an unknown revision")
	}
}

func TestDownloadCustomFilter(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	dir, err := c.Download(context.Background(), fh.repo, "", func(n string) bool { return n == "README.md" || n == "onnx/model.onnx" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "onnx", "model.onnx")); err != nil || string(b) != "onnx" {
		t.Errorf("onnx/model.onnx: %q, %v", b, err)
	}
	if link, _ := os.Readlink(filepath.Join(dir, "onnx", "model.onnx")); link != "../../../blobs/"+gitSHA1([]byte("onnx")) {
		t.Errorf("nested link %q", link)
	}
	if _, err := c.Download(context.Background(), fh.repo, "", func(string) bool { return false }, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("empty selection: %v", err)
	}
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	const cut = 120_000
	fh.with(func() { fh.dropAfter = cut })
	_, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("error = %v, want ErrInterrupted saying to run again", err)
	}
	t.Log(err)
	weights := fh.files["model.safetensors"]
	part := filepath.Join(c.CacheDir, "models--Qwen--Qwen2-Tiny", "blobs", sha256Hex(weights)+".incomplete")
	if st, err := os.Stat(part); err != nil || st.Size() != cut {
		t.Fatalf("partial file: %v, %v; want %d bytes kept", st, err, cut)
	}
	fh.with(func() { fh.cdnSent = 0 })
	var first Progress
	dir, err := c.Download(context.Background(), fh.repo, "", nil, func(p Progress) {
		if first.File == "" {
			first = p
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
	fh.with(func() {
		if got := fh.cdnRanges[len(fh.cdnRanges)-1]; got != "bytes=120000-" {
			t.Errorf("resume sent Range %q", got)
		}
		if fh.cdnSent != int64(len(weights)-cut) {
			t.Errorf("resume fetched %d bytes, want only the %d missing", fh.cdnSent, len(weights)-cut)
		}
	})
	if first.Done != cut || first.FileDone != cut {
		t.Errorf("first progress after resume %+v, want %d bytes already done", first, cut)
	}
}

func TestResumeWhenServerIgnoresRange(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	fh.with(func() { fh.dropAfter = 1000 })
	if _, err := c.Download(context.Background(), fh.repo, "", nil, nil); !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	fh.with(func() { fh.ignoreRange = true })
	dir, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
}

func TestChecksumMismatch(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	fh.with(func() { fh.corrupt = true })
	_, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("error = %v, want ErrChecksum naming the file", err)
	}
	t.Log(err)
	blobs := filepath.Join(c.CacheDir, "models--Qwen--Qwen2-Tiny", "blobs")
	sha := sha256Hex(fh.files["model.safetensors"])
	for _, p := range []string{sha, sha + ".incomplete"} {
		if _, err := os.Stat(filepath.Join(blobs, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the cache: %v", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(c.CacheDir, "models--Qwen--Qwen2-Tiny", "snapshots", fh.commit, "model.safetensors")); err == nil {
		t.Error("corrupt file linked into the snapshot")
	}
	fh.with(func() { fh.corrupt = false })
	dir, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
}

func TestAccessErrors(t *testing.T) {
	cases := []struct {
		name     string
		token    string // required by the repo
		clientTk string
		repo     string
		revision string
		gone     string
		kind     error
		want     string
	}{
		{"gated without token", "hf_ok", "", "", "", "", ErrGated, "needs a token: set HF_TOKEN"},
		{"gated with wrong token", "hf_ok", "hf_bad", "", "", "", ErrGated, "has no access"},
		{"missing repo", "", "", "Qwen/Nope", "", "", ErrNotFound, "repository not found"},
		{"missing repo with token", "", "hf_x", "Qwen/Nope", "", "", ErrNotFound, "repository not found"},
		{"missing revision", "", "", "", "v9", "", ErrNotFound, `revision "v9" not found`},
		{"missing file", "", "", "", "", "tokenizer.json", ErrNotFound, "tokenizer.json: file not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fh := newFakeHub(t)
			fh.with(func() { fh.token, fh.goneFile = tc.token, tc.gone })
			c := fh.client(t)
			c.Token = tc.clientTk
			repo := fh.repo
			if tc.repo != "" {
				repo = tc.repo
			}
			_, err := c.Download(context.Background(), repo, tc.revision, nil, nil)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %v containing %q", err, tc.kind, tc.want)
			}
			t.Log(err)
			var he *Error
			if !errors.As(err, &he) || he.Repo != repo {
				t.Errorf("error is not a *Error for %s: %#v", repo, err)
			}
		})
	}
	fh := newFakeHub(t)
	fh.with(func() { fh.token = "hf_ok" })
	c := fh.client(t)
	c.Token = "hf_ok"
	dir, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
}

func TestOffline(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	c.Offline = true
	_, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") || !strings.Contains(err.Error(), "not in the cache") {
		t.Fatalf("offline, not cached: %v", err)
	}
	if _, err := c.LocalOrDownload(context.Background(), fh.repo, "", nil); !errors.Is(err, ErrOffline) {
		t.Fatalf("LocalOrDownload offline, not cached: %v", err)
	}
	fh.with(func() {
		if fh.apiCalls != 0 || len(fh.resolves) != 0 {
			t.Errorf("offline mode made %d API calls and %d downloads", fh.apiCalls, len(fh.resolves))
		}
	})
	c.Offline = false
	want, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Offline = true
	fh.with(func() { fh.apiCalls = 0 })
	if dir, err := c.Download(context.Background(), fh.repo, "", nil, nil); err != nil || dir != want {
		t.Errorf("offline, cached: %s, %v", dir, err)
	}
	if dir, err := c.LocalOrDownload(context.Background(), fh.repo, "", nil); err != nil || dir != want {
		t.Errorf("LocalOrDownload offline, cached: %s, %v", dir, err)
	}
	fh.with(func() {
		if fh.apiCalls != 0 {
			t.Errorf("offline mode made %d API calls", fh.apiCalls)
		}
	})
	// The Hub unreachable (not offline mode): fall back to the cache.
	c.Offline = false
	fh.hub.Close()
	if dir, err := c.Download(context.Background(), fh.repo, "", nil, nil); err != nil || dir != want {
		t.Errorf("unreachable, cached: %s, %v", dir, err)
	}
	c.CacheDir = t.TempDir()
	if _, err := c.Download(context.Background(), fh.repo, "", nil, nil); !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("unreachable, not cached: %v", err)
	}
}

// writePythonCache lays out a cache by hand exactly as huggingface_hub writes
// it, with files of its own.
func writePythonCache(t *testing.T, cacheDir, repoID, commit string, files map[string]string) string {
	t.Helper()
	repoDir := filepath.Join(cacheDir, RepoFolderName(repoID))
	snap := filepath.Join(repoDir, "snapshots", commit)
	for _, d := range []string{filepath.Join(repoDir, "blobs"), filepath.Join(repoDir, "refs"), snap, filepath.Join(cacheDir, ".locks", RepoFolderName(repoID))} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		etag := gitSHA1([]byte(content))
		os.WriteFile(filepath.Join(repoDir, "blobs", etag), []byte(content), 0o644)
		if err := os.Symlink("../../blobs/"+etag, filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commit), 0o644)
	os.WriteFile(filepath.Join(cacheDir, "version.txt"), []byte("1"), 0o644)
	return snap
}

func TestFindsPythonCache(t *testing.T) {
	cache := t.TempDir()
	const commit = "c1b2d3e4f5a6978877665544332211aabbccddee"
	snap := writePythonCache(t, cache, "Qwen/Qwen2-0.5B", commit, map[string]string{
		"config.json": `{"model_type": "qwen2"}`, "tokenizer.json": "{}", "model.safetensors": "weights",
	})
	c := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: cache, Offline: true}
	for _, rev := range []string{"", "main", commit} {
		if dir, ok := c.CachedSnapshot("Qwen/Qwen2-0.5B", rev); !ok || dir != snap {
			t.Errorf("CachedSnapshot(%q) = %s, %v", rev, dir, ok)
		}
	}
	dir, err := c.LocalOrDownload(context.Background(), "Qwen/Qwen2-0.5B", "", nil)
	if err != nil || dir != snap {
		t.Errorf("LocalOrDownload = %s, %v", dir, err)
	}
	// Online, the complete cached copy is used without the network.
	c.Offline = false
	if dir, err := c.LocalOrDownload(context.Background(), "Qwen/Qwen2-0.5B", "", nil); err != nil || dir != snap {
		t.Errorf("LocalOrDownload online = %s, %v", dir, err)
	}
	// A partial cache (Python fetched only config.json) is not enough offline.
	writePythonCache(t, cache, "Qwen/Qwen2-1.5B", commit, map[string]string{"config.json": "{}"})
	c.Offline = true
	_, err = c.LocalOrDownload(context.Background(), "Qwen/Qwen2-1.5B", "", nil)
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "tokenizer.json") {
		t.Errorf("partial cache offline: %v", err)
	}
}

func TestLocalOrDownload(t *testing.T) {
	local := t.TempDir()
	c := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir(), Offline: true}
	if dir, err := c.LocalOrDownload(context.Background(), local, "", nil); err != nil || dir != local {
		t.Errorf("local folder: %s, %v", dir, err)
	}
	if _, err := c.LocalOrDownload(context.Background(), "/no/such/folder", "", nil); err == nil || !strings.Contains(err.Error(), "neither an existing folder") {
		t.Errorf("missing folder: %v", err)
	}
	fh := newFakeHub(t)
	c = fh.client(t)
	dir, err := c.LocalOrDownload(context.Background(), fh.repo, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
	// A repository with only PyTorch weights is refused with the reason.
	fh.with(func() { delete(fh.files, "model.safetensors") })
	c = fh.client(t)
	if _, err := c.LocalOrDownload(context.Background(), fh.repo, "", nil); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("no safetensors: %v", err)
	}
}

func TestDiskFull(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	saved := freeSpace
	t.Cleanup(func() { freeSpace = saved })
	freeSpace = func(string) (int64, bool) { return 1000, true }
	_, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "only 1 kB is free") {
		t.Fatalf("error = %v, want ErrDiskFull", err)
	}
	t.Log(err)
	fh.with(func() {
		if len(fh.resolves) != 0 {
			t.Errorf("downloaded %v despite the full disk", fh.resolves)
		}
	})
	if free, ok := diskFree(c.CacheDir); !ok || free <= 0 {
		t.Errorf("diskFree(%s) = %d, %v", c.CacheDir, free, ok)
	}
}

func TestCancelledDownloadResumes(t *testing.T) {
	fh := newFakeHub(t)
	c := fh.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Download(ctx, fh.repo, "", nil, func(p Progress) {
		if p.File == "model.safetensors" {
			cancel()
		}
	})
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want ErrInterrupted wrapping context.Canceled", err)
	}
	dir, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c, fh, dir)
}

func TestNewClientFromEnvironment(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", home)
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_fromfile\n"), 0o600)
	c := NewClient()
	if c.Endpoint != DefaultEndpoint || c.Token != "hf_fromfile" || c.CacheDir != filepath.Join(home, "hub") || c.Offline {
		t.Errorf("defaults: %+v", c)
	}
	t.Setenv("HF_ENDPOINT", "https://hf-mirror.com/")
	t.Setenv("HF_TOKEN", " hf_env ")
	t.Setenv("HF_HUB_CACHE", "/data/hub")
	t.Setenv("HF_HUB_OFFLINE", "yes")
	c = NewClient()
	if c.Endpoint != "https://hf-mirror.com" || c.Token != "hf_env" || c.CacheDir != "/data/hub" || !c.Offline {
		t.Errorf("from env: %+v", c)
	}
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if Home() != "/xdg/huggingface" {
		t.Errorf("Home() = %s", Home())
	}
	for v, want := range map[string]bool{"1": true, "ON": true, "true": true, "0": false, "": false, "no": false} {
		if isTrue(v) != want {
			t.Errorf("isTrue(%q) != %v", v, want)
		}
	}
}

func TestEngineFiles(t *testing.T) {
	for name, want := range map[string]bool{
		"config.json": true, "generation_config.json": true, "tokenizer.json": true, "tokenizer_config.json": true,
		"vocab.json": true, "merges.txt": true, "chat_template.jinja": true, "special_tokens_map.json": true,
		"model.safetensors": true, "model-00001-of-00002.safetensors": true, "model.safetensors.index.json": true,
		"pytorch_model.bin": false, "model.pt": false, "model.gguf": false, "onnx/model.onnx": false,
		"README.md": false, "sub/config.json": false, ".gitattributes": false,
	} {
		if EngineFiles(name) != want {
			t.Errorf("EngineFiles(%q) = %v", name, !want)
		}
	}
}

func TestValidRepoID(t *testing.T) {
	for id, want := range map[string]bool{
		"Qwen/Qwen2-0.5B": true, "gpt2": true, "org/name_v1.5": true,
		"": false, "a/b/c": false, "../x": false, "a/..": false, "a--b/c": false, "/abs": false, "a/b.": false, "a b/c": false,
	} {
		if ValidRepoID(id) != want {
			t.Errorf("ValidRepoID(%q) = %v", id, !want)
		}
	}
	c := &Client{CacheDir: t.TempDir()}
	if _, err := c.Download(context.Background(), "../etc", "", nil, nil); err == nil {
		t.Error("Download accepted ../etc")
	}
	if _, err := c.Download(context.Background(), "a/b", "../../x", nil, nil); err == nil {
		t.Error("Download accepted revision ../../x")
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1 kB", 1_500_000: "1.5 MB", 3_087_007_744: "3.09 GB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
