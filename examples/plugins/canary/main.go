// Command canary is a strata plugin that provides the routing target
// canary: it sends a share of the traffic to a canary backend. A request
// header or a cookie overrides the draw ("1"/"always" forces the canary,
// "0"/"never" the stable backend); otherwise the client address picks a
// stable bucket, so a client keeps its side.
//
//	plugins:
//	  canary:
//	    file: canary.wasm
//	    grants: [headers, route]
//	    config: {header: x-canary, cookie: canary, weight: 10, canary: app_v2, stable: app_v1}
//	frontends:
//	  web:
//	    use_backend:
//	      - canary
package main

import (
	"hash/fnv"
	"strings"

	"github.com/strata-proxy/strata/sdk"
)

type config struct {
	Header string `json:"header"`
	Cookie string `json:"cookie"`
	Weight int    `json:"weight"` // percent of traffic for the canary
	Canary string `json:"canary"`
	Stable string `json:"stable"`
}

var cfg = config{Header: "x-canary", Cookie: "canary", Weight: 10, Canary: "canary", Stable: "stable"}

func init() {
	sdk.OnInit(func() error {
		if err := sdk.DecodeConfig(&cfg); err != nil {
			return err
		}
		if cfg.Weight < 0 || cfg.Weight > 100 {
			return sdk.ErrArg
		}
		return nil
	})
	sdk.RegisterTarget(sdk.Target{Name: "canary", Fn: route})
}

func route(c *sdk.Ctx) (bool, error) {
	to := cfg.Stable
	if Choose(override(c), clientKey(c), cfg.Weight) {
		to = cfg.Canary
	}
	return true, c.UseBackend(to)
}

// override returns the forced side: +1 canary, -1 stable, 0 none.
func override(c *sdk.Ctx) int {
	if cfg.Header != "" {
		if v, err := c.ReqHeader(cfg.Header); err == nil {
			return parseForce(v)
		}
	}
	if cfg.Cookie != "" {
		if v, err := c.ReqHeader("cookie"); err == nil {
			for _, kv := range strings.Split(v, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
				if k == cfg.Cookie {
					return parseForce(val)
				}
			}
		}
	}
	return 0
}

func parseForce(v string) int {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "always", "true", "yes":
		return 1
	case "0", "never", "false", "no":
		return -1
	}
	return 0
}

func clientKey(c *sdk.Ctx) string {
	v, err := c.Sample("src")
	if err != nil {
		return ""
	}
	return v.String()
}

// Choose reports whether a client goes to the canary.
func Choose(force int, key string, weight int) bool {
	switch {
	case force > 0:
		return true
	case force < 0:
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32()%100) < weight
}

func main() {}
