package main

import (
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name     string
		counters map[int]map[string]int64
		args     []string
		want     abi.Verdict
	}{
		{"under", map[int]map[string]int64{0: {"http_req_rate": 5}}, []string{"10"}, abi.VerdictContinue},
		{"over", map[int]map[string]int64{0: {"http_req_rate": 11}}, []string{"10"}, abi.VerdictDeny},
		{"other slot", map[int]map[string]int64{1: {"http_req_rate": 50}}, []string{"10", "1"}, abi.VerdictDeny},
		{"untracked", nil, []string{"10"}, abi.VerdictContinue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.New()
			if err := h.Init(); err != nil {
				t.Fatal(err)
			}
			h.Counters = tt.counters
			v, err := h.Action("rate_limit", abi.PointHTTPRequest, tt.args...)
			if err != nil || v != tt.want {
				t.Fatalf("verdict %v err %v, want %v", v, err, tt.want)
			}
			if v != abi.VerdictDeny {
				return
			}
			var body struct {
				Error   string `json:"error"`
				Rate    int64  `json:"rate"`
				Refused int64  `json:"refused"`
			}
			if err := h.Reply.JSON(&body); err != nil {
				t.Fatal(err)
			}
			if h.Reply.Status != 429 || body.Error != "rate limited" || body.Refused != 1 || h.Reply.Header("retry-after") != "1" {
				t.Errorf("reply %d %+v", h.Reply.Status, body)
			}
		})
	}
}
