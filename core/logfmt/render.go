package logfmt

import (
	"crypto/tls"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxURILen is HAProxy's tune.http.logurilen: the request line is cut to
// it in %r.
const maxURILen = 1024

// Append renders r as one line (with its final newline) after b.
func (f *Format) Append(b []byte, r *Record) []byte {
	if f.json {
		return f.appendJSON(b, r)
	}
	return append(f.AppendValue(b, r), '\n')
}

// AppendValue renders r after b without a newline: a unique id
// (unique_id_format) is a format too.
func (f *Format) AppendValue(b []byte, r *Record) []byte {
	if f.json {
		b = f.appendJSON(b, r)
		return b[:len(b)-1]
	}
	lastSep := true // no separator at the start of the line
	for i := range f.nodes {
		n := &f.nodes[i]
		switch n.kind {
		case nodeSep:
			if !lastSep {
				b = append(b, ' ')
				lastSep = true
			}
		case nodeText:
			b = append(b, n.text...)
			lastSep = false
		case nodeVar:
			l := len(b)
			b = f.appendVar(b, n, r, false)
			if len(b) > l {
				lastSep = false
			}
		}
	}
	return b
}

// escape maps: which bytes HAProxy prints as #XX.
var (
	urlEscape [256]bool // request line: controls, bytes above 126, '"', '#'
	hdrEscape [256]bool // captured headers: the same and '{', '|', '}'
)

func init() {
	for c := 0; c < 256; c++ {
		bad := c < 32 || c > 126 || c == '"' || c == '#'
		urlEscape[c] = bad
		hdrEscape[c] = bad || c == '{' || c == '|' || c == '}'
	}
}

const upperHex = "0123456789ABCDEF"

// appendVar renders one variable; json renders JSON values (strings quoted
// and escaped, absent strings null).
func (f *Format) appendVar(b []byte, n *node, r *Record, json bool) []byte {
	fl := n.fl
	switch n.v {
	case varHost:
		return appendStr(b, f.host, fl, json)
	case varPid:
		if fl&flagHex != 0 {
			return appendInt(b, int64(f.pidN), fl)
		}
		return append(b, f.pid...)
	case varAcceptDate:
		return appendDate(b, r.Accept.Local(), "02/Jan/2006:15:04:05.000", json)
	case varAcceptGMT:
		return appendDate(b, r.Accept.UTC(), "02/Jan/2006:15:04:05 -0700", json)
	case varAcceptLocal:
		return appendDate(b, r.Accept.Local(), "02/Jan/2006:15:04:05 -0700", json)
	case varAcceptUnix:
		return appendInt(b, r.Accept.Unix(), fl)
	case varAcceptMs:
		ms := r.Accept.Nanosecond() / 1e6
		if json {
			return strconv.AppendInt(b, int64(ms), 10)
		}
		return append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	case varReqDate:
		if json {
			return appendDate(b, r.Start.UTC(), "2006-01-02T15:04:05.000Z07:00", json)
		}
		return appendDate(b, r.Start.Local(), "02/Jan/2006:15:04:05.000", json)
	case varReqGMT:
		return appendDate(b, r.Start.UTC(), "02/Jan/2006:15:04:05 -0700", json)
	case varReqLocal:
		return appendDate(b, r.Start.Local(), "02/Jan/2006:15:04:05 -0700", json)
	case varClientIP, varSrc:
		return appendIP(b, r.Client, fl, json)
	case varClientPort, varSrcPort:
		return appendPort(b, r.Client, fl)
	case varFrontIP:
		return appendIP(b, r.Local, fl, json)
	case varFrontPort:
		return appendPort(b, r.Local, fl)
	case varServerIP:
		return appendIP(b, r.ServerAt, fl, json)
	case varServerPort:
		return appendPort(b, r.ServerAt, fl)
	case varFrontend:
		return appendStr(b, r.Frontend, fl, json)
	case varFrontendTransport:
		if !r.TLS {
			return appendStr(b, r.Frontend, fl, json)
		}
		return appendStr3(b, r.Frontend, "~", "", fl, json)
	case varBackend:
		if r.Backend == "" {
			return appendStr(b, r.Frontend, fl, json)
		}
		return appendStr(b, r.Backend, fl, json)
	case varServer:
		switch {
		case r.Server != "":
			return appendStr(b, r.Server, fl, json)
		case r.Service != "":
			return appendStr3(b, "<service:", r.Service, ">", fl, json)
		}
		return appendStr(b, "<NOSRV>", fl, json)
	case varTh:
		return appendTimer(b, r.Th, fl)
	case varTi:
		return appendTimer(b, r.Ti, fl)
	case varTR:
		return appendTimer(b, r.TR, fl)
	case varTq:
		if r.TR < 0 {
			return appendTimer(b, -1, fl)
		}
		return appendTimer(b, max(r.Th, 0)+max(r.Ti, 0)+r.TR, fl)
	case varTw:
		return appendTimer(b, r.Tw, fl)
	case varTc:
		return appendTimer(b, r.Tc, fl)
	case varTr:
		return appendTimer(b, r.Tr, fl)
	case varTd:
		return appendTimer(b, r.Td, fl)
	case varTa:
		return appendTimer(b, r.Ta, fl)
	case varTt:
		return appendTimer(b, r.Tt, fl)
	case varTu:
		return appendTimer(b, max(r.Th, 0)+max(r.Ti, 0)+r.Ta, fl)
	case varStatus:
		if r.Status == 0 {
			return appendInt(b, -1, fl)
		}
		return appendInt(b, int64(r.Status), fl)
	case varBytesOut:
		return appendInt(b, r.BytesOut, fl)
	case varBytesIn:
		return appendInt(b, r.BytesIn, fl)
	case varReqCookie, varResCookie:
		// strata captures no cookie: HAProxy prints "-" then too.
		return appendStr(b, "", fl, json)
	case varTermState:
		return appendStrBytes(b, r.Term[:], fl, json)
	case varTermStateCookie:
		t := [4]byte{r.Term[0], r.Term[1], '-', '-'}
		return appendStrBytes(b, t[:], fl, json)
	case varActConn:
		return appendInt(b, r.ActConn, fl)
	case varFeConn:
		return appendInt(b, r.FeConn, fl)
	case varBeConn:
		return appendInt(b, r.BeConn, fl)
	case varSrvConn:
		return appendInt(b, r.SrvConn, fl)
	case varRetries:
		if r.Redispatched && !json {
			b = append(b, '+')
		}
		return appendInt(b, int64(r.Retries), fl)
	case varReqCounter:
		return appendInt(b, int64(r.Counter), fl)
	case varSrvQueue:
		return appendInt(b, r.SrvQueue, fl)
	case varBeQueue:
		return appendInt(b, r.BeQueue, fl)
	case varReqCaptures:
		return appendCaptures(b, r.ReqCaptures, fl, json)
	case varResCaptures:
		return appendCaptures(b, r.ResCaptures, fl, json)
	case varReqCapturesList:
		return appendCaptureList(b, r.ReqCaptures, fl, json)
	case varResCapturesList:
		return appendCaptureList(b, r.ResCaptures, fl, json)
	case varRequest:
		return appendRequest(b, r, fl, json)
	case varMethod:
		return appendEscaped(b, r.Method, &urlEscape, fl, json)
	case varURI:
		return appendEscaped(b, r.URI, &urlEscape, fl, json)
	case varPath:
		p, _ := splitQuery(r.URI)
		return appendEscaped(b, p, &urlEscape, fl, json)
	case varQuery:
		_, q := splitQuery(r.URI)
		return appendEscaped(b, q, &urlEscape, fl, json)
	case varVersion:
		return appendStr(b, r.Version, fl, json)
	case varUniqueID:
		return appendEscaped(b, r.UniqueID, &urlEscape, fl, json)
	case varSSLVersion, varSSLProtocol:
		return appendStr(b, tlsVersionName(r.TLSVersion), fl, json)
	case varSSLCipher, varSSLCipherExp:
		if r.TLSVersion == 0 {
			return appendStr(b, "", fl, json)
		}
		return appendStr(b, cipherName(r.TLSCipher), fl, json)
	case varFcErr:
		return appendInt(b, 0, fl) // a stream is logged only on a connection that worked
	case varSSLFcErrHex:
		if r.TLSVersion == 0 {
			return appendStr(b, "", fl, json)
		}
		return appendStr(b, "0000000000000000", fl, json) // the int 0 as 8 bytes in hex
	case varSSLFcErr, varSSLCErr, varSSLCCAErr:
		if r.TLSVersion == 0 {
			return appendStr(b, "", fl, json)
		}
		return appendInt(b, 0, fl) // a failed handshake or verification ends the connection
	case varSSLResumed:
		// HAProxy says 0 on a plain connection too.
		if r.Resumed {
			return appendInt(b, 1, fl)
		}
		return appendInt(b, 0, fl)
	case varSNI:
		return appendStr(b, r.SNI, fl, json)
	case varTraceID:
		if !r.Traced {
			return appendStr(b, "", fl, json)
		}
		return appendHexStr(b, r.TraceID[:], json)
	case varSpanID:
		if !r.Traced {
			return appendStr(b, "", fl, json)
		}
		return appendHexStr(b, r.SpanID[:], json)
	}
	return b
}

func splitQuery(uri []byte) (path, query []byte) {
	for i, c := range uri {
		if c == '?' {
			return uri[:i], uri[i:]
		}
	}
	return uri, nil
}

func appendDate(b []byte, t time.Time, layout string, json bool) []byte {
	if json {
		b = append(b, '"')
	}
	b = t.AppendFormat(b, layout)
	if json {
		b = append(b, '"')
	}
	return b
}

func appendInt(b []byte, v int64, fl flags) []byte {
	if fl&flagHex != 0 {
		if v < 0 {
			b = append(b, '-')
			v = -v
		}
		var tmp [16]byte
		i := len(tmp)
		for {
			i--
			tmp[i] = upperHex[v&15]
			v >>= 4
			if v == 0 {
				break
			}
		}
		return append(b, tmp[i:]...)
	}
	return strconv.AppendInt(b, v, 10)
}

// appendTimer prints d in milliseconds, -1 when not reached.
func appendTimer(b []byte, d time.Duration, fl flags) []byte {
	if d < 0 {
		return appendInt(b, -1, fl)
	}
	return appendInt(b, d.Milliseconds(), fl)
}

func appendStr(b []byte, s string, fl flags, json bool) []byte {
	return appendStr3(b, s, "", "", fl, json)
}

// appendStr3 prints s+t+u as one string value.
func appendStr3(b []byte, s, t, u string, fl flags, json bool) []byte {
	if s == "" && t == "" && u == "" {
		return appendNone(b, fl, json)
	}
	if json {
		b = append(b, '"')
		b = AppendJSONString(b, s)
		b = AppendJSONString(b, t)
		b = AppendJSONString(b, u)
		return append(b, '"')
	}
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	b = appendE(b, s, fl)
	b = appendE(b, t, fl)
	b = appendE(b, u, fl)
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	return b
}

func appendStrBytes(b []byte, s []byte, fl flags, json bool) []byte {
	return appendEscaped(b, s, nil, fl, json)
}

// appendNone prints a string variable without a value.
func appendNone(b []byte, fl flags, json bool) []byte {
	switch {
	case json:
		return append(b, "null"...)
	case fl&flagQuote != 0:
		return append(b, '"', '"')
	}
	return append(b, '-')
}

// appendE appends s, escaping '"', '\' and ']' with +E.
func appendE[T string | []byte](b []byte, s T, fl flags) []byte {
	if fl&flagEscape == 0 {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c == ']' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return b
}

// appendEscaped prints s with the bytes of esc as #XX (HAProxy's
// lf_encode_string); with esc nil, as appendE does.
func appendEscaped(b []byte, s []byte, esc *[256]bool, fl flags, json bool) []byte {
	if len(s) == 0 {
		return appendNone(b, fl, json)
	}
	if json {
		b = append(b, '"')
		b = AppendJSONString(b, s)
		return append(b, '"')
	}
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	if esc != nil {
		b = appendHashEscaped(b, s, esc)
	} else {
		b = appendE(b, s, fl)
	}
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	return b
}

func appendHashEscaped(b []byte, s []byte, esc *[256]bool) []byte {
	for _, c := range s {
		if esc[c] {
			b = append(b, '#', upperHex[c>>4], upperHex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return b
}

// appendRequest prints %r: "METHOD URI VERSION", cut to maxURILen, or
// <BADREQ> when no request line was read.
func appendRequest(b []byte, r *Record, fl flags, json bool) []byte {
	if json {
		if len(r.Method) == 0 {
			return append(b, `"<BADREQ>"`...)
		}
		b = append(b, '"')
		b = AppendJSONString(b, r.Method)
		b = append(b, ' ')
		b = AppendJSONString(b, r.URI)
		b = append(b, ' ')
		b = AppendJSONString(b, r.Version)
		return append(b, '"')
	}
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	if len(r.Method) == 0 {
		b = append(b, "<BADREQ>"...)
	} else {
		left := maxURILen
		part := func(s []byte) {
			if len(s) > left {
				s = s[:left]
			}
			left -= len(s)
			b = appendHashEscaped(b, s, &urlEscape)
		}
		part(r.Method)
		if left > 0 {
			b = append(b, ' ')
			left--
		}
		part(r.URI)
		if left > 0 && r.Version != "" {
			b = append(b, ' ')
			left--
			v := r.Version
			if len(v) > left {
				v = v[:left]
			}
			b = append(b, v...)
		}
	}
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	return b
}

// appendCaptures prints %hr / %hs: "{a|b}", nothing without captures.
func appendCaptures(b []byte, caps [][]byte, fl flags, json bool) []byte {
	if len(caps) == 0 {
		return b
	}
	if json {
		b = append(b, '[')
		for i, c := range caps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = AppendJSONString(b, c)
			b = append(b, '"')
		}
		return append(b, ']')
	}
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	b = append(b, '{')
	for i, c := range caps {
		if i > 0 {
			b = append(b, '|')
		}
		b = appendHashEscaped(b, c, &hdrEscape)
	}
	b = append(b, '}')
	if fl&flagQuote != 0 {
		b = append(b, '"')
	}
	return b
}

// appendCaptureList prints %hrl / %hsl: the captures separated by spaces,
// "-" for an empty one.
func appendCaptureList(b []byte, caps [][]byte, fl flags, json bool) []byte {
	if json {
		return appendCaptures(b, caps, fl, json)
	}
	for i, c := range caps {
		if i > 0 {
			b = append(b, ' ')
		}
		if len(c) == 0 {
			b = appendNone(b, fl, false)
			continue
		}
		if fl&flagQuote != 0 {
			b = append(b, '"')
		}
		b = appendHashEscaped(b, c, &hdrEscape)
		if fl&flagQuote != 0 {
			b = append(b, '"')
		}
	}
	return b
}

func appendIP(b []byte, ap netip.AddrPort, fl flags, json bool) []byte {
	if !ap.IsValid() {
		return appendNone(b, fl, json)
	}
	if json {
		b = append(b, '"')
	}
	if fl&flagHex != 0 && !json {
		// HAProxy's +X prints an address as its bytes in hexadecimal.
		a := ap.Addr().Unmap()
		if a.Is4() {
			v := a.As4()
			for _, c := range v {
				b = append(b, upperHex[c>>4], upperHex[c&15])
			}
		} else {
			v := a.As16()
			for _, c := range v {
				b = append(b, upperHex[c>>4], upperHex[c&15])
			}
		}
		return b
	}
	b = ap.Addr().Unmap().AppendTo(b)
	if json {
		b = append(b, '"')
	}
	return b
}

func appendPort(b []byte, ap netip.AddrPort, fl flags) []byte {
	if !ap.IsValid() {
		return append(b, '-')
	}
	if fl&flagHex != 0 {
		p := ap.Port() // HAProxy: %04X
		return append(b, upperHex[p>>12], upperHex[p>>8&15], upperHex[p>>4&15], upperHex[p&15])
	}
	return appendInt(b, int64(ap.Port()), fl)
}

const lowerHex = "0123456789abcdef"

func appendHexStr(b []byte, id []byte, json bool) []byte {
	if json {
		b = append(b, '"')
	}
	for _, c := range id {
		b = append(b, lowerHex[c>>4], lowerHex[c&15])
	}
	if json {
		b = append(b, '"')
	}
	return b
}

// AppendJSONString escapes s for a JSON string body; invalid UTF-8 becomes
// U+FFFD so that a hostile request cannot break the line's syntax.
func AppendJSONString[T string | []byte](b []byte, s T) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		size := runeLen(s[i:])
		if size == 0 {
			b = append(b, `\ufffd`...)
			i++
			continue
		}
		b = append(b, s[i:i+size]...)
		i += size
	}
	return b
}

// runeLen returns the length of the valid UTF-8 sequence at the start of
// s, 0 when it is not one (without converting s, which would allocate).
func runeLen[T string | []byte](s T) int {
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], s)
	r, size := utf8.DecodeRune(buf[:n])
	if r == utf8.RuneError && size <= 1 {
		return 0
	}
	return size
}

// tlsVersionName is OpenSSL's name of a TLS version, as HAProxy prints it.
func tlsVersionName(v uint16) string {
	switch v {
	case 0x0300: // SSL 3.0: a name to print (crypto/tls deprecates the constant)
		return "SSLv3"
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// opensslCiphers are OpenSSL's names of the suites Go negotiates; TLS 1.3
// suites have the same name in both.
var opensslCiphers = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_AES_128_GCM_SHA256:                        "TLS_AES_128_GCM_SHA256",
	tls.TLS_AES_256_GCM_SHA384:                        "TLS_AES_256_GCM_SHA384",
	tls.TLS_CHACHA20_POLY1305_SHA256:                  "TLS_CHACHA20_POLY1305_SHA256",
}

func cipherName(id uint16) string {
	if n, ok := opensslCiphers[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id)
}
