package sdk

import (
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/internal/hostcall"
)

// Ctx is the context of one call from the host: its handle, the layers that
// exist, and the host functions that act on them. It is valid only during
// the call that received it; afterwards every method returns ErrHandle.
// Byte results are copies the plugin may keep.
type Ctx struct {
	host   hostcall.Host
	h      uint32
	layers abi.Layers
	point  abi.Point
	buf    []byte // scratch for the buffer protocol, reused across calls
	// typ receives the type of a value the host writes. A field rather
	// than a local: its address goes through the Host interface, which
	// would move a local to the heap on every call.
	typ abi.Type
}

// take applies the buffer protocol to st: the bytes written, or a request
// to call again with a larger buffer.
func (c *Ctx) take(op string, st abi.Status) (b []byte, again bool, err error) {
	if st < 0 {
		return nil, false, fail(op, st)
	}
	if int(st) > cap(c.buf) {
		c.buf = make([]byte, 0, int(st))
		return nil, true, nil
	}
	return c.buf[:st], false, nil
}

// Layers returns the layers that exist for this call.
func (c *Ctx) Layers() abi.Layers { return c.layers }

// Point returns the evaluation point of an action call (0 otherwise).
func (c *Ctx) Point() abi.Point { return c.point }

// ArgCount returns how many arguments the configuration gave.
func (c *Ctx) ArgCount() int {
	st := c.host.ArgCount(c.h)
	if st < 0 {
		return 0
	}
	return int(st)
}

// Arg returns argument i as the configuration gave it.
func (c *Ctx) Arg(i int) (Value, error) {
	b, err := c.arg(i)
	if err != nil {
		return None, err
	}
	return decode(c.typ, b), nil
}

// arg reads argument i into c.buf (valid until the next host call) and its
// type into c.typ.
func (c *Ctx) arg(i int) ([]byte, error) {
	for {
		b, again, err := c.take("arg", c.host.ArgGet(c.h, i, &c.typ, c.buf[:0]))
		if !again {
			return b, err
		}
	}
}

// ArgStr returns argument i in its textual form.
func (c *Ctx) ArgStr(i int) (string, error) {
	b, err := c.arg(i)
	if err != nil {
		return "", err
	}
	if c.typ == abi.TypeStr || c.typ == abi.TypeBin {
		return string(b), nil // the one copy
	}
	return decode(c.typ, b).String(), nil
}

// AppendArg appends argument i in its textual form (as ArgStr) to dst and
// returns the extended slice: with a dst of enough capacity, reused from
// call to call, reading an argument allocates nothing.
func (c *Ctx) AppendArg(dst []byte, i int) ([]byte, error) {
	b, err := c.arg(i)
	if err != nil {
		return dst, err
	}
	switch c.typ {
	case abi.TypeStr, abi.TypeBin:
		return append(dst, b...), nil
	case abi.TypeInt:
		return strconv.AppendInt(dst, decode(c.typ, b).Int, 10), nil
	case abi.TypeIP:
		return decode(c.typ, b).Addr().AppendTo(dst), nil
	}
	return append(dst, decode(c.typ, b).String()...), nil
}

// ArgInt returns argument i, which must be an int.
func (c *Ctx) ArgInt(i int) (int64, error) {
	v, err := c.Arg(i)
	if err != nil {
		return 0, err
	}
	if !v.Type.Scalar() {
		return 0, fail("arg", abi.ErrArg)
	}
	return v.Int, nil
}

func (c *Ctx) input() (Value, error) {
	for {
		b, again, err := c.take("input", c.host.InputGet(c.h, &c.typ, c.buf[:0]))
		if !again {
			if err != nil {
				return None, err
			}
			return decode(c.typ, b), nil
		}
	}
}

// Sample evaluates a sample expression as a rule would ("req.hdr(host)",
// "src", "sc0_http_req_rate"). ErrNotFound means no sample; ErrLayer means
// the expression needs a layer this call lacks; ErrArg a bad expression.
func (c *Ctx) Sample(expr string) (Value, error) {
	for {
		b, again, err := c.take("sample", c.host.SampleEval(c.h, expr, &c.typ, c.buf[:0]))
		if !again {
			if err != nil {
				return None, err
			}
			return decode(c.typ, b), nil
		}
	}
}

