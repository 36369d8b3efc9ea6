// Command inspect is a strata plugin that provides the internal service
// inspect: it answers every request itself with a JSON document describing
// the request (method, path, query, headers, client address) and the
// stick counters tracked for it.
//
//	plugins:
//	  inspect:
//	    file: inspect.wasm
//	    grants: [headers, stick_counters, respond]
//	frontends:
//	  web:
//	    use_service:
//	      - inspect if { path_beg /_inspect }
package main

import (
	"encoding/json"
	"errors"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

// Report is the JSON document the service answers with.
type Report struct {
	Method   string                      `json:"method"`
	Path     string                      `json:"path"`
	Query    string                      `json:"query,omitempty"`
	Src      string                      `json:"src,omitempty"`
	Headers  map[string]string           `json:"headers"`
	Counters map[string]map[string]int64 `json:"stick_counters"`
}

var (
	reportHeaders = []string{"host", "user-agent", "accept", "x-forwarded-for"}
	counterData   = []string{"conn_cur", "conn_rate", "http_req_cnt", "http_req_rate", "http_err_rate", "gpc0"}
)

func init() {
	sdk.RegisterService(sdk.Service{Name: "inspect", Modes: abi.ServiceHTTP, Fn: serve})
}

func serve(c *sdk.Ctx, ev abi.ServiceEvent) (bool, error) {
	if ev != abi.EventRequest {
		return true, nil
	}
	r := Report{Headers: map[string]string{}, Counters: map[string]map[string]int64{}}
	var err error
	if r.Method, err = c.Method(); err != nil {
		return true, err
	}
	if r.Path, err = c.Path(); err != nil {
		return true, err
	}
	r.Query, _ = c.Query()
	if v, err := c.Sample("src"); err == nil {
		r.Src = v.String()
	}
	for _, h := range reportHeaders {
		if v, err := c.ReqHeader(h); err == nil {
			r.Headers[h] = v
		}
	}
	for slot := range 3 {
		for _, d := range counterData {
			v, err := c.StickCounter(slot, d)
			if errors.Is(err, sdk.ErrNotFound) {
				continue
			}
			if err != nil {
				return true, err
			}
			name := "sc" + string(rune('0'+slot))
			if r.Counters[name] == nil {
				r.Counters[name] = map[string]int64{}
			}
			r.Counters[name][d] = v
		}
	}
	body, err := json.Marshal(r)
	if err != nil {
		return true, err
	}
	body = append(body, '\n')
	return true, c.Reply(200, "application/json", body)
}

func main() {}
