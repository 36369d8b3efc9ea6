package h2

import "sync"

// chunkSize is the unit of request-body buffering. Bodies are appended to
// pooled chunks so a stream holds memory only for bytes received and not yet
// read, and an idle stream (or connection) holds none.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

type chunk struct {
	b    *[chunkSize]byte
	r, w int
}

// recvBuf is a FIFO of received body bytes. Guarded by the link's mu.
type recvBuf struct {
	chunks []chunk
	n      int      // unread bytes
	inline [1]chunk // backs chunks while one is enough: no allocation per body
}

func (b *recvBuf) len() int { return b.n }

func (b *recvBuf) write(p []byte) {
	if b.chunks == nil {
		b.chunks = b.inline[:0]
	}
	b.n += len(p)
	for len(p) > 0 {
		if k := len(b.chunks); k == 0 || b.chunks[k-1].w == chunkSize {
			b.chunks = append(b.chunks, chunk{b: chunkPool.Get().(*[chunkSize]byte)})
		}
		last := &b.chunks[len(b.chunks)-1]
		n := copy(last.b[last.w:], p)
		last.w += n
		p = p[n:]
	}
}

func (b *recvBuf) read(p []byte) int {
	total := 0
	for len(p) > 0 && len(b.chunks) > 0 {
		first := &b.chunks[0]
		n := copy(p, first.b[first.r:first.w])
		first.r += n
		p = p[n:]
		total += n
		if first.r < first.w || len(b.chunks) == 1 {
			break // p is full, or everything is read
		}
		chunkPool.Put(first.b)
		b.chunks[0] = chunk{}
		b.chunks = b.chunks[1:]
	}
	b.n -= total
	if b.n == 0 {
		// Drained: an idle stream holds no chunk.
		b.release()
	}
	return total
}

// release drops every buffered byte and gives the chunks back; it returns
// how many unread bytes were dropped.
func (b *recvBuf) release() int {
	dropped := b.n
	for i := range b.chunks {
		chunkPool.Put(b.chunks[i].b)
		b.chunks[i] = chunk{}
	}
	b.chunks = nil
	b.n = 0
	return dropped
}

// writeBufSize bounds the frames a connection buffers behind a flush
// under way, and the bytes of one DATA write (four 16 KiB frames).
const writeBufSize = 64 << 10

// maxPooledWriteBuf: a write buffer grown beyond this (a large header
// block, many writers at once) is not kept.
const maxPooledWriteBuf = 4 * writeBufSize

var writeBufPool = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

// getWriteBuf returns an empty write buffer from the pool: a connection
// holds one only while it has frames to write.
func getWriteBuf() *[]byte {
	b := writeBufPool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func putWriteBuf(b *[]byte) {
	if cap(*b) > maxPooledWriteBuf {
		return
	}
	writeBufPool.Put(b)
}
