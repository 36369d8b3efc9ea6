package h1

import (
	"slices"
	"strconv"
)

// AppendRequestHead appends the request head r describes to dst and
// returns the extended slice: "Method SP URI SP HTTP/1.Minor CRLF", then
// "Name: Value CRLF" for each field in order, then CRLF. A Minor other than
// 0 is written as 1. It grows dst at most once and allocates nothing when
// dst has room.
//
// It does not validate: a field edited by a rule must have been checked
// (ValidFieldName, ValidFieldValue) by whoever set it, since a CR or LF in
// a name or value would split the head.
func AppendRequestHead(dst []byte, r *Request) []byte {
	n := len(r.Method) + 1 + len(r.URI) + len(" HTTP/1.1\r\n") + fieldsLen(r.Fields) + 2
	dst = slices.Grow(dst, n)
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.URI...)
	dst = append(dst, " HTTP/1."...)
	dst = append(dst, minorDigit(r.Minor), '\r', '\n')
	dst = appendFields(dst, r.Fields)
	return append(dst, '\r', '\n')
}

// AppendResponseHead appends the response head r describes to dst and
// returns the extended slice: "HTTP/1.Minor SP Status SP Reason CRLF", the
// fields as AppendRequestHead writes them, then CRLF. An empty Reason is
// replaced by StatusText(Status) (which is empty for an unknown status).
// Like AppendRequestHead it does not validate and allocates nothing when dst
// has room.
func AppendResponseHead(dst []byte, r *Response) []byte {
	reason := r.Reason
	text := ""
	if len(reason) == 0 {
		text = StatusText(r.Status)
	}
	n := len("HTTP/1.1 200 \r\n") + len(reason) + len(text) + fieldsLen(r.Fields) + 2
	dst = slices.Grow(dst, n)
	dst = append(dst, "HTTP/1."...)
	dst = append(dst, minorDigit(r.Minor), ' ')
	if s := r.Status; 100 <= s && s <= 999 {
		dst = append(dst, byte('0'+s/100), byte('0'+s/10%10), byte('0'+s%10))
	} else {
		dst = strconv.AppendInt(dst, int64(s), 10)
	}
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, text...)
	dst = append(dst, '\r', '\n')
	dst = appendFields(dst, r.Fields)
	return append(dst, '\r', '\n')
}

func minorDigit(minor int) byte {
	if minor == 0 {
		return '0'
	}
	return '1'
}

func fieldsLen(fields []Field) int {
	n := 0
	for i := range fields {
		n += len(fields[i].Name) + len(fields[i].Value) + 4
	}
	return n
}

func appendFields(dst []byte, fields []Field) []byte {
	for i := range fields {
		dst = append(dst, fields[i].Name...)
		dst = append(dst, ':', ' ')
		dst = append(dst, fields[i].Value...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}
