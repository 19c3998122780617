package formats

import (
	"fmt"
	"strings"
)

// ChatMLTemplate is the Ollama TEMPLATE (a Go template, not Jinja) for
// Qwen2's ChatML, shaped like Ollama's own qwen2 template without tools:
// an optional system turn, each message as
// <|im_start|>{role}\n{content}<|im_end|>\n, and the generation prompt
// <|im_start|>assistant\n; the legacy .Prompt/.Response form is kept for
// old clients.
const ChatMLTemplate = `{{- if .Messages }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}`

// Qwen3Template is the Ollama TEMPLATE for Qwen3's chat template without
// tools: ChatML with no default system turn; the thinking of an assistant
// turn is shown only for the last message (Qwen3's template drops the
// thinking of turns before the last user query); and when the client turns
// thinking off (Ollama's think: false, .IsThinkSet and not .Think) the
// generation prompt ends with the empty think block enable_thinking=false
// gives.
const Qwen3Template = `{{- if .Messages }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if and $last .Thinking }}<think>
{{ .Thinking }}
</think>

{{ end }}{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ if and $.IsThinkSet (not $.Think) }}<think>

</think>

{{ end }}
{{- end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}`

// DefaultSystemPrompt is the system message Qwen2's chat template inserts
// when a conversation has none.
const DefaultSystemPrompt = "You are a helpful assistant."

// ModelfileOptions say what an Ollama Modelfile points at.
type ModelfileOptions struct {
	// GGUF is the merged model file, relative to the Modelfile (FROM).
	GGUF string
	// BaseGGUF and AdapterGGUF, when set, are offered as the commented-out
	// alternative: the base model with the LoRA adapter on top.
	BaseGGUF, AdapterGGUF string
	// System is the SYSTEM prompt; DefaultSystemPrompt when empty, unless
	// Thinking is set.
	System string
	// Thinking selects Qwen3Template for a model whose chat template reads
	// enable_thinking; like that template it adds no default system prompt.
	Thinking bool
}

// Modelfile renders an Ollama Modelfile: FROM the merged GGUF (the path
// that works with every Ollama version), the ADAPTER form as a comment
// (Ollama imports LoRA adapters only for some architectures and recent
// versions are reported to refuse them), the ChatML TEMPLATE, the SYSTEM
// prompt and the stop tokens <|im_end|> and <|endoftext|>.
func Modelfile(o ModelfileOptions) string {
	sys, tmpl := o.System, ChatMLTemplate
	if sys == "" && !o.Thinking {
		sys = DefaultSystemPrompt
	}
	if o.Thinking {
		tmpl = Qwen3Template
	}
	var b strings.Builder
	b.WriteString("# Ollama Modelfile written by QwenTune.\n")
	b.WriteString("#   ollama create my-finetune -f Modelfile\n#   ollama run my-finetune\n")
	fmt.Fprintf(&b, "FROM %s\n", dotSlash(o.GGUF))
	if o.AdapterGGUF != "" {
		b.WriteString("\n# Alternative: the base model with the LoRA adapter applied at load time\n")
		b.WriteString("# (qwentune export --format gguf-adapter). Not every Ollama version accepts ADAPTER;\n")
		b.WriteString("# the merged model above always works.\n")
		fmt.Fprintf(&b, "# FROM %s\n# ADAPTER %s\n", dotSlash(o.BaseGGUF), dotSlash(o.AdapterGGUF))
	}
	fmt.Fprintf(&b, "\nTEMPLATE \"\"\"%s\"\"\"\n", tmpl)
	if sys != "" {
		fmt.Fprintf(&b, "\nSYSTEM \"\"\"%s\"\"\"\n", strings.ReplaceAll(sys, `"""`, `"`))
	}
	b.WriteString("\nPARAMETER stop \"<|im_end|>\"\nPARAMETER stop \"<|endoftext|>\"\n")
	return b.String()
}

// dotSlash makes a relative path explicit (./model.gguf), as Ollama expects
// for files next to the Modelfile.
func dotSlash(p string) string {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") {
		return p
	}
	return "./" + p
}
