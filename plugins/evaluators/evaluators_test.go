package evaluators

import "testing"

func TestResolve(t *testing.T) {
	specs := []Setting{{Name: "a", Default: "1"}, {Name: "b", Default: ""}}
	got, err := Resolve(specs, map[string]string{"b": "x"})
	if err != nil || got["a"] != "1" || got["b"] != "x" || len(got) != 2 {
		t.Errorf("Resolve = %v, %v", got, err)
	}
	if _, err := Resolve(specs, map[string]string{"z": "1", "c": "2"}); err == nil || err.Error() != `unknown setting "c", "z" (valid: a, b)` {
		t.Errorf("unknown: %v", err)
	}
}
