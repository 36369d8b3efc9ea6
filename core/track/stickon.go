package track

import (
	"fmt"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/fetch"
	"github.com/strata-proxy/strata/core/stick"
)

// StickOn is a backend's server persistence, `stick: { on: EXPR, table: T }`
// (HAProxy's "stick on EXPR table T": a stick match followed by a stick
// store-request). Before the backend chooses a server, Match looks the key
// up and returns the server id stored for it; once a connection to a
// server is established, Store records that server's id for the key. It is
// immutable and safe for concurrent use.
type StickOn struct {
	e    *Engine
	on   *fetch.Expr
	t    *stick.Table
	kind keyKind
}

// CompileStickOn compiles a backend's stick setting. http says whether the
// backend is in HTTP mode, which decides the layers the expression may use
// (its streams have a transaction).
func (e *Engine) CompileStickOn(r *fetch.Registry, on, table string, http bool) (*StickOn, error) {
	x, err := r.ParseExpr(on, fetch.ParseOptions{})
	if err != nil {
		return nil, err
	}
	have := abi.LayerConn | abi.LayerSess | abi.LayerStrm
	if http {
		have |= abi.LayerTxn
	}
	if miss := have.Missing(x.Needs()); miss != 0 {
		return nil, fmt.Errorf("fetch %q needs layer %s, which does not exist when a server is chosen (available: %s)", x.FetchName(), miss, have)
	}
	t, err := e.resolveTable(table, "stick")
	if err != nil {
		return nil, err
	}
	if !t.Stores(stick.DataServerID) {
		return nil, fmt.Errorf("table %s does not store server_id", t.Name())
	}
	k := e.kind(t)
	if !fetch.CanCast(x.Out(), k.sampleType()) {
		return nil, fmt.Errorf("%w: %s gives %s, which cannot make a key of table %s (type %s)", fetch.ErrType, x, x.Out(), t.Name(), k.typ)
	}
	return &StickOn{e: e, on: x, t: t, kind: k}, nil
}

// Table returns the table the backend sticks through.
func (s *StickOn) Table() *stick.Table { return s.t }

// Match returns the server id stored for the stream's key (HAProxy's puid:
// the server's position in the backend, from 1), or 0 when there is none.
// It does not create the entry.
func (s *StickOn) Match(ctx *fetch.Ctx) int {
	k, ok := s.key(ctx)
	if !ok {
		return 0
	}
	ent, found := s.t.Lookup(k, s.e.now())
	if !found {
		return 0
	}
	id, ok := ent.Get(stick.DataServerID, 0, s.e.now())
	if !ok || id <= 0 {
		return 0
	}
	return int(id)
}

// Store records server id for the stream's key, creating the entry when
// needed and pushing its expiry back.
func (s *StickOn) Store(ctx *fetch.Ctx, id int) {
	k, ok := s.key(ctx)
	if !ok {
		return
	}
	now := s.e.now()
	ent, err := s.t.Acquire(k, now)
	if err != nil {
		return
	}
	ent.SetServerID(int32(id), now)
	s.t.Release(ent, now)
}

func (s *StickOn) key(ctx *fetch.Ctx) (stick.Key, bool) {
	v, ok := s.on.Eval(ctx)
	if !ok {
		return stick.Key{}, false
	}
	return s.kind.key(ctx, v)
}
