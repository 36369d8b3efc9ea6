package h2

import (
	"fmt"
	"runtime"
)

// The frame writer of a connection. A logical write (a response's
// HEADERS, a body chunk, a WINDOW_UPDATE, a PING ack) buffers its frames
// between lockW and unlockW; unlockW writes the buffer to the transport
// unless another logical write is waiting for wmu (it will write the
// buffer with its own frames), a flush is under way (its goroutine writes
// what was buffered meanwhile before it returns) or queued. Before it
// writes, the flushing goroutine yields once (the flush is queued), so
// that the goroutines made runnable at the same time, as the responses of
// several streams arriving together, buffer their frames first: the
// frames of streams finishing together leave in one write system call
// (and one TLS record) instead of one each, even on one CPU. The
// transport is written with wmu released.
//
// A logical write returns once its frames are buffered; its error is the
// connection's sticky write error, seen by the writes after a failure.
// The buffer is bounded: a writer that finds writeBufSize bytes waiting
// behind a flush waits for the flush to take them.

// linkWriter is the Framer's writer: it appends to the write buffer.
// Needs wmu.
type linkWriter[S stream] struct{ l *link[S] }

func (w linkWriter[S]) Write(p []byte) (int, error) {
	l := w.l
	if l.werr != nil {
		return 0, l.werr
	}
	if l.wbuf == nil {
		l.wbuf = getWriteBuf()
	}
	*l.wbuf = append(*l.wbuf, p...)
	return len(p), nil
}

// lockW starts a logical write: wmu is held until unlockW.
func (l *link[S]) lockW() {
	l.writers.Add(1)
	l.wmu.Lock()
}

// unlockW ends a logical write started by lockW: it writes the buffer to
// the transport unless another goroutine will, and releases wmu. It
// returns the sticky write error.
func (l *link[S]) unlockW() error {
	l.writers.Add(-1)
	yielded := false
	for l.wbuf != nil && l.werr == nil {
		if l.flushing {
			if l.buffered() < writeBufSize {
				break // the flush under way writes it
			}
			l.wcond.Wait() // back-pressure: the flush takes the buffer first
			continue
		}
		if l.buffered() < writeBufSize && (l.writers.Load() > 0 || l.flushQueued) {
			break // a writer waiting for wmu, or the queued flush, writes it
		}
		if yielded || l.buffered() >= writeBufSize {
			l.flushLocked()
			break
		}
		l.flushQueued, yielded = true, true
		l.wmu.Unlock()
		runtime.Gosched()
		l.wmu.Lock()
		l.flushQueued = false
	}
	err := l.werr
	l.wmu.Unlock()
	return err
}

func (l *link[S]) buffered() int {
	if l.wbuf == nil {
		return 0
	}
	return len(*l.wbuf)
}

// flushLocked writes the buffer to the transport until it is empty,
// releasing wmu during each write so other writers buffer the next batch
// meanwhile. A write error is sticky and aborts the connection. Needs wmu
// and no flush under way.
func (l *link[S]) flushLocked() {
	l.flushing = true
	for l.wbuf != nil && l.werr == nil {
		buf := l.wbuf
		l.wbuf = nil
		l.wcond.Broadcast() // writers held back by a full buffer may go on
		l.wmu.Unlock()
		_, err := l.t.Write(*buf)
		putWriteBuf(buf)
		l.wmu.Lock()
		if err != nil && l.werr == nil {
			l.werr = fmt.Errorf("%w: write: %w", ErrConnClosed, err)
			l.abort(l.werr)
		}
	}
	if l.wbuf != nil { // after a write error: nothing more goes out
		putWriteBuf(l.wbuf)
		l.wbuf = nil
	}
	l.flushing = false
	l.wcond.Broadcast()
}

// drainLocked writes every buffered frame now (or until a write error),
// for what must reach the peer before the transport is half-closed.
// Needs wmu.
func (l *link[S]) drainLocked() error {
	for {
		switch {
		case l.flushing:
			l.wcond.Wait()
		case l.wbuf == nil || l.werr != nil:
			return l.werr
		default:
			l.flushLocked()
		}
	}
}

// endWrites makes every later write fail with ErrConnClosed once the
// flush under way (if any) ended, and drops the buffer: the connection is
// dead.
func (l *link[S]) endWrites() {
	l.wmu.Lock()
	for l.flushing {
		l.wcond.Wait()
	}
	if l.wbuf != nil {
		putWriteBuf(l.wbuf)
		l.wbuf = nil
	}
	if l.werr == nil {
		l.werr = ErrConnClosed
	}
	l.wmu.Unlock()
}
