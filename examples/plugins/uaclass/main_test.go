package main

import (
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

func TestUAClass(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"bot", "Googlebot/2.1 (+http://www.google.com/bot.html)", "bot"},
		{"curl", "curl/8.5.0", "cli"},
		{"mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "mobile"},
		{"desktop", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "desktop"},
		{"absent", "", "unknown"},
	}
	h := sdktest.New()
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.ReqHeaders = nil
			if tt.ua != "" {
				h.ReqHeaders = []sdktest.Header{{Name: "User-Agent", Value: tt.ua}}
			}
			v, err := h.Fetch("ua_class")
			if err != nil {
				t.Fatal(err)
			}
			if v.String() != tt.want {
				t.Errorf("ua_class = %q, want %q", v.String(), tt.want)
			}
		})
	}
}

// Without the HTTP transaction the fetch yields no sample, as in the proxy.
func TestUAClass_NoTxn(t *testing.T) {
	h := sdktest.New()
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	h.Layers = abi.LayerConn | abi.LayerSess | abi.LayerStrm
	v, err := h.Fetch("ua_class")
	if err != nil || v.Valid() {
		t.Fatalf("got %v, %v; want no sample", v, err)
	}
}
