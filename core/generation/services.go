package generation

import (
	"strconv"

	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/h1"
	"github.com/strata-proxy/strata/core/logfmt"
)

// Service answers a stream itself instead of a server (use_service). The
// built-ins live here; plugins provide others through the same interface.
type Service interface {
	// ServeHTTP fills r from what ctx shows of the request. ctx and r are
	// valid only during the call.
	ServeHTTP(ctx *fetch.Ctx, r *Reply)
}

// Reply is what a service answers.
type Reply struct {
	Status      int
	ContentType []byte
	Headers     []h1.Field
	Body        []byte
}

// ServiceFunc adapts a function to Service.
type ServiceFunc func(ctx *fetch.Ctx, r *Reply)

// ServeHTTP calls f.
func (f ServiceFunc) ServeHTTP(ctx *fetch.Ctx, r *Reply) { f(ctx, r) }

var builtinServices = map[string]Service{
	"welcome": ServiceFunc(welcome),
}

// welcome shows what the proxy sees of the request, as JSON: the default
// configuration serves it so that a bare `strata run` does something useful.
func welcome(ctx *fetch.Ctx, r *Reply) {
	b := make([]byte, 0, 1024)
	b = append(b, `{"message":"strata is running","frontend":"`...)
	b = logfmt.AppendJSONString(b, []byte(ctx.Sess.Frontend))
	b = append(b, `","client":"`...)
	b = ctx.Conn.Src.AppendTo(b)
	b = append(b, `","server_address":"`...)
	b = ctx.Conn.Dst.AppendTo(b)
	b = append(b, `","session_id":`...)
	b = strconv.AppendUint(b, ctx.Sess.ID, 10)
	b = append(b, `,"stream_id":`...)
	b = strconv.AppendUint(b, ctx.Strm.ID, 10)
	b = append(b, `,"request":{"method":"`...)
	req := &ctx.Txn.Req
	b = logfmt.AppendJSONString(b, req.Method)
	b = append(b, `","uri":"`...)
	b = logfmt.AppendJSONString(b, req.URI)
	b = append(b, `","version":"HTTP/1.`...)
	b = strconv.AppendInt(b, int64(req.Minor), 10)
	b = append(b, `","headers":[`...)
	for i, f := range req.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `["`...)
		b = logfmt.AppendJSONString(b, f.Name)
		b = append(b, `","`...)
		b = logfmt.AppendJSONString(b, f.Value)
		b = append(b, `"]`...)
	}
	b = append(b, "]}}\n"...)
	r.Status = 200
	r.ContentType = []byte("application/json")
	r.Body = b
}
