package hub

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub imitates huggingface.co for one model repository: the revision API,
// /resolve/ serving small files itself (ETag = git blob sha1) and redirecting
// LFS files with a 302 to a second server, the CDN, with X-Linked-Etag,
// X-Linked-Size and X-Repo-Commit headers. Errors carry X-Error-Code like
// the real Hub: 401 RepoNotFound for unknown repos, 401/403 GatedRepo, 404
// RevisionNotFound and EntryNotFound. The CDN honours Range and can be told
// to drop the connection, ignore ranges or corrupt a file.
type fakeHub struct {
	hub, cdn *httptest.Server
	repo     string
	commit   string
	files    map[string][]byte
	lfs      map[string]bool

	mu          sync.Mutex
	token       string // when set, the repo is gated behind this token
	dropAfter   int64  // next CDN response stops after this many bytes
	corrupt     bool   // CDN flips a byte of every file
	ignoreRange bool   // CDN answers ranges with the whole file
	goneFile    string // /resolve/ answers 404 for this file
	apiCalls    int
	resolves    []string // files requested through /resolve/
	hubAuth     []string // Authorization headers the Hub saw
	cdnAuth     []string // Authorization headers the CDN saw
	cdnRanges   []string
	cdnSent     int64
}

const fakeCommit = "0123456789abcdef0123456789abcdef01234567"

func gitSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// lfsPointer is the git-lfs pointer file the repository stores for an LFS file.
func lfsPointer(b []byte) []byte {
	return fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex(b), len(b))
}

// defaultRepoFiles is a small Qwen2-like repository: what the engine needs,
// plus files it must not download.
func defaultRepoFiles() (map[string][]byte, map[string]bool) {
	r := rand.New(rand.NewPCG(7, 8))
	weights := make([]byte, 300_000)
	for i := range weights {
		weights[i] = byte(r.IntN(256))
	}
	files := map[string][]byte{
		"config.json":            []byte(`{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}`),
		"generation_config.json": []byte(`{"bos_token_id": 151643}`),
		"tokenizer.json":         []byte(`{"model": {"type": "BPE"}}`),
		"tokenizer_config.json":  []byte(`{"eos_token": "<|endoftext|>"}`),
		"model.safetensors":      weights,
		"pytorch_model.bin":      []byte("pickle, never downloaded"),
		"README.md":              []byte("# model card"),
		"onnx/model.onnx":        []byte("onnx"),
	}
	return files, map[string]bool{"model.safetensors": true, "pytorch_model.bin": true}
}

func newFakeHub(t *testing.T) *fakeHub {
	t.Helper()
	files, lfs := defaultRepoFiles()
	fh := &fakeHub{repo: "Qwen/Qwen2-Tiny", commit: fakeCommit, files: files, lfs: lfs}
	fh.cdn = httptest.NewServer(http.HandlerFunc(fh.serveCDN))
	fh.hub = httptest.NewServer(http.HandlerFunc(fh.serveHub))
	t.Cleanup(func() {
		fh.hub.Close()
		fh.cdn.Close()
	})
	return fh
}

// with runs f holding the fake's lock, for tests that read or change its
// state while its servers run.
func (fh *fakeHub) with(f func()) {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	f()
}

func (fh *fakeHub) client(t *testing.T) *Client {
	return &Client{Endpoint: fh.hub.URL, CacheDir: t.TempDir(), HTTP: &http.Client{}}
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// authorize applies the Hub's access rules and reports whether to go on. As
// on the real Hub, a gated repository's metadata is public (api) but its
// files are not.
func (fh *fakeHub) authorize(w http.ResponseWriter, r *http.Request, repo string, api bool) bool {
	auth := r.Header.Get("Authorization")
	fh.hubAuth = append(fh.hubAuth, auth)
	switch {
	case repo != fh.repo && auth == "":
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Repository Not Found for url")
	case repo != fh.repo:
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository Not Found for url")
	case api || fh.token == "":
		return true
	case auth == "":
		hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+repo+" is restricted. You must be authenticated to access it.")
	case auth != "Bearer "+fh.token:
		hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+repo+" is restricted and you are not in the authorized list.")
	default:
		return true
	}
	return false
}

