package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"qwentune/internal/jsonkeys"
)

// lineReader yields the lines of a JSONL file with their numbers, without
// the line end (LF or CRLF) and without a leading UTF-8 byte order mark.
type lineReader struct {
	r    *bufio.Reader
	line int
}

func (lr *lineReader) next() (string, bool, error) {
	s, err := lr.r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	if s == "" && err != nil {
		return "", false, nil
	}
	lr.line++
	if len(s) > MaxLineBytes {
		return "", false, fmt.Errorf("%w: %d bytes, more than the limit of %d", errLineTooLong, len(s), MaxLineBytes)
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	if lr.line == 1 {
		s = strings.TrimPrefix(s, "\uFEFF")
	}
	return s, true, nil
}

// ReadRows parses a JSONL dataset. The format is detected from the first
// valid row; a row of another format is an error. Blank lines are skipped.
// It returns the good rows, the format ("" when no row is valid) and, as an
// ErrorList, every bad row; any other error is an I/O error.
func ReadRows(r io.Reader, name string) ([]Row, Format, error) {
	lr := &lineReader{r: bufio.NewReader(r)}
	var (
		rows     []Row
		errs     ErrorList
		format   Format
		formatAt int
	)
	for {
		line, ok, err := lr.next()
		if errors.Is(err, errLineTooLong) {
			return rows, format, fmt.Errorf("%s:%d: %w", name, lr.line, err)
		}
		if err != nil {
			return rows, format, fmt.Errorf("%s:%d: %w", name, lr.line+1, err)
		}
		if !ok {
			break
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		row, rerr := parseRow(line, format)
		if rerr == nil && format == "" {
			format, formatAt = row.Format, lr.line
		}
		if rerr == nil && row.Format != format {
			rerr = &Error{Message: fmt.Sprintf("row is %s but the file is %s (detected from line %d)",
				row.Format.Describe(), format.Describe(), formatAt)}
		}
		if rerr != nil {
			rerr.File, rerr.Line = name, lr.line
			if rerr.Message == notDialogue {
				rerr.Message += fmt.Sprintf(" like line %d", formatAt)
			}
			errs = append(errs, rerr)
			continue
		}
		row.Line = lr.line
		rows = append(rows, row)
	}
	if len(errs) > 0 {
		return rows, format, errs
	}
	return rows, format, nil
}

const notDialogue = `not "User: ... Assistant: ..." turns`

// parseRow reads one JSON line. fileFormat is the format detected so far
// ("" before the first valid row); it decides whether a "text" row is plain
// text or User:/Assistant: dialogue.
func parseRow(line string, fileFormat Format) (Row, *Error) {
	if err := checkJSONObject(line); err != nil {
		return Row{}, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return Row{}, &Error{Message: "invalid JSON: " + err.Error()}
	}
	if key, where, dup := jsonkeys.Duplicate([]byte(line)); dup {
		return Row{}, &Error{Message: jsonkeys.Describe(key, where)}
	}
	has := func(k string) bool { _, ok := obj[k]; return ok }
	switch {
	case has("messages"):
		return parseMessages(obj["messages"])
	case has("prompt") || has("completion"):
		return parsePromptCompletion(obj)
	case has("instruction") || has("output"):
		return parseInstruction(obj)
	case has("text"):
		return parseText(obj["text"], fileFormat)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys)
	got := "no keys"
	if len(keys) > 0 {
		if len(keys) > 6 {
			keys = append(keys[:6], "...")
		}
		got = "keys " + strings.Join(keys, ", ")
	}
	return Row{}, &Error{Message: `unknown row format: expected "text", "prompt" and "completion", ` +
		`"instruction" and "output", or "messages"; got ` + got}
}

// checkJSONObject says what is wrong with a line that should hold one JSON
// object: invalid UTF-8, invalid JSON (with the column), another JSON type.
func checkJSONObject(line string) *Error {
	if !utf8.ValidString(line) {
		for i := 0; i < len(line); {
			r, size := utf8.DecodeRuneInString(line[i:])
			if r == utf8.RuneError && size == 1 {
				return &Error{Message: fmt.Sprintf("invalid UTF-8 at byte %d", i+1)}
			}
			i += size
		}
	}
	raw := []byte(line)
	if !json.Valid(raw) {
		var v any
		var se *json.SyntaxError
		if err := json.Unmarshal(raw, &v); errors.As(err, &se) {
			return &Error{Message: fmt.Sprintf("invalid JSON at column %d: %s", se.Offset, se.Error())}
		}
		return &Error{Message: "invalid JSON"}
	}
	if t := jsonType(bytes.TrimSpace(raw)); t != "object" {
		return &Error{Message: "expected a JSON object, got " + t}
	}
	return nil
}

// jsonType names the JSON type of a valid value by its first byte.
func jsonType(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// stringField decodes obj[key] as a string; required fields must be
// present, nonEmpty ones must hold more than whitespace.
func stringField(obj map[string]json.RawMessage, key string, required, nonEmpty bool) (string, *Error) {
	raw, ok := obj[key]
	if !ok {
		if required {
			return "", &Error{Message: fmt.Sprintf("missing %q", key)}
		}
		return "", nil
	}
	return decodeString(raw, strconv.Quote(key), nonEmpty)
}

func decodeString(raw json.RawMessage, field string, nonEmpty bool) (string, *Error) {
	var s string
	if jsonType(bytes.TrimSpace(raw)) != "string" || json.Unmarshal(raw, &s) != nil {
		return "", &Error{Field: field, Message: "must be a string, got " + jsonType(bytes.TrimSpace(raw))}
	}
	if nonEmpty && strings.TrimSpace(s) == "" {
		return "", &Error{Field: field, Message: "is empty"}
	}
	return s, nil
}

func parseText(raw json.RawMessage, fileFormat Format) (Row, *Error) {
	text, err := decodeString(raw, `"text"`, true)
	if err != nil {
		return Row{}, err
	}
	msgs, isDialogue := parseDialogue(text)
	switch {
	case fileFormat == FormatDialogue && !isDialogue:
		return Row{}, &Error{Field: `"text"`, Message: notDialogue}
	case isDialogue && (fileFormat == "" || fileFormat == FormatDialogue):
		return Row{Format: FormatDialogue, Text: text, Messages: msgs}, nil
	}
	return Row{Format: FormatText, Text: text}, nil
}

func parsePromptCompletion(obj map[string]json.RawMessage) (Row, *Error) {
	prompt, err := stringField(obj, "prompt", true, false)
	if err != nil {
		return Row{}, err
	}
	completion, err := stringField(obj, "completion", true, true)
	if err != nil {
		return Row{}, err
	}
	return Row{Format: FormatPromptCompletion, Prompt: prompt, Completion: completion}, nil
}

func parseInstruction(obj map[string]json.RawMessage) (Row, *Error) {
	instruction, err := stringField(obj, "instruction", true, true)
	if err != nil {
		return Row{}, err
	}
	input, err := stringField(obj, "input", false, false)
	if err != nil {
		return Row{}, err
	}
	output, err := stringField(obj, "output", true, true)
	if err != nil {
		return Row{}, err
	}
	prompt := instruction
	if strings.TrimSpace(input) != "" {
		prompt += "\n\n" + input
	}
	return Row{Format: FormatInstruction, Messages: []Message{
		{Role: "user", Content: prompt},
		{Role: "assistant", Content: output},
	}}, nil
}

func parseMessages(raw json.RawMessage) (Row, *Error) {
	var list []json.RawMessage
	if t := jsonType(bytes.TrimSpace(raw)); t != "array" {
		return Row{}, &Error{Field: `"messages"`, Message: "must be an array, got " + t}
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return Row{}, &Error{Field: `"messages"`, Message: err.Error()}
	}
	if len(list) == 0 {
		return Row{}, &Error{Field: `"messages"`, Message: "is empty"}
	}
	msgs := make([]Message, len(list))
	for i, m := range list {
		at := fmt.Sprintf(`"messages"[%d]`, i)
		var obj map[string]json.RawMessage
		if t := jsonType(bytes.TrimSpace(m)); t != "object" {
			return Row{}, &Error{Field: at, Message: "must be an object, got " + t}
		}
		if err := json.Unmarshal(m, &obj); err != nil {
			return Row{}, &Error{Field: at, Message: err.Error()}
		}
		roleRaw, ok := obj["role"]
		if !ok {
			return Row{}, &Error{Field: at, Message: `missing "role"`}
		}
		role, err := decodeString(roleRaw, at+".role", false)
		if err != nil {
			return Row{}, err
		}
		if role != "system" && role != "user" && role != "assistant" {
			return Row{}, &Error{Field: at + ".role",
				Message: fmt.Sprintf(`must be "system", "user" or "assistant", got %q`, role)}
		}
		contentRaw, ok := obj["content"]
		if !ok {
			return Row{}, &Error{Field: at, Message: `missing "content"`}
		}
		content, err := decodeString(contentRaw, at+".content", false)
		if err != nil {
			return Row{}, err
		}
		msgs[i] = Message{Role: role, Content: content}
		// An assistant turn's thinking, kept apart from its answer (Qwen3's
		// reasoning_content); templates that know it render it.
		if raw, ok := obj["reasoning_content"]; ok && string(bytes.TrimSpace(raw)) != "null" {
			if role != "assistant" {
				return Row{}, &Error{Field: at + ".reasoning_content", Message: "only an assistant turn has reasoning, this one is " + role}
			}
			rc, err := decodeString(raw, at+".reasoning_content", false)
			if err != nil {
				return Row{}, err
			}
			msgs[i].ReasoningContent = rc
		}
	}
	return Row{Format: FormatMessages, Messages: msgs}, nil
}

// dialogueMarkers are the turn markers of dialogue text and their roles.
var dialogueMarkers = []struct{ marker, role string }{
	{"User:", "user"},
	{"Human:", "user"},
	{"Assistant:", "assistant"},
	{"System:", "system"},
}

// parseDialogue splits "User: ... Assistant: ..." text into messages. The
// text must start with a marker; later markers count at the start of the
// text or after whitespace (so "User: hi Assistant: hello" on one line
// works), and are case-sensitive so that "the user: field" stays content.
// Contents are trimmed.
func parseDialogue(text string) ([]Message, bool) {
	text = strings.TrimSpace(text)
	m, role, ok := markerAt(text, 0)
	if !ok {
		return nil, false
	}
	var msgs []Message
	start := len(m)
	for i := start; i < len(text); {
		if isSpaceBefore(text, i) {
			if m, r, ok := markerAt(text, i); ok {
				msgs = append(msgs, Message{Role: role, Content: strings.TrimSpace(text[start:i])})
				start, role = i+len(m), r
				i = start
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	msgs = append(msgs, Message{Role: role, Content: strings.TrimSpace(text[start:])})
	return msgs, true
}

func isSpaceBefore(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsSpace(r)
}

func markerAt(s string, i int) (marker, role string, ok bool) {
	for _, m := range dialogueMarkers {
		if strings.HasPrefix(s[i:], m.marker) {
			return m.marker, m.role, true
		}
	}
	return "", "", false
}
