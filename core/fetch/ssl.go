package fetch

import (
	"github.com/strata-proxy/strata/core/sample"
	"github.com/strata-proxy/strata/core/session"
)

// TLS fetches
//
// The ssl_* fetches read the client connection's TLS layer
// (session.Conn.TLS) and need the CONN layer only, so they may be used at
// every evaluation point. They describe what the handshake established,
// which happens after the tcp-request connection rules and before the
// tcp-request session rules:
//
//	ssl_fc             bool  the connection uses TLS (false on a plain one)
//	ssl_fc_sni         str   server name the client sent (SNI)
//	ssl_fc_protocol    str   "TLSv1.2", "TLSv1.3", … (OpenSSL's names)
//	ssl_fc_alpn        str   application protocol negotiated by ALPN
//	ssl_fc_is_resumed  bool  the TLS session was resumed from a ticket
//	ssl_c_used         bool  the client presented a certificate
//	ssl_c_s_dn         str   subject of the client certificate, "/C=…/CN=…"
//	ssl_c_verify       int   result of the client certificate verification,
//	                         0 when it succeeded (HAProxy's X509_V_ERR code)
//
// In tcp-request connection rules of a TLS bind the handshake has not
// happened yet: every ssl_* fetch gives no sample there, so a condition on
// one is false (HAProxy behaves the same: write TLS conditions in
// tcp_request_session or later). On a plain connection ssl_fc is false and
// the others give no sample; ssl_fc_sni, ssl_fc_alpn and ssl_c_s_dn give
// none when the handshake carried no such value.
//
// A client certificate that fails verification ends the handshake (as in
// HAProxy without crt-ignore-err), so rules only ever see ssl_c_verify 0;
// it is there for configurations written for HAProxy.

// sslFetches is the table of TLS fetches, installed with the built-ins.
func sslFetches() []Fetch {
	return []Fetch{
		{Name: "ssl_fc", Needs: conn, Out: sample.TypeBool, Fn: fetchSSLFc},
		{Name: "ssl_fc_sni", Needs: conn, Out: sample.TypeStr, Fn: fetchSSLFcSNI},
		{Name: "ssl_fc_protocol", Needs: conn, Out: sample.TypeStr, Fn: fetchSSLFcProtocol},
		{Name: "ssl_fc_alpn", Needs: conn, Out: sample.TypeStr, Fn: fetchSSLFcALPN},
		{Name: "ssl_fc_is_resumed", Needs: conn, Out: sample.TypeBool, Fn: fetchSSLFcResumed},
		{Name: "ssl_c_used", Needs: conn, Out: sample.TypeBool, Fn: fetchSSLCUsed},
		{Name: "ssl_c_s_dn", Needs: conn, Out: sample.TypeStr, Fn: fetchSSLCSDN},
		{Name: "ssl_c_verify", Needs: conn, Out: sample.TypeInt, Fn: fetchSSLCVerify},
	}
}

// handshaken returns the TLS state of a connection whose handshake is
// done, or nil. A TLS connection whose handshake has not happened has a
// TLS state with Version 0.
func handshaken(ctx *Ctx) *session.TLS {
	if ctx.Conn == nil || ctx.Conn.TLS == nil || ctx.Conn.TLS.Version == 0 {
		return nil
	}
	return ctx.Conn.TLS
}

func fetchSSLFc(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	if ctx.Conn == nil {
		return none()
	}
	t := ctx.Conn.TLS
	if t == nil {
		return sample.Bool(false), true
	}
	if t.Version == 0 {
		return none() // before the handshake
	}
	return sample.Bool(true), true
}

func fetchSSLFcSNI(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil || t.SNI == "" {
		return none()
	}
	return strValue(ctx, t.SNI), true
}

// Protocol names as OpenSSL (and so HAProxy) prints them.
var (
	nameTLS10 = []byte("TLSv1")
	nameTLS11 = []byte("TLSv1.1")
	nameTLS12 = []byte("TLSv1.2")
	nameTLS13 = []byte("TLSv1.3")
	nameSSL30 = []byte("SSLv3")
)

func fetchSSLFcProtocol(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil {
		return none()
	}
	var name []byte
	switch t.Version {
	case 0x0300:
		name = nameSSL30
	case 0x0301:
		name = nameTLS10
	case 0x0302:
		name = nameTLS11
	case 0x0303:
		name = nameTLS12
	case 0x0304:
		name = nameTLS13
	default:
		return none()
	}
	return sample.Str(name), true
}

func fetchSSLFcALPN(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil || t.ALPN == "" {
		return none()
	}
	return strValue(ctx, t.ALPN), true
}

func fetchSSLFcResumed(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil {
		return none()
	}
	return sample.Bool(t.Resumed), true
}

func fetchSSLCUsed(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil {
		return none()
	}
	return sample.Bool(t.ClientCert), true
}

func fetchSSLCSDN(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil || t.ClientDN == "" {
		return none()
	}
	return strValue(ctx, t.ClientDN), true
}

func fetchSSLCVerify(ctx *Ctx, _ []Arg) (sample.Value, bool) {
	t := handshaken(ctx)
	if t == nil {
		return none()
	}
	return sample.Int(int64(t.Verify)), true
}
