package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const userAgent = "qwentune/1 (go; hub client compatible with huggingface_hub cache)"

// RemoteFile is one file of a repository at a commit, as the Hub lists it.
type RemoteFile struct {
	// Name is the path in the repository, with forward slashes.
	Name string
	// Size is the file's size in bytes (the real size for LFS files).
	Size int64
	// BlobID is the git blob hash (sha1) of the file, or of its LFS pointer.
	BlobID string
	// SHA256 is the content hash of an LFS file, empty for a plain git file.
	SHA256 string
}

// LFS reports whether the file is stored with Git LFS (or Xet).
func (f RemoteFile) LFS() bool { return f.SHA256 != "" }

// Etag returns the name of the file's blob in the cache: the sha256 of an
// LFS file, else the git blob hash, exactly as huggingface_hub names it.
func (f RemoteFile) Etag() string {
	if f.LFS() {
		return f.SHA256
	}
	return f.BlobID
}

// Progress reports a running download.
type Progress struct {
	// File is the repository path of the file being downloaded.
	File string
	// FileIndex counts files from 1 to Files.
	FileIndex, Files int
	// FileDone and FileSize are bytes of the current file.
	FileDone, FileSize int64
	// Done and Total are bytes over every file this download fetches;
	// parts kept from an interrupted download count as done.
	Done, Total int64
	// Speed is the average rate of this session in bytes per second.
	Speed float64
	// ETA is the estimated time left, or -1 while unknown.
	ETA time.Duration
}

type apiModel struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
		BlobID    string `json:"blobId"`
		Size      *int64 `json:"size"`
		LFS       *struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// Resolve asks the Hub which commit revision (a branch, tag or commit hash;
// "" means main) of repoID points to and which files it holds, via
// GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true.
func (c *Client) Resolve(ctx context.Context, repoID, revision string) (commit string, files []RemoteFile, err error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := checkRepo(repoID, revision); err != nil {
		return "", nil, err
	}
	if c.Offline {
		return "", nil, &Error{Kind: ErrOffline, Repo: repoID, Revision: revision, Msg: "offline mode (HF_HUB_OFFLINE) forbids asking the Hub"}
	}
	u := c.Endpoint + "/api/models/" + repoID + "/revision/" + url.PathEscape(revision) + "?blobs=true"
	resp, _, err := c.get(ctx, u, nil)
	if err != nil {
		return "", nil, c.netError(ctx, repoID, revision, "", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, c.statusError(resp, repoID, revision, "")
	}
	var m apiModel
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&m); err != nil {
		return "", nil, fmt.Errorf("hub: %s: reading the Hub's answer: %w", repoID, err)
	}
	if !commitPattern.MatchString(m.SHA) {
		return "", nil, fmt.Errorf("hub: %s: the Hub's answer has no valid commit hash (sha %q)", repoID, m.SHA)
	}
	for _, s := range m.Siblings {
		f := RemoteFile{Name: s.RFilename, BlobID: s.BlobID}
		if s.Size != nil {
			f.Size = *s.Size
		}
		if s.LFS != nil {
			f.SHA256, f.Size = strings.ToLower(s.LFS.SHA256), s.LFS.Size
		}
		if !safeRelPath(f.Name) {
			return "", nil, fmt.Errorf("hub: %s: the Hub lists an unsafe file name %q", repoID, f.Name)
		}
		if f.Size < 0 || (f.LFS() && !sha256Pattern(f.SHA256)) || (!f.LFS() && !commitPattern.MatchString(f.BlobID)) {
			return "", nil, fmt.Errorf("hub: %s: the Hub's file list lacks the size or hash of %q", repoID, f.Name)
		}
		files = append(files, f)
	}
	return m.SHA, files, nil
}

