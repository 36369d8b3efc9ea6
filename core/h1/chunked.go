package h1

import (
	"bytes"
	"math"
)

// Bounds the chunked scanner applies.
const (
	// MaxChunkSizeDigits bounds the hex digits of a chunk size, leading
	// zeros included; the size must also fit an int64.
	MaxChunkSizeDigits = 16
	// MaxChunkExtBytes bounds what follows the chunk size on its line
	// (whitespace and chunk extensions), CRLF excluded.
	MaxChunkExtBytes = 4096
	// MaxTrailerBytes bounds the trailer section, its final CRLF included.
	MaxTrailerBytes = 16384
)

type chunkState uint8

// The order matters: the states from csSizeBWS to csExtPostVal are the
// chunk extension states (bounded by MaxChunkExtBytes), the states from
// csTrailerStart to csTrailerEndLF the trailer states (bounded by
// MaxTrailerBytes).
const (
	csSize          chunkState = iota // chunk-size hex digits
	csSizeBWS                         // BWS after the size: ';' must follow
	csExtPreName                      // after ';', BWS then a name
	csExtName                         // chunk-ext-name
	csExtPostName                     // BWS after a name: '=' or ';' must follow
	csExtPreVal                       // after '=', BWS then a token or quoted-string
	csExtToken                        // chunk-ext-val as a token
	csExtQuoted                       // inside a quoted-string
	csExtQuotedPair                   // after '\' in a quoted-string
	csExtAfterQuote                   // after the closing '"'
	csExtPostVal                      // BWS after a value: ';' must follow
	csLineLF                          // CR of the chunk line seen, LF expected
	csData                            // chunk data, size bytes left
	csDataCR                          // CRLF after the data
	csDataLF                          //
	csTrailerStart                    // start of a trailer line, or the final CRLF
	csTrailerName                     // field-name
	csTrailerValue                    // field-value up to CR
	csTrailerLF                       // LF ending a trailer line
	csTrailerEndLF                    // LF ending the trailer section
	csDone                            // message complete
)

// ChunkedScanner validates and delimits a chunked message body (RFC 9112
// §7.1) as it streams through unchanged: feed it the bytes that follow the
// head, in pieces of any size, and it reports where the body ends. It
// never copies or allocates. The zero value is ready to scan a body.
//
// Accepted: chunk-size of 1 to MaxChunkSizeDigits hex digits fitting an
// int64; chunk extensions ";name" or ";name=value" (value a token or a
// quoted-string), with BWS around ';' and '=', at most MaxChunkExtBytes per
// line; CRLF after every line and after the chunk data; trailer fields with
// a token name, ':' and a field value without CTLs other than HTAB, at most
// MaxTrailerBytes in all. Anything else, bare LF and bare CR included, is
// an *Error with Status 400 (a caller scanning a response body answers
// 502). Trailer fields are validated only, not interpreted.
type ChunkedScanner struct {
	state  chunkState
	digits uint8
	size   uint64 // chunk size being read, then data bytes left
	n      int    // extension bytes on the current line, or trailer bytes
	err    *Error // sticky
}

// Reset prepares c for the next body.
func (c *ChunkedScanner) Reset() { *c = ChunkedScanner{} }

