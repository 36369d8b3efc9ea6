package plugins

import (
	"fmt"

	"github.com/strata-proxy/strata/abi"
)

// Registration is one thing a plugin provides, as it declared it in
// strata_init. Registrations are immutable once the plugin is loaded.
type Registration struct {
	Kind abi.Kind
	ID   uint32 // the guest's id, passed back on each call
	Name string
	// Fetches: the layers needed and the result type. Converters: the
	// input and output types.
	Needs   abi.Layers
	In, Out abi.Type
	// Args gives the type (int or str) of each argument of a fetch or
	// converter; MaxArgs is len(Args) for them.
	Args             []abi.Type
	MinArgs, MaxArgs int
	Points           abi.Point       // actions
	Modes            abi.ServiceMode // services
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

const allLayers = abi.LayerConn | abi.LayerSess | abi.LayerStrm | abi.LayerTxn

func (r *Registration) validate() error {
	if !abi.ValidName(r.Name) {
		return errorf("%s name %q: use 1 to %d characters a-z, 0-9, '_' or '.', starting with a letter", r.Kind, r.Name, abi.MaxNameLen)
	}
	if r.MinArgs < 0 || r.MaxArgs < r.MinArgs || r.MaxArgs > abi.MaxArgs {
		return errorf("%s %s: arguments min %d max %d (at most %d)", r.Kind, r.Name, r.MinArgs, r.MaxArgs, abi.MaxArgs)
	}
	for i, t := range r.Args {
		if t != abi.TypeInt && t != abi.TypeStr {
			return errorf("%s %s: argument %d has type %v; arguments are int or str", r.Kind, r.Name, i, t)
		}
	}
	switch r.Kind {
	case abi.KindFetch:
		if r.Needs&^allLayers != 0 {
			return errorf("fetch %s: unknown layer bits %#x", r.Name, uint32(r.Needs&^allLayers))
		}
		if r.Out == abi.TypeNone || !r.Out.Valid() {
			return errorf("fetch %s: result type %v", r.Name, r.Out)
		}
	case abi.KindConverter:
		if !r.In.Valid() || r.Out == abi.TypeNone || !r.Out.Valid() {
			return errorf("converter %s: types %v -> %v", r.Name, r.In, r.Out)
		}
	case abi.KindAction:
		if r.Points == 0 || r.Points&^abi.AllPoints != 0 {
			return errorf("action %s: points %v", r.Name, r.Points)
		}
	case abi.KindService:
		if r.Modes == 0 || r.Modes&^(abi.ServiceHTTP|abi.ServiceTCP) != 0 {
			return errorf("service %s: modes %#x", r.Name, uint32(r.Modes))
		}
	}
	return nil
}

// String describes r the way the API lists it: "fetch ua_class(needs TXN) -> str".
func (r *Registration) String() string {
	switch r.Kind {
	case abi.KindFetch:
		return fmt.Sprintf("fetch %s(%v) needs %v -> %v", r.Name, r.Args, r.Needs, r.Out)
	case abi.KindConverter:
		return fmt.Sprintf("converter %s(%v) %v -> %v", r.Name, r.Args, r.In, r.Out)
	case abi.KindAction:
		return fmt.Sprintf("action %s at %v", r.Name, r.Points)
	case abi.KindService:
		return fmt.Sprintf("service %s", r.Name)
	}
	return string(r.Kind) + " " + r.Name
}

func sameRegs(a, b []Registration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Kind != y.Kind || x.ID != y.ID || x.Name != y.Name || x.Needs != y.Needs || x.In != y.In || x.Out != y.Out ||
			x.MinArgs != y.MinArgs || x.MaxArgs != y.MaxArgs || x.Points != y.Points || x.Modes != y.Modes || len(x.Args) != len(y.Args) {
			return false
		}
	}
	return true
}