func sha256Pattern(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Download makes sure the files of repoID at revision ("" means main) that
// want selects (nil means EngineFiles) are in the cache, downloading what is
// missing, and returns the snapshot folder. Files already cached — by us, by
// huggingface_hub or by @huggingface/hub — are not fetched again, and a
// download interrupted earlier resumes where it stopped. When offline, or
// when the Hub cannot be reached, the cached snapshot is returned if there is
// one (it may lack files; see MissingFiles), else an ErrOffline error.
// Progress, if not nil, is called from the calling goroutine.
func (c *Client) Download(ctx context.Context, repoID, revision string, want func(name string) bool, progress func(Progress)) (snapshotDir string, err error) {
	dir, _, err := c.download(ctx, repoID, revision, want, progress)
	return dir, err
}

// download is Download that also says whether it fell back to the cache
// without reaching the Hub.
func (c *Client) download(ctx context.Context, repoID, revision string, want func(string) bool, progress func(Progress)) (string, bool, error) {
	if revision == "" {
		revision = DefaultRevision
	}
	if err := checkRepo(repoID, revision); err != nil {
		return "", false, err
	}
	if want == nil {
		want = EngineFiles
	}
	commit, files, err := c.Resolve(ctx, repoID, revision)
	if errors.Is(err, ErrOffline) {
		if dir, ok := c.CachedSnapshot(repoID, revision); ok {
			return dir, true, nil
		}
		var he *Error
		errors.As(err, &he)
		return "", false, &Error{Kind: ErrOffline, Repo: repoID, Revision: revision, Err: he.Err,
			Msg: he.Msg + ", and the model is not in the cache " + c.CacheDir}
	}
	if err != nil {
		return "", false, err
	}
	repoDir := c.repoDir(repoID)
	snapshot := filepath.Join(repoDir, "snapshots", commit)
	blobs := filepath.Join(repoDir, "blobs")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return "", false, fmt.Errorf("hub: %w", err)
	}
	if err := writeRef(repoDir, revision, commit); err != nil {
		return "", false, fmt.Errorf("hub: %w", err)
	}
	var todo []RemoteFile
	selected := 0
	var need, resumed, total int64
	for _, f := range files {
		if !want(f.Name) {
			continue
		}
		selected++
		if st, err := os.Stat(filepath.Join(snapshot, filepath.FromSlash(f.Name))); err == nil && st.Size() == f.Size {
			continue
		}
		if st, err := os.Stat(filepath.Join(blobs, f.Etag())); err == nil && st.Size() == f.Size {
			if err := linkBlob(repoDir, commit, f.Name, f.Etag()); err != nil {
				return "", false, fmt.Errorf("hub: %w", err)
			}
			continue
		}
		todo = append(todo, f)
		total += f.Size
		part := int64(0)
		if st, err := os.Stat(filepath.Join(blobs, f.Etag()+".incomplete")); err == nil && st.Size() <= f.Size {
			part = st.Size()
		}
		resumed += part
		need += f.Size - part
	}
	if selected == 0 {
		return "", false, &Error{Kind: ErrNotFound, Repo: repoID, Revision: revision,
			Msg: "the repository has none of the files QwenTune reads (config.json, tokenizer.json, *.safetensors)"}
	}
	if free, ok := freeSpace(blobs); ok && need > free {
		return "", false, &Error{Kind: ErrDiskFull, Repo: repoID, Revision: revision,
			Msg: fmt.Sprintf("the download needs %s but only %s is free in %s: free some space or set HF_HUB_CACHE to another disk", byteSize(need), byteSize(free), c.CacheDir)}
	}
	t := &tracker{fn: progress, start: time.Now()}
	t.p.Files, t.p.Total, t.p.Done = len(todo), total, resumed
	for i, f := range todo {
		if err := c.fetch(ctx, repoID, commit, repoDir, f, i+1, t); err != nil {
			return "", false, err
		}
	}
	return snapshot, false, nil
}

