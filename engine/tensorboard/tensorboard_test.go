package tensorboard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// crc32cBitwise is CRC32C computed one bit at a time from the polynomial
// (reflected 0x82f63b78): the oracle for the table-driven checksum.
func crc32cBitwise(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for range 8 {
			if c&1 == 1 {
				c = c>>1 ^ 0x82f63b78
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

func TestMaskedCRC(t *testing.T) {
	// The CRC32C check value of "123456789" is 0xe3069283 (RFC 3720, B.4).
	if got := crc32cBitwise([]byte("123456789")); got != 0xe3069283 {
		t.Fatalf("oracle: crc32c(123456789) = %#x", got)
	}
	for _, s := range []string{"", "a", "123456789", strings.Repeat("tensorboard", 50)} {
		c := crc32cBitwise([]byte(s))
		want := uint32(uint64(c>>15|c<<17)+0xa282ead8) & 0xffffffff
		if got := maskedCRC([]byte(s)); got != want {
			t.Errorf("maskedCRC(%q) = %#x, want %#x", s, got, want)
		}
	}
}

func TestTrainerTags(t *testing.T) {
	step, got := TrainerTags(map[string]float64{"loss": 1.5, "grad_norm": 2, "learning_rate": 1e-4, "epoch": 0.5,
		"step": 10, "eval_loss": 1.2, "eval_accuracy": 0.75, "test_f1": 0.5, "train_runtime": 3})
	want := map[string]float64{"train/loss": 1.5, "train/grad_norm": 2, "train/learning_rate": 1e-4, "train/epoch": 0.5,
		"eval/loss": 1.2, "eval/accuracy": 0.75, "test/f1": 0.5, "train/train_runtime": 3}
	if step != 10 || len(got) != len(want) {
		t.Fatalf("step %d, tags %v", step, got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "logs")
	clock := time.Unix(1700000000, 250_000_000)
	w, err := open(dir, func() time.Time { clock = clock.Add(time.Second); return clock })
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(w.Path())
	host, _ := os.Hostname()
	if !strings.HasPrefix(name, "events.out.tfevents.1700000001.") || !strings.Contains(name, host) {
		t.Errorf("file name %q", name)
	}
	logs := []map[string]float64{
		{"loss": 2.3456, "grad_norm": 1.25, "learning_rate": 2e-4, "epoch": 0.33, "step": 1},
		{"loss": math.Pi, "grad_norm": 0.1, "learning_rate": 1.5e-4, "epoch": 0.67, "step": 2},
		{"eval_loss": 1.1, "eval_accuracy": 0.8, "epoch": 1, "step": 3},
		{"train_loss": 2.7, "train_runtime": 12.5, "total_flos": 3.5e12, "epoch": 1, "step": 1 << 40},
	}
	for _, l := range logs {
		if err := w.Log(l); err != nil {
			t.Fatal(err)
		}
	}
	// Flushed per log: the file is complete before Close.
	evs, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Scalars(1, map[string]float64{"a": 1}); err == nil {
		t.Error("Scalars after Close succeeded")
	}
	if len(evs) == 0 || evs[0].FileVersion != FileVersion || len(evs[0].Values) != 0 || evs[0].WallTime != 1700000001.25 {
		t.Fatalf("first event %+v, want the file version", evs)
	}
	i := 1
	for n, l := range logs {
		step, tags := TrainerTags(l)
		wall := float64(1700000002+n) + 0.25
		var prev string
		for range tags {
			if i >= len(evs) {
				t.Fatalf("only %d events", len(evs))
			}
			e := evs[i]
			i++
			if len(e.Values) != 1 || e.Step != step || e.WallTime != wall || e.FileVersion != "" {
				t.Fatalf("event %d: %+v, want one value at step %d, time %v", i-1, e, step, wall)
			}
			v := e.Values[0]
			want, ok := tags[v.Tag]
			if !ok || !v.HasSimple || v.Simple != float32(want) || v.Tag <= prev {
				t.Errorf("event %d: %+v, want %v (tags in sorted order)", i-1, v, tags)
			}
			prev = v.Tag
		}
	}
	if i != len(evs) {
		t.Errorf("%d events, want %d", len(evs), i)
	}
	sc, err := ReadScalars(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l := sc["train/loss"]; len(l) != 2 || l[1].Value != float32(math.Pi) || l[1].Step != 2 {
		t.Errorf("train/loss = %+v", l)
	}
}

func TestFileNamesSortInCreationOrder(t *testing.T) {
	dir := t.TempDir()
	now := func() time.Time { return time.Unix(1700000000, 0) }
	var paths []string
	for range 12 {
		w, err := open(dir, now)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		paths = append(paths, w.Path())
	}
	// A clock that stepped back still sorts after the existing files.
	w, err := open(dir, func() time.Time { return time.Unix(1600000000, 0) })
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	paths = append(paths, w.Path())
	files, err := EventFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, paths) {
		t.Errorf("name order %v\ncreation order %v", files, paths)
	}
	if got := fileSecond(paths[11]); got != 1700000011 {
		t.Errorf("the 12th file of the second is named for %d", got)
	}
}

func TestResumed(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Resumed(40); err != nil {
		t.Fatal(err)
	}
	w.Log(map[string]float64{"loss": 1, "step": 42})
	w.Close()
	evs, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[1].SessionStatus != SessionStart || evs[1].Step != 41 || len(evs[1].Values) != 0 || evs[2].SessionStatus != 0 {
		t.Errorf("events %+v", evs)
	}
}

func TestSpecialValues(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]float64{"nan": math.NaN(), "inf": math.Inf(1), "ninf": math.Inf(-1), "tiny": 1e-45, "big": 1e39, "neg": -0.5}
	if err := w.Scalars(-3, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(0, map[string]float64{"": 1}); err == nil {
		t.Error("empty tag accepted")
	}
	w.Close()
	evs, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs[1:] {
		v := e.Values[0]
		want := float32(in[v.Tag])
		same := v.Simple == want || (math.IsNaN(float64(v.Simple)) && math.IsNaN(float64(want)))
		if e.Step != -3 || !same {
			t.Errorf("%s: step %d value %v, want -3 and %v", v.Tag, e.Step, v.Simple, want)
		}
	}
}

// record frames an event the way the writer does, for the malformed cases.
func record(e Event) []byte { return appendRecord(nil, e.marshal()) }

func TestMalformed(t *testing.T) {
	good := record(Event{WallTime: 1, Step: 2, Values: []Value{{Tag: "a", Simple: 1, HasSimple: true}}})
	withCRC := func(data []byte) []byte { return appendRecord(nil, data) }
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		return c
	}
	huge := make([]byte, 12)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	binary.LittleEndian.PutUint32(huge[8:], maskedCRC(huge[:8]))
	var wrongType []byte
	wrongType = protowire.AppendTag(wrongType, fieldStep, protowire.Fixed32Type)
	wrongType = protowire.AppendFixed32(wrongType, 7)
	var badValue []byte
	{
		var val []byte
		val = protowire.AppendTag(val, fieldValueSimpleValue, protowire.VarintType)
		val = protowire.AppendVarint(val, 3)
		var sum []byte
		sum = protowire.AppendTag(sum, fieldSummaryValue, protowire.BytesType)
		sum = protowire.AppendBytes(sum, val)
		badValue = protowire.AppendTag(badValue, fieldSummary, protowire.BytesType)
		badValue = protowire.AppendBytes(badValue, sum)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		msg  string
	}{
		{"truncated header", good[:7], "truncated header"},
		{"truncated length crc", good[:10], "truncated header"},
		{"length crc", flip(good, 1), "length CRC"},
		{"length crc bytes", flip(good, 9), "length CRC"},
		{"data crc", flip(good, 14), "data CRC"},
		{"footer crc", flip(good, len(good)-1), "data CRC"},
		{"truncated data", good[:len(good)-6], "truncated record"},
		{"truncated footer", good[:len(good)-2], "truncated record"},
		{"huge length", huge, "exceeds"},
		{"second record bad", append(bytes.Clone(good), flip(good, 14)...), "record at byte " + strconv.Itoa(len(good))},
		{"garbage proto", withCRC([]byte{0xff, 0xff, 0xff}), "corrupt"},
		{"bad length-delimited", withCRC([]byte{0x2a, 0x10, 0x01}), "corrupt"},
		{"wrong wire type", withCRC(wrongType), "Event.step has wire type"},
		{"wrong value type", withCRC(badValue), "simple_value has wire type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.in))
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if err == io.EOF || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v, want ErrCorrupt mentioning %q", err, tc.msg)
			}
		})
	}
	// Unknown fields (a graph_def, a source_metadata) are skipped.
	var unknown []byte
	unknown = protowire.AppendTag(unknown, 4, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, []byte("graph"))
	unknown = protowire.AppendTag(unknown, 10, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, nil)
	unknown = protowire.AppendTag(unknown, fieldStep, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 9)
	e, err := NewReader(bytes.NewReader(withCRC(unknown))).Next()
	if err != nil || e.Step != 9 {
		t.Errorf("unknown fields: %+v, %v", e, err)
	}
	if _, err := NewReader(bytes.NewReader(nil)).Next(); err != io.EOF {
		t.Errorf("empty input: %v, want io.EOF", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(record(Event{WallTime: 1, FileVersion: FileVersion}))
	f.Add(record(Event{WallTime: 2, Step: 5, Values: []Value{{Tag: "train/loss", Simple: 1.5, HasSimple: true}}}))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for range 1000 {
			e, err := r.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v wraps neither io.EOF nor ErrCorrupt", err)
				}
				return
			}
			// Whatever decodes re-encodes to a record that decodes the same.
			if slices.ContainsFunc(e.Values, func(v Value) bool { return !v.HasSimple }) {
				continue
			}
			e2, err := NewReader(bytes.NewReader(record(e))).Next()
			if err != nil || e2.Step != e.Step || len(e2.Values) != len(e.Values) || e2.FileVersion != e.FileVersion || e2.SessionStatus != e.SessionStatus {
				t.Fatalf("re-encoding %+v gave %+v, %v", e, e2, err)
			}
		}
	})
}

// FuzzEvent feeds the protobuf decoder directly, past the CRCs that stop
// almost every mutation in FuzzReader.
func FuzzEvent(f *testing.F) {
	f.Add(Event{WallTime: 1, FileVersion: FileVersion}.marshal())
	f.Add(Event{WallTime: 2, Step: 5, Values: []Value{{Tag: "train/loss", Simple: 1.5, HasSimple: true}}}.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := unmarshalEvent(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if slices.ContainsFunc(e.Values, func(v Value) bool { return !v.HasSimple }) {
			return
		}
		e2, err := unmarshalEvent(e.marshal())
		if err != nil || e2.Step != e.Step || e2.FileVersion != e.FileVersion || len(e2.Values) != len(e.Values) || e2.SessionStatus != e.SessionStatus {
			t.Fatalf("re-encoding %+v gave %+v, %v", e, e2, err)
		}
	})
}
