// Package sockstat reads the kernel's view of listening sockets, for tests
// that must tell a connection accepted by a process from one still waiting
// in the listen backlog (Linux only: it reads /proc/net/tcp and tcp6).
package sockstat

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ErrNotFound: no listening socket has the address.
var ErrNotFound = errors.New("sockstat: no listening socket with that address")

// AcceptQueue returns how many connections wait in the accept queue of the
// listening socket bound to addr ("127.0.0.1:8080", "[::1]:8080"): the
// handshake is done, the process has not accepted them.
func AcceptQueue(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, err
	}
	file := "/proc/net/tcp"
	if !ap.Addr().Unmap().Is4() {
		file = "/proc/net/tcp6"
	}
	want := procAddr(ap)
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[1] != want || fs[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, rx, ok := strings.Cut(fs[4], ":")
		if !ok {
			return 0, fmt.Errorf("sockstat: %s: bad queue field %q", file, fs[4])
		}
		n, err := strconv.ParseUint(rx, 16, 32) // for a listener, rx_queue is the accept backlog
		return int(n), err
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, ErrNotFound
}

// procAddr writes ap as /proc/net/tcp does: the address as 32-bit words in
// host byte order (little-endian here), then the port, in upper-case hex.
func procAddr(ap netip.AddrPort) string {
	a := ap.Addr().Unmap()
	var b strings.Builder
	raw := a.AsSlice()
	for i := 0; i < len(raw); i += 4 {
		fmt.Fprintf(&b, "%02X%02X%02X%02X", raw[i+3], raw[i+2], raw[i+1], raw[i])
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}
