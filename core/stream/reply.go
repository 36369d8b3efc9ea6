package stream

import (
	"strconv"

	"github.com/strata-proxy/strata/core/h1"
)

// cannedReply holds a complete error response, built once, in two forms:
// closing the connection, and keeping it (for denied requests).
type cannedReply struct {
	status int
	bytes  []byte
	keep   []byte
	// The page and its length, for fronts that encode the head
	// themselves (HTTP/2).
	body   []byte
	length string
}

var errorDetail = map[int]string{
	400: "Your browser sent an invalid request.",
	403: "Request forbidden by administrative rules.",
	408: "Your browser didn't send a complete request in time.",
	414: "The request line is too long.",
	429: "You have sent too many requests in a given amount of time.",
	431: "The request header fields are too large.",
	500: "An internal server error occurred.",
	501: "The request uses a transfer coding this proxy does not implement.",
	502: "The server returned an invalid or incomplete response.",
	503: "No server is available to handle this request.",
	504: "The server didn't respond in time.",
	505: "The HTTP version is not supported.",
}

var canned = map[int]*cannedReply{}

func init() {
	for code := range errorDetail {
		canned[code] = buildCanned(code)
	}
}

// buildCanned builds HAProxy-style error responses: small HTML, no cache,
// and the connection closed after it, or not.
func buildCanned(code int) *cannedReply {
	body := "<html><body><h1>" + strconv.Itoa(code) + " " + h1.Reason(code) + "</h1>\n" + errorDetail[code] + "\n</body></html>\n"
	head := "HTTP/1.1 " + strconv.Itoa(code) + " " + h1.Reason(code) + "\r\n" +
		"content-length: " + strconv.Itoa(len(body)) + "\r\n" +
		"cache-control: no-cache\r\n" +
		"content-type: text/html\r\n"
	return &cannedReply{
		status: code,
		bytes:  []byte(head + "connection: close\r\n\r\n" + body),
		keep:   []byte(head + "\r\n" + body),
		body:   []byte(body),
		length: strconv.Itoa(len(body)),
	}
}

// errorPage returns the canned response for code, building one for codes
// without a prepared page.
func errorPage(code int) *cannedReply {
	if c, ok := canned[code]; ok {
		return c
	}
	return buildCanned(code)
}

// appendReply builds a complete response with a body into dst.
func appendReply(dst []byte, code int, contentType, location []byte, body []byte, keepAlive bool) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, h1.Reason(code)...)
	dst = append(dst, "\r\ncontent-length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	if len(contentType) > 0 {
		dst = append(dst, "content-type: "...)
		dst = append(dst, contentType...)
		dst = append(dst, "\r\n"...)
	}
	if len(location) > 0 {
		dst = append(dst, "location: "...)
		dst = append(dst, location...)
		dst = append(dst, "\r\n"...)
	}
	if code >= 300 {
		dst = append(dst, "cache-control: no-cache\r\n"...)
	}
	if !keepAlive {
		dst = append(dst, "connection: close\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}
