package peft

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"qwentune/model/safetensors"
)

// Limits that keep a hostile checkpoint from exhausting memory.
const (
	maxPickleBytes  = 64 << 20
	maxStorageBytes = 4 << 30
	maxTensorElems  = 1 << 28
	maxStackDepth   = 1 << 16
)

// ReadTorchFile reads a PyTorch state-dict checkpoint (the zip format of
// torch.save since 1.6: <name>/data.pkl plus one <name>/data/<key> file per
// storage) such as PEFT's legacy adapter_model.bin. The pickle is
// interpreted, never executed: only the opcodes and globals torch writes for
// a dict of tensors are accepted (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2, torch.FloatStorage, BFloat16Storage and
// HalfStorage, storages by persistent id); anything else is refused.
// Tensors come back contiguous with dtype F32, BF16 or F16, sorted by name.
func ReadTorchFile(path string) ([]safetensors.Tensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadTorch(data, path)
}

// ReadTorch is ReadTorchFile on an in-memory checkpoint; name is used in
// errors.
func ReadTorch(data []byte, name string) ([]safetensors.Tensor, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a PyTorch zip checkpoint (the pre-1.6 torch.save format is not supported): %v", name, err)
	}
	files := map[string]*zip.File{}
	var pkl []string
	for _, f := range zr.File {
		files[f.Name] = f
		if f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl") {
			pkl = append(pkl, f.Name)
		}
	}
	if len(pkl) != 1 {
		return nil, fmt.Errorf("%s: want one data.pkl in the archive, found %d", name, len(pkl))
	}
	prefix := strings.TrimSuffix(pkl[0], "data.pkl")
	if bo, ok := files[prefix+"byteorder"]; ok {
		b, err := readEntry(bo, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return nil, fmt.Errorf("%s: byte order %q is not supported", name, s)
		}
	}
	program, err := readEntry(files[pkl[0]], maxPickleBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	root, err := unpickle(program)
	if err != nil {
		return nil, fmt.Errorf("%s: pickle: %v", name, err)
	}
	d, ok := root.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%s: pickle holds %s, want a state dict", name, typeName(root))
	}
	storageData := map[string][]byte{}
	var out []safetensors.Tensor
	seen := map[string]bool{}
	for i, k := range d.keys {
		key, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%s: state dict key %d is %s, want a string", name, i, typeName(k))
		}
		if seen[key] {
			return nil, fmt.Errorf("%s: tensor %q appears twice", name, key)
		}
		seen[key] = true
		t, ok := d.vals[i].(*pyTensor)
		if !ok {
			return nil, fmt.Errorf("%s: %q is %s, want a tensor", name, key, typeName(d.vals[i]))
		}
		raw, ok := storageData[t.storage.key]
		if !ok {
			f, found := files[prefix+"data/"+t.storage.key]
			if !found {
				return nil, fmt.Errorf("%s: tensor %q: storage data/%s missing from the archive", name, key, t.storage.key)
			}
			raw, err = readEntry(f, maxStorageBytes)
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %q: %v", name, key, err)
			}
			storageData[t.storage.key] = raw
		}
		tt, err := t.materialize(key, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		out = append(out, tt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readEntry reads a zip entry of at most limit bytes.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%s: %d bytes, over the limit of %d", f.Name, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", f.Name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over the limit of %d bytes", f.Name, limit)
	}
	return b, nil
}

// The values the restricted unpickler builds.
type (
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct {
		keys, vals []any
		index      map[any]int
	}
	pyGlobal struct{ module, name string }
	// pyStorage is a tensor storage named by persistent id.
	pyStorage struct {
		dtype string // safetensors dtype name
		key   string
		numel int64
	}
	pyTensor struct {
		storage      *pyStorage
		offset       int64
		size, stride []int64
	}
)

