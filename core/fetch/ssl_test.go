package fetch

import (
	"testing"

	"github.com/strata-proxy/strata/abi"
	"github.com/strata-proxy/strata/core/session"
)

func TestFetch_SSL(t *testing.T) {
	done := &session.TLS{
		Version: 0x0304, SNI: "app.example.test", ALPN: "http/1.1", Resumed: true,
		ClientCert: true, ClientDN: "/C=FR/O=Example/CN=client",
	}
	tls12 := &session.TLS{Version: 0x0303}
	pending := &session.TLS{} // a TLS bind before its handshake
	tests := []struct {
		name   string
		expr   string
		tls    *session.TLS
		want   string // "" with absent
		absent bool
	}{
		{name: "ssl_fc plain", expr: "ssl_fc", want: "0"},
		{name: "ssl_fc tls", expr: "ssl_fc", tls: done, want: "1"},
		{name: "ssl_fc before handshake", expr: "ssl_fc", tls: pending, absent: true},
		{name: "sni", expr: "ssl_fc_sni", tls: done, want: "app.example.test"},
		{name: "sni none sent", expr: "ssl_fc_sni", tls: tls12, absent: true},
		{name: "sni plain", expr: "ssl_fc_sni", absent: true},
		{name: "sni before handshake", expr: "ssl_fc_sni", tls: pending, absent: true},
		{name: "sni converted", expr: "ssl_fc_sni,upper", tls: done, want: "APP.EXAMPLE.TEST"},
		{name: "protocol 1.3", expr: "ssl_fc_protocol", tls: done, want: "TLSv1.3"},
		{name: "protocol 1.2", expr: "ssl_fc_protocol", tls: tls12, want: "TLSv1.2"},
		{name: "protocol plain", expr: "ssl_fc_protocol", absent: true},
		{name: "alpn", expr: "ssl_fc_alpn", tls: done, want: "http/1.1"},
		{name: "alpn none", expr: "ssl_fc_alpn", tls: tls12, absent: true},
		{name: "resumed", expr: "ssl_fc_is_resumed", tls: done, want: "1"},
		{name: "c_used", expr: "ssl_c_used", tls: done, want: "1"},
		{name: "c_used without cert", expr: "ssl_c_used", tls: tls12, want: "0"},
		{name: "c_used plain", expr: "ssl_c_used", absent: true},
		{name: "s_dn", expr: "ssl_c_s_dn", tls: done, want: "/C=FR/O=Example/CN=client"},
		{name: "s_dn without cert", expr: "ssl_c_s_dn", tls: tls12, absent: true},
		{name: "verify", expr: "ssl_c_verify", tls: done, want: "0"},
		{name: "verify plain", expr: "ssl_c_verify", absent: true},
		{name: "verify before handshake", expr: "ssl_c_verify", tls: pending, absent: true},
	}
	r := NewRegistry()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := r.ParseExpr(tc.expr, ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Needs() != abi.LayerConn {
				t.Errorf("Needs = %s, want CONN", e.Needs())
			}
			ctx := testCtx(defaultReq())
			ctx.Conn.TLS = tc.tls
			v, ok := e.Eval(ctx)
			if tc.absent {
				if ok {
					t.Fatalf("Eval = %q, want no sample", v.String())
				}
				return
			}
			if !ok || v.String() != tc.want {
				t.Fatalf("Eval = %q %v, want %q", v.String(), ok, tc.want)
			}
		})
	}
}
