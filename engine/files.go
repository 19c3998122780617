package engine

import (
	"encoding/json"

	"qwentune/model"
)

// writeFileAtomic writes data through a temporary file and a rename, so
// readers never see a half-written file.
var writeFileAtomic = model.WriteFileAtomic

// writeJSONAtomic writes v as indented JSON.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}