// allowedGlobals maps the only globals a state dict needs to what they are.
var allowedGlobals = map[string]string{
	"collections.OrderedDict":         "dict",
	"torch._utils._rebuild_tensor_v2": "rebuild",
	"torch.FloatStorage":              "F32",
	"torch.BFloat16Storage":           "BF16",
	"torch.HalfStorage":               "F16",
}

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil:
	default:
		return fmt.Errorf("dict key of type %s is not supported", typeName(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "a bool"
	case int64:
		return "an int"
	case float64:
		return "a float"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case pyTuple:
		return "a tuple"
	case *pyList:
		return "a list"
	case *pyDict:
		return "a dict"
	case pyGlobal:
		return "global " + v.module + "." + v.name
	case *pyStorage:
		return "a storage"
	case *pyTensor:
		return "a tensor"
	}
	return fmt.Sprintf("%T", v)
}

// opNames names the opcodes refused outright, for clearer errors.
var opNames = map[byte]string{
	'i': "INST", 'o': "OBJ", 0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 'P': "PERSID", 0x82: "EXT1",
	0x83: "EXT2", 0x84: "EXT4", 'I': "INT", 'L': "LONG", 'F': "FLOAT", 'S': "STRING", 'V': "UNICODE",
	'p': "PUT", 'g': "GET", 0x8b: "LONG4", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
	0x90: "EMPTY_SET", 0x91: "FROZENSET", 0x8f: "ADDITEMS",
}

