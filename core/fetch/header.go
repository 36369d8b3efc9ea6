package fetch

import (
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
)

// Header lookups work on h1.Field lists in place and never allocate. Field
// names compare ASCII case-insensitively. A "value" (req.hdr) is one
// comma-separated element of a field, with optional whitespace around it
// trimmed and commas inside double quotes kept, as HAProxy splits them; a
// "full value" (req.fhdr) is the whole field value.

// isOWS reports whether c is optional whitespace (SP or HTAB).
func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextElem returns the comma-separated element of v that starts at off,
// trimmed, and the offset just past its comma (len(v)+1 after the last).
func nextElem(v []byte, off int) (elem []byte, next int) {
	i := off
	inQuote := false
	for ; i < len(v); i++ {
		c := v[i]
		if inQuote {
			if c == '\\' && i+1 < len(v) {
				i++
			} else if c == '"' {
				inQuote = false
			}
			continue
		}
		if c == '"' {
			inQuote = true
		} else if c == ',' {
			break
		}
	}
	return trimOWS(v[off:i]), i + 1
}

// countElems returns the number of comma-separated elements of the fields
// called name (every field when name is empty).
func countElems(fs []h1.Field, name []byte) int {
	n := 0
	for i := range fs {
		if len(name) > 0 && !session.EqualFold(fs[i].Name, name) {
			continue
		}
		v := fs[i].Value
		for off := 0; off <= len(v); {
			_, off = nextElem(v, off)
			n++
		}
	}
	return n
}

// countFields returns the number of fields called name (every field when
// name is empty).
func countFields(fs []h1.Field, name []byte) int {
	if len(name) == 0 {
		return len(fs)
	}
	n := 0
	for i := range fs {
		if session.EqualFold(fs[i].Name, name) {
			n++
		}
	}
	return n
}

// elemAt returns the occ-th comma-separated element of the fields called
// name: 1 is the first, -1 the last, 0 also means the last.
func elemAt(fs []h1.Field, name []byte, occ int64) ([]byte, bool) {
	if occ == 0 || occ == -1 {
		return lastElem(fs, name)
	}
	if occ < 0 {
		occ = int64(countElems(fs, name)) + occ + 1
		if occ <= 0 {
			return nil, false
		}
	}
	var n int64
	for i := range fs {
		if len(name) > 0 && !session.EqualFold(fs[i].Name, name) {
			continue
		}
		v := fs[i].Value
		for off := 0; off <= len(v); {
			var e []byte
			e, off = nextElem(v, off)
			n++
			if n == occ {
				return e, true
			}
		}
	}
	return nil, false
}

// lastElem returns the last comma-separated element of the fields called
// name, in one pass.
func lastElem(fs []h1.Field, name []byte) ([]byte, bool) {
	for i := len(fs) - 1; i >= 0; i-- {
		if len(name) > 0 && !session.EqualFold(fs[i].Name, name) {
			continue
		}
		v := fs[i].Value
		var last []byte
		for off := 0; off <= len(v); {
			last, off = nextElem(v, off)
		}
		return last, true
	}
	return nil, false
}

// fieldAt returns the value of the occ-th field called name: 1 is the
// first, -1 (or 0) the last.
func fieldAt(fs []h1.Field, name []byte, occ int64) ([]byte, bool) {
	if occ == 0 {
		occ = -1
	}
	if occ < 0 {
		occ = int64(countFields(fs, name)) + occ + 1
		if occ <= 0 {
			return nil, false
		}
	}
	var n int64
	for i := range fs {
		if len(name) > 0 && !session.EqualFold(fs[i].Name, name) {
			continue
		}
		n++
		if n == occ {
			return fs[i].Value, true
		}
	}
	return nil, false
}

// firstField returns the value of the first field called name.
func firstField(fs []h1.Field, name []byte) ([]byte, bool) {
	for i := range fs {
		if session.EqualFold(fs[i].Name, name) {
			return fs[i].Value, true
		}
	}
	return nil, false
}

// Cursors for iterating over header elements pack the field index (plus one)
// in the high 32 bits and the offset inside the field value in the low ones;
// 0 is the start.
func packCursor(field, off int) uint64 { return uint64(field+1)<<32 | uint64(uint32(off)) }

func unpackCursor(c uint64) (field, off int) {
	if c == 0 {
		return 0, 0
	}
	return int(c>>32) - 1, int(uint32(c))
}

// nextElemIn continues an iteration over the elements of the fields called
// name from cursor; it returns the element and the cursor after it.
func nextElemIn(fs []h1.Field, name []byte, cursor uint64) ([]byte, uint64, bool) {
	fi, off := unpackCursor(cursor)
	for ; fi < len(fs); fi, off = fi+1, 0 {
		if len(name) > 0 && !session.EqualFold(fs[fi].Name, name) {
			continue
		}
		v := fs[fi].Value
		if off > len(v) {
			continue
		}
		e, next := nextElem(v, off)
		return e, packCursor(fi, next), true
	}
	return nil, 0, false
}

// nextFieldIn continues an iteration over the fields called name.
func nextFieldIn(fs []h1.Field, name []byte, cursor uint64) ([]byte, uint64, bool) {
	fi, _ := unpackCursor(cursor)
	if cursor != 0 {
		fi++
	}
	for ; fi < len(fs); fi++ {
		if len(name) > 0 && !session.EqualFold(fs[fi].Name, name) {
			continue
		}
		return fs[fi].Value, packCursor(fi, 0), true
	}
	return nil, 0, false
}
