package main

import (
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

func TestPathHeader(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		path       string
		wantHeader string
	}{
		{"default header", nil, "/a/b", "x-path"},
		{"named header", []string{"x-p"}, "/", "x-p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.New()
			if err := h.Init(); err != nil {
				t.Fatal(err)
			}
			h.Path = tt.path
			h.ReqHeaders = []sdktest.Header{{Name: tt.wantHeader, Value: "old"}}
			v, err := h.Action("path_header", abi.PointHTTPRequest, tt.args...)
			if err != nil || v != abi.VerdictContinue {
				t.Fatalf("verdict %v, err %v", v, err)
			}
			if got, ok := h.ReqHeader(tt.wantHeader); !ok || got != tt.path {
				t.Errorf("%s = %q (present %v), want %q", tt.wantHeader, got, ok, tt.path)
			}
			if n := len(h.ReqHeaders); n != 1 {
				t.Errorf("%d request headers, want the old one replaced", n)
			}
		})
	}
}
