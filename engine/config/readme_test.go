package config

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEReference keeps the README's configuration reference in step
// with Fields(): regenerate it from Reference() when a key changes.
func TestREADMEReference(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Reference()) {
		t.Fatal("README.md's configuration reference differs from config.Reference(); paste the new output into the README")
	}
}