func (fh *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/models/"); ok {
		fh.apiCalls++
		parts := strings.SplitN(rest, "/", 4)
		if len(parts) == 4 && parts[2] == "paths-info" && r.Method == http.MethodPost {
			if fh.authorize(w, r, parts[0]+"/"+parts[1], true) {
				fh.servePathsInfo(w, r)
			}
			return
		}
		if len(parts) != 4 || parts[2] != "revision" || r.URL.Query().Get("blobs") != "true" {
			http.Error(w, "bad api call", http.StatusBadRequest)
			return
		}
		if !fh.authorize(w, r, parts[0]+"/"+parts[1], true) {
			return
		}
		if rev := parts[3]; rev != "main" && rev != fh.commit {
			hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
			return
		}
		fh.serveAPI(w)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	name := parts[4]
	fh.resolves = append(fh.resolves, name)
	if !fh.authorize(w, r, parts[0]+"/"+parts[1], false) {
		return
	}
	if rev := parts[3]; rev != "main" && rev != fh.commit {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	content, ok := fh.files[name]
	if !ok || name == fh.goneFile {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	w.Header().Set("X-Repo-Commit", fh.commit)
	if fh.lfs[name] {
		w.Header().Set("ETag", `"`+gitSHA1(lfsPointer(content))+`"`)
		w.Header().Set("X-Linked-Etag", `"`+sha256Hex(content)+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
		w.Header().Set("Location", fh.cdn.URL+"/repos/ab/cd/"+sha256Hex(content)+"?X-Amz-Signature=abc")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitSHA1(content)+`"`)
	http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(content)))
}

func (fh *fakeHub) serveAPI(w http.ResponseWriter) {
	type lfsInfo struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	}
	type sibling struct {
		RFilename string   `json:"rfilename"`
		BlobID    string   `json:"blobId"`
		Size      int      `json:"size"`
		LFS       *lfsInfo `json:"lfs,omitempty"`
	}
	var names []string
	for n := range fh.files {
		names = append(names, n)
	}
	sort.Strings(names)
	var sib []sibling
	for _, n := range names {
		c := fh.files[n]
		s := sibling{RFilename: n, BlobID: gitSHA1(c), Size: len(c)}
		if fh.lfs[n] {
			p := lfsPointer(c)
			s.BlobID = gitSHA1(p)
			s.LFS = &lfsInfo{SHA256: sha256Hex(c), Size: len(c), PointerSize: len(p)}
		}
		sib = append(sib, s)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"_id": "66", "id": fh.repo, "modelId": fh.repo, "private": false, "gated": fh.token != "",
		"sha": fh.commit, "siblings": sib, "tags": []string{"safetensors", "qwen2"},
	})
}

// servePathsInfo answers POST /api/models/{repo}/paths-info/{rev}, which
// @huggingface/hub uses to name blobs.
func (fh *fakeHub) servePathsInfo(w http.ResponseWriter, r *http.Request) {
	var req struct{ Paths []string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out []map[string]any
	for _, p := range req.Paths {
		c, ok := fh.files[p]
		if !ok {
			continue
		}
		info := map[string]any{"type": "file", "path": p, "oid": gitSHA1(c), "size": len(c),
			"lastCommit": map[string]any{"id": fh.commit, "title": "upload", "date": "2024-06-06T00:00:00.000Z"}}
		if fh.lfs[p] {
			ptr := lfsPointer(c)
			info["oid"] = gitSHA1(ptr)
			info["lfs"] = map[string]any{"oid": sha256Hex(c), "size": len(c), "pointerSize": len(ptr)}
		}
		out = append(out, info)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (fh *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	fh.mu.Lock()
	fh.cdnAuth = append(fh.cdnAuth, r.Header.Get("Authorization"))
	fh.cdnRanges = append(fh.cdnRanges, r.Header.Get("Range"))
	sha := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var content []byte
	for n, c := range fh.files {
		if fh.lfs[n] && sha256Hex(c) == sha {
			content = c
		}
	}
	drop, corrupt, ignoreRange := fh.dropAfter, fh.corrupt, fh.ignoreRange
	fh.dropAfter = 0
	fh.mu.Unlock()
	if content == nil {
		http.NotFound(w, r)
		return
	}
	if corrupt {
		content = append([]byte(nil), content...)
		content[len(content)/2] ^= 0xff
	}
	body, status := content, http.StatusOK
	var start int
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start); err == nil && !ignoreRange {
		if start >= len(content) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(content)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		body, status = content[start:], http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(content)-1, len(content)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("ETag", `"`+sha+`"`)
	w.WriteHeader(status)
	if drop > 0 && drop < int64(len(body)) {
		fh.with(func() { fh.cdnSent += drop })
		w.Write(body[:drop])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // cut the connection mid-file
	}
	fh.with(func() { fh.cdnSent += int64(len(body)) })
	w.Write(body)
}
