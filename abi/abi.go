package abi

import "strconv"

// Version is the major ABI version described by this package. The host may
// serve older majors side by side; the guest SDK targets exactly this one.
const Version = 1

// ImportModule is the name of the module that holds the host functions of
// ABI v1.
const ImportModule = "strata_v1"

// ImportModuleFor returns the import module name of a major version.
func ImportModuleFor(major int) string { return "strata_v" + strconv.Itoa(major) }

// MarkerPrefix begins the name of the exported function by which a guest
// declares the ABI major it targets: "strata_abi_v1" for v1.
const MarkerPrefix = "strata_abi_v"

// Marker is the version marker export of ABI v1.
const Marker = "strata_abi_v1"

// Status is the result of a host function or of a guest entry point. A
// non-negative value is a success (a length, a count or a code defined by the
// function); a negative value is one of the errors below.
type Status int32

const (
	// OK: done.
	OK Status = 0
	// ErrNotFound: no such sample, header, variable, argument or tracked entry.
	ErrNotFound Status = -1
	// ErrLayer: a layer the function needs is absent from the call's layer set.
	ErrLayer Status = -2
	// ErrHandle: the context handle is not the one of the call in progress.
	ErrHandle Status = -3
	// ErrMemory: a pointer or length lies outside the guest's memory.
	ErrMemory Status = -4
	// ErrArg: an argument is invalid (bad type code, bad name, bad
	// expression, value out of range).
	ErrArg Status = -5
	// ErrState: the function is not allowed in this kind of call (a
	// registration outside strata_init, a reply outside an action or service).
	ErrState Status = -6
	// ErrDenied: the plugin's grants do not cover the function. A module that
	// imports an ungranted function is refused at load, so a guest sees this
	// only for functions whose use depends on configuration.
	ErrDenied Status = -7
	// ErrLimit: a limit was reached (log rate, reply size, registrations).
	ErrLimit Status = -8
	// ErrUnsupported: the host has no backing for this function (for
	// example no stick-counter store is configured).
	ErrUnsupported Status = -9
	// ErrInternal: the host failed; the guest should give up the call.
	ErrInternal Status = -10
	// ErrGuest is what a guest entry point returns for "I failed": the host
	// applies the plugin's on_error policy. Any negative value a guest
	// returns is treated the same way.
	ErrGuest Status = -100
)

var statusNames = map[Status]string{
	OK:             "ok",
	ErrNotFound:    "not found",
	ErrLayer:       "layer absent",
	ErrHandle:      "invalid handle",
	ErrMemory:      "out-of-range memory",
	ErrArg:         "invalid argument",
	ErrState:       "not allowed here",
	ErrDenied:      "not granted",
	ErrLimit:       "limit reached",
	ErrUnsupported: "unsupported",
	ErrInternal:    "internal error",
	ErrGuest:       "guest error",
}

// String names a status ("layer absent"), or gives its number.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	if s >= 0 {
		return "ok(" + strconv.Itoa(int(s)) + ")"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Error makes a negative Status usable as an error.
func (s Status) Error() string { return "strata abi: " + s.String() }

// Type is the type of a value crossing the ABI. The numbering is the one of
// the core's sample types.
type Type uint32

const (
	TypeNone Type = 0 // no value ("no sample")
	TypeBool Type = 1 // 8 bytes little-endian int64, 0 or 1 (or an i64 parameter)
	TypeInt  Type = 2 // 8 bytes little-endian int64 (or an i64 parameter)
	TypeIP   Type = 3 // 4 bytes (IPv4) or 16 bytes (IPv6), network order
	TypeStr  Type = 4 // bytes, UTF-8 expected but not checked
	TypeBin  Type = 5 // bytes
)

