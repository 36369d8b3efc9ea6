package testsupport

import "strings"

// Small builders for the YAML of end-to-end tests.

// Mode is one way a scenario reaches the proxy: a protocol spoken to one
// of the frontends DualFrontends writes.
type Mode struct {
	Name     string
	Frontend string
	Proto    Proto
}

// Modes are the protocols a stream-level behaviour is checked over: HTTP/1.1
// and HTTP/2, in clear text (HTTP/2 with prior knowledge) and over TLS
// (the protocol chosen by ALPN).
var Modes = []Mode{
	{Name: "h1", Frontend: "clear", Proto: H1},
	{Name: "h2c", Frontend: "clear", Proto: H2C},
	{Name: "h1-tls", Frontend: "tls", Proto: H1TLS},
	{Name: "h2-tls", Frontend: "tls", Proto: H2TLS},
}

// DualFrontends returns the frontends section for Modes: "clear" serves
// HTTP/1.1 and HTTP/2 with prior knowledge, "tls" serves both over TLS
// with site's certificate, chosen by ALPN. body is the rest of a frontend
// (rules, routes, default_backend) at the indentation of a frontend's
// keys (four spaces); both frontends get it, so they behave alike.
func DualFrontends(site Leaf, body string) string {
	return dualFrontends(body,
		"clear", "h2: { h2c: true }",
		"tls", TLSKey([]Leaf{site}, "alpn: [h2, http/1.1]"))
}

// dualFrontends returns a frontends section of two frontends, each with
// its own key (at the top level) and then body (as for DualFrontends).
func dualFrontends(body, name1, key1, name2, key2 string) string {
	body = strings.TrimRight(strings.TrimLeft(body, "\n"), " \n") + "\n"
	return Frontends(Frontend(name1, key1)+body, Frontend(name2, key2)+body)
}

// Backend returns one backend entry (for a backends section) with the
// given servers, "name: address" each, optionally followed by the server's
// other options after a comma ("app: 127.0.0.1:80, h2: true"), and extra
// lines (balance, retries) at the indentation of a backend's keys (four
// spaces).
func Backend(name string, servers []string, extra ...string) string {
	var b strings.Builder
	b.WriteString("  " + name + ":\n")
	for _, e := range extra {
		b.WriteString("    " + e + "\n")
	}
	b.WriteString("    servers:\n")
	for _, s := range servers {
		n, rest, _ := strings.Cut(s, ":")
		addr, opts, _ := strings.Cut(rest, ",")
		entry := `address: "` + strings.TrimSpace(addr) + `"`
		if opts = strings.TrimSpace(opts); opts != "" {
			entry += ", " + opts
		}
		b.WriteString("      " + n + ": { " + entry + " }\n")
	}
	return b.String()
}

// TCPModes are the ways a TCP-mode scenario reaches the proxy: in clear
// text and over TLS, to the frontends DualTCPFrontends writes (Proto is
// H1 for clear text, TLS over TLS: what carries the relayed bytes).
var TCPModes = []Mode{
	{Name: "tcp", Frontend: "tcp_clear", Proto: H1},
	{Name: "tcp-tls", Frontend: "tcp_tls", Proto: TLS},
}

// DualTCPFrontends returns the frontends section for TCPModes, both in
// mode tcp: "tcp_clear", and "tcp_tls" which terminates TLS with site's
// certificate. body is the rest of a frontend, as for DualFrontends.
func DualTCPFrontends(site Leaf, body string) string {
	return dualFrontends(body,
		"tcp_clear", "mode: tcp",
		"tcp_tls", "mode: tcp\n"+TLSKey([]Leaf{site}))
}

// Sections and entries of a configuration, for tests that write one from
// parts: NoAccessLog + Frontends(Frontend(...)) + Backends(Backend(...)).

// NoAccessLog is a global section that turns the access log off.
const NoAccessLog = "global:\n  access_log: { output: none }\n"

// JSONAccessLog is a global section that writes the access log as JSON
// lines, for a test to read.
const JSONAccessLog = "global:\n  access_log: { output: stdout, format: json }\n"

// Frontends returns a frontends section of entries (from Frontend).
func Frontends(entries ...string) string { return "frontends:\n" + strings.Join(entries, "") }

// Backends returns a backends section of entries (from Backend).
func Backends(entries ...string) string { return "backends:\n" + strings.Join(entries, "") }

// Frontend returns one frontend entry (for a frontends section) bound to
// an ephemeral loopback port, with keys: each a YAML text written as at
// the top level ("mode: tcp", "default_backend: app", a key with a block
// of rules under it), indented here.
func Frontend(name string, keys ...string) string {
	var b strings.Builder
	b.WriteString("  " + name + ":\n    bind: [\"127.0.0.1:0\"]\n")
	for _, k := range keys {
		for _, l := range strings.Split(strings.Trim(k, "\n"), "\n") {
			b.WriteString("    " + l + "\n")
		}
	}
	return b.String()
}

// TLSKey returns a frontend's tls key serving the certificates of leaves
// (the first is the default), with other entries of the tls map (alpn,
// client_auth) in flow style; an empty entry is left out.
func TLSKey(leaves []Leaf, extra ...string) string {
	certs := make([]string, len(leaves))
	for i, l := range leaves {
		certs[i] = `{ cert: "` + l.Cert + `", key: "` + l.Key + `" }`
	}
	entries := []string{"certificates: [" + strings.Join(certs, ", ") + "]"}
	for _, e := range extra {
		if e != "" {
			entries = append(entries, e)
		}
	}
	return "tls: { " + strings.Join(entries, ", ") + " }"
}
