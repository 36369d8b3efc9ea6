package main

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/strata-proxy/strata/sdk/sdktest"
)

func newHost(t *testing.T, weight int) *sdktest.Host {
	h := sdktest.New()
	h.Config = map[string]any{"header": "x-canary", "cookie": "canary", "weight": weight, "canary": "v2", "stable": "v1"}
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCanary_Override(t *testing.T) {
	tests := []struct {
		name    string
		headers []sdktest.Header
		want    string
	}{
		{"header forces canary", []sdktest.Header{{Name: "X-Canary", Value: "always"}}, "v2"},
		{"header forces stable", []sdktest.Header{{Name: "x-canary", Value: "0"}}, "v1"},
		{"cookie forces canary", []sdktest.Header{{Name: "Cookie", Value: "a=b; canary=1"}}, "v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t, 0)
			h.ReqHeaders = tt.headers
			ok, err := h.Target("canary")
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			if h.Route.Backend != tt.want {
				t.Errorf("backend %q want %q", h.Route.Backend, tt.want)
			}
		})
	}
}

func TestCanary_Weight(t *testing.T) {
	h := newHost(t, 10)
	canary := 0
	for i := range 1000 {
		h.Src = netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
		if _, err := h.Target("canary"); err != nil {
			t.Fatal(err)
		}
		if h.Route.Backend == "v2" {
			canary++
		}
	}
	if canary < 50 || canary > 150 {
		t.Errorf("%d of 1000 clients on the canary, want about 100", canary)
	}
	// A client keeps its side.
	h.Src = netip.MustParseAddr("192.0.2.7")
	h.Target("canary")
	first := h.Route.Backend
	for range 10 {
		h.Target("canary")
		if h.Route.Backend != first {
			t.Fatal("a client changed side")
		}
	}
}
