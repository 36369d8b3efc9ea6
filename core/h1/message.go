package h1

// Reset clears r for the next message, keeping the storage of r.Fields.
// ParseRequest resets r itself; Reset is for a caller that builds a request.
func (r *Request) Reset() {
	clear(r.Fields) // drop references to old buffers
	fields := r.Fields[:0]
	*r = Request{Fields: fields}
}

// Reset clears r for the next message, keeping the storage of r.Fields.
// ParseResponse resets r itself; Reset is for a caller that builds a
// response.
func (r *Response) Reset() {
	clear(r.Fields) // drop references to old buffers
	fields := r.Fields[:0]
	*r = Response{Fields: fields}
}
