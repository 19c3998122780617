package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"qwentune/internal/atomicfile"
)

// modelMaxLength is Qwen2's context length, written to generated tokenizer_config.json files.
const modelMaxLength = 32768

// applyConfig reads tokenizer_config.json: the eos, pad and bos tokens and the chat template.
func (t *Tokenizer) applyConfig(data []byte, name string) error {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(data, &cfg); err != nil {
		return jsonError(name, data, err)
	}
	if cfg == nil {
		return fmt.Errorf("%s: not a JSON object", name)
	}
	tokenField := func(field string) (string, int, error) {
		s, err := specialTokenString(cfg[field])
		if err != nil || s == "" {
			return "", -1, err
		}
		id, ok := t.TokenID(s)
		if !ok {
			return "", -1, fmt.Errorf("%q is not a token", s)
		}
		return s, id, nil
	}
	eos, eosID, err := tokenField("eos_token")
	if err != nil {
		return fmt.Errorf("%s: eos_token: %w", name, err)
	}
	if eosID >= 0 {
		t.eosToken, t.eos, t.pad = eos, eosID, eosID
	}
	if _, padID, err := tokenField("pad_token"); err != nil {
		return fmt.Errorf("%s: pad_token: %w", name, err)
	} else if padID >= 0 {
		t.pad = padID
	}
	bos, _, err := tokenField("bos_token")
	if err != nil {
		return fmt.Errorf("%s: bos_token: %w", name, err)
	}
	t.bosToken = bos
	tmpl, err := chatTemplateField(cfg["chat_template"])
	if err != nil {
		return fmt.Errorf("%s: chat_template: %w", name, err)
	}
	t.chatTemplate = tmpl
	t.configFile = data
	return nil
}

// specialTokenString reads a special-token field: null, a string, or an AddedToken object.
func specialTokenString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", errors.New("want a string or an object with \"content\"")
	}
	return *obj.Content, nil
}

// chatTemplateField reads chat_template: a string, or a list of {name, template} from which the one
// named "default" is taken (else the first), as transformers does when no name is asked for.
func chatTemplateField(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", errors.New("want a string or a list of {name, template}")
	}
	if len(list) == 0 {
		return "", nil
	}
	for _, e := range list {
		if e.Name == "default" {
			return e.Template, nil
		}
	}
	return list[0].Template, nil
}

// SaveFiles writes tokenizer.json and tokenizer_config.json to dir (and chat_template.jinja when the
// model came with one), copying the files' bytes as they were loaded. A config that names no chat
// template gets ChatTemplate() added, so other tools format chats as we did; a tokenizer parsed
// without a config gets a Qwen2-style one.
func (t *Tokenizer) SaveFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := t.configFile
	switch {
	case cfg == nil:
		var err error
		if cfg, err = t.defaultConfig(); err != nil {
			return err
		}
	case t.templateFile == nil && !hasKey(cfg, "chat_template"):
		var err error
		if cfg, err = insertKey(cfg, "chat_template", t.ChatTemplate()); err != nil {
			return fmt.Errorf("%s: tokenizer_config.json: %w", t.name, err)
		}
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer.json"), t.tokenizerFile); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg); err != nil {
		return err
	}
	if t.templateFile != nil {
		return atomicfile.WriteFile(filepath.Join(dir, "chat_template.jinja"), t.templateFile)
	}
	return nil
}

func hasKey(obj []byte, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}

// insertKey adds "key": value as the last member of the JSON object obj, keeping its bytes otherwise.
func insertKey(obj []byte, key, value string) ([]byte, error) {
	trimmed := bytes.TrimRight(obj, " \t\r\n")
	if len(trimmed) == 0 || trimmed[len(trimmed)-1] != '}' {
		return nil, errors.New("not a JSON object")
	}
	body := bytes.TrimRight(trimmed[:len(trimmed)-1], " \t\r\n")
	val, err := marshalNoEscape(value)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(body)
	if len(body) > 0 && body[len(body)-1] != '{' {
		out.WriteByte(',')
	}
	fmt.Fprintf(&out, "\n  %s: %s\n}\n", strconv.Quote(key), val)
	if !json.Valid(out.Bytes()) {
		return nil, errors.New("not a JSON object")
	}
	return out.Bytes(), nil
}

// marshalNoEscape is json.Marshal without the HTML escaping of <, > and &, as Python writes JSON.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// addedTokenConfig is an entry of tokenizer_config.json's added_tokens_decoder.
type addedTokenConfig struct {
	Content    string `json:"content"`
	LStrip     bool   `json:"lstrip"`
	Normalized bool   `json:"normalized"`
	RStrip     bool   `json:"rstrip"`
	SingleWord bool   `json:"single_word"`
	Special    bool   `json:"special"`
}

// defaultConfig is the tokenizer_config.json Qwen2 ships, for this tokenizer's tokens.
func (t *Tokenizer) defaultConfig() ([]byte, error) {
	decoder := make(map[string]addedTokenConfig, len(t.added))
	extra := []string{}
	for _, a := range t.AddedTokens() {
		decoder[strconv.Itoa(a.ID)] = addedTokenConfig{a.Content, a.LStrip, a.Normalized, a.RStrip, a.SingleWord, a.Special}
		if a.Special && a.ID != t.eos && a.ID != t.pad {
			extra = append(extra, a.Content)
		}
	}
	var bos *string
	if t.bosToken != "" {
		bos = &t.bosToken
	}
	cfg := struct {
		AddPrefixSpace          bool                        `json:"add_prefix_space"`
		AddedTokensDecoder      map[string]addedTokenConfig `json:"added_tokens_decoder"`
		AdditionalSpecialTokens []string                    `json:"additional_special_tokens"`
		BOSToken                *string                     `json:"bos_token"`
		ChatTemplate            string                      `json:"chat_template"`
		CleanUpSpaces           bool                        `json:"clean_up_tokenization_spaces"`
		EOSToken                string                      `json:"eos_token"`
		Errors                  string                      `json:"errors"`
		ModelMaxLength          int                         `json:"model_max_length"`
		PadToken                string                      `json:"pad_token"`
		SplitSpecialTokens      bool                        `json:"split_special_tokens"`
		TokenizerClass          string                      `json:"tokenizer_class"`
		UnkToken                *string                     `json:"unk_token"`
	}{
		AddedTokensDecoder:      decoder,
		AdditionalSpecialTokens: extra,
		BOSToken:                bos,
		ChatTemplate:            t.ChatTemplate(),
		EOSToken:                t.Token(t.eos),
		Errors:                  "replace",
		ModelMaxLength:          modelMaxLength,
		PadToken:                t.Token(t.pad),
		TokenizerClass:          "Qwen2Tokenizer",
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
