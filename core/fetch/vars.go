package fetch

import (
	"fmt"
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/sample"
)

// VarScope is the scope of a variable, as in HAProxy.
type VarScope uint8

const (
	ScopeProc VarScope = iota + 1 // the whole process (Ctx.Proc)
	ScopeSess                     // the session (Session.Vars)
	ScopeTxn                      // the stream/transaction (Stream.Vars)
	ScopeReq                      // request processing (Stream.Vars, key "req:NAME")
	ScopeRes                      // response processing (Stream.Vars, key "res:NAME")
)

var scopeNames = [...]string{"", "proc", "sess", "txn", "req", "res"}

func (s VarScope) String() string {
	if int(s) < len(scopeNames) && s != 0 {
		return scopeNames[s]
	}
	return "scope?"
}

// Needs returns the layer a scope lives in: proc needs none, sess needs
// SESS, txn/req/res need STRM.
func (s VarScope) Needs() abi.Layers {
	switch s {
	case ScopeSess:
		return abi.LayerSess
	case ScopeTxn, ScopeReq, ScopeRes:
		return abi.LayerStrm
	}
	return 0
}

// VarRef is a parsed variable name "scope.name".
type VarRef struct {
	Scope VarScope
	Name  string // without the scope
	key   string // key in the scope's Vars
}

// ParseVarRef parses "scope.name". The name may only contain letters,
// digits, '.' and '_', like HAProxy's.
func ParseVarRef(s string) (VarRef, error) {
	scope, name, ok := strings.Cut(s, ".")
	if !ok || name == "" {
		return VarRef{}, fmt.Errorf("%w: variable %q: want scope.name (scope proc, sess, txn, req or res)", ErrArgs, s)
	}
	var r VarRef
	switch scope {
	case "proc":
		r.Scope = ScopeProc
	case "sess":
		r.Scope = ScopeSess
	case "txn":
		r.Scope = ScopeTxn
	case "req":
		r.Scope = ScopeReq
	case "res":
		r.Scope = ScopeRes
	default:
		return VarRef{}, fmt.Errorf("%w: variable %q: unknown scope %q (want proc, sess, txn, req or res)", ErrArgs, s, scope)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return VarRef{}, fmt.Errorf("%w: variable %q: name may only contain letters, digits, '.' and '_'", ErrArgs, s)
		}
	}
	r.Name = name
	switch r.Scope {
	case ScopeReq:
		r.key = "req:" + name
	case ScopeRes:
		r.key = "res:" + name
	default:
		r.key = name
	}
	return r, nil
}

// String returns "scope.name".
func (r VarRef) String() string { return r.Scope.String() + "." + r.Name }

// Needs returns the layer the variable lives in.
func (r VarRef) Needs() abi.Layers { return r.Scope.Needs() }

// Get returns the variable's value. Bytes of a sess/txn value alias the
// variable's storage (valid until it is set again); a proc value is a copy.
func (r *VarRef) Get(ctx *Ctx) (sample.Value, bool) {
	switch r.Scope {
	case ScopeProc:
		if ctx.Proc == nil {
			return sample.Value{}, false
		}
		return ctx.Proc.Get(r.key)
	case ScopeSess:
		if ctx.Sess == nil {
			return sample.Value{}, false
		}
		return ctx.Sess.Vars.Get(r.key)
	case ScopeTxn, ScopeReq, ScopeRes:
		if ctx.Strm == nil {
			return sample.Value{}, false
		}
		return ctx.Strm.Vars.Get(r.key)
	}
	return sample.Value{}, false
}

// Set stores a copy of v; false when the scope's layer is absent.
func (r *VarRef) Set(ctx *Ctx, v sample.Value) bool {
	switch r.Scope {
	case ScopeProc:
		if ctx.Proc == nil {
			return false
		}
		ctx.Proc.Set(r.key, v)
	case ScopeSess:
		if ctx.Sess == nil {
			return false
		}
		ctx.Sess.Vars.Set(r.key, v)
	case ScopeTxn, ScopeReq, ScopeRes:
		if ctx.Strm == nil {
			return false
		}
		ctx.Strm.Vars.Set(r.key, v)
	default:
		return false
	}
	return true
}

// Unset removes the variable.
func (r *VarRef) Unset(ctx *Ctx) {
	switch r.Scope {
	case ScopeProc:
		if ctx.Proc != nil {
			ctx.Proc.Unset(r.key)
		}
	case ScopeSess:
		if ctx.Sess != nil {
			ctx.Sess.Vars.Unset(r.key)
		}
	case ScopeTxn, ScopeReq, ScopeRes:
		if ctx.Strm != nil {
			ctx.Strm.Vars.Unset(r.key)
		}
	}
}
