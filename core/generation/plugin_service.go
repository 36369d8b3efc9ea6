package generation

import (
	"fmt"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
)

// StreamService is a Service that follows its stream: it may answer TCP
// streams as well as HTTP transactions, may fail, takes arguments, and
// keeps state from its first event until EndStream (a plugin service).
// Implementations are shared by every goroutine.
type StreamService interface {
	Service
	// Modes reports whether the service answers HTTP transactions and
	// TCP streams.
	Modes() (http, tcp bool)
	// CheckArgs validates an entry's arguments (`NAME(arg,...)`) when the
	// configuration is built.
	CheckArgs(args []string) error
	// Serve sends the service one event of the stream and fills r.
	// abi.EventRequest (HTTP): the request head is in ctx.Txn, and
	// ctx.Strm.Content holds the body when the proxy has it all. Status,
	// headers and body of r make the response. abi.EventData (TCP):
	// ctx.Strm.Content holds the bytes received since the last event
	// (none: the client has finished sending); r.Body goes to the client.
	// done asks for no more events. On failure it returns an error, and
	// has recorded it with ctx.Fail when the stream must end.
	Serve(ctx *fetch.Ctx, ev abi.ServiceEvent, args []string, r *Reply) (done bool, err error)
	// EndStream ends the stream's use of the service; the engine calls it
	// once per stream that called Serve, when the stream ends.
	EndStream(ctx *fetch.Ctx)
}

// BuiltinService reports whether name is a built-in service (welcome),
// which plugins may not replace.
func BuiltinService(name string) bool {
	_, ok := builtinServices[name]
	return ok
}

// serviceFits checks at Build that svc answers the mode of the frontend or
// backend that names it.
func serviceFits(name string, svc Service, http bool) error {
	h, t := true, false
	if ss, ok := svc.(StreamService); ok {
		h, t = ss.Modes()
	}
	switch {
	case http && !h:
		return fmt.Errorf("service %s answers TCP streams only; this is an http proxy", name)
	case !http && !t:
		return fmt.Errorf("service %s answers HTTP only; this is a tcp proxy (mode: tcp)", name)
	}
	return nil
}
