package config

import (
	"fmt"
	"strings"
)

// Reference returns the Markdown reference of config.yml, generated from
// Sections, Fields and IgnoredKeys: one table per section with each key's
// default, allowed values and meaning.
func Reference() string {
	var b strings.Builder
	for _, sec := range sections {
		fmt.Fprintf(&b, "### `%s`\n\n%s\n\n", sec.Key, sec.Comment)
		b.WriteString("| key | default | allowed | meaning |\n|---|---|---|---|\n")
		for _, f := range fieldTable {
			s, name, _ := strings.Cut(f.Key, ".")
			if s != sec.Key {
				continue
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", name, f.Default, cell(f.Expect), cell(f.Help))
		}
		b.WriteString("\n")
	}
	b.WriteString("### Accepted but ignored\n\n")
	for _, k := range ignoredKeys {
		fmt.Fprintf(&b, "- `%s`: %s.\n", k.Key, k.Reason)
	}
	return b.String()
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
