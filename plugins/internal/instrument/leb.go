package instrument

import "unicode/utf8"

// reader decodes the WebAssembly binary encoding. Every method fails with
// ErrUnsupported on truncated or malformed input instead of panicking.
type reader struct {
	b   []byte
	off int
}

func (rd *reader) done() bool { return rd.off >= len(rd.b) }

func (rd *reader) byte() (byte, error) {
	if rd.off >= len(rd.b) {
		return 0, unsupported("truncated at offset %d", rd.off)
	}
	c := rd.b[rd.off]
	rd.off++
	return c, nil
}

func (rd *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(rd.b)-rd.off {
		return nil, unsupported("truncated at offset %d", rd.off)
	}
	b := rd.b[rd.off : rd.off+n]
	rd.off += n
	return b, nil
}

// section reads an id byte then a body prefixed by its u32 size: the shape
// of a module's sections and of the name section's subsections.
func (rd *reader) section() (id byte, body []byte, err error) {
	if id, err = rd.byte(); err != nil {
		return 0, nil, err
	}
	size, err := rd.u32()
	if err != nil {
		return 0, nil, err
	}
	body, err = rd.bytes(int(size))
	return id, body, err
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (rd *reader) uleb(bits int) (uint64, error) {
	var v uint64
	for shift := 0; ; shift += 7 {
		c, err := rd.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits || (bits-shift < 7 && uint64(c&0x7f)>>(bits-shift) != 0) {
			return 0, unsupported("integer too large at offset %d", rd.off-1)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

func (rd *reader) u32() (uint32, error) {
	v, err := rd.uleb(32)
	return uint32(v), err
}

func (rd *reader) u32s(n int) error {
	for range n {
		if _, err := rd.u32(); err != nil {
			return err
		}
	}
	return nil
}

// sleb reads a signed LEB128 of at most bits bits.
func (rd *reader) sleb(bits int) error {
	_, err := rd.slebValue(bits)
	return err
}

func (rd *reader) slebValue(bits int) (int64, error) {
	var v int64
	shift := 0
	for {
		c, err := rd.byte()
		if err != nil {
			return 0, err
		}
		if shift >= bits {
			return 0, unsupported("integer too large at offset %d", rd.off-1)
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
}

func (rd *reader) name() (string, error) {
	n, err := rd.u32()
	if err != nil {
		return "", err
	}
	b, err := rd.bytes(int(n))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", unsupported("name is not UTF-8")
	}
	return string(b), nil
}

// valType reads a value type: the numeric types, v128, funcref, externref.
func (rd *reader) valType() error {
	c, err := rd.byte()
	if err != nil {
		return err
	}
	switch c {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return nil
	}
	return unsupported("value type 0x%02x", c)
}

// blockType reads a block type: empty, one value type or a type index.
func (rd *reader) blockType() error {
	if rd.off < len(rd.b) && rd.b[rd.off] == 0x40 {
		rd.off++
		return nil
	}
	if rd.off < len(rd.b) && rd.b[rd.off]&0xc0 == 0x40 { // one-byte negative: a value type
		return rd.valType()
	}
	v, err := rd.slebValue(33)
	if err != nil {
		return err
	}
	if v < 0 {
		return unsupported("block type %d", v)
	}
	return nil
}

func (rd *reader) limits() error {
	flags, err := rd.byte()
	if err != nil {
		return err
	}
	if flags > 7 {
		return unsupported("limits flags %d", flags)
	}
	if _, err := rd.uleb(64); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = rd.uleb(64)
	}
	return err
}

// memarg reads alignment (with the multi-memory index flag) and offset.
func (rd *reader) memarg() error {
	align, err := rd.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := rd.u32(); err != nil {
			return err
		}
	}
	_, err = rd.uleb(64)
	return err
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// uintLen returns the length of the unsigned LEB128 at the start of b
// (b has been decoded before: it is well formed).
func uintLen(b []byte) int {
	for i, c := range b {
		if c&0x80 == 0 {
			return i + 1
		}
	}
	return len(b)
}
