package main

import (
	"net/netip"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

func TestInspect(t *testing.T) {
	h := sdktest.New()
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	h.Method, h.Path, h.Query = "POST", "/_inspect", "a=1"
	h.Src = netip.MustParseAddr("192.0.2.1")
	h.ReqHeaders = []sdktest.Header{{Name: "Host", Value: "example.com"}}
	h.Counters = map[int]map[string]int64{0: {"http_req_rate": 12, "conn_cur": 1}}
	done, err := h.Service("inspect", abi.EventRequest)
	if err != nil || !done {
		t.Fatal(done, err)
	}
	if h.Reply.Status != 200 || h.Reply.Header("content-type") != "application/json" {
		t.Fatalf("reply %d %q", h.Reply.Status, h.Reply.Header("content-type"))
	}
	var r Report
	if err := h.Reply.JSON(&r); err != nil {
		t.Fatal(err)
	}
	if r.Method != "POST" || r.Path != "/_inspect" || r.Query != "a=1" || r.Src != "192.0.2.1" || r.Headers["host"] != "example.com" {
		t.Errorf("report %+v", r)
	}
	if r.Counters["sc0"]["http_req_rate"] != 12 || r.Counters["sc0"]["conn_cur"] != 1 {
		t.Errorf("counters %+v", r.Counters)
	}
	if _, ok := r.Counters["sc1"]; ok {
		t.Error("sc1 is not tracked but reported")
	}
}
