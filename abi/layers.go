// Package abi is the versioned contract between strata and its WebAssembly
// plugins. It imports only the standard library so that both the host and the
// guest SDK can depend on it. SPEC.md beside this file is the normative,
// language-neutral description.
package abi

// Layers is a set of lifecycle layers that exist at an evaluation point.
// Every call into a guest carries one, and every sample fetch declares the
// layers it needs. The bit values are part of ABI v1 and never change.
type Layers uint32

const (
	// LayerConn: the L4 connection (addresses, TLS, PROXY header).
	LayerConn Layers = 1 << iota
	// LayerSess: the L5 session (frontend, session-level trackers and variables).
	LayerSess
	// LayerStrm: the L6 stream (channels, backend and server, stream trackers).
	LayerStrm
	// LayerTxn: the L7 HTTP transaction (parsed request and response).
	LayerTxn
)

// Has reports whether every layer in need is present in l.
func (l Layers) Has(need Layers) bool { return l&need == need }

// Missing returns the layers of need that l lacks.
func (l Layers) Missing(need Layers) Layers { return need &^ l }

// String lists the layers as "CONN|SESS|STRM|TXN" (or "none").
func (l Layers) String() string {
	if l == 0 {
		return "none"
	}
	names := [...]string{"CONN", "SESS", "STRM", "TXN"}
	var b []byte
	for i, n := range names {
		if l&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, n...)
		}
	}
	return string(b)
}
