package h2

import (
	"errors"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// blockDecoder decodes header blocks as their frames arrive, for both
// sides of a connection: nothing but the decoded fields is kept, and they
// are bounded by max (RFC 9113 §6.5.2 sizes), as are the compressed bytes
// received for one block, frame headers included (CONTINUATION floods of
// empty or tiny frames end there) and each decoded string (HPACK bombs).
// Owned by the goroutine that reads the connection's frames.
type blockDecoder struct {
	dec *hpack.Decoder
	hb  headerBlock
	max int
	// strict: a decoded list beyond max ends the connection at once (the
	// server side: a client cannot be trusted to stop sending); else only
	// its stream fails once the block is decoded (hb.tooLarge).
	strict bool
	// what names the blocks in errors ("response " or "").
	what string
	// pending: a block was begun and not completed yet.
	pending bool
}

func (d *blockDecoder) initDecoder(max uint32, strict bool, what string) {
	d.max, d.strict, d.what = int(max), strict, what
	d.dec = hpack.NewDecoder(4096, d.emitField)
	d.dec.SetMaxStringLength(d.max)
}

// emitField is the HPACK decoder's callback: it collects the fields of the
// block being received and stops collecting past max (the block is still
// decoded, to keep the dynamic table in step); hb.tooLarge says so.
func (d *blockDecoder) emitField(f hpack.HeaderField) {
	hb := &d.hb
	hb.size += len(f.Name) + len(f.Value) + 32
	if hb.size > d.max {
		hb.tooLarge = true
		d.dec.SetEmitEnabled(false)
		return
	}
	hb.fields = append(hb.fields, f)
}

// begin starts the header block of a HEADERS frame. Decoded fields are
// collected again (a block too large stopped collecting, client side).
func (d *blockDecoder) begin(f *http2.HeadersFrame) {
	d.hb = headerBlock{
		streamID:  f.StreamID,
		endStream: f.StreamEnded(),
		selfDep:   f.HasPriority() && f.Priority.StreamDep == f.StreamID,
		fields:    d.hb.fields[:0],
	}
	d.pending = true
	d.dec.SetEmitEnabled(true)
}

// blockError is a header block that ends the connection: its code and
// reason for GOAWAY, and the sentinel a caller matches.
type blockError struct {
	code   http2.ErrCode
	reason string
	err    error
}

// decode decodes one fragment of the block in hb. done is true once the
// block's last fragment is decoded; a non-nil error ends the connection.
func (d *blockDecoder) decode(frag []byte, end bool, frameLen uint32) (done bool, err *blockError) {
	hb := &d.hb
	hb.wire += int(frameLen) + 9
	if hb.wire > d.max {
		return false, &blockError{http2.ErrCodeEnhanceYourCalm, d.what + "header block too large", ErrHeaderListTooLarge}
	}
	if _, err := d.dec.Write(frag); err != nil {
		if errors.Is(err, hpack.ErrStringLength) {
			return false, &blockError{http2.ErrCodeEnhanceYourCalm, d.what + "header field too large", ErrHeaderListTooLarge}
		}
		return false, &blockError{http2.ErrCodeCompression, d.what + err.Error(), nil}
	}
	if d.strict && hb.tooLarge {
		return false, &blockError{http2.ErrCodeEnhanceYourCalm, "header list too large", ErrHeaderListTooLarge}
	}
	if !end {
		return false, nil
	}
	if err := d.dec.Close(); err != nil {
		return false, &blockError{http2.ErrCodeCompression, d.what + err.Error(), nil}
	}
	return true, nil
}

// blockPending reports whether a header block is being received: its
// CONTINUATION frames are still to come.
func (d *blockDecoder) blockPending() bool { return d.pending }

// recycle clears the block's fields once they have been used, keeping the
// slice's capacity only when small: a connection with no open stream
// should hold little memory.
func (d *blockDecoder) recycle() {
	hb := &d.hb
	d.pending = false
	clear(hb.fields)
	if cap(hb.fields) > 64 {
		hb.fields = nil
	}
	hb.fields = hb.fields[:0]
}
