// Package h1 is strata's HTTP/1.1 codec: it parses request and response
// heads in place (every []byte field aliases the caller's buffer), decides
// message framing strictly by RFC 9112, validates chunked bodies while they
// stream through unchanged, and serialises edited heads. It knows nothing of
// sessions, streams or rules.
//
// Ownership: a Request or Response is reused across messages (Reset keeps the
// Fields storage). Its slices stay valid only while the buffer it was parsed
// from is unchanged.
package h1

// Field is one header field. Name and Value alias the parsed buffer, or
// storage owned by whoever edited the field.
type Field struct {
	Name  []byte
	Value []byte
}

// Limits bound what a peer may send in a head.
type Limits struct {
	MaxRequestLine int // request line (or status line) bytes, CRLF excluded; over it: 414 (502 for a response)
	MaxHeadBytes   int // whole head including the final CRLF CRLF; over it: 431 (502 for a response)
	MaxHeaders     int // header fields; over it: 431 (502 for a response)
}

// DefaultLimits are used where a configuration sets none. They follow
// HAProxy's defaults (tune.bufsize 16384, tune.http.maxhdr 101).
var DefaultLimits = Limits{MaxRequestLine: 8192, MaxHeadBytes: 16384, MaxHeaders: 101}

// BodyKind is how a message body is delimited.
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // no body
	BodyLength                     // Content-Length bytes
	BodyChunked                    // chunked transfer coding, ends with the last chunk and trailers
	BodyUntilClose                 // responses only: until the server closes
)

// Request is a parsed request head.
type Request struct {
	Method []byte
	URI    []byte // request-target exactly as received
	Path   []byte // path part of URI (origin-form: up to '?'; absolute-form: after the authority, "/" if empty; asterisk-form: "*"; authority-form: nil)
	Query  []byte // after the first '?', without it; nil when URI has no '?'
	Minor  int    // HTTP/1.Minor, 0 or 1

	Fields []Field

	HeadLen int // bytes of the head including the final CRLF CRLF

	Host           []byte   // Host field value (nil when absent)
	Body           BodyKind // BodyNone, BodyLength or BodyChunked
	ContentLength  int64    // when Body == BodyLength
	KeepAlive      bool     // the client allows another request on this connection
	Upgrade        bool     // Connection carries "upgrade" and an Upgrade field is present
	ExpectContinue bool     // Expect: 100-continue
}

// Response is a parsed response head.
type Response struct {
	Minor  int
	Status int
	Reason []byte

	Fields []Field

	HeadLen int

	Body          BodyKind
	ContentLength int64 // when Body == BodyLength
	KeepAlive     bool  // the server allows another request on this connection
}

// Error is a rejected message: Status is what the proxy answers (400, 414,
// 431, 505 for a request; 502 for a bad response) and Reason says which rule
// was broken. The parsers return shared *Error values: compare or wrap them,
// never modify them.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "h1: " + e.Reason }