var typeNames = [...]string{"none", "bool", "int", "ip", "str", "bin"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is a value type (none included).
func (t Type) Valid() bool { return t <= TypeBin }

// Scalar reports whether values of t travel as an int64 (bool, int).
func (t Type) Scalar() bool { return t == TypeBool || t == TypeInt }

// Point is a set of rule evaluation points, used by action registrations.
type Point uint32

const (
	PointTCPConnection     Point = 1 << iota // tcp-request connection: CONN|SESS
	PointTCPSession                          // tcp-request session: CONN|SESS
	PointTCPContent                          // tcp-request content: CONN|SESS|STRM
	PointHTTPRequest                         // http-request: CONN|SESS|STRM|TXN
	PointHTTPResponse                        // http-response: CONN|SESS|STRM|TXN
	PointHTTPAfterResponse                   // http-after-response: CONN|SESS|STRM|TXN
)

// AllPoints is every point an action may register for.
const AllPoints = PointTCPConnection | PointTCPSession | PointTCPContent | PointHTTPRequest | PointHTTPResponse | PointHTTPAfterResponse

var pointNames = [...]string{"tcp-request connection", "tcp-request session", "tcp-request content", "http-request", "http-response", "http-after-response"}

// Layers returns the layers that exist at a single point.
func (p Point) Layers() Layers {
	switch p {
	case PointTCPConnection, PointTCPSession:
		return LayerConn | LayerSess
	case PointTCPContent:
		return LayerConn | LayerSess | LayerStrm
	case PointHTTPRequest, PointHTTPResponse, PointHTTPAfterResponse:
		return LayerConn | LayerSess | LayerStrm | LayerTxn
	}
	return 0
}

// String lists the points ("http-request,http-response").
func (p Point) String() string {
	if p == 0 {
		return "none"
	}
	var b []byte
	for i, n := range pointNames {
		if p&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
		}
	}
	if p&^AllPoints != 0 {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, "point(0x"...)
		b = strconv.AppendUint(b, uint64(p&^AllPoints), 16)
		b = append(b, ')')
	}
	return string(b)
}

// Verdict is what an action entry point returns.
type Verdict int32

const (
	VerdictContinue Verdict = 0 // go on with the next rule
	VerdictAllow    Verdict = 1 // stop evaluating this rule set (http allow, tcp accept)
	VerdictDeny     Verdict = 2 // deny (HTTP: the prepared reply, else 403) or reject (TCP)
	VerdictReturn   Verdict = 3 // HTTP: send the prepared reply (default 200) and stop
	VerdictRedirect Verdict = 4 // HTTP: redirect to the prepared reply's location header (default status 302)
)

// RouteKind is what a routing decision names.
type RouteKind int32

const (
	RouteBackend RouteKind = 1
	RouteServer  RouteKind = 2
	RouteService RouteKind = 3
)

// Scope is a variable scope.
type Scope int32

const (
	ScopeProc Scope = 0 // shared by the whole process; needs no layer
	ScopeSess Scope = 1 // the session; needs SESS
	ScopeTxn  Scope = 2 // the stream/transaction; needs STRM
)

// ServiceMode is a set of modes a service can answer.
type ServiceMode int32

const (
	ServiceHTTP ServiceMode = 1 // answers HTTP transactions
	ServiceTCP  ServiceMode = 2 // answers TCP streams
)

// ServiceEvent tells a service why it is called.
type ServiceEvent int32

const (
	EventRequest ServiceEvent = 1 // HTTP: the request head is there (and the body, when buffered)
	EventData    ServiceEvent = 2 // TCP: new client bytes are readable with req_body_read
	EventEnd     ServiceEvent = 3 // the stream ends; drop per-stream state, reply is ignored
)

// Service entry point results.
const (
	ServiceMore int32 = 0 // keep the stream open and call again on the next event
	ServiceDone int32 = 1 // the reply is complete; close after sending it
)

// Fetch and converter entry point results; targets use the same codes
// (1 = a route was chosen).
const (
	NoSample  int32 = 0
	HasSample int32 = 1
)

// LogLevel is the level of a log line written by a guest.
type LogLevel int32

const (
	LogDebug LogLevel = 0
	LogInfo  LogLevel = 1
	LogWarn  LogLevel = 2
	LogError LogLevel = 3
)

// Limits a guest can rely on.
const (
	MaxNameLen       = 64      // fetch, converter, action, target and service names
	MaxArgs          = 8       // arguments of a registration
	MaxRegistrations = 64      // per plugin
	MaxReplyBytes    = 1 << 20 // body of a reply
	MaxReplyHeaders  = 64      // header fields of a reply
)

// ValidName reports whether s may name a registration: 1 to MaxNameLen
// characters among a-z, 0-9, '_' and '.', starting with a letter.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
