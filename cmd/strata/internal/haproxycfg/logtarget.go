package haproxycfg

import (
	"net/netip"
	"strings"
)

// syslogPort is where HAProxy sends when a log address has no port.
const syslogPort = "514"

// logOutput turns the address of HAProxy's `log ADDRESS …` (configuration
// manual, "log" in section 3.1 and "Address formats") into the value of
// strata's global.access_log.output: "stdout", "stderr", "udp://HOST:PORT"
// (IPv6 in brackets) or "unix:///ABSOLUTE/PATH". When strata cannot send
// where HAProxy would, out is "" and why says what is missing; a non-empty
// note with an output is a difference worth reporting.
func logOutput(addr string) (out, why, note string) {
	switch addr {
	case "stdout", "fd@1":
		return "stdout", "", ""
	case "stderr", "fd@2":
		return "stderr", "", ""
	}
	if strings.HasPrefix(addr, "stream+") {
		return "", "strata sends syslog over datagrams only (UDP or a unix datagram socket)", ""
	}
	addr = strings.TrimPrefix(addr, "dgram+") // a log address is a datagram one already
	prefix, rest, found := strings.Cut(addr, "@")
	if !found {
		prefix, rest = "", addr
		if strings.HasPrefix(addr, "/") {
			prefix = "unix"
		}
	}
	switch prefix {
	case "unix", "uxdg":
		if !strings.HasPrefix(rest, "/") {
			return "", "strata needs an absolute socket path (HAProxy reads " + rest + " from its working directory)", ""
		}
		return "unix://" + rest, "", ""
	case "", "ip", "udp":
		return udpOutput(rest, 0)
	case "ipv4", "udp4":
		return udpOutput(rest, 4)
	case "ipv6", "udp6":
		return udpOutput(rest, 6)
	case "tcp", "tcp4", "tcp6", "uxst":
		return "", "strata sends syslog over datagrams only (UDP or a unix datagram socket), not over a stream", ""
	case "ring":
		return "", "strata has no in-memory log ring", ""
	case "fd":
		return "", "strata writes to stdout, stderr, a file or a syslog socket, not to an inherited descriptor", ""
	case "abns":
		return "", "strata sends to unix sockets by absolute path, not in the abstract namespace", ""
	}
	return "", "unknown address prefix " + prefix + "@", ""
}

// udpOutput converts HOST[:PORT] of a UDP log address. HAProxy writes IPv6
// without brackets, so the last colon ends the address ("::1:514"; "::1:"
// for the default port); brackets are accepted too. family 4 or 6 is the
// family an ipv4@/udp4@ or ipv6@/udp6@ prefix forces.
func udpOutput(a string, family int) (out, why, note string) {
	host, port := a, ""
	if i := strings.LastIndexByte(a, ':'); i >= 0 && (!strings.HasPrefix(a, "[") || strings.HasSuffix(a[:i], "]")) {
		host, port = a[:i], a[i+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if port == "" {
		port = syslogPort
	}
	if strings.Contains(port, "-") {
		return "", "a log address takes one port, not a range", ""
	}
	if host == "" || host == "*" {
		return "", "a log address needs a host to send to", ""
	}
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil && strings.Contains(host, ":"):
		return "", "invalid IPv6 address " + host + " (HAProxy reads the part after the last colon as the port)", ""
	case err == nil && family == 4 && !ip.Is4():
		return "", host + " is not an IPv4 address, as the ipv4@/udp4@ prefix requires", ""
	case err == nil && family == 6 && !ip.Is6():
		return "", host + " is not an IPv6 address, as the ipv6@/udp6@ prefix requires", ""
	case err != nil && family != 0:
		note = "strata resolves " + host + " to either address family; the prefix does not restrict it"
	}
	hp, ok := hostPort(host + ":" + port)
	if !ok || port == "0" {
		return "", "invalid port " + port + " (write 1 to 65535)", ""
	}
	return "udp://" + hp, "", note
}
