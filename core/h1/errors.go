package h1

import "errors"

// ErrIncomplete is returned by ParseRequest and ParseResponse when buf does
// not hold a whole head yet and no limit is exceeded: the caller reads more
// and calls again with the longer buffer (the parse starts over).
var ErrIncomplete = errors.New("h1: incomplete head")

// errCode names one rule a head can break. Parsing works with codes; the
// exported entry points turn a code into a shared *Error carrying the
// status that fits the side the message came from (request or response),
// so rejecting a message allocates nothing either.
type errCode uint8

const (
	eNone errCode = iota

	// start line
	eEmptyLines    // too many empty lines before the request line
	eLineTooLong   // request or status line over Limits.MaxRequestLine
	eMethod        // method is not a token
	eRequestLine   // not exactly method SP request-target SP version
	eTarget        // bad request-target character
	eVersion       // HTTP/x.y other than 1.0 and 1.1
	eBadVersion    // not HTTP-version at all
	eAsterisk      // asterisk-form with a method other than OPTIONS
	eConnectTarget // CONNECT without authority-form, or authority-form without CONNECT
	eAbsolute      // malformed absolute-form
	eScheme        // absolute-form with a scheme other than http or https
	eHostMismatch  // absolute-form whose authority differs from Host
	eStatusLine    // malformed status line
	eStatusCode    // status code outside 100..599

	// field lines
	eBareLF            // LF not preceded by CR
	eBareCR            // CR not followed by LF
	eObsFold           // line starting with SP or HTAB
	eFieldName         // empty field name or non-token character in it
	eSpaceColon        // whitespace between field name and colon
	eFieldValue        // CTL (other than HTAB) or DEL in a field value
	eTooManyFields     // over Limits.MaxHeaders
	eHeadTooLarge      // over Limits.MaxHeadBytes
	eNoHost            // HTTP/1.1 request without Host
	eManyHosts         // more than one Host field
	eBadHost           // Host value is not uri-host [":" port]
	eContentLength     // Content-Length not 1*DIGIT, empty, or over int64
	eCLConflict        // Content-Length values that differ
	eCLAndTE           // both Content-Length and Transfer-Encoding
	eTECoding          // transfer coding other than chunked (requests), or malformed
	eTENotFinal        // chunked is not the final transfer coding
	eTEChunkedTwice    // chunked applied more than once
	eTEHTTP10          // Transfer-Encoding in an HTTP/1.0 message
	eConnectBody       // CONNECT request with content
	eFramingUnderscore // Content_Length or Transfer_Encoding

	numErrCodes
)

var errReasons = [numErrCodes]string{
	eEmptyLines:        "too many empty lines before the request line",
	eLineTooLong:       "start line too long",
	eMethod:            "invalid method",
	eRequestLine:       "malformed request line",
	eTarget:            "invalid request-target",
	eVersion:           "unsupported HTTP version",
	eBadVersion:        "malformed HTTP version",
	eAsterisk:          "asterisk-form target with a method other than OPTIONS",
	eConnectTarget:     "authority-form target is for CONNECT only, and CONNECT needs one",
	eAbsolute:          "malformed absolute-form target",
	eScheme:            "absolute-form target with a scheme other than http or https",
	eHostMismatch:      "Host differs from the authority of the absolute-form target",
	eStatusLine:        "malformed status line",
	eStatusCode:        "invalid status code",
	eBareLF:            "bare LF line ending",
	eBareCR:            "bare CR",
	eObsFold:           "obsolete line folding",
	eFieldName:         "invalid field name",
	eSpaceColon:        "whitespace between field name and colon",
	eFieldValue:        "invalid character in field value",
	eTooManyFields:     "too many header fields",
	eHeadTooLarge:      "head too large",
	eNoHost:            "missing Host",
	eManyHosts:         "more than one Host field",
	eBadHost:           "invalid Host value",
	eContentLength:     "invalid Content-Length",
	eCLConflict:        "conflicting Content-Length values",
	eCLAndTE:           "both Content-Length and Transfer-Encoding",
	eTECoding:          "unsupported transfer coding",
	eTENotFinal:        "chunked is not the final transfer coding",
	eTEChunkedTwice:    "chunked applied more than once",
	eTEHTTP10:          "Transfer-Encoding in an HTTP/1.0 message",
	eConnectBody:       "CONNECT request with content",
	eFramingUnderscore: "framing field name spelled with '_'",
}

// requestStatus is the status answered for a request breaking a rule; 400
// unless listed.
func requestStatus(c errCode) int {
	switch c {
	case eLineTooLong:
		return 414
	case eTooManyFields, eHeadTooLarge:
		return 431
	case eVersion:
		return 505
	}
	return 400
}

// reqErrors and respErrors hold one shared *Error per rule. Callers may
// compare them, read them and wrap them, but must not modify them.
var reqErrors, respErrors = func() (rq, rs [numErrCodes]*Error) {
	for c := eNone + 1; c < numErrCodes; c++ {
		rq[c] = &Error{Status: requestStatus(c), Reason: errReasons[c]}
		rs[c] = &Error{Status: 502, Reason: errReasons[c]}
	}
	return rq, rs
}()

// Errors of the chunked body scanner (Status 400; a caller scanning a
// response body answers 502). Shared values: compare, never modify.
var (
	errChunkSize      = &Error{Status: 400, Reason: "invalid chunk size"}
	errChunkSizeLong  = &Error{Status: 400, Reason: "chunk size too large"}
	errChunkExt       = &Error{Status: 400, Reason: "invalid chunk extension"}
	errChunkExtLong   = &Error{Status: 400, Reason: "chunk extensions too long"}
	errChunkLineEnd   = &Error{Status: 400, Reason: "chunk line not ended by CRLF"}
	errChunkDataEnd   = &Error{Status: 400, Reason: "chunk data not followed by CRLF"}
	errTrailerField   = &Error{Status: 400, Reason: "invalid trailer field"}
	errTrailerTooLong = &Error{Status: 400, Reason: "trailer section too large"}
)