// Scan consumes the next piece p of the body. n is how many bytes of p
// belong to the body: all of them unless it ended (done is true and
// p[n:] starts the next message) or was rejected (err is an *Error and
// p[n] is the first offending byte). The outcome does not depend on how the
// stream is split. After done, Scan returns 0, true, nil; after an error it
// returns 0, false and the same error, until Reset.
func (c *ChunkedScanner) Scan(p []byte) (n int, done bool, err error) {
	if c.err != nil {
		return 0, false, c.err
	}
	st := c.state
	if st == csDone {
		return 0, true, nil
	}
	i := 0
	for i < len(p) {
		if st == csData {
			k := uint64(len(p) - i)
			if k >= c.size {
				k = c.size
				st = csDataCR
			}
			c.size -= k
			i += int(k)
			continue
		}
		b := p[i]
		switch {
		case st >= csSizeBWS && st <= csExtPostVal:
			// The CR ending the line is not part of the extensions.
			if c.n++; c.n > MaxChunkExtBytes && b != '\r' {
				return c.fail(i, errChunkExtLong)
			}
		case st >= csTrailerStart:
			if c.n++; c.n > MaxTrailerBytes {
				return c.fail(i, errTrailerTooLong)
			}
		}
		k := class[b]
		switch st {
		case csSize:
			if k&cHex != 0 {
				if c.digits == MaxChunkSizeDigits || c.size > math.MaxInt64>>4 {
					return c.fail(i, errChunkSizeLong)
				}
				c.digits++
				c.size = c.size<<4 | uint64(unhex(b))
				break
			}
			if c.digits == 0 {
				return c.fail(i, errChunkSize)
			}
			switch {
			case b == '\r':
				st = csLineLF
			case b == ';':
				st = csExtPreName
				c.n = 1
			case k&cSpace != 0:
				st = csSizeBWS
				c.n = 1
			default:
				return c.fail(i, errChunkSize)
			}
		case csSizeBWS, csExtPostVal:
			if b == ';' {
				st = csExtPreName
			} else if k&cSpace == 0 {
				return c.fail(i, errChunkExt)
			}
		case csExtPreName:
			if k&cTchar != 0 {
				st = csExtName
			} else if k&cSpace == 0 {
				return c.fail(i, errChunkExt)
			}
		case csExtName:
			switch {
			case k&cTchar != 0:
			case b == '=':
				st = csExtPreVal
			case b == ';':
				st = csExtPreName
			case b == '\r':
				st = csLineLF
			case k&cSpace != 0:
				st = csExtPostName
			default:
				return c.fail(i, errChunkExt)
			}
		case csExtPostName:
			switch {
			case b == '=':
				st = csExtPreVal
			case b == ';':
				st = csExtPreName
			case k&cSpace == 0:
				return c.fail(i, errChunkExt)
			}
		case csExtPreVal:
			switch {
			case b == '"':
				st = csExtQuoted
			case k&cTchar != 0:
				st = csExtToken
			case k&cSpace == 0:
				return c.fail(i, errChunkExt)
			}
		case csExtToken, csExtAfterQuote:
			switch {
			case k&cTchar != 0 && st == csExtToken:
			case b == ';':
				st = csExtPreName
			case b == '\r':
				st = csLineLF
			case k&cSpace != 0:
				st = csExtPostVal
			default:
				return c.fail(i, errChunkExt)
			}
		case csExtQuoted:
			switch {
			case b == '"':
				st = csExtAfterQuote
			case b == '\\':
				st = csExtQuotedPair
			case k&cValue == 0: // qdtext is field-vchar / SP / HTAB but '"' and '\'
				return c.fail(i, errChunkExt)
			}
		case csExtQuotedPair:
			if k&cValue == 0 {
				return c.fail(i, errChunkExt)
			}
			st = csExtQuoted
		case csLineLF:
			if b != '\n' {
				return c.fail(i, errChunkLineEnd)
			}
			c.n = 0
			if c.size == 0 {
				st = csTrailerStart
			} else {
				st = csData
			}
		case csDataCR:
			if b != '\r' {
				return c.fail(i, errChunkDataEnd)
			}
			st = csDataLF
		case csDataLF:
			if b != '\n' {
				return c.fail(i, errChunkDataEnd)
			}
			st, c.digits, c.size = csSize, 0, 0
		case csTrailerStart:
			switch {
			case b == '\r':
				st = csTrailerEndLF
			case k&cTchar != 0:
				st = csTrailerName
			default:
				return c.fail(i, errTrailerField)
			}
		case csTrailerName:
			switch {
			case b == ':':
				st = csTrailerValue
			case k&cTchar == 0:
				return c.fail(i, errTrailerField)
			}
		case csTrailerValue:
			switch {
			case b == '\r':
				st = csTrailerLF
			case k&cValue == 0:
				return c.fail(i, errTrailerField)
			}
		case csTrailerLF:
			if b != '\n' {
				return c.fail(i, errTrailerField)
			}
			st = csTrailerStart
		case csTrailerEndLF:
			if b != '\n' {
				return c.fail(i, errTrailerField)
			}
			c.state = csDone
			return i + 1, true, nil
		}
		i++
	}
	c.state = st
	return len(p), false, nil
}

func (c *ChunkedScanner) fail(i int, err *Error) (int, bool, error) {
	c.err = err
	return i, false, err
}

func unhex(b byte) byte {
	switch {
	case b <= '9':
		return b - '0'
	case b >= 'a':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}

// ScanData is Scan for a reader that wants the body's content rather than
// its framing (an HTTP/2 client of an HTTP/1.1 server): it also appends the
// chunk data found in p[:n] to dst and returns the extended slice. Chunk
// lines and trailers are validated as Scan does and dropped.
func (c *ChunkedScanner) ScanData(p, dst []byte) (n int, done bool, out []byte, err error) {
	return c.scanData(p, dst, nil)
}

// ScanDataTrailers is ScanData that also appends the trailer section's
// bytes, as received, to *tr (for a reader that forwards trailers: see
// ParseTrailers).
func (c *ChunkedScanner) ScanDataTrailers(p, dst []byte, tr *[]byte) (n int, done bool, out []byte, err error) {
	return c.scanData(p, dst, tr)
}

func (c *ChunkedScanner) scanData(p, dst []byte, tr *[]byte) (n int, done bool, out []byte, err error) {
	for n < len(p) && c.err == nil && c.state != csDone {
		k := 1 // framing goes through Scan a byte at a time: lines are short
		if c.state == csData && c.size > 0 {
			k = len(p) - n
			if uint64(k) > c.size {
				k = int(c.size)
			}
			dst = append(dst, p[n:n+k]...)
		}
		trailer := tr != nil && c.state >= csTrailerStart
		m, d, e := c.Scan(p[n : n+k])
		if trailer {
			*tr = append(*tr, p[n:n+m]...)
		}
		n += m
		if e != nil || d {
			return n, d, dst, e
		}
	}
	if c.err != nil {
		return n, false, dst, c.err
	}
	return n, c.state == csDone, dst, nil
}

// ParseTrailers appends to fs the fields of a trailer section that a
// ChunkedScanner validated (ScanDataTrailers), their bytes in raw's. The
// final empty line, if there, ends it.
func ParseTrailers(raw []byte, fs []Field) []Field {
	for len(raw) > 0 {
		line := raw
		if i := bytes.Index(raw, []byte("\r\n")); i >= 0 {
			line, raw = raw[:i], raw[i+2:]
		} else {
			raw = nil
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		fs = append(fs, Field{Name: line[:i], Value: bytes.Trim(line[i+1:], " \t")})
	}
	return fs
}
