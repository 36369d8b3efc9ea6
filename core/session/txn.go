package session

import (
	"github.com/strata-proxy/strata/core/h1"
)

// Txn is the L7 HTTP transaction: the parsed request and response and the
// edits rules made to them. Unedited heads are forwarded as the bytes that
// were received; an edited head is serialised again.
//
// An edit that would be invalid on the wire (a field name, value, method,
// path or query with CR, LF, NUL or other controls) is refused: the setter
// leaves the head unchanged and returns false. The caller decides what a
// refusal means; a rule records it as the stream's failure
// (fetch.Ctx.Fail(CauseRewrite)) so that, as with HAProxy's strict
// rewrite mode, the engine answers 500 rather than forward a head that
// differs from what the rules asked for.
type Txn struct {
	Req  h1.Request
	Resp h1.Response

	ReqEdited  bool // the request head must be serialised from Req
	RespEdited bool // the response head must be serialised from Resp

	// Status is the status sent to the client (0 until a response starts).
	Status int

	// arena stores bytes written by edits. It is replaced, never grown in
	// place, so slices handed out earlier stay valid until Reset.
	arena []byte
}

// Reset clears t for the next transaction, keeping its storage.
func (t *Txn) Reset() {
	reqFields, respFields := t.Req.Fields[:0], t.Resp.Fields[:0]
	arena := t.arena[:0]
	*t = Txn{arena: arena}
	t.Req.Fields, t.Resp.Fields = reqFields, respFields
}