// appended applies the buffer protocol to a host call that wrote into the
// spare capacity of dst: dst extended by what was written, or dst grown
// to take what the host asks for, to call again.
func appended(op string, dst []byte, st abi.Status) (out []byte, again bool, err error) {
	if st < 0 {
		return dst, false, fail(op, st)
	}
	if int(st) > cap(dst)-len(dst) {
		return slices.Grow(dst, int(st)), true, nil
	}
	return dst[:len(dst)+int(st)], false, nil
}

// --- the HTTP transaction (grant "headers") ---

func (c *Ctx) header(resp bool, name string, index int) (string, error) {
	for {
		b, again, err := c.take("header", c.host.HeaderGet(c.h, resp, name, index, c.buf[:0]))
		if !again {
			return string(b), err
		}
	}
}

// ReqHeader returns the first request header called name (ErrNotFound
// when there is none).
func (c *Ctx) ReqHeader(name string) (string, error) { return c.header(false, name, 0) }

// ReqHeaderAt returns the index-th request header called name.
func (c *Ctx) ReqHeaderAt(name string, index int) (string, error) {
	return c.header(false, name, index)
}

// AppendReqHeader appends the value of the first request header called
// name to dst (ErrNotFound when there is none): with a dst of enough
// capacity, reused from call to call, it allocates nothing.
func (c *Ctx) AppendReqHeader(dst []byte, name string) ([]byte, error) {
	return c.appendHeader(dst, false, name)
}

func (c *Ctx) appendHeader(dst []byte, resp bool, name string) ([]byte, error) {
	for {
		out, again, err := appended("header", dst, c.host.HeaderGet(c.h, resp, name, 0, dst[len(dst):]))
		if !again {
			return out, err
		}
		dst = out
	}
}

// SetReqHeader replaces every request header called name by one.
func (c *Ctx) SetReqHeader(name, value string) error {
	return check("set header", c.host.HeaderSet(c.h, false, name, value))
}

// SetReqHeaderBytes is SetReqHeader with name and value in bytes, which
// the host copies during the call: both may be reused afterwards.
func (c *Ctx) SetReqHeaderBytes(name, value []byte) error {
	return check("set header", c.host.HeaderSet(c.h, false, transient(name), transient(value)))
}

