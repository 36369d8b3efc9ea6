// Package bridge lets sdktest drive the SDK's dispatcher natively. The sdk
// package fills these variables from its init function.
package bridge

import (
	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/internal/hostcall"
)

// Reg is one registration as the host sees it.
type Reg struct {
	Kind    abi.Kind
	ID      uint32
	Name    string
	Needs   abi.Layers
	In, Out abi.Type
	Args    []abi.Type
	MinArgs int
	MaxArgs int
	Points  abi.Point
	Modes   abi.ServiceMode
}

var (
	// Init runs the plugin's init hooks and registrations against host.
	Init func(host hostcall.Host) abi.Status
	// Call runs entry point kind for registration id; extra is the action
	// point or the service event.
	Call func(host hostcall.Host, kind abi.Kind, handle uint32, layers abi.Layers, id uint32, extra int32) int32
)
