// Command uaclass is a strata plugin that provides the sample fetch
// ua_class: the class of the client's User-Agent ("bot", "cli", "mobile",
// "desktop" or "unknown"). It needs the HTTP transaction, so a rule using it
// in tcp-request is a configuration error.
//
//	http_request:
//	  - set-header x-client-class %[ua_class]
package main

import (
	"errors"
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

func init() {
	sdk.RegisterFetch(sdk.Fetch{Name: "ua_class", Needs: abi.LayerTxn, Out: abi.TypeStr, Fn: uaClass})
}

// ua is reused from call to call (an instance runs one call at a time).
var ua []byte

func uaClass(c *sdk.Ctx) (sdk.Value, error) {
	var err error
	ua, err = c.AppendReqHeader(ua[:0], "user-agent")
	if errors.Is(err, sdk.ErrNotFound) {
		return sdk.Str("unknown"), nil
	}
	if err != nil {
		return sdk.None, err
	}
	return sdk.Str(Classify(string(ua))), nil
}

// Classify returns the class of a User-Agent value.
func Classify(ua string) string {
	l := strings.ToLower(ua)
	switch {
	case l == "":
		return "unknown"
	case strings.Contains(l, "bot") || strings.Contains(l, "spider") || strings.Contains(l, "crawl"):
		return "bot"
	case strings.HasPrefix(l, "curl/") || strings.HasPrefix(l, "wget/") || strings.HasPrefix(l, "python-requests") || strings.HasPrefix(l, "go-http-client"):
		return "cli"
	case strings.Contains(l, "mobile") || strings.Contains(l, "android") || strings.Contains(l, "iphone"):
		return "mobile"
	case strings.HasPrefix(l, "mozilla/"):
		return "desktop"
	}
	return "unknown"
}

func main() {}
