// Package hub downloads models from the Hugging Face Hub into the standard
// Hugging Face cache, the one huggingface_hub (Python) and @huggingface/hub
// (JavaScript) use, so a model downloaded by any of them is found by the
// others:
//
//	$HF_HUB_CACHE/models--{org}--{name}/
//	    blobs/<etag>                    file contents; etag = sha256 (LFS) or git sha1
//	    blobs/<etag>.incomplete         a download in progress, resumed with HTTP Range
//	    refs/<revision>                 the commit hash a branch or tag pointed to
//	    snapshots/<commit>/<file>       relative symlink to ../../blobs/<etag>
//
// Downloads are filtered to what the engine reads (EngineFiles), resumable,
// checked against the Hub's SHA-256 (LFS files) or git blob hash (small files),
// written atomically, preceded by a disk-space check, and report progress.
// The environment is read like huggingface_hub: HF_ENDPOINT, HF_TOKEN (or the
// token file), HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE.
package hub

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultEndpoint is the Hub used when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the branch used when no revision is given.
const DefaultRevision = "main"

// Client talks to one Hub endpoint and keeps files in one cache directory.
// The zero value is not usable; build one with NewClient and adjust fields.
type Client struct {
	// Endpoint is the Hub's base URL, without a trailing slash.
	Endpoint string
	// Token, when set, is sent as "Authorization: Bearer" to Endpoint's host,
	// never to another host a download is redirected to.
	Token string
	// CacheDir is the hub cache (HF_HUB_CACHE), holding models--org--name.
	CacheDir string
	// HTTP is the client used for requests; nil means a default with
	// connection and response-header timeouts but no overall timeout.
	HTTP *http.Client
	// Offline forbids network access: only the cache is used.
	Offline bool
}

// NewClient returns a Client configured from the environment as
// huggingface_hub does: HF_ENDPOINT (default https://huggingface.co),
// HF_TOKEN (else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or
// $HF_HOME/token), HF_HOME (default $XDG_CACHE_HOME/huggingface or
// ~/.cache/huggingface), HF_HUB_CACHE (default $HF_HOME/hub) and
// HF_HUB_OFFLINE (1, ON, YES or TRUE).
func NewClient() *Client {
	c := &Client{
		Endpoint: strings.TrimRight(envOr("HF_ENDPOINT", DefaultEndpoint), "/"),
		CacheDir: CacheDir(),
		Offline:  isTrue(os.Getenv("HF_HUB_OFFLINE")),
	}
	c.Token = envToken()
	return c
}

// Home returns the Hugging Face home directory: $HF_HOME, else
// $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func Home() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return expand(h)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expand(x), "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// CacheDir returns the hub cache directory: $HF_HUB_CACHE, else the legacy
// $HUGGINGFACE_HUB_CACHE, else Home()/hub.
func CacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return expand(d)
	}
	if d := os.Getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		return expand(d)
	}
	return filepath.Join(Home(), "hub")
}

func envToken() string {
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(k)); t != "" {
			return t
		}
	}
	p := os.Getenv("HF_TOKEN_PATH")
	if p == "" {
		p = filepath.Join(Home(), "token")
	}
	b, err := os.ReadFile(expand(p))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// expand resolves a leading ~ and $VARS, as Python's expanduser/expandvars.
func expand(p string) string {
	p = os.ExpandEnv(p)
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[1:])
		}
	}
	return p
}

var defaultHTTP = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   15 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	ForceAttemptHTTP2:     true,
}}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// Sentinel errors, for errors.Is; every error returned by this package that
// a user can act on wraps one of them inside an *Error with a full message.
var (
	// ErrOffline: no network (HF_HUB_OFFLINE set, or the Hub unreachable)
	// and the model is not in the cache.
	ErrOffline = errors.New("offline")
	// ErrNotFound: the repository, revision or file does not exist (or is
	// private and no valid token was given).
	ErrNotFound = errors.New("not found")
	// ErrGated: the Hub refused access (401/403); a token is needed.
	ErrGated = errors.New("access denied")
	// ErrDiskFull: not enough free space for the download.
	ErrDiskFull = errors.New("not enough disk space")
	// ErrInterrupted: a download stopped part way; the partial file is kept
	// and the next Download resumes it.
	ErrInterrupted = errors.New("download interrupted")
	// ErrChecksum: a downloaded file does not match the Hub's hash; the
	// partial file is removed.
	ErrChecksum = errors.New("checksum mismatch")
)

// Error is a failure with the repository, revision and file it concerns.
type Error struct {
	// Kind is one of the sentinel errors above.
	Kind     error
	Repo     string
	Revision string
	File     string
	// Msg says what happened and what to do.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error formats the failure as "hub: repo@revision: file: message: cause".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("hub: ")
	b.WriteString(e.Repo)
	if e.Revision != "" && e.Revision != DefaultRevision {
		b.WriteString("@" + e.Revision)
	}
	if e.File != "" {
		b.WriteString(": " + e.File)
	}
	b.WriteString(": " + e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the sentinel kind and the cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// repoIDPattern follows huggingface_hub's validate_repo_id: an optional
// namespace and a name of letters, digits, '-', '_' and '.'.
var repoIDPattern = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidRepoID reports whether id is a well-formed Hub repository id such as
// "Qwen/Qwen2-0.5B".
func ValidRepoID(id string) bool {
	return len(id) <= 96 && repoIDPattern.MatchString(id) && !strings.Contains(id, "--") &&
		!strings.Contains(id, "..") && !strings.HasSuffix(id, ".") && !strings.HasSuffix(id, "-")
}

func checkRepo(repoID, revision string) error {
	if !ValidRepoID(repoID) {
		return fmt.Errorf("hub: %q is not a valid repository id (expected org/name, e.g. Qwen/Qwen2-0.5B)", repoID)
	}
	if !safeRelPath(revision) {
		return fmt.Errorf("hub: %s: invalid revision %q", repoID, revision)
	}
	return nil
}

// safeRelPath reports whether p is a clean relative slash path that stays
// inside the directory it is joined to.
func safeRelPath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || path.Clean(p) != p {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			return false
		}
	}
	return true
}

// EngineFiles is the default download filter: the files QwenTune reads from
// a model repository, at its top level — config and generation config, the
// tokenizer files, the chat template and the safetensors weights with their
// index. PyTorch .bin/.pt, GGUF and ONNX files are skipped.
func EngineFiles(name string) bool {
	if strings.Contains(name, "/") {
		return false
	}
	switch name {
	case "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
		"vocab.json", "merges.txt", "chat_template.jinja", "special_tokens_map.json",
		"model.safetensors.index.json":
		return true
	}
	return strings.HasSuffix(name, ".safetensors")
}

// freeSpace measures the free bytes on the file system holding a folder;
// tests replace it to simulate a full disk.
var freeSpace = diskFree
