package main

import (
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, path, wantPath, wantBackend string
	}{
		{"prefixed", "/api/users/7", "/users/7", "api"},
		{"bare prefix", "/api", "/", "api"},
		{"other", "/apix/users", "/apix/users", ""},
		{"root", "/", "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.New()
			h.Config = map[string]any{"prefix": "/api", "backend": "api"}
			if err := h.Init(); err != nil {
				t.Fatal(err)
			}
			h.Path = tt.path
			v, err := h.Action("api_rewrite", abi.PointHTTPRequest)
			if err != nil || v != abi.VerdictContinue {
				t.Fatalf("verdict %v, err %v", v, err)
			}
			if h.Path != tt.wantPath || h.Route.Backend != tt.wantBackend {
				t.Errorf("path %q backend %q, want %q %q", h.Path, h.Route.Backend, tt.wantPath, tt.wantBackend)
			}
			if _, ok := h.ReqHeader("x-forwarded-prefix"); ok != (tt.wantBackend != "") {
				t.Errorf("x-forwarded-prefix present = %v", ok)
			}
		})
	}
}
