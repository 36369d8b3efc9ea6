package config

import (
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseDuration parses a Go duration ("500ms", "5s", "1m30s", "1h") or, as
// HAProxy does, a bare integer of milliseconds ("5000"); "<n>d" is n days.
// Negative durations are refused.
func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if isDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > math.MaxInt64/int64(time.Millisecond) {
			return 0, false
		}
		return time.Duration(n) * time.Millisecond, true
	}
	if strings.HasSuffix(s, "d") && isDigits(s[:len(s)-1]) {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// sizeSuffixes are the multipliers of sizes: powers of 1024, as in HAProxy
// (where "k" is 1024), whichever way they are written.
var sizeSuffixes = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
}

// parseSize parses a non-negative integer with an optional suffix: k, m, g
// (also written K, KB, KiB, …), all powers of 1024.
func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	mult, ok := sizeSuffixes[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validName reports whether s is a valid name of a frontend, backend,
// server, stick table, plugin or ACL: [A-Za-z0-9_.-]+.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

const nameFix = "use only letters, digits, '_', '.' and '-'"

// hostPort is a checked host:port address.
type hostPort struct {
	host string // "" for every address
	port int
}

// wildcard reports whether the address listens on every local address.
func (a hostPort) wildcard() bool {
	return a.host == "" || a.host == "0.0.0.0" || a.host == "::"
}

// key is a canonical form for comparing addresses.
func (a hostPort) key() string {
	h := a.host
	if ip, err := netip.ParseAddr(h); err == nil {
		h = ip.Unmap().String()
	} else {
		h = strings.ToLower(h)
	}
	return net.JoinHostPort(h, strconv.Itoa(a.port))
}

// parseHostPort checks s as host:port with a port from 1 to 65535. The
// host may be an IP literal (IPv6 in brackets) or a DNS name. emptyHost
// marks a listening address: its host may be empty (every address) and its
// port 0 (any free port). On failure it returns a message and a fix.
func parseHostPort(s string, emptyHost bool) (a hostPort, msg, fix string) {
	example := "write host:port, e.g. 127.0.0.1:8080"
	if emptyHost {
		example += " or :8080 for every address"
	}
	if strings.TrimSpace(s) == "" {
		return a, "empty address", example
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var e *net.AddrError
		reason := err.Error()
		if ae, ok := err.(*net.AddrError); ok {
			e = ae
			reason = strings.TrimSuffix(e.Err, " in address")
		}
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return a, "invalid address " + quote(s) + ": " + reason, "put an IPv6 address in brackets, e.g. [::1]:8080"
		}
		return a, "invalid address " + quote(s) + ": " + reason, example
	}
	p, err := strconv.Atoi(port)
	if err != nil || !isDigits(port) {
		return a, "invalid port " + quote(port) + " in " + quote(s), "write the port as a number from 1 to 65535"
	}
	// Port 0 on a listening address asks the kernel for a free port (tests,
	// and tools that read the bound address back); a server needs a real one.
	if p < 0 || p > 65535 || (p == 0 && !emptyHost) {
		fix := "write the port as a number from 1 to 65535"
		if emptyHost {
			fix = "write the port as a number from 1 to 65535, or 0 for any free port"
		}
		return a, "port " + port + " is out of range in " + quote(s), fix
	}
	if host == "" && !emptyHost {
		return a, "missing host in " + quote(s), example
	}
	if host != "" && !validHost(host) {
		return a, "invalid host " + quote(host) + " in " + quote(s), "write an IP address or a DNS name"
	}
	return hostPort{host: host, port: p}, "", ""
}

// validHost reports whether h is an IP literal (with an optional zone) or
// a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (a header name, a method).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// balanceAlgorithms are the fixed names of `balance`; random(N) and
// hdr(name) take an argument.
var balanceAlgorithms = []string{"roundrobin", "static-rr", "leastconn", "first", "source", "random", "random(N)", "uri", "hdr(name)"}

// checkBalance validates a balance algorithm and returns it in lower case.
func checkBalance(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "roundrobin", "static-rr", "leastconn", "first", "source", "random", "uri":
		return s, true
	}
	if arg, ok := strings.CutPrefix(s, "random("); ok && strings.HasSuffix(arg, ")") {
		arg = strings.TrimSuffix(arg, ")")
		n, err := strconv.Atoi(arg)
		return s, err == nil && isDigits(arg) && n >= 1 && n <= 100
	}
	if arg, ok := strings.CutPrefix(s, "hdr("); ok && strings.HasSuffix(arg, ")") {
		return s, isToken(strings.TrimSuffix(arg, ")"))
	}
	return s, false
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// parseStatusRanges parses "200", "200-399" or a comma-separated list of
// those.
func parseStatusRanges(s string) ([]StatusRange, bool) {
	var out []StatusRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(strings.TrimSpace(lo))
		h, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return nil, false
		}
		out = append(out, StatusRange{l, h})
	}
	return out, len(out) > 0
}

// parsePrefix parses a CIDR prefix or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