// Keep copies b into storage that lives until Reset and returns the copy.
func (t *Txn) Keep(b []byte) []byte {
	if cap(t.arena)-len(t.arena) < len(b) {
		t.arena = make([]byte, 0, max(1024, len(b)))
	}
	n := len(t.arena)
	t.arena = append(t.arena, b...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

// KeepString is Keep for a string.
func (t *Txn) KeepString(s string) []byte {
	if cap(t.arena)-len(t.arena) < len(s) {
		t.arena = make([]byte, 0, max(1024, len(s)))
	}
	n := len(t.arena)
	t.arena = append(t.arena, s...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

// SetReqHeader replaces every request field called name by one with
// value; false when the field is invalid (nothing changed).
func (t *Txn) SetReqHeader(name, value []byte) bool {
	if !validField(name, value) {
		return false
	}
	t.Req.Fields = DelFields(t.Req.Fields, name)
	t.Req.Fields = append(t.Req.Fields, h1.Field{Name: t.Keep(name), Value: t.Keep(value)})
	t.ReqEdited = true
	return true
}

// AddReqHeader appends a request field; false when it is invalid.
func (t *Txn) AddReqHeader(name, value []byte) bool {
	if !validField(name, value) {
		return false
	}
	t.Req.Fields = append(t.Req.Fields, h1.Field{Name: t.Keep(name), Value: t.Keep(value)})
	t.ReqEdited = true
	return true
}

// DelReqHeader removes every request field called name and returns how many.
func (t *Txn) DelReqHeader(name []byte) int {
	n := len(t.Req.Fields)
	t.Req.Fields = DelFields(t.Req.Fields, name)
	if d := n - len(t.Req.Fields); d > 0 {
		t.ReqEdited = true
		return d
	}
	return 0
}

// SetRespHeader replaces every response field called name by one with
// value; false when the field is invalid (nothing changed).
func (t *Txn) SetRespHeader(name, value []byte) bool {
	if !validField(name, value) {
		return false
	}
	t.Resp.Fields = DelFields(t.Resp.Fields, name)
	t.Resp.Fields = append(t.Resp.Fields, h1.Field{Name: t.Keep(name), Value: t.Keep(value)})
	t.RespEdited = true
	return true
}

// AddRespHeader appends a response field; false when it is invalid.
func (t *Txn) AddRespHeader(name, value []byte) bool {
	if !validField(name, value) {
		return false
	}
	t.Resp.Fields = append(t.Resp.Fields, h1.Field{Name: t.Keep(name), Value: t.Keep(value)})
	t.RespEdited = true
	return true
}

// DelRespHeader removes every response field called name and returns how many.
func (t *Txn) DelRespHeader(name []byte) int {
	n := len(t.Resp.Fields)
	t.Resp.Fields = DelFields(t.Resp.Fields, name)
	if d := n - len(t.Resp.Fields); d > 0 {
		t.RespEdited = true
		return d
	}
	return 0
}

// SetPath replaces the path of the request, keeping its query; false when
// the result is not a valid origin-form target (nothing changed).
func (t *Txn) SetPath(path []byte) bool {
	uri := make([]byte, 0, len(path)+1+len(t.Req.Query))
	uri = append(uri, path...)
	if t.Req.Query != nil {
		uri = append(uri, '?')
		uri = append(uri, t.Req.Query...)
	}
	return t.setURI(uri, len(path))
}

// SetQuery replaces the query of the request (without '?'); an empty query
// removes it. False when the result is not a valid target (nothing
// changed).
func (t *Txn) SetQuery(query []byte) bool {
	uri := make([]byte, 0, len(t.Req.Path)+1+len(query))
	uri = append(uri, t.Req.Path...)
	if len(query) > 0 {
		uri = append(uri, '?')
		uri = append(uri, query...)
	}
	return t.setURI(uri, len(t.Req.Path))
}

// setURI installs uri (origin-form) whose path is its first pathLen bytes.
func (t *Txn) setURI(uri []byte, pathLen int) bool {
	if len(uri) == 0 || uri[0] != '/' && uri[0] != '*' || !validTarget(uri) {
		return false
	}
	kept := t.Keep(uri)
	t.Req.URI = kept
	t.Req.Path = kept[:pathLen:pathLen]
	if pathLen < len(kept) {
		t.Req.Query = kept[pathLen+1:]
	} else {
		t.Req.Query = nil
	}
	t.ReqEdited = true
	return true
}

// SetMethod replaces the request method; false when m is not a token.
func (t *Txn) SetMethod(m []byte) bool {
	if !h1.ValidFieldName(m) {
		return false
	}
	t.Req.Method = t.Keep(m)
	t.ReqEdited = true
	return true
}

// SetStatus replaces the response status and, when reason is not nil, its
// reason phrase.
func (t *Txn) SetStatus(code int, reason []byte) {
	t.Resp.Status = code
	if reason != nil {
		t.Resp.Reason = t.Keep(reason)
	}
	t.RespEdited = true
}

// DelFields removes, in place, every field called name (ASCII
// case-insensitive).
func DelFields(fs []h1.Field, name []byte) []h1.Field {
	out := fs[:0]
	for _, f := range fs {
		if !EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	clear(fs[len(out):])
	return out
}

// EqualFold reports whether a and b are equal under ASCII case folding, the
// comparison HTTP field names use.
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// ForgetRequest drops every reference into the buffer the request head was
// parsed from, once that buffer is reused for the body. Framing (Body,
// ContentLength, KeepAlive, Minor, ExpectContinue, Upgrade) is kept; fetches
// of the request head then find no sample, as in HAProxy once the request
// has left.
func (t *Txn) ForgetRequest() {
	r := &t.Req
	r.Method, r.URI, r.Path, r.Query, r.Host = nil, nil, nil, nil, nil
	clear(r.Fields)
	r.Fields = r.Fields[:0]
	r.HeadLen = 0
}

// ForgetResponse drops every reference into the server buffer the response
// head was parsed from. Status and framing are kept.
func (t *Txn) ForgetResponse() {
	r := &t.Resp
	r.Reason = nil
	clear(r.Fields)
	r.Fields = r.Fields[:0]
	r.HeadLen = 0
}

// validField checks an edited field before it is stored.
func validField(name, value []byte) bool {
	return h1.ValidFieldName(name) && h1.ValidFieldValue(value)
}

// validTarget reports whether a request-target has no byte that would
// break the request line (controls, space, DEL, non-ASCII).
func validTarget(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
