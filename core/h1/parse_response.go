package h1

// ParseResponse parses the response head at the start of buf into r, in
// place, like ParseRequest: slices alias buf, r.Fields is reused, nothing is
// allocated once r.Fields has the capacity. reqMethod is the method of the
// request this response answers. It returns nil, ErrIncomplete, or a shared
// *Error with Status 502.
//
// The status line is HTTP-version SP 3DIGIT [SP reason-phrase] CRLF with
// version HTTP/1.0 or HTTP/1.1 and a status in 100..599; a missing
// " reason" leaves Reason nil, an empty one leaves it empty. Empty lines
// before the status line are not skipped: from a server they mean the
// previous body was not framed as announced. Limits.MaxRequestLine bounds
// the status line; field lines follow the rules of ParseRequest.
//
// Framing (RFC 9112 §6.3), decided in this order:
//
//   - a 2xx answer to CONNECT opens a tunnel: Body is BodyUntilClose and
//     KeepAlive false (the bytes after HeadLen, in both directions, are the
//     tunnel's). Content-Length and Transfer-Encoding are ignored, as RFC
//     9110 §9.3.6 requires. A caller tells a tunnel from a close-delimited
//     body by its own reqMethod and Status.
//   - Content-Length with Transfer-Encoding, Transfer-Encoding in an
//     HTTP/1.0 response, Transfer-Encoding whose final coding is not
//     chunked (other codings may precede it and are left for the client),
//     chunked twice, or Content-Length values that differ: 502.
//   - an answer to HEAD, a 1xx, 204 or 304 has no body (BodyNone), whatever
//     its fields say. A 101 also sets KeepAlive false: when the request
//     asked to upgrade, the connection carries the new protocol from
//     HeadLen on. Other 1xx are interim; the final response follows.
//   - Transfer-Encoding ending in chunked: BodyChunked.
//   - Content-Length: BodyLength (BodyNone when it is 0).
//   - otherwise the body runs until the server closes: BodyUntilClose and
//     KeepAlive false.
//
// KeepAlive otherwise follows the response's Connection field and version,
// as for a request; the caller combines it with the request's.
func ParseResponse(r *Response, buf []byte, lim *Limits, reqMethod []byte) error {
	maxLine, maxHead, maxFields := limits(lim)
	fields := r.Fields[:0]
	*r = Response{}
	code := parseResponse(r, buf, maxLine, maxHead, maxFields, reqMethod, fields)
	if r.Fields == nil {
		// Keep the storage when the head was incomplete or rejected, so the
		// next attempt on the longer buffer does not allocate.
		r.Fields = fields[:0]
	}
	switch code {
	case eNone:
		return nil
	case eMore:
		if len(buf) >= maxHead {
			return respErrors[eHeadTooLarge]
		}
		return ErrIncomplete
	}
	return respErrors[code]
}

func parseResponse(r *Response, buf []byte, maxLine, maxHead, maxFields int, reqMethod []byte, fields []Field) errCode {
	lf, code := findLineEnd(buf, 0, maxLine)
	if code != eNone {
		return code
	}
	if lf == 0 || buf[lf-1] != '\r' {
		return eBareLF
	}
	line := buf[: lf-1 : lf-1]
	if len(line) > maxLine {
		return eLineTooLong
	}
	if len(line) < len("HTTP/1.1 200") {
		return eStatusLine
	}
	minor, code := parseVersion(line[:8])
	if code != eNone {
		return code
	}
	if line[8] != ' ' {
		return eStatusLine
	}
	status := 0
	for _, c := range line[9:12] {
		if class[c]&cDigit == 0 {
			return eStatusLine
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || status > 599 {
		return eStatusCode
	}
	if len(line) > 12 {
		if line[12] != ' ' {
			return eStatusLine
		}
		reason := line[13:]
		for _, c := range reason {
			if class[c]&cValue == 0 {
				return eStatusLine
			}
		}
		r.Reason = reason
	}
	r.Minor, r.Status = minor, status

	h := head{fields: fields}
	headLen, code := h.parseFields(buf, lf+1, maxHead, maxFields, false)
	r.Fields = h.fields
	if code != eNone {
		return code
	}
	r.HeadLen = headLen
	r.KeepAlive = h.keepAlive(minor)

	if status/100 == 2 && string(reqMethod) == "CONNECT" {
		r.Body, r.KeepAlive = BodyUntilClose, false
		return eNone
	}
	if h.teSeen {
		switch {
		case h.clSeen:
			return eCLAndTE
		case minor == 0:
			return eTEHTTP10
		case !h.teLast:
			return eTENotFinal
		}
	}
	switch {
	case string(reqMethod) == "HEAD" || status < 200 || status == 204 || status == 304:
		if status == 101 {
			r.KeepAlive = false
		}
	case h.teSeen:
		r.Body = BodyChunked
	case h.clSeen:
		if h.cl > 0 {
			r.Body, r.ContentLength = BodyLength, h.cl
		}
	default:
		r.Body, r.KeepAlive = BodyUntilClose, false
	}
	return eNone
}
