package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SetFile is the File of errors about values given with Set (the CLI's
// --set flag and the app's form).
const SetFile = "--set"

// Parse reads a config from YAML text; name is the file name used in errors
// and warnings. Keys missing from the text keep their defaults. Every invalid
// key is reported at once, as an ErrorList.
func Parse(data []byte, name string) (Config, []Warning, error) {
	cfg := Default()
	root, err := decodeDocument(data, name)
	if err != nil || root == nil {
		return cfg, nil, err
	}
	p := parser{file: name, lines: map[string]int{}}
	p.parseRoot(root, &cfg)
	p.crossCheck(cfg)
	return cfg, p.warns, p.errs.err()
}

var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeDocument parses exactly one YAML document and returns its root node,
// or nil for an empty document.
func decodeDocument(data []byte, name string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(name, err)
	default:
		return nil, ErrorList{{File: name, Line: next.Line, Message: "only one YAML document is allowed"}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: name, Line: root.Line,
			Message: "the file must be a mapping of sections (" + sectionNames() + "), got " + repr(root)}}
	}
	return root, nil
}

func syntaxError(name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return ErrorList{{File: name, Line: line, Message: "invalid YAML: " + m[2]}}
	}
	return ErrorList{{File: name, Message: "invalid YAML: " + msg}}
}

func sectionNames() string { return strings.Join(sectionKeys(), ", ") }

// deref follows aliases (bounded: yaml.v3 rejects alias cycles).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// parser collects the errors and warnings of one file.
type parser struct {
	file  string
	errs  ErrorList
	warns []Warning
	lines map[string]int // key or section → line where the file sets it
}

func (p *parser) errorf(line int, key, format string, a ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Message: fmt.Sprintf(format, a...)})
}

func (p *parser) warnf(line int, key, format string, a ...any) {
	p.warns = append(p.warns, Warning{File: p.file, Line: line, Key: key, Message: fmt.Sprintf(format, a...)})
}

func (p *parser) parseRoot(root *yaml.Node, cfg *Config) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := deref(root.Content[i]), deref(root.Content[i+1])
		sec := k.Value
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, "", "section names must be plain words, got %s", repr(k))
			continue
		}
		if first, dup := p.lines[sec]; dup {
			p.errorf(k.Line, sec, "duplicate section (first at line %d)", first)
			continue
		}
		p.lines[sec] = k.Line
		if !isSection(sec) {
			hint := suggest(sec, sectionKeys())
			if hint == "" {
				hint = "; sections are " + sectionNames()
			}
			p.errorf(k.Line, sec, "unknown section%s", hint)
			continue
		}
		switch {
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		case v.Kind != yaml.MappingNode:
			p.errorf(v.Line, sec, "must be a mapping of keys, got %s", repr(v))
		default:
			p.parseSection(sec, v, cfg)
		}
	}
	if cfg.Training.Mode == "full" {
		for _, f := range fieldTable {
			if line, set := p.lines[f.Key]; set && strings.HasPrefix(f.Key, "lora.") {
				p.warnf(line, f.Key, "unused: training.mode is full")
			}
		}
	}
}

func (p *parser) parseSection(sec string, m *yaml.Node, cfg *Config) {
	cv := reflect.ValueOf(cfg).Elem()
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k.Line, sec, "keys must be plain words, got %s", repr(k))
			continue
		}
		key := sec + "." + k.Value
		if first, dup := p.lines[key]; dup {
			p.errorf(k.Line, key, "duplicate key (first at line %d)", first)
			continue
		}
		p.lines[key] = k.Line
		if reason, ok := ignoredReason(key); ok {
			p.warnf(k.Line, key, "ignored: %s", reason)
			continue
		}
		f, ok := fieldsByKey[key]
		if !ok {
			p.errorf(k.Line, key, "unknown key%s", suggestKey(sec, k.Value))
			continue
		}
		val, problem := f.fromNode(v)
		if problem == "" {
			problem = f.checkValue(val, repr(v))
		}
		if problem != "" {
			p.errorf(v.Line, key, "%s", problem)
			continue
		}
		cv.FieldByIndex(f.index).Set(val)
	}
}

func isSection(s string) bool {
	for _, sec := range sections {
		if sec.Key == s {
			return true
		}
	}
	return false
}

func sectionKeys() []string {
	s := make([]string, len(sections))
	for i, sec := range sections {
		s[i] = sec.Key
	}
	return s
}

