package assembly

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
	"github.com/strata-proxy/strata/plugins"
)

// BenchmarkProxy_PluginAction measures one proxied keep-alive request whose
// path is copied into a request header: by a native rule, by the
// pathheader plugin action with its call deadline (the default), and by the
// same action with the deadline off (call_timeout < 0, which the
// configuration does not offer: it shows what enforcing the deadline
// costs); and one that gets a constant request header: by a native rule
// and by a Proxy-Wasm filter built with the Go SDK (addheader).
func BenchmarkProxy_PluginAction(b *testing.B) {
	for _, tc := range []struct {
		name  string
		rules string
		tune  func(*plugins.Config)
	}{
		{name: "rule", rules: `    http_request: ["set-header x-path %[path]"]`},
		{name: "plugin", rules: `    http_request: ["path_header x-path"]`},
		{name: "plugin-nodeadline", rules: `    http_request: ["path_header x-path"]`, tune: func(hc *plugins.Config) { patient(hc); hc.CallTimeout = -1 }},
		{name: "set-header", rules: `    http_request: ["set-header x-filtered 1"]`},
		{name: "proxywasm", rules: `    filters: [addheader]`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := testsupport.RawUpstream(b)
			pw, err := testsupport.BuildWasm("../proxywasm/testdata/filters", "addheader")
			if err != nil {
				b.Fatal(err)
			}
			cfg := strings.Replace(`
global:
  access_log: { output: none }
plugins:
  pathheader: { file: "{{wasm:pathheader}}", grants: [headers] }
  addheader: { file: "{{pw}}" }
frontends:
  web:
    bind: ["127.0.0.1:0"]
RULES
    default_backend: app
backends:
  app:
    servers:
      s1: { address: "{{up}}" }
`, "RULES", tc.rules, 1)
			p := startProxy(b, cfg, map[string]string{"up": up, "pw": pw}, tc.tune)
			c, err := net.Dial("tcp", p.addr("web"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /bench/path HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: strata-bench\r\nAccept: */*\r\n\r\n")
			br := bufio.NewReaderSize(c, 4096)
			resp := make([]byte, len("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!"))
			roundTrip := func() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, resp); err != nil {
					b.Fatal(err)
				}
			}
			for range 100 {
				roundTrip()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				roundTrip()
			}
		})
	}
}