// transient views b as a string for the length of a host call, which
// copies what it keeps: no copy in the guest.
func transient(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// AddReqHeader appends a request header.
func (c *Ctx) AddReqHeader(name, value string) error {
	return check("add header", c.host.HeaderAdd(c.h, false, name, value))
}

// DelReqHeader removes every request header called name and returns how many.
func (c *Ctx) DelReqHeader(name string) (int, error) {
	st := c.host.HeaderDel(c.h, false, name)
	return count("del header", st)
}

// RespHeader returns the first response header called name.
func (c *Ctx) RespHeader(name string) (string, error) { return c.header(true, name, 0) }

// RespHeaderAt returns the index-th response header called name.
func (c *Ctx) RespHeaderAt(name string, index int) (string, error) {
	return c.header(true, name, index)
}

// AppendRespHeader is AppendReqHeader for the response.
func (c *Ctx) AppendRespHeader(dst []byte, name string) ([]byte, error) {
	return c.appendHeader(dst, true, name)
}

// SetRespHeaderBytes is SetReqHeaderBytes for the response.
func (c *Ctx) SetRespHeaderBytes(name, value []byte) error {
	return check("set header", c.host.HeaderSet(c.h, true, transient(name), transient(value)))
}

// SetRespHeader replaces every response header called name by one.
func (c *Ctx) SetRespHeader(name, value string) error {
	return check("set header", c.host.HeaderSet(c.h, true, name, value))
}

// AddRespHeader appends a response header.
func (c *Ctx) AddRespHeader(name, value string) error {
	return check("add header", c.host.HeaderAdd(c.h, true, name, value))
}

// DelRespHeader removes every response header called name.
func (c *Ctx) DelRespHeader(name string) (int, error) {
	return count("del header", c.host.HeaderDel(c.h, true, name))
}

func (c *Ctx) field(f hostcall.Field) (string, error) {
	for {
		b, again, err := c.take("request", c.host.FieldGet(c.h, f, c.buf[:0]))
		if !again {
			return string(b), err
		}
	}
}

func (c *Ctx) appendField(dst []byte, f hostcall.Field) ([]byte, error) {
	for {
		out, again, err := appended("request", dst, c.host.FieldGet(c.h, f, dst[len(dst):]))
		if !again {
			return out, err
		}
		dst = out
	}
}

// AppendMethod, AppendPath and AppendQuery append what Method, Path and
// Query return to dst: with a dst of enough capacity, reused from call to
// call, they allocate nothing.
func (c *Ctx) AppendMethod(dst []byte) ([]byte, error) { return c.appendField(dst, hostcall.Method) }

// AppendPath: see AppendMethod.
func (c *Ctx) AppendPath(dst []byte) ([]byte, error) { return c.appendField(dst, hostcall.Path) }

// AppendQuery: see AppendMethod.
func (c *Ctx) AppendQuery(dst []byte) ([]byte, error) { return c.appendField(dst, hostcall.Query) }

// Method returns the request method.
func (c *Ctx) Method() (string, error) { return c.field(hostcall.Method) }

// Path returns the request path.
func (c *Ctx) Path() (string, error) { return c.field(hostcall.Path) }

// Query returns the request query without '?' (ErrNotFound when absent).
func (c *Ctx) Query() (string, error) { return c.field(hostcall.Query) }

// SetMethod replaces the request method.
func (c *Ctx) SetMethod(m string) error {
	return check("set method", c.host.FieldSet(c.h, hostcall.Method, m))
}

// SetPath replaces the request path, keeping the query.
func (c *Ctx) SetPath(p string) error {
	return check("set path", c.host.FieldSet(c.h, hostcall.Path, p))
}

// SetQuery replaces the query; "" removes it.
func (c *Ctx) SetQuery(q string) error {
	return check("set query", c.host.FieldSet(c.h, hostcall.Query, q))
}

// Status returns the response status (ErrNotFound before the response).
func (c *Ctx) Status() (int, error) { return count("status", c.host.RespStatusGet(c.h)) }

// SetStatus replaces the response status.
func (c *Ctx) SetStatus(code int) error {
	return check("set status", c.host.RespStatusSet(c.h, code))
}

// Body returns the buffered request bytes (grant "body"): the body when
// the proxy buffers it, the received payload in TCP mode.
func (c *Ctx) Body() ([]byte, error) {
	for {
		b, again, err := c.take("body", c.host.ReqBodyRead(c.h, 0, c.buf[:0]))
		if !again {
			if err != nil {
				return nil, err
			}
			return append([]byte(nil), b...), nil
		}
	}
}

// --- variables (grant "vars") ---

// Var returns a variable of scope.
func (c *Ctx) Var(scope abi.Scope, name string) (Value, error) {
	var t abi.Type
	for {
		b, again, err := c.take("var", c.host.VarGet(c.h, scope, name, &t, c.buf[:0]))
		if !again {
			if err != nil {
				return None, err
			}
			return decode(t, b), nil
		}
	}
}

// SetVar stores v in a variable of scope.
func (c *Ctx) SetVar(scope abi.Scope, name string, v Value) error {
	if v.Type.Scalar() {
		return check("set var", c.host.VarSetInt(c.h, scope, name, v.Type, v.Int))
	}
	return check("set var", c.host.VarSetBytes(c.h, scope, name, v.Type, v.Bytes))
}

// UnsetVar removes a variable of scope.
func (c *Ctx) UnsetVar(scope abi.Scope, name string) error {
	return check("unset var", c.host.VarUnset(c.h, scope, name))
}

// --- stick counters (grant "stick_counters") ---

// StickCounter reads datum name ("http_req_rate", "conn_cur", "gpc0") of
// the entry tracked by slot (sc0, sc1, …). ErrNotFound: slot not tracked.
func (c *Ctx) StickCounter(slot int, name string) (int64, error) {
	var v int64
	if err := check("stick counter", c.host.SCGet(c.h, slot, name, &v)); err != nil {
		return 0, err
	}
	return v, nil
}

// AddGPC adds delta to gpc(index) of the entry tracked by slot and returns
// the new value.
func (c *Ctx) AddGPC(slot, index int, delta int64) (int64, error) {
	var v int64
	if err := check("gpc", c.host.SCGPCAdd(c.h, slot, index, delta, &v)); err != nil {
		return 0, err
	}
	return v, nil
}

// SetGPT sets gpt(index) of the entry tracked by slot.
func (c *Ctx) SetGPT(slot, index int, v int64) error {
	return check("gpt", c.host.SCGPTSet(c.h, slot, index, v))
}

// --- routing (grant "route") ---

// UseBackend routes the stream to backend name.
func (c *Ctx) UseBackend(name string) error {
	return check("route", c.host.RouteSet(c.h, abi.RouteBackend, name))
}

// UseServer routes the stream to server name of the chosen backend.
func (c *Ctx) UseServer(name string) error {
	return check("route", c.host.RouteSet(c.h, abi.RouteServer, name))
}

// UseService hands the stream to internal service name.
func (c *Ctx) UseService(name string) error {
	return check("route", c.host.RouteSet(c.h, abi.RouteService, name))
}

// --- replies (grant "respond") ---

// ReplyStatus sets the status of the reply.
func (c *Ctx) ReplyStatus(code int) error { return check("reply", c.host.ReplyStatus(c.h, code)) }

// ReplyHeader appends a header to the reply.
func (c *Ctx) ReplyHeader(name, value string) error {
	return check("reply", c.host.ReplyHeaderAdd(c.h, name, value))
}

// ReplyWrite appends b to the reply body.
func (c *Ctx) ReplyWrite(b []byte) error { return check("reply", c.host.ReplyBodyWrite(c.h, b)) }

// Reply builds a whole reply: status, content type (omitted when "") and body.
func (c *Ctx) Reply(status int, contentType string, body []byte) error {
	if err := c.ReplyStatus(status); err != nil {
		return err
	}
	if contentType != "" {
		if err := c.ReplyHeader("content-type", contentType); err != nil {
			return err
		}
	}
	return c.ReplyWrite(body)
}

// --- logging and tracing (grants "log", "trace") ---

// Log writes msg to the proxy's log, tagged with the plugin's name and the
// stream. Lines beyond the host's rate are dropped (ErrLimit).
func (c *Ctx) Log(level abi.LogLevel, msg string) error {
	return check("log", c.host.Log(c.h, level, msg))
}

// SpanAttr adds a string attribute to the stream's span.
func (c *Ctx) SpanAttr(key, value string) error {
	return check("span", c.host.SpanAttrStr(c.h, key, value))
}

// SpanAttrInt adds an integer attribute to the stream's span.
func (c *Ctx) SpanAttrInt(key string, v int64) error {
	return check("span", c.host.SpanAttrInt(c.h, key, v))
}

// SpanEvent adds an event to the stream's span.
func (c *Ctx) SpanEvent(name string) error { return check("span", c.host.SpanEvent(c.h, name)) }

// --- process-wide functions ---

// Log writes msg to the proxy's log outside any call (from OnInit hooks).
func Log(level abi.LogLevel, msg string) error {
	if initHost == nil {
		return fail("log", abi.ErrState)
	}
	return check("log", initHost.Log(0, level, msg))
}

// Now returns the host's wall clock (grant "clock").
func Now() time.Time { return time.Unix(0, hostcall.Impl.ClockWall()) }

// Monotonic returns the host's monotonic clock (grant "clock").
func Monotonic() time.Duration { return time.Duration(hostcall.Impl.ClockMonotonic()) }

// Random fills b with random bytes from the host (grant "random").
func Random(b []byte) error { return check("random", hostcall.Impl.RandomFill(b)) }

func check(op string, st abi.Status) error {
	if st < 0 {
		return fail(op, st)
	}
	return nil
}

func count(op string, st abi.Status) (int, error) {
	if st < 0 {
		return 0, fail(op, st)
	}
	return int(st), nil
}