// keyAliases maps the names other tools use (PEFT, the Trainer, TRL) to ours,
// for suggestions only: the aliases themselves stay unknown keys.
var keyAliases = map[string]string{
	"model.model_name_or_path":             "model.name",
	"model.torch_dtype":                    "model.dtype",
	"lora.rank":                            "lora.r",
	"lora.lora_alpha":                      "lora.alpha",
	"lora.lora_dropout":                    "lora.dropout",
	"dataset.max_seq_length":               "dataset.max_length",
	"training.num_train_epochs":            "training.epochs",
	"training.per_device_train_batch_size": "training.batch_size",
	"training.lr_scheduler_type":           "training.lr_scheduler",
	"training.optim":                       "training.optimizer",
	"training.warmup":                      "training.warmup_steps",
}

// suggestKey proposes a known alias, the closest key of the same section, or
// the same name in another section ("training.max_length" →
// "dataset.max_length").
func suggestKey(sec, name string) string {
	if key, ok := keyAliases[sec+"."+name]; ok {
		return fmt.Sprintf(" (did you mean %q?)", key)
	}
	var same []string
	for _, f := range fieldTable {
		s, n, _ := strings.Cut(f.Key, ".")
		if s == sec {
			same = append(same, n)
		} else if n == name {
			return fmt.Sprintf(" (did you mean %q?)", f.Key)
		}
	}
	if hint := suggest(name, same); hint != "" {
		return strings.Replace(hint, `"`, `"`+sec+".", 1)
	}
	return "; keys of " + sec + " are " + strings.Join(same, ", ")
}

// repr shows a YAML value in a message: strings quoted, numbers and booleans
// as written.
func repr(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str", "!!binary", "!!timestamp":
			return strconv.Quote(n.Value)
		}
		return n.Value
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return "an empty list"
		}
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "a YAML " + n.Tag
}

// fromNode converts a YAML value to the field's Go type; the message says
// why when the value has the wrong type.
func (f *Field) fromNode(n *yaml.Node) (reflect.Value, string) {
	bad := "must be " + f.Expect + ", got " + repr(n)
	scalar := n.Kind == yaml.ScalarNode
	tag := n.ShortTag()
	switch f.Kind {
	case KindInt:
		var i int
		if !scalar || tag != "!!int" || n.Decode(&i) != nil {
			return reflect.Value{}, bad
		}
		return reflect.ValueOf(i), ""
	case KindFloat:
		var x float64
		if !scalar || (tag != "!!int" && tag != "!!float") || n.Decode(&x) != nil {
			return reflect.Value{}, bad
		}
		return reflect.ValueOf(x), ""
	case KindBool:
		var b bool
		if !scalar || tag != "!!bool" || n.Decode(&b) != nil {
			return reflect.Value{}, bad
		}
		return reflect.ValueOf(b), ""
	case KindList:
		return f.listFromNode(n, bad)
	}
	if !scalar {
		return reflect.Value{}, bad
	}
	s := n.Value
	if tag == "!!null" {
		s = ""
	}
	if f.foldCase {
		for _, c := range f.Choices {
			if strings.EqualFold(c, s) {
				s = c
			}
		}
	}
	return reflect.ValueOf(s), ""
}

// listFromNode accepts a YAML list of names, or one string of
// comma-separated names ("q_proj,v_proj", "all-linear").
func (f *Field) listFromNode(n *yaml.Node, bad string) (reflect.Value, string) {
	list := []string{}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			break
		}
		for _, s := range strings.Split(n.Value, ",") {
			list = append(list, strings.TrimSpace(s))
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode || c.ShortTag() == "!!null" {
				return reflect.Value{}, "must be " + f.Expect + ", got " + repr(c) + " in the list"
			}
			list = append(list, c.Value)
		}
	default:
		return reflect.Value{}, bad
	}
	return reflect.ValueOf(list), ""
}

// crossCheck applies the rules that involve more than one key.
func (p *parser) crossCheck(c Config) {
	for _, is := range crossIssues(c) {
		line := p.lines[is.key]
		if is.warning {
			if _, set := p.lines[is.key]; set {
				p.warnf(line, is.key, "%s", is.msg)
			}
			continue
		}
		p.errorf(line, is.key, "%s", is.msg)
	}
}

type crossIssue struct {
	key, msg string
	warning  bool
}