// fetch downloads one file into blobs/<etag>, resuming blobs/<etag>.incomplete,
// verifies it and links it into the snapshot.
func (c *Client) fetch(ctx context.Context, repoID, commit, repoDir string, f RemoteFile, index int, t *tracker) error {
	fail := func(kind error, msg string, cause error) error {
		return &Error{Kind: kind, Repo: repoID, Revision: commit, File: f.Name, Msg: msg, Err: cause}
	}
	blob := filepath.Join(repoDir, "blobs", f.Etag())
	part := blob + ".incomplete"
	h := newHasher(f)
	var offset int64
	if st, err := os.Stat(part); err == nil {
		offset = st.Size()
		if offset > f.Size || hashFile(h, part) != nil {
			os.Remove(part)
			offset, h = 0, newHasher(f)
		}
	}
	t.startFile(f, index, offset)
	var body io.Reader
	if offset < f.Size {
		u := c.Endpoint + "/" + repoID + "/resolve/" + commit + "/" + escapePath(f.Name)
		hdr := http.Header{"Accept-Encoding": {"identity"}}
		if offset > 0 {
			hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		resp, hubHeader, err := c.get(ctx, u, hdr)
		if err != nil {
			return c.interrupted(ctx, fail, offset, f.Size, err)
		}
		defer resp.Body.Close()
		if linked := normalizeEtag(hubHeader.Get("X-Linked-Etag")); f.LFS() && linked != "" && linked != f.SHA256 {
			return fail(ErrChecksum, fmt.Sprintf("the Hub serves sha256 %s but listed %s; run again", linked, f.SHA256), nil)
		}
		switch resp.StatusCode {
		case http.StatusPartialContent:
			var start int64
			if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != offset {
				return fail(ErrInterrupted, fmt.Sprintf("the server resumed at the wrong place (%q, wanted byte %d); run again", resp.Header.Get("Content-Range"), offset), nil)
			}
		case http.StatusOK:
			if offset > 0 {
				// The server ignored the range: start over.
				t.add(-offset)
				offset, h = 0, newHasher(f)
				if err := os.Truncate(part, 0); err != nil {
					return fail(ErrInterrupted, "cannot restart the partial file", err)
				}
			}
		default:
			return c.statusError(resp, repoID, commit, f.Name)
		}
		body = resp.Body
	}
	out, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(ErrInterrupted, "cannot write to the cache", err)
	}
	got := offset
	if body != nil {
		buf := make([]byte, 1<<20)
		for {
			n, rerr := body.Read(buf)
			if n > 0 {
				if _, werr := out.Write(buf[:n]); werr != nil {
					out.Close()
					return fail(ErrDiskFull, "writing to the cache failed: free some space and run again to resume", werr)
				}
				h.Write(buf[:n])
				got += int64(n)
				t.add(int64(n))
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				out.Close()
				return c.interrupted(ctx, fail, got, f.Size, rerr)
			}
			if got > f.Size {
				break
			}
		}
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fail(ErrInterrupted, "writing to the cache failed", err)
	}
	if err := out.Close(); err != nil {
		return fail(ErrInterrupted, "writing to the cache failed", err)
	}
	if got < f.Size {
		return fail(ErrInterrupted, fmt.Sprintf("the server sent only %s of %s: run again to resume", byteSize(got), byteSize(f.Size)), nil)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); got != f.Size || sum != f.Etag() {
		os.Remove(part)
		algo := "git sha1"
		if f.LFS() {
			algo = "sha256"
		}
		return fail(ErrChecksum, fmt.Sprintf("the downloaded file (%d bytes, %s %s) does not match the Hub's (%d bytes, %s); it was removed: run again to download it afresh", got, algo, sum, f.Size, f.Etag()), nil)
	}
	if err := os.Rename(part, blob); err != nil {
		return fail(ErrInterrupted, "cannot store the file in the cache", err)
	}
	if err := linkBlob(repoDir, commit, f.Name, f.Etag()); err != nil {
		return fail(ErrInterrupted, "cannot link the file into the snapshot", err)
	}
	t.endFile()
	return nil
}

