package sdktest_test

import (
	"errors"
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
	"github.com/strata-proxy/strata/sdk/sdktest"
)

var kept *sdk.Ctx

func init() {
	sdk.RegisterFetch(sdk.Fetch{Name: "t_hdr", Needs: abi.LayerTxn, Out: abi.TypeStr, Args: []abi.Type{abi.TypeStr}, MinArgs: 1,
		Fn: func(c *sdk.Ctx) (sdk.Value, error) {
			kept = c
			name, err := c.ArgStr(0)
			if err != nil {
				return sdk.None, err
			}
			v, err := c.ReqHeader(name)
			if err != nil {
				return sdk.None, err
			}
			return sdk.Str(v), nil
		}})
	sdk.RegisterAction(sdk.Action{Name: "t_peek", Points: abi.PointTCPConnection | abi.PointHTTPRequest,
		Fn: func(c *sdk.Ctx) (abi.Verdict, error) {
			if _, err := c.ReqHeader("host"); errors.Is(err, sdk.ErrLayer) {
				return abi.VerdictDeny, nil
			}
			return abi.VerdictContinue, nil
		}})
}

func TestHost_Fetch(t *testing.T) {
	h := sdktest.New()
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	// A long value exercises the buffer protocol (grow and retry).
	long := string(make([]byte, 1000))
	h.ReqHeaders = []sdktest.Header{{Name: "X-Long", Value: long}}
	v, err := h.Fetch("t_hdr", "x-long")
	if err != nil || v.String() != long {
		t.Fatalf("got %d bytes, %v", len(v.Bytes), err)
	}
	if _, err := kept.ReqHeader("x-long"); !errors.Is(err, sdk.ErrHandle) {
		t.Errorf("a kept Ctx still works: %v", err)
	}
	if _, err := h.Fetch("t_hdr"); err == nil {
		t.Error("missing argument accepted")
	}
}

func TestHost_LayerError(t *testing.T) {
	h := sdktest.New()
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	v, err := h.Action("t_peek", abi.PointTCPConnection)
	if err != nil || v != abi.VerdictDeny {
		t.Errorf("tcp-request connection: %v %v, want deny (layer error seen)", v, err)
	}
	v, err = h.Action("t_peek", abi.PointHTTPRequest)
	if err != nil || v != abi.VerdictContinue {
		t.Errorf("http-request: %v %v", v, err)
	}
	if _, err := h.Action("t_peek", abi.PointHTTPResponse); err == nil {
		t.Error("action run at a point it did not register")
	}
}
