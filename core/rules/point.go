package rules

import (
	"strconv"

	"github.com/strata-proxy/strata/abi"
)

// Point is an evaluation point: where in the life of a stream a rule set or
// a target runs.
type Point uint8

const (
	TCPConnection Point = iota
	TCPSession
	TCPContent
	HTTPRequest
	HTTPResponse
	HTTPAfterResponse
	UseBackend
	UseService
	numPoints
)

var pointNames = [numPoints]string{
	TCPConnection:     "tcp-request connection",
	TCPSession:        "tcp-request session",
	TCPContent:        "tcp-request content",
	HTTPRequest:       "http-request",
	HTTPResponse:      "http-response",
	HTTPAfterResponse: "http-after-response",
	UseBackend:        "use_backend",
	UseService:        "use-service",
}

// String returns the point as a configuration writes it ("http-request").
func (p Point) String() string {
	if p < numPoints {
		return pointNames[p]
	}
	return "point(" + strconv.Itoa(int(p)) + ")"
}

// Valid reports whether p is one of the defined points.
func (p Point) Valid() bool { return p < numPoints }

// Layers returns the layers that exist at p (DESIGN.md): tcp-request
// connection and session see CONN|SESS; tcp-request content adds STRM; the
// http-* points see all four; target selection sees CONN|SESS|STRM, plus
// TXN in HTTP mode.
func (p Point) Layers(httpMode bool) abi.Layers {
	const cs = abi.LayerConn | abi.LayerSess
	switch p {
	case TCPConnection, TCPSession:
		return cs
	case TCPContent:
		return cs | abi.LayerStrm
	case HTTPRequest, HTTPResponse, HTTPAfterResponse:
		return cs | abi.LayerStrm | abi.LayerTxn
	case UseBackend, UseService:
		if httpMode {
			return cs | abi.LayerStrm | abi.LayerTxn
		}
		return cs | abi.LayerStrm
	}
	return 0
}

// isHTTP reports whether p only exists in HTTP mode.
func (p Point) isHTTP() bool { return p == HTTPRequest || p == HTTPResponse || p == HTTPAfterResponse }

// isResponse reports whether rules at p see the response: direction-
// dependent fetches (hdr) read it and header actions edit it.
func (p Point) isResponse() bool { return p == HTTPResponse || p == HTTPAfterResponse }

// isRulePoint reports whether rule sets (rather than targets) run at p.
func (p Point) isRulePoint() bool { return p <= HTTPAfterResponse }