// unpickle interprets a pickle program with a whitelist of opcodes and
// globals. It builds plain values and never calls anything: REDUCE is only
// understood for OrderedDict() and _rebuild_tensor_v2.
func unpickle(data []byte) (any, error) {
	var stack []any
	var marks []int
	memo := map[uint32]any{}
	pos := 0
	errAt := func(op int, format string, args ...any) error {
		return fmt.Errorf("at byte %d: %s", op, fmt.Sprintf(format, args...))
	}
	need := func(n int) ([]byte, bool) {
		if n < 0 || pos+n > len(data) || pos+n < pos {
			return nil, false
		}
		b := data[pos : pos+n]
		pos += n
		return b, true
	}
	pop := func() (any, bool) {
		if len(stack) == 0 || (len(marks) > 0 && len(stack) == marks[len(marks)-1]) {
			return nil, false
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, true
	}
	popMark := func() ([]any, bool) {
		if len(marks) == 0 {
			return nil, false
		}
		m := marks[len(marks)-1]
		marks = marks[:len(marks)-1]
		items := append([]any(nil), stack[m:]...)
		stack = stack[:m]
		return items, true
	}
	for {
		op := pos
		if pos >= len(data) {
			return nil, errAt(op, "program ends without STOP")
		}
		if len(stack) > maxStackDepth || len(marks) > maxStackDepth {
			return nil, errAt(op, "stack deeper than %d", maxStackDepth)
		}
		code := data[pos]
		pos++
		short := func() error { return errAt(op, "opcode %#x truncated", code) }
		underflow := func() error { return errAt(op, "opcode %#x: stack underflow", code) }
		switch code {
		case 0x80: // PROTO
			b, ok := need(1)
			if !ok {
				return nil, short()
			}
			if b[0] > 5 {
				return nil, errAt(op, "pickle protocol %d is not supported", b[0])
			}
		case 0x95: // FRAME
			if _, ok := need(8); !ok {
				return nil, short()
			}
		case '.': // STOP
			v, ok := pop()
			if !ok {
				return nil, underflow()
			}
			return v, nil
		case '(': // MARK
			marks = append(marks, len(stack))
		case '0': // POP
			if _, ok := pop(); !ok {
				return nil, underflow()
			}
		case '1': // POP_MARK
			if _, ok := popMark(); !ok {
				return nil, underflow()
			}
		case '2': // DUP
			if len(stack) == 0 {
				return nil, underflow()
			}
			stack = append(stack, stack[len(stack)-1])
		case 'N':
			stack = append(stack, nil)
		case 0x88:
			stack = append(stack, true)
		case 0x89:
			stack = append(stack, false)
		case 'J': // BININT
			b, ok := need(4)
			if !ok {
				return nil, short()
			}
			stack = append(stack, int64(int32(binary.LittleEndian.Uint32(b))))
		case 'K': // BININT1
			b, ok := need(1)
			if !ok {
				return nil, short()
			}
			stack = append(stack, int64(b[0]))
		case 'M': // BININT2
			b, ok := need(2)
			if !ok {
				return nil, short()
			}
			stack = append(stack, int64(binary.LittleEndian.Uint16(b)))
		case 0x8a: // LONG1: little-endian two's complement
			n, ok := need(1)
			if !ok {
				return nil, short()
			}
			b, ok := need(int(n[0]))
			if !ok {
				return nil, short()
			}
			if len(b) > 8 {
				return nil, errAt(op, "integer of %d bytes is too large", len(b))
			}
			var u uint64
			for i := len(b) - 1; i >= 0; i-- {
				u = u<<8 | uint64(b[i])
			}
			if len(b) > 0 && len(b) < 8 && b[len(b)-1]&0x80 != 0 {
				u |= ^uint64(0) << (8 * len(b))
			}
			stack = append(stack, int64(u))
		case 'G': // BINFLOAT, big-endian
			b, ok := need(8)
			if !ok {
				return nil, short()
			}
			stack = append(stack, math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C': // strings and bytes
			var n int
			switch code {
			case 0x8c, 'U', 'C':
				b, ok := need(1)
				if !ok {
					return nil, short()
				}
				n = int(b[0])
			case 0x8d:
				b, ok := need(8)
				if !ok {
					return nil, short()
				}
				u := binary.LittleEndian.Uint64(b)
				if u > uint64(len(data)) {
					return nil, short()
				}
				n = int(u)
			default:
				b, ok := need(4)
				if !ok {
					return nil, short()
				}
				n = int(binary.LittleEndian.Uint32(b))
			}
			b, ok := need(n)
			if !ok {
				return nil, short()
			}
			if code == 'B' || code == 'C' {
				stack = append(stack, append([]byte(nil), b...))
			} else {
				stack = append(stack, string(b))
			}
		case ')':
			stack = append(stack, pyTuple{})
		case 't':
			items, ok := popMark()
			if !ok {
				return nil, underflow()
			}
			stack = append(stack, pyTuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(code - 0x84)
			t := make(pyTuple, n)
			for i := n - 1; i >= 0; i-- {
				v, ok := pop()
				if !ok {
					return nil, underflow()
				}
				t[i] = v
			}
			stack = append(stack, t)
		case ']':
			stack = append(stack, &pyList{})
		case 'l':
			items, ok := popMark()
			if !ok {
				return nil, underflow()
			}
			stack = append(stack, &pyList{items: items})
		case 'a', 'e': // APPEND, APPENDS
			var items []any
			if code == 'a' {
				v, ok := pop()
				if !ok {
					return nil, underflow()
				}
				items = []any{v}
			} else {
				var ok bool
				if items, ok = popMark(); !ok {
					return nil, underflow()
				}
			}
			if len(stack) == 0 {
				return nil, underflow()
			}
			l, ok := stack[len(stack)-1].(*pyList)
			if !ok {
				return nil, errAt(op, "append to %s", typeName(stack[len(stack)-1]))
			}
			l.items = append(l.items, items...)
		case '}':
			stack = append(stack, &pyDict{})
		case 'd', 's', 'u': // DICT, SETITEM, SETITEMS
			var items []any
			switch code {
			case 's':
				v, ok1 := pop()
				k, ok2 := pop()
				if !ok1 || !ok2 {
					return nil, underflow()
				}
				items = []any{k, v}
			default:
				var ok bool
				if items, ok = popMark(); !ok {
					return nil, underflow()
				}
			}
			if len(items)%2 != 0 {
				return nil, errAt(op, "odd number of dict items")
			}
			var d *pyDict
			if code == 'd' {
				d = &pyDict{}
				stack = append(stack, d)
			} else {
				if len(stack) == 0 {
					return nil, underflow()
				}
				var ok bool
				if d, ok = stack[len(stack)-1].(*pyDict); !ok {
					return nil, errAt(op, "set item on %s", typeName(stack[len(stack)-1]))
				}
			}
			for i := 0; i < len(items); i += 2 {
				if err := d.set(items[i], items[i+1]); err != nil {
					return nil, errAt(op, "%v", err)
				}
			}
		case 'c', 0x93: // GLOBAL, STACK_GLOBAL
			var module, name string
			if code == 'c' {
				var ok1, ok2 bool
				module, ok1 = readLine(data, &pos)
				name, ok2 = readLine(data, &pos)
				if !ok1 || !ok2 {
					return nil, short()
				}
			} else {
				n, ok1 := pop()
				m, ok2 := pop()
				if !ok1 || !ok2 {
					return nil, underflow()
				}
				var okm, okn bool
				module, okm = m.(string)
				name, okn = n.(string)
				if !okm || !okn {
					return nil, errAt(op, "STACK_GLOBAL needs two strings")
				}
			}
			full := module + "." + name
			if _, ok := allowedGlobals[full]; !ok {
				return nil, errAt(op, "global %s is not allowed: a state dict needs only OrderedDict, _rebuild_tensor_v2 and Float/BFloat16/Half storages; refusing the file, nothing was executed", strconv.Quote(full))
			}
			stack = append(stack, pyGlobal{module, name})
		case 'R': // REDUCE
			args, ok1 := pop()
			fn, ok2 := pop()
			if !ok1 || !ok2 {
				return nil, underflow()
			}
			g, ok := fn.(pyGlobal)
			if !ok {
				return nil, errAt(op, "REDUCE on %s", typeName(fn))
			}
			a, ok := args.(pyTuple)
			if !ok {
				return nil, errAt(op, "REDUCE with %s arguments", typeName(args))
			}
			v, err := reduce(g, a)
			if err != nil {
				return nil, errAt(op, "%v", err)
			}
			stack = append(stack, v)
		case 'b': // BUILD: only the _metadata state of an OrderedDict
			state, ok := pop()
			if !ok || len(stack) == 0 {
				return nil, underflow()
			}
			if _, ok := stack[len(stack)-1].(*pyDict); !ok {
				return nil, errAt(op, "BUILD on %s", typeName(stack[len(stack)-1]))
			}
			switch state.(type) {
			case nil, *pyDict, pyTuple:
			default:
				return nil, errAt(op, "BUILD with %s", typeName(state))
			}
		case 'Q': // BINPERSID
			pid, ok := pop()
			if !ok {
				return nil, underflow()
			}
			s, err := persistentStorage(pid)
			if err != nil {
				return nil, errAt(op, "%v", err)
			}
			stack = append(stack, s)
		case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
			if len(stack) == 0 {
				return nil, underflow()
			}
			var idx uint32
			switch code {
			case 'q':
				b, ok := need(1)
				if !ok {
					return nil, short()
				}
				idx = uint32(b[0])
			case 'r':
				b, ok := need(4)
				if !ok {
					return nil, short()
				}
				idx = binary.LittleEndian.Uint32(b)
			default:
				idx = uint32(len(memo))
			}
			memo[idx] = stack[len(stack)-1]
		case 'h', 'j': // BINGET, LONG_BINGET
			var idx uint32
			if code == 'h' {
				b, ok := need(1)
				if !ok {
					return nil, short()
				}
				idx = uint32(b[0])
			} else {
				b, ok := need(4)
				if !ok {
					return nil, short()
				}
				idx = binary.LittleEndian.Uint32(b)
			}
			v, ok := memo[idx]
			if !ok {
				return nil, errAt(op, "memo %d is empty", idx)
			}
			stack = append(stack, v)
		default:
			if n, ok := opNames[code]; ok {
				return nil, errAt(op, "opcode %s is not allowed in a state dict; refusing the file, nothing was executed", n)
			}
			return nil, errAt(op, "unknown or disallowed opcode %#x", code)
		}
	}
}

// readLine reads a newline-terminated ASCII line for GLOBAL.
func readLine(data []byte, pos *int) (string, bool) {
	i := bytes.IndexByte(data[*pos:], '\n')
	if i < 0 || i > 256 {
		return "", false
	}
	s := string(data[*pos : *pos+i])
	*pos += i + 1
	return s, true
}

// reduce "calls" one of the two allowed callables without running anything:
// OrderedDict() makes an empty dict, _rebuild_tensor_v2 records a tensor.
func reduce(g pyGlobal, args pyTuple) (any, error) {
	switch allowedGlobals[g.module+"."+g.name] {
	case "dict":
		if len(args) != 0 {
			return nil, errors.New("OrderedDict called with arguments")
		}
		return &pyDict{}, nil
	case "rebuild":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(args) != 6 && len(args) != 7 {
			return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments, want 6 or 7", len(args))
		}
		s, ok := args[0].(*pyStorage)
		if !ok {
			return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %s", typeName(args[0]))
		}
		off, ok := args[1].(int64)
		if !ok || off < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: bad storage offset %v", args[1])
		}
		size, err := intTuple(args[2], "size")
		if err != nil {
			return nil, err
		}
		stride, err := intTuple(args[3], "stride")
		if err != nil {
			return nil, err
		}
		if len(size) != len(stride) {
			return nil, fmt.Errorf("_rebuild_tensor_v2: size %v and stride %v differ in rank", size, stride)
		}
		return &pyTensor{storage: s, offset: off, size: size, stride: stride}, nil
	}
	return nil, fmt.Errorf("%s.%s cannot be called", g.module, g.name)
}

func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %s is %s, want a tuple", what, typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("_rebuild_tensor_v2: %s[%d] is %v", what, i, x)
		}
		out[i] = n
	}
	return out, nil
}

