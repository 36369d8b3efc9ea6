// Command kitchen is a test-only strata plugin that calls every host
// function of ABI v1, so the host checks that the SDK's imports match its
// own signatures. Its fetch "all" runs them in order and returns the list
// of statuses as a string.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/sdk"
)

func init() {
	sdk.OnInit(func() error {
		_ = sdk.Log(abi.LogInfo, "kitchen init, config "+string(sdk.Config()))
		return nil
	})
	sdk.RegisterFetch(sdk.Fetch{Name: "all", Out: abi.TypeStr, Args: []abi.Type{abi.TypeStr, abi.TypeInt}, Fn: all})
	// kenv reports what WASI gives the plugin: an environment variable and
	// a file, and writes a line to stdout.
	sdk.RegisterFetch(sdk.Fetch{Name: "kenv", Out: abi.TypeStr, Fn: func(c *sdk.Ctx) (sdk.Value, error) {
		fmt.Println("kitchen says hello on stdout")
		_, err := os.ReadFile("/data/probe.txt")
		file := "ok"
		if err != nil {
			file = "denied"
		}
		return sdk.Str("env=" + os.Getenv("PROBE") + " file=" + file), nil
	}})
	sdk.RegisterConverter(sdk.Converter{Name: "kupper", In: abi.TypeStr, Out: abi.TypeStr, Fn: func(c *sdk.Ctx, in sdk.Value) (sdk.Value, error) {
		return sdk.Str(strings.ToUpper(string(in.Bytes))), nil
	}})
	sdk.RegisterAction(sdk.Action{Name: "kdeny", Points: abi.PointHTTPRequest | abi.PointTCPContent, Fn: func(c *sdk.Ctx) (abi.Verdict, error) {
		if c.Point() == abi.PointTCPContent {
			return abi.VerdictDeny, nil
		}
		return abi.VerdictDeny, c.Reply(403, "text/plain", []byte("no\n"))
	}})
	// ktrace writes to the span of its call: what a tracing backend shows
	// of a plugin (cmd/strata/internal/assemble's tracing test).
	sdk.RegisterAction(sdk.Action{Name: "ktrace", Points: abi.PointHTTPRequest, Fn: func(c *sdk.Ctx) (abi.Verdict, error) {
		p, _ := c.Path()
		_ = c.SpanAttr("kitchen.path", p)
		_ = c.SpanAttrInt("kitchen.answer", 42)
		_ = c.SpanEvent("kitchen.event")
		return abi.VerdictContinue, nil
	}})
	sdk.RegisterTarget(sdk.Target{Name: "kroute", MaxArgs: 1, Fn: func(c *sdk.Ctx) (bool, error) {
		b, err := c.ArgStr(0)
		if err != nil {
			return false, nil
		}
		return true, c.UseBackend(b)
	}})
	// kpick(kind, name) chooses a backend, a server or a service.
	sdk.RegisterTarget(sdk.Target{Name: "kpick", MinArgs: 2, MaxArgs: 2, Fn: func(c *sdk.Ctx) (bool, error) {
		kind, _ := c.ArgStr(0)
		name, _ := c.ArgStr(1)
		switch kind {
		case "backend":
			return true, c.UseBackend(name)
		case "server":
			return true, c.UseServer(name)
		case "service":
			return true, c.UseService(name)
		}
		return false, nil
	}})
	sdk.RegisterService(sdk.Service{Name: "kecho", Modes: abi.ServiceHTTP | abi.ServiceTCP, Fn: func(c *sdk.Ctx, ev abi.ServiceEvent) (bool, error) {
		switch ev {
		case abi.EventRequest:
			calls++
			p, _ := c.Path()
			_ = c.ReplyStatus(200)
			_ = c.ReplyHeader("x-calls", strconv.Itoa(calls))
			return true, c.ReplyWrite([]byte("echo " + p))
		case abi.EventData:
			b, err := c.Body()
			if err != nil {
				return true, err
			}
			return len(b) == 0, c.ReplyWrite(b)
		}
		calls = 0
		return true, nil
	}})
}

var calls int

func all(c *sdk.Ctx) (sdk.Value, error) {
	var out []string
	rec := func(name string, err error) {
		s := "ok"
		if e, ok := err.(*sdk.Error); ok {
			s = e.Status.String()
		} else if err != nil {
			s = err.Error()
		}
		out = append(out, name+"="+s)
	}
	a0, err := c.ArgStr(0)
	rec("arg0:"+a0, err)
	a1, err := c.ArgInt(1)
	rec("arg1:"+strconv.FormatInt(a1, 10), err)
	rec("argc:"+strconv.Itoa(c.ArgCount()), nil)
	v, err := c.Sample("req.hdr(host)")
	rec("sample:"+v.String(), err)
	h, err := c.ReqHeader("host")
	rec("req_header_get:"+h, err)
	rec("req_header_set", c.SetReqHeader("x-a", "1"))
	rec("req_header_add", c.AddReqHeader("x-a", "2"))
	n, err := c.DelReqHeader("x-a")
	rec("req_header_del:"+strconv.Itoa(n), err)
	_, err = c.RespHeader("server")
	rec("resp_header_get", err)
	rec("resp_header_set", c.SetRespHeader("x-b", "1"))
	rec("resp_header_add", c.AddRespHeader("x-b", "2"))
	n, err = c.DelRespHeader("x-b")
	rec("resp_header_del:"+strconv.Itoa(n), err)
	m, err := c.Method()
	rec("method:"+m, err)
	rec("set_method", c.SetMethod("PUT"))
	p, err := c.Path()
	rec("path:"+p, err)
	rec("set_path", c.SetPath("/new"))
	q, err := c.Query()
	rec("query:"+q, err)
	rec("set_query", c.SetQuery("x=1"))
	st, err := c.Status()
	rec("status:"+strconv.Itoa(st), err)
	rec("set_status", c.SetStatus(201))
	b, err := c.Body()
	rec("body:"+string(b), err)
	rec("var_set", c.SetVar(abi.ScopeTxn, "k", sdk.Str("v")))
	rec("var_set_int", c.SetVar(abi.ScopeSess, "n", sdk.Int(7)))
	vv, err := c.Var(abi.ScopeTxn, "k")
	rec("var_get:"+vv.String(), err)
	rec("var_unset", c.UnsetVar(abi.ScopeTxn, "k"))
	sc, err := c.StickCounter(0, "http_req_rate")
	rec("sc_get:"+strconv.FormatInt(sc, 10), err)
	g, err := c.AddGPC(0, 0, 2)
	rec("sc_gpc_add:"+strconv.FormatInt(g, 10), err)
	rec("sc_gpt_set", c.SetGPT(0, 0, 9))
	rec("route_set", c.UseServer("s1"))
	rec("reply_status", c.ReplyStatus(200))
	rec("reply_header_add", c.ReplyHeader("a", "b"))
	rec("reply_body_write", c.ReplyWrite([]byte("x")))
	rec("log", c.Log(abi.LogInfo, "hello from kitchen"))
	rec("span_attr_str", c.SpanAttr("k", "v"))
	rec("span_attr_int", c.SpanAttrInt("k", 1))
	rec("span_event", c.SpanEvent("e"))
	rec("clock", nil)
	if sdk.Monotonic() <= 0 || sdk.Now().Year() < 2020 {
		rec("clock", sdk.ErrInternal)
	}
	var rb [16]byte
	rec("random_fill", sdk.Random(rb[:]))
	return sdk.Str(strings.Join(out, " ")), nil
}

func main() {}
