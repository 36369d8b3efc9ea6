// Command ratelimit is a strata plugin that provides the action
// rate_limit(limit[, slot]): when the HTTP request rate of the entry tracked
// by stick counter slot (default 0) exceeds limit, it counts the refusal in
// gpc0 and answers 429 with a JSON body. (It also puts a retry-after header
// in its reply; ABI v1 uses only the status, content-type and body of an
// action's reply, so the proxy does not send it yet.)
//
//	plugins:
//	  ratelimit:
//	    file: ratelimit.wasm
//	    grants: [stick_counters, respond]
//	frontends:
//	  web:
//	    http_request:
//	      - track-sc0 src table per_ip
//	      - rate_limit 100
package main

import (
	"errors"
	"strconv"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

func init() {
	sdk.RegisterAction(sdk.Action{Name: "rate_limit", Points: abi.PointHTTPRequest, MinArgs: 1, MaxArgs: 2, Fn: limit})
}

func limit(c *sdk.Ctx) (abi.Verdict, error) {
	s, err := c.ArgStr(0)
	if err != nil {
		return abi.VerdictContinue, err
	}
	max, err := strconv.ParseInt(s, 10, 64)
	if err != nil || max < 0 {
		return abi.VerdictContinue, sdk.ErrArg
	}
	slot := 0
	if c.ArgCount() > 1 {
		s, _ := c.ArgStr(1)
		if slot, err = strconv.Atoi(s); err != nil {
			return abi.VerdictContinue, sdk.ErrArg
		}
	}
	rate, err := c.StickCounter(slot, "http_req_rate")
	if errors.Is(err, sdk.ErrNotFound) {
		return abi.VerdictContinue, nil // not tracked: nothing to limit
	}
	if err != nil {
		return abi.VerdictContinue, err
	}
	if rate <= max {
		return abi.VerdictContinue, nil
	}
	// Counting refusals is best effort: a table without gpc0 (not found)
	// or a proxy without counter updates (unsupported) still gets its 429.
	refused, err := c.AddGPC(slot, 0, 1)
	if err != nil && !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, sdk.ErrUnsupported) {
		return abi.VerdictContinue, err
	}
	body := `{"error":"rate limited","rate":` + strconv.FormatInt(rate, 10) +
		`,"limit":` + strconv.FormatInt(max, 10) + `,"refused":` + strconv.FormatInt(refused, 10) + "}\n"
	if err := c.Reply(429, "application/json", []byte(body)); err != nil {
		return abi.VerdictContinue, err
	}
	if err := c.ReplyHeader("retry-after", "1"); err != nil {
		return abi.VerdictContinue, err
	}
	return abi.VerdictDeny, nil
}

func main() {}