func crossIssues(c Config) []crossIssue {
	var out []crossIssue
	t := c.Training
	if t.WarmupSteps > 0 && t.WarmupRatio > 0 {
		out = append(out, crossIssue{key: "training.warmup_ratio", msg: "set warmup_steps or warmup_ratio, not both"})
	}
	if t.LRScheduler == "constant" && (t.WarmupSteps > 0 || t.WarmupRatio > 0) {
		out = append(out, crossIssue{key: "training.lr_scheduler", warning: true,
			msg: "constant ignores warmup; use constant_with_warmup"})
	}
	return out
}

// Validate checks every value of c (a Config built in code or changed by
// the form) with the same rules and messages as Parse, without file lines.
func (c Config) Validate() error {
	var errs ErrorList
	cv := reflect.ValueOf(c)
	for i := range fieldTable {
		f := &fieldTable[i]
		v := cv.FieldByIndex(f.index)
		if problem := f.checkValue(v, formatValue(v, true)); problem != "" {
			errs = append(errs, &Error{Key: f.Key, Message: problem})
		}
	}
	for _, is := range crossIssues(c) {
		if !is.warning {
			errs = append(errs, &Error{Key: is.key, Message: is.msg})
		}
	}
	return errs.err()
}

// Set changes one value from "key=value" text, as given to --set:
// "lora.r=8", "lora.target_modules=[q_proj,k_proj]" or "q_proj,k_proj",
// "model.name=./x". String values are taken verbatim; other values are read
// as YAML. Errors have the same messages as the file's, located at "--set".
func (c *Config) Set(kv string) error {
	key, raw, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	fail := func(format string, a ...any) error {
		return &Error{File: SetFile, Key: key, Message: fmt.Sprintf(format, a...)}
	}
	if !ok {
		return fail("expected key=value, e.g. lora.r=8")
	}
	if reason, ok := ignoredReason(key); ok {
		return fail("ignored: %s", reason)
	}
	f, ok := fieldsByKey[key]
	if !ok {
		sec, name, dotted := strings.Cut(key, ".")
		switch {
		case !dotted || !isSection(sec):
			return fail("unknown key%s", suggest(key, allKeys()))
		default:
			return fail("unknown key%s", suggestKey(sec, name))
		}
	}
	n := setNode(f, raw)
	val, problem := f.fromNode(n)
	if problem == "" {
		problem = f.checkValue(val, repr(n))
	}
	if problem != "" {
		return fail("%s", problem)
	}
	reflect.ValueOf(c).Elem().FieldByIndex(f.index).Set(val)
	return nil
}

func allKeys() []string {
	keys := make([]string, len(fieldTable))
	for i, f := range fieldTable {
		keys[i] = f.Key
	}
	return keys
}

// setNode turns the text after "=" into a YAML node: verbatim for strings
// (so "You are: terse" stays a string), parsed YAML for everything else.
func setNode(f *Field, raw string) *yaml.Node {
	str := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: raw}
	switch f.Kind {
	case KindString, KindPath, KindModel, KindChoice:
		str.Value = strings.TrimSpace(raw)
		if f.Kind == KindString {
			str.Value = raw
		}
		return str
	case KindList:
		if !strings.HasPrefix(strings.TrimSpace(raw), "[") {
			return str
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		return str
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return deref(doc.Content[0])
}

// Marshal writes the config as YAML: sections and keys in Fields order, each
// section under its comment, every key present. Parse reads it back equal.
func (c Config) Marshal() ([]byte, error) {
	cv := reflect.ValueOf(c)
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, sec := range sections {
		body := &yaml.Node{Kind: yaml.MappingNode}
		for i := range fieldTable {
			f := &fieldTable[i]
			s, name, _ := strings.Cut(f.Key, ".")
			if s != sec.Key {
				continue
			}
			body.Content = append(body.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name},
				valueNode(cv.FieldByIndex(f.index)))
		}
		if len(body.Content) == 0 {
			continue
		}
		comment := "# " + sec.Comment
		if len(root.Content) > 0 {
			comment = "\n" + comment // a blank line between sections
		}
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: sec.Key, HeadComment: comment},
			body)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func valueNode(v reflect.Value) *yaml.Node {
	switch v.Kind() {
	case reflect.Int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: fmtFloat(v.Float())}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case reflect.Slice:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, s := range v.Interface().([]string) {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s})
		}
		return seq
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
}
