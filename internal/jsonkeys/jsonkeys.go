// Package jsonkeys finds a key repeated within one JSON object, which
// encoding/json silently resolves by taking the last value.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Duplicate returns the first key repeated within one object of the JSON
// value data, with where it is ("" at the top, else e.g. "messages[1]"),
// or ok false when there is none. Invalid JSON gives ok false: the caller's
// own decoding reports it.
func Duplicate(data []byte) (key, where string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	key, where, ok, _ = walk(dec, "")
	return key, where, ok
}

// walk reads one value; it reports the first duplicate key met.
func walk(dec *json.Decoder, path string) (string, string, bool, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", "", false, err
	}
	d, isDelim := tok.(json.Delim)
	if !isDelim {
		return "", "", false, nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return "", "", false, err
			}
			k, _ := kt.(string)
			if seen[k] {
				return k, path, true, nil
			}
			seen[k] = true
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			if key, where, ok, err := walk(dec, sub); ok || err != nil {
				return key, where, ok, err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if key, where, ok, err := walk(dec, path+"["+strconv.Itoa(i)+"]"); ok || err != nil {
				return key, where, ok, err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return "", "", false, err
}

// Describe is "duplicate key \"k\"" with where it is.
func Describe(key, where string) string {
	if where == "" {
		return fmt.Sprintf("duplicate key %q (JSON would silently keep the last value)", key)
	}
	return fmt.Sprintf("duplicate key %q in %s (JSON would silently keep the last value)", key, where)
}
