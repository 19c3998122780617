package tensorboard

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf messages of an event file, encoded by hand with the field
// numbers of tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto (the subset scalars need):
//
//	message Event      { double wall_time = 1; int64 step = 2;
//	                     oneof what { string file_version = 3; Summary summary = 5;
//	                                  SessionLog session_log = 7; ... } }
//	message SessionLog { SessionStatus status = 1; ... }  // START = 1
//	message Summary { repeated Value value = 1; }
//	message Value   { string tag = 1; oneof value { float simple_value = 2; ... } }
const (
	fieldWallTime    protowire.Number = 1
	fieldStep        protowire.Number = 2
	fieldFileVersion protowire.Number = 3
	fieldSummary     protowire.Number = 5
	fieldSessionLog  protowire.Number = 7

	fieldSessionStatus protowire.Number = 1

	fieldSummaryValue protowire.Number = 1

	fieldValueTag         protowire.Number = 1
	fieldValueSimpleValue protowire.Number = 2
)

// Event is one decoded event: the file-version header or a summary of
// scalar values.
type Event struct {
	WallTime    float64 // seconds since the Unix epoch
	Step        int64
	FileVersion string  // set on the first event of a file only
	Values      []Value // the summary's values, in file order
	// SessionStatus is a session_log event's status (SessionStart), 0 for
	// other events.
	SessionStatus int32
}

// SessionStart is SessionLog.START: the run (re)started at this step.
const SessionStart = 1

// Value is one tagged summary value. Only simple_value (a float32, as
// TensorBoard stores scalars) is decoded; HasSimple is false for values of
// another kind (images, histograms, tensors), which are kept by tag only.
type Value struct {
	Tag       string
	Simple    float32
	HasSimple bool
}

// marshal encodes e as an Event message.
func (e Event) marshal() []byte {
	var b []byte
	b = protowire.AppendTag(b, fieldWallTime, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(e.WallTime))
	if e.Step != 0 {
		b = protowire.AppendTag(b, fieldStep, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(e.Step))
	}
	if e.FileVersion != "" {
		b = protowire.AppendTag(b, fieldFileVersion, protowire.BytesType)
		b = protowire.AppendString(b, e.FileVersion)
	}
	if e.SessionStatus != 0 {
		var sl []byte
		sl = protowire.AppendTag(sl, fieldSessionStatus, protowire.VarintType)
		sl = protowire.AppendVarint(sl, uint64(e.SessionStatus))
		b = protowire.AppendTag(b, fieldSessionLog, protowire.BytesType)
		b = protowire.AppendBytes(b, sl)
	}
	if len(e.Values) > 0 {
		var sum []byte
		for _, v := range e.Values {
			var val []byte
			val = protowire.AppendTag(val, fieldValueTag, protowire.BytesType)
			val = protowire.AppendString(val, v.Tag)
			val = protowire.AppendTag(val, fieldValueSimpleValue, protowire.Fixed32Type)
			val = protowire.AppendFixed32(val, math.Float32bits(v.Simple))
			sum = protowire.AppendTag(sum, fieldSummaryValue, protowire.BytesType)
			sum = protowire.AppendBytes(sum, val)
		}
		b = protowire.AppendTag(b, fieldSummary, protowire.BytesType)
		b = protowire.AppendBytes(b, sum)
	}
	return b
}

// unmarshalEvent decodes an Event message. Unknown fields are skipped, as
// protobuf readers do; a known field with the wrong wire type or a message
// cut short is an error.
func unmarshalEvent(b []byte) (Event, error) {
	var e Event
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case fieldWallTime:
			if typ != protowire.Fixed64Type {
				return wireTypeError("Event.wall_time", typ)
			}
			e.WallTime = math.Float64frombits(x)
		case fieldStep:
			if typ != protowire.VarintType {
				return wireTypeError("Event.step", typ)
			}
			e.Step = int64(x)
		case fieldFileVersion:
			if typ != protowire.BytesType {
				return wireTypeError("Event.file_version", typ)
			}
			e.FileVersion = string(v)
		case fieldSessionLog:
			if typ != protowire.BytesType {
				return wireTypeError("Event.session_log", typ)
			}
			return eachField(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
				if num != fieldSessionStatus {
					return nil
				}
				if typ != protowire.VarintType {
					return wireTypeError("SessionLog.status", typ)
				}
				e.SessionStatus = int32(x)
				return nil
			})
		case fieldSummary:
			if typ != protowire.BytesType {
				return wireTypeError("Event.summary", typ)
			}
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != fieldSummaryValue {
					return nil
				}
				if typ != protowire.BytesType {
					return wireTypeError("Summary.value", typ)
				}
				val, err := unmarshalValue(v)
				if err != nil {
					return err
				}
				e.Values = append(e.Values, val)
				return nil
			})
		}
		return nil
	})
	return e, err
}

func unmarshalValue(b []byte) (Value, error) {
	var val Value
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case fieldValueTag:
			if typ != protowire.BytesType {
				return wireTypeError("Summary.Value.tag", typ)
			}
			val.Tag = string(v)
		case fieldValueSimpleValue:
			if typ != protowire.Fixed32Type {
				return wireTypeError("Summary.Value.simple_value", typ)
			}
			val.Simple = math.Float32frombits(uint32(x))
			val.HasSimple = true
		}
		return nil
	})
	return val, err
}

// eachField calls f for every field of the message b: v holds the bytes of
// a length-delimited field, x the value of a varint or fixed field. Groups
// are skipped whole.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: bad field tag: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrCorrupt, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := f(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func wireTypeError(field string, typ protowire.Type) error {
	return fmt.Errorf("%w: %s has wire type %d", ErrCorrupt, field, typ)
}
