package tensorboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// TFRecord framing, as TensorFlow's record_writer and TensorBoard's reader
// use it. Each record is
//
//	uint64 length (little-endian)
//	uint32 masked CRC32C of those 8 length bytes
//	length bytes of data
//	uint32 masked CRC32C of the data
//
// with mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2³²), a rotation
// that keeps a CRC of data holding CRCs from being trivially zero.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is the masked CRC32C (Castagnoli) of b.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// appendRecord frames data as one TFRecord and appends it to dst.
func appendRecord(dst, data []byte) []byte {
	var head [8]byte
	binary.LittleEndian.PutUint64(head[:], uint64(len(data)))
	dst = append(dst, head[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, maskedCRC(head[:]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, maskedCRC(data))
}

// MaxRecord is the largest record the reader accepts; a length beyond it is
// a corrupt header, not an allocation to attempt. Event files hold events of
// a few dozen bytes.
const MaxRecord = 64 << 20

// ErrCorrupt is wrapped by every error about malformed event-file bytes.
var ErrCorrupt = errors.New("corrupt event file")

// recordReader reads TFRecords from r, verifying both CRCs.
type recordReader struct {
	r   io.Reader
	off int64 // offset of the next record
}

// next returns the next record's data, io.EOF at a clean end, and an error
// wrapping ErrCorrupt (with the record's offset) for a truncated record, a
// length out of range or a CRC mismatch.
func (rr *recordReader) next() ([]byte, error) {
	var head [12]byte
	n, err := io.ReadFull(rr.r, head[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, rr.corrupt("truncated header (%d of 12 bytes)", n)
		}
		return nil, err
	}
	if got, want := binary.LittleEndian.Uint32(head[8:]), maskedCRC(head[:8]); got != want {
		return nil, rr.corrupt("length CRC %#08x, want %#08x", got, want)
	}
	size := binary.LittleEndian.Uint64(head[:8])
	if size > MaxRecord {
		return nil, rr.corrupt("record length %d exceeds %d", size, MaxRecord)
	}
	buf := make([]byte, size+4)
	if n, err := io.ReadFull(rr.r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, rr.corrupt("truncated record (%d of %d bytes)", n, size+4)
		}
		return nil, err
	}
	data := buf[:size]
	if got, want := binary.LittleEndian.Uint32(buf[size:]), maskedCRC(data); got != want {
		return nil, rr.corrupt("data CRC %#08x, want %#08x", got, want)
	}
	rr.off += 12 + int64(size) + 4
	return data, nil
}

func (rr *recordReader) corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: record at byte %d: %s", ErrCorrupt, rr.off, fmt.Sprintf(format, a...))
}