// interrupted builds the error for a transfer that stopped after got bytes.
func (c *Client) interrupted(ctx context.Context, fail func(error, string, error) error, got, size int64, cause error) error {
	if ctx.Err() != nil {
		cause = ctx.Err()
	}
	return fail(ErrInterrupted, fmt.Sprintf("stopped after %s of %s; the part is kept: run again to resume", byteSize(got), byteSize(size)), cause)
}

// newHasher returns the hash the Hub names a file by: sha256 of the content
// for LFS files, the git blob hash sha1("blob <size>\0" + content) otherwise.
func newHasher(f RemoteFile) hash.Hash {
	if f.LFS() {
		return sha256.New()
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", f.Size)
	return h
}

func hashFile(h hash.Hash, path string) error {
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(h, r)
	return err
}

// normalizeEtag strips the weak prefix and quotes of an ETag header.
func normalizeEtag(e string) string {
	return strings.Trim(strings.TrimPrefix(e, "W/"), `"`)
}

func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// get performs a GET, following redirects itself so that the token goes only
// to the Hub's own host: a redirect to a CDN host is followed without it. It
// returns the final response and the headers of the first one, where the Hub
// puts X-Repo-Commit, X-Linked-Etag and X-Linked-Size.
func (c *Client) get(ctx context.Context, rawURL string, hdr http.Header) (*http.Response, http.Header, error) {
	hc := *c.httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	origin, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	u := origin
	var first http.Header
	for range 10 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, nil, err
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", userAgent)
		if c.Token != "" && u.Scheme == origin.Scheme && u.Host == origin.Host {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, nil, err
		}
		if first == nil {
			first = resp.Header
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc, err := resp.Location()
			resp.Body.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("redirect without a valid Location: %w", err)
			}
			u = loc
			continue
		}
		return resp, first, nil
	}
	return nil, nil, fmt.Errorf("too many redirects from %s", rawURL)
}

// netError classifies a request that got no response.
func (c *Client) netError(ctx context.Context, repoID, revision, file string, err error) error {
	if ctx.Err() != nil {
		return &Error{Kind: ErrInterrupted, Repo: repoID, Revision: revision, File: file, Msg: "cancelled", Err: ctx.Err()}
	}
	return &Error{Kind: ErrOffline, Repo: repoID, Revision: revision, File: file, Msg: "cannot reach " + c.Endpoint, Err: err}
}

// statusError turns a Hub error response into an *Error, reading the Hub's
// X-Error-Code and X-Error-Message headers as huggingface_hub does.
func (c *Client) statusError(resp *http.Response, repoID, revision, file string) error {
	code := resp.Header.Get("X-Error-Code")
	detail := resp.Header.Get("X-Error-Message")
	if detail == "" {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		var j struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &j) == nil && j.Error != "" {
			detail = j.Error
		}
	}
	e := &Error{Repo: repoID, Revision: revision, File: file}
	if detail != "" {
		e.Err = errors.New(detail)
	}
	tokenHint := "it needs a token: set HF_TOKEN (or run `hf auth login`) after accepting its terms at " + c.Endpoint + "/" + repoID
	if c.Token != "" {
		tokenHint = "your token (HF_TOKEN) has no access to it: accept its terms at " + c.Endpoint + "/" + repoID + " or use a token with read access"
	}
	switch {
	case code == "RevisionNotFound":
		e.Kind, e.Msg = ErrNotFound, fmt.Sprintf("revision %q not found", revision)
	case code == "EntryNotFound" || (resp.StatusCode == http.StatusNotFound && file != ""):
		e.Kind, e.Msg = ErrNotFound, "file not found in the repository"
	case code == "GatedRepo":
		e.Kind, e.Msg = ErrGated, "this model is gated: "+tokenHint
	case code == "RepoNotFound" || resp.StatusCode == http.StatusNotFound:
		e.Kind, e.Msg = ErrNotFound, "repository not found on "+c.Endpoint+" (check the id"
		if c.Token == "" {
			e.Msg += "; if it is private, set HF_TOKEN"
		}
		e.Msg += ")"
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.Kind, e.Msg = ErrGated, "access denied: "+tokenHint
	default:
		return fmt.Errorf("hub: %s: %s: HTTP %s: %v", repoID, resp.Request.URL.Redacted(), resp.Status, e.Err)
	}
	return e
}

