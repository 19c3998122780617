package engine

import (
	"encoding/json"

	"qwentune/model"
)

// writeJSONAtomic writes v as indented JSON through model.WriteFileAtomic,
// so readers never see a half-written file.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return model.WriteFileAtomic(path, append(b, '\n'))
}
