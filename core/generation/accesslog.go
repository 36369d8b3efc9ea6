package generation

import (
	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/logfmt"
)

// buildLogFormat compiles a frontend's log_format (checked when the
// configuration was loaded).
func buildLogFormat(fc *config.Frontend) (*logfmt.Format, []config.Capture, []config.Capture) {
	var f *logfmt.Format
	if fc.LogFormat != "" {
		f, _ = logfmt.Parse(fc.LogFormat)
	}
	return f, fc.CaptureRequestHeaders, fc.CaptureResponseHeaders
}

// buildUniqueID compiles a frontend's unique_id_format.
func buildUniqueID(fc *config.Frontend) (*logfmt.Format, []byte) {
	if fc.UniqueIDFormat == "" {
		return nil, nil
	}
	f, _ := logfmt.Parse(fc.UniqueIDFormat)
	var h []byte
	if fc.UniqueIDHeader != "" {
		h = []byte(fc.UniqueIDHeader)
	}
	return f, h
}

// LogsTimers reports whether the frontend's log line or unique id may
// read HAProxy's timers and captures: the clock reads they cost are taken
// only then, not on every request.
func (fe *Frontend) LogsTimers() bool { return fe.LogFormat != nil || fe.UniqueID != nil }
