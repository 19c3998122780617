package hub

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"qwentune/internal/npmtest"
)

// scanScript prints @huggingface/hub's scanCacheDir of a cache folder.
const scanScript = `
const { scanCacheDir } = await import(process.argv[2]);
const info = await scanCacheDir(process.argv[3]);
info.warnings = info.warnings.map(String);
process.stdout.write(JSON.stringify(info));
`

func TestHuggingFaceHubScansOurCache(t *testing.T) {
	dir, node := npmtest.Module(t, "@huggingface/hub")
	fh := newFakeHub(t)
	c := fh.client(t)
	snap, err := c.Download(context.Background(), fh.repo, "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An interrupted download leaves a .incomplete blob, as Python's does.
	os.WriteFile(filepath.Join(c.CacheDir, RepoFolderName(fh.repo), "blobs", "ffff.incomplete"), []byte("x"), 0o644)
	script := filepath.Join(t.TempDir(), "scan.mjs")
	if err := os.WriteFile(script, []byte(scanScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, script, "file://"+filepath.Join(dir, "dist", "index.mjs"), c.CacheDir).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("node: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var info struct {
		Repos []struct {
			ID        struct{ Name, Type string }
			Revisions []struct {
				CommitOid string
				Path      string
				Refs      []string
				Files     []struct {
					Path string
					Blob struct {
						Path string
						Size int64
					}
				}
			}
		}
		Warnings []string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(info.Warnings) != 0 || len(info.Repos) != 1 {
		t.Fatalf("scanCacheDir: %d repos, warnings %v", len(info.Repos), info.Warnings)
	}
	repo := info.Repos[0]
	if repo.ID.Name != fh.repo || repo.ID.Type != "model" || len(repo.Revisions) != 1 {
		t.Fatalf("scanCacheDir found %+v", repo)
	}
	rev := repo.Revisions[0]
	if rev.CommitOid != fh.commit || rev.Path != snap || !slices.Equal(rev.Refs, []string{"main"}) {
		t.Errorf("revision %s at %s refs %v; want %s at %s refs [main]", rev.CommitOid, rev.Path, rev.Refs, fh.commit, snap)
	}
	var names []string
	for _, f := range rev.Files {
		name := filepath.Base(f.Path)
		names = append(names, name)
		content := fh.files[name]
		etag := gitSHA1(content)
		if fh.lfs[name] {
			etag = sha256Hex(content)
		}
		if f.Blob.Size != int64(len(content)) || filepath.Base(f.Blob.Path) != etag {
			t.Errorf("%s: blob %s of %d bytes, want %s of %d", name, f.Blob.Path, f.Blob.Size, etag, len(content))
		}
	}
	sort.Strings(names)
	if !slices.Equal(names, engineNames) {
		t.Errorf("scanCacheDir lists %v, want %v", names, engineNames)
	}
}

// downloadScript downloads files with @huggingface/hub's downloadFileToCacheDir.
const downloadScript = `
const hub = await import(process.argv[2]);
const [, , , hubUrl, cacheDir, repo, revision, ...paths] = process.argv;
console.debug = () => {};
for (const path of paths) {
	await hub.downloadFileToCacheDir({ repo, path, revision, hubUrl, cacheDir });
}
`

func TestWeFindHuggingFaceHubDownloads(t *testing.T) {
	dir, node := npmtest.Module(t, "@huggingface/hub")
	fh := newFakeHub(t)
	c := fh.client(t)
	script := filepath.Join(t.TempDir(), "download.mjs")
	if err := os.WriteFile(script, []byte(downloadScript), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{script, "file://" + filepath.Join(dir, "dist", "index.mjs"), fh.hub.URL, c.CacheDir, fh.repo, fh.commit}, engineNames...)
	if out, err := exec.Command(node, args...).CombinedOutput(); err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	snap, ok := c.CachedSnapshot(fh.repo, fh.commit)
	if !ok {
		t.Fatal("the snapshot @huggingface/hub downloaded is not found")
	}
	fh.with(func() { fh.resolves = nil })
	got, err := c.Download(context.Background(), fh.repo, fh.commit, nil, nil)
	if err != nil || got != snap {
		t.Fatalf("Download = %s, %v; want %s", got, err, snap)
	}
	fh.with(func() {
		if len(fh.resolves) != 0 {
			t.Errorf("we downloaded %v again although @huggingface/hub had cached them", fh.resolves)
		}
	})
	// Its blobs carry the names we give them.
	for _, name := range engineNames {
		content := fh.files[name]
		etag := gitSHA1(content)
		if fh.lfs[name] {
			etag = sha256Hex(content)
		}
		if _, err := os.Stat(filepath.Join(c.CacheDir, RepoFolderName(fh.repo), "blobs", etag)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if m := MissingFiles(snap); len(m) != 0 {
		t.Errorf("MissingFiles = %v", m)
	}
}
