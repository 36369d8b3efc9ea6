package stream

import (
	"errors"

	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/session"
)

// trailerView is a stream's request or response trailer section, as
// filters see it.
type trailerView struct {
	// raw collects an HTTP/1.1 trailer section as received
	// (h1.ChunkedScanner.ScanDataTrailers); fields point into it, or at
	// copies of what filters and HTTP/2 frames gave.
	raw    []byte
	fields []h1.Field
	// open: the section arrived and has not been forwarded; only then
	// can filters change it.
	open bool
}

var errNoTrailers = errors.New("no trailer section to change: the body has not ended with one, or it has been forwarded")

func (t *trailerView) reset() {
	t.raw = t.raw[:0]
	clear(t.fields)
	t.fields = t.fields[:0]
	t.open = false
}

func (t *trailerView) Len() int { return len(t.fields) }

func (t *trailerView) At(i int) (name, value []byte) {
	if i < 0 || i >= len(t.fields) {
		return nil, nil
	}
	return t.fields[i].Name, t.fields[i].Value
}

func (t *trailerView) Get(name []byte) ([]byte, bool) {
	for _, f := range t.fields {
		if session.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return nil, false
}

func (t *trailerView) Set(name, value []byte) error {
	if err := t.check(name, value); err != nil {
		return err
	}
	t.fields = session.DelFields(t.fields, name)
	return t.Add(name, value)
}

func (t *trailerView) Add(name, value []byte) error {
	if err := t.check(name, value); err != nil {
		return err
	}
	// The filter's bytes are its own only during the call: copy them.
	t.fields = append(t.fields, h1.Field{Name: append([]byte(nil), name...), Value: append([]byte(nil), value...)})
	return nil
}

func (t *trailerView) Del(name []byte) error {
	if !t.open {
		return errNoTrailers
	}
	t.fields = session.DelFields(t.fields, name)
	return nil
}

// check refuses a write the engine cannot forward: no open section, a
// pseudo-header field (none in trailers, RFC 9113 §8.1), an invalid field.
func (t *trailerView) check(name, value []byte) error {
	switch {
	case !t.open:
		return errNoTrailers
	case len(name) > 0 && name[0] == ':':
		return errors.New("a trailer section has no pseudo-header fields")
	case !h1.ValidFieldName(name) || !h1.ValidFieldValue(value):
		return errBadField
	}
	return nil
}

// requestTrailers collects the request's trailer section when its body
// has ended, and runs the chain's RequestTrailers on it.
func (fr *filterRun) requestTrailers() filterAction {
	t := &fr.reqTr
	fr.x.fr.requestTrailers(t)
	if len(t.fields) == 0 {
		return actContinue
	}
	t.open = true
	act := actContinue
	for i := 0; i < len(fr.started) && act == actContinue; i++ {
		act = fr.settle(fr.started[i].sf.RequestTrailers(), false)
	}
	return act
}

// responseTrailers collects the response's trailer section (an HTTP/2
// server's was added by the reader) when its body has ended, and runs
// the chain's ResponseTrailers on it, in reverse.
func (fr *filterRun) responseTrailers() filterAction {
	t := &fr.respTr
	t.fields = h1.ParseTrailers(t.raw, t.fields)
	if len(t.fields) == 0 {
		return actContinue
	}
	t.open = true
	act := actContinue
	for i := len(fr.started) - 1; i >= 0 && act == actContinue; i-- {
		act = fr.settle(fr.started[i].sf.ResponseTrailers(), true)
	}
	return act
}

// takeRequestTrailers returns the request trailer section the chain let
// through, for the server, and closes it to filters; nil without one.
func (x *exchange) takeRequestTrailers() []h1.Field {
	if x.flt == nil {
		return nil
	}
	x.flt.reqTr.open = false
	return x.flt.reqTr.fields
}

// writeResponseTrailers ends a filtered response, its body sent, with the
// trailer section the chain let through, written by the client's front.
func (x *exchange) writeResponseTrailers(cc *Conn) error {
	t := &x.flt.respTr
	t.open = false
	return x.fr.writeTrailers(cc, x, t.fields)
}

// lastChunk ends a chunked body without trailers (read-only).
var lastChunk = []byte("0\r\n\r\n")

// appendLastChunk appends the last chunk of an HTTP/1.1 chunked body with
// the trailer section fs.
func appendLastChunk(dst []byte, fs []h1.Field) []byte {
	dst = append(dst, "0\r\n"...)
	for _, f := range fs {
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "\r\n"...)
}