// persistentStorage decodes torch's persistent id
// ('storage', StorageClass, key, location, numel).
func persistentStorage(pid any) (*pyStorage, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("persistent id %s is not a ('storage', …) tuple", typeName(pid))
	}
	g, ok := t[1].(pyGlobal)
	dtype := ""
	if ok {
		dtype = allowedGlobals[g.module+"."+g.name]
	}
	if _, isSize := safetensors.ItemSize(dtype); !isSize {
		return nil, fmt.Errorf("storage type %s is not supported", typeName(t[1]))
	}
	key, ok := t[2].(string)
	if !ok || key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return nil, fmt.Errorf("storage key %v is not valid", t[2])
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 || numel > maxStorageBytes {
		return nil, fmt.Errorf("storage size %v is not valid", t[4])
	}
	return &pyStorage{dtype: dtype, key: key, numel: numel}, nil
}

// materialize copies the tensor's elements out of its storage bytes into a
// contiguous row-major tensor, checking every index stays inside.
func (t *pyTensor) materialize(name string, raw []byte) (safetensors.Tensor, error) {
	item, _ := safetensors.ItemSize(t.storage.dtype)
	if int64(len(raw)) != t.storage.numel*int64(item) {
		return safetensors.Tensor{}, fmt.Errorf("tensor %q: storage %s has %d bytes, want %d elements of %d", name, t.storage.key, len(raw), t.storage.numel, item)
	}
	n := int64(1)
	for _, s := range t.size {
		if s != 0 && n > maxTensorElems/s {
			return safetensors.Tensor{}, fmt.Errorf("tensor %q: size %v is too large", name, t.size)
		}
		n *= s
	}
	if n > t.storage.numel {
		return safetensors.Tensor{}, fmt.Errorf("tensor %q: size %v has more elements than its storage of %d: overlapping views are not supported", name, t.size, t.storage.numel)
	}
	if n > 0 {
		if t.offset >= t.storage.numel {
			return safetensors.Tensor{}, fmt.Errorf("tensor %q: offset %d past storage of %d elements", name, t.offset, t.storage.numel)
		}
		// With n ≤ maxTensorElems and each stride ≤ numel, last cannot overflow.
		last := t.offset
		for i, s := range t.size {
			if t.stride[i] > t.storage.numel {
				return safetensors.Tensor{}, fmt.Errorf("tensor %q: stride %v reaches past storage of %d elements", name, t.stride, t.storage.numel)
			}
			last += (s - 1) * t.stride[i]
		}
		if last >= t.storage.numel {
			return safetensors.Tensor{}, fmt.Errorf("tensor %q: size %v stride %v offset %d reach past storage of %d elements", name, t.size, t.stride, t.offset, t.storage.numel)
		}
	}
	shape := make([]int, len(t.size))
	for i, s := range t.size {
		shape[i] = int(s)
	}
	out := make([]byte, 0, n*int64(item))
	idx := make([]int64, len(t.size))
	for e := int64(0); e < n; e++ {
		off := t.offset
		for d, i := range idx {
			off += i * t.stride[d]
		}
		out = append(out, raw[off*int64(item):(off+1)*int64(item)]...)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return safetensors.Tensor{Name: name, DType: t.storage.dtype, Shape: shape, Data: out}, nil
}
