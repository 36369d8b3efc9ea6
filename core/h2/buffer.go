package h2

import (
	"bufio"
	"sync"
)

// chunkSize is the unit of request-body buffering. Bodies are appended to
// pooled chunks so a stream holds memory only for bytes received and not yet
// read, and an idle stream (or connection) holds none.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

type chunk struct {
	b    *[chunkSize]byte
	r, w int
}

// recvBuf is a FIFO of request-body bytes. Guarded by Conn.mu.
type recvBuf struct {
	chunks []chunk
	n      int // unread bytes
}

func (b *recvBuf) len() int { return b.n }

func (b *recvBuf) write(p []byte) {
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

// writeBufSize: frame writes of one logical write are batched in a pooled
// buffer and flushed together; 64 KiB holds four 16 KiB DATA frames.
const writeBufSize = 64 << 10

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}