// byteSize formats n bytes for people: "512 B", "1.5 MB", "3.09 GB".
func byteSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), []string{"kB", "MB", "GB", "TB", "PB"}
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.3g %s", v, suffix[i])
}

// tracker turns byte counts into Progress reports, at most every 100 ms
// except at the start and end of each file.
type tracker struct {
	fn      func(Progress)
	p       Progress
	start   time.Time
	fetched int64
	last    time.Time
}

func (t *tracker) startFile(f RemoteFile, index int, offset int64) {
	t.p.File, t.p.FileIndex, t.p.FileSize, t.p.FileDone = f.Name, index, f.Size, offset
	t.report(true)
}

func (t *tracker) add(n int64) {
	t.p.FileDone += n
	t.p.Done += n
	if n > 0 {
		t.fetched += n
	}
	t.report(false)
}

func (t *tracker) endFile() { t.report(true) }

func (t *tracker) report(force bool) {
	if t.fn == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(t.last) < 100*time.Millisecond {
		return
	}
	t.last = now
	t.p.Speed, t.p.ETA = 0, -1
	if el := now.Sub(t.start).Seconds(); el > 0 && t.fetched > 0 {
		t.p.Speed = float64(t.fetched) / el
		t.p.ETA = time.Duration(float64(t.p.Total-t.p.Done) / t.p.Speed * float64(time.Second))
	}
	t.fn(t.p)
}

// LocalOrDownload resolves a model name to a folder: name itself when it is
// an existing folder; else, for a Hub id, its cached snapshot at revision when
// that has everything the engine needs (no network); else a Download of the
// missing files (unless offline). The folder returned always passes
// MissingFiles.
func (c *Client) LocalOrDownload(ctx context.Context, name, revision string, progress func(Progress)) (string, error) {
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return name, nil
	}
	if revision == "" {
		revision = DefaultRevision
	}
	if !ValidRepoID(name) {
		return "", fmt.Errorf("hub: %q is neither an existing folder nor a Hub model id like Qwen/Qwen2-0.5B", name)
	}
	cached, ok := c.CachedSnapshot(name, revision)
	if ok && len(MissingFiles(cached)) == 0 {
		return cached, nil
	}
	if c.Offline {
		msg := "offline mode (HF_HUB_OFFLINE) and the model is not in the cache " + c.CacheDir
		if ok {
			msg = "offline mode (HF_HUB_OFFLINE) and the cached copy lacks " + strings.Join(MissingFiles(cached), ", ")
		}
		return "", &Error{Kind: ErrOffline, Repo: name, Revision: revision, Msg: msg}
	}
	dir, stale, err := c.download(ctx, name, revision, nil, progress)
	if err != nil {
		return "", err
	}
	if missing := MissingFiles(dir); len(missing) > 0 {
		if stale {
			return "", &Error{Kind: ErrOffline, Repo: name, Revision: revision,
				Msg: "cannot reach " + c.Endpoint + " and the cached copy lacks " + strings.Join(missing, ", ")}
		}
		return "", &Error{Kind: ErrNotFound, Repo: name, Revision: revision,
			Msg: "the repository lacks " + strings.Join(missing, ", ") + " (QwenTune reads safetensors weights, not .bin/.gguf)"}
	}
	return dir, nil
}

// LocalOrDownload is Client.LocalOrDownload with a client configured from the
// environment (NewClient).
func LocalOrDownload(ctx context.Context, name, revision string, progress func(Progress)) (string, error) {
	return NewClient().LocalOrDownload(ctx, name, revision, progress)
}
