package plugins

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"time"
)

// lineWriter turns a guest's stdout or stderr into log lines with the
// plugin's name. It is written by the instance's caller goroutine only.
type lineWriter struct {
	in     *instance
	stream string
	buf    []byte
}

const maxLine = 4096

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) > maxLine {
				w.flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	line := w.buf
	w.buf = w.buf[:0]
	if len(line) == 0 {
		return
	}
	if w.stream == "stderr" && bytes.Contains(line, []byte("out of memory")) {
		w.in.oom.Store(true)
	}
	p := w.in.p
	level := slog.LevelInfo
	if w.stream == "stderr" {
		level = slog.LevelWarn
	}
	if !p.log.Enabled(context.Background(), level) || !p.limiter.allow(time.Now()) {
		return
	}
	p.log.LogAttrs(context.Background(), level, string(line), slog.String("source", w.stream))
}

// limiter is a token bucket shared by a plugin's instances. It logs how
// many lines it dropped when it lets one through again.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	tokens  float64
	last    time.Time
	dropped int
	log     *slog.Logger
}

func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	} else {
		l.tokens = l.burst
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		l.mu.Unlock()
		return false
	}
	l.tokens--
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		l.log.Warn("plugin log lines dropped by the rate limit", "dropped", dropped)
	}
	return true
}
