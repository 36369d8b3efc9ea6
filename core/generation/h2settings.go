package generation

import (
	"log/slog"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/h2"
)

// H2Settings is what a frontend needs to serve HTTP/2.
type H2Settings struct {
	Cfg       h2.Config
	Cleartext bool // h2c with prior knowledge on plain binds
}

// newH2Frontend translates a frontend's h2 settings; errors are counted on
// the frontend's H2Errors.
func newH2Frontend(fc *config.Frontend, fe *Frontend, log *slog.Logger) H2Settings {
	var h H2Settings
	c := &h.Cfg
	if o := fc.H2; o != nil {
		h.Cleartext = o.Cleartext
		c.MaxConcurrentStreams = uint32(o.MaxConcurrentStreams)
		c.InitialWindowSize = uint32(o.InitialWindowSize)
		c.ConnWindowSize = uint32(o.ConnWindowSize)
		c.MaxHeaderListSize = uint32(o.MaxHeaderListSize)
		c.MaxResets = o.MaxResets
		c.MaxControlFrames = o.MaxControlFrames
		c.ZeroWindowTimeout = o.ZeroWindowTimeout
	}
	c.IdleTimeout = fc.Timeouts.HTTPKeepAlive
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.OnProtocolError = func(err error) {
		fe.Stats.H2Errors.Add(1)
		log.Debug("http/2 client error", "frontend", fe.Name, "error", err)
	}
	return h
}
