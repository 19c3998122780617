package model

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize formats a byte count for people with binary units: "512 B",
// "1.5 KiB", "12.3 MiB", "1.46 GiB". The CLI, the app and the engine's
// memory reports all use it, so one size reads the same everywhere. (Hub
// downloads are reported in decimal units, like the Hub itself.)
func ByteSize(n int64) string {
	f := float64(n)
	abs := max(f, -f)
	switch {
	case abs >= 1<<40:
		return fmt.Sprintf("%.2f TiB", f/(1<<40))
	case abs >= 1<<30:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	case abs >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case abs >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Thousands formats n with a comma between groups of three digits, like
// Python's f"{n:,}": "1,552,430,592", "-1,234,567". PEFT's parameter counts
// and the CLI's use it.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
