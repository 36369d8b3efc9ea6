package transport

import "sync"

// DefaultBufSize is the size of a connection read buffer (HAProxy's
// tune.bufsize).
const DefaultBufSize = 16384

var bufPool = sync.Pool{New: func() any { b := make([]byte, DefaultBufSize); return &b }}

// GetBuf returns a buffer of DefaultBufSize bytes from the pool.
func GetBuf() *[]byte { return bufPool.Get().(*[]byte) }

// PutBuf returns a buffer taken with GetBuf.
func PutBuf(b *[]byte) {
	if b != nil && cap(*b) == DefaultBufSize {
		bufPool.Put(b)
	}
}

// Buffer is a connection's read buffer: unread bytes are B[R:W]. Its storage
// comes from the pool and goes back there whenever it is empty and the
// connection waits, so an idle connection costs no buffer.
type Buffer struct {
	p    *[]byte
	B    []byte
	R, W int
}

// Data returns the unread bytes.
func (b *Buffer) Data() []byte { return b.B[b.R:b.W] }

// Len returns the number of unread bytes.
func (b *Buffer) Len() int { return b.W - b.R }

// Consume marks n unread bytes as used.
func (b *Buffer) Consume(n int) {
	b.R += n
	if b.R >= b.W {
		b.R, b.W = 0, 0
	}
}

// Full reports whether no byte can be read into the buffer without Compact.
func (b *Buffer) Full() bool { return b.B != nil && b.W == len(b.B) }

// Compact moves the unread bytes to the start of the storage. Slices into
// the old positions become invalid.
func (b *Buffer) Compact() {
	if b.R == 0 {
		return
	}
	n := copy(b.B, b.B[b.R:b.W])
	b.R, b.W = 0, n
}

// acquire makes sure the buffer has storage.
func (b *Buffer) acquire() {
	if b.p == nil {
		b.p = GetBuf()
		b.B = *b.p
		b.R, b.W = 0, 0
	}
}

// Release gives the storage back to the pool when no unread byte is left.
func (b *Buffer) Release() {
	if b.p != nil && b.R == b.W {
		PutBuf(b.p)
		b.p, b.B = nil, nil
		b.R, b.W = 0, 0
	}
}

// Held reports whether the buffer currently holds pool storage.
func (b *Buffer) Held() bool { return b.p != nil }
