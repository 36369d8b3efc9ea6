// Package proxyproto is the codec of the PROXY protocol, versions 1 (text)
// and 2 (binary), as HAProxy specifies it: a header that a proxy sends at
// the very start of a connection to tell the receiver the addresses of the
// connection it relays.
//
// Parse reads a header strictly: anything that does not match the
// specification exactly is refused (ErrInvalid), and a header cut short is
// reported as such (ErrIncomplete) so that the caller reads more and tries
// again. Parse never reads past the header: the bytes after it belong to
// the relayed protocol. AppendV1 and AppendV2 write headers.
//
// The package knows nothing of connections or sessions; it works on bytes,
// allocates nothing on success and is safe for concurrent use.
//
// # What a receiver keeps
//
// A header gives addresses (Header.Src and Header.Dst valid) only for TCP
// over IPv4 or IPv6 with the PROXY command. Everything else that the
// specification allows — the v1 "UNKNOWN" protocol, the v2 LOCAL command
// (health checks), and v2 families this package does not relay (UDP, UNIX
// sockets, unspecified) — is accepted with no addresses, and the receiver
// keeps the connection's own, as the specification asks.
//
// # Strictness
//
// Version 1: "PROXY", single spaces, TCP4 or TCP6 (or UNKNOWN, whose rest
// of line is ignored), addresses of the announced family (IPv4 in dotted
// decimal without leading zeros, IPv6 without zone), ports from 0 to 65535
// without leading zeros, and CRLF within the first 107 bytes; a lone CR or
// LF ends nothing. Version 2: the 12-byte signature, version 2, command
// LOCAL or PROXY, a known family and transport, an address block as long
// as its family needs, and TLV vectors that tile the rest of the header
// exactly; a CRC32C vector must be 4 bytes and match, a UNIQUE_ID vector
// must not exceed 128 bytes.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
)

// Errors of Parse. A header error is returned wrapped with what was wrong;
// test it with errors.Is.
var (
	// ErrIncomplete means the bytes given are the start of a valid header:
	// read more and call Parse again.
	ErrIncomplete = errors.New("proxyproto: incomplete header")
	// ErrInvalid means the bytes are not a valid header; the connection
	// must be closed.
	ErrInvalid = errors.New("proxyproto: invalid header")
)

// Command is the command of a version 2 header.
type Command uint8

const (
	// CmdLocal: the sender opened the connection for itself (a health
	// check); the receiver keeps the connection's own addresses.
	CmdLocal Command = 0
	// CmdProxy: the connection relays another one, whose addresses the
	// header gives. Version 1 headers are always CmdProxy.
	CmdProxy Command = 1
)

// TLV types registered by the specification.
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02 // the host name the client asked for (TLS SNI)
	TypeCRC32C    = 0x03
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30
)

// Sizes of the protocol.
const (
	// MaxV1 is the longest version 1 line, CRLF included.
	MaxV1 = 107
	// V2HeaderLen is the fixed part of a version 2 header; the whole
	// header is V2HeaderLen plus the length it announces (at most 65535).
	V2HeaderLen = 16
	// maxUniqueID is the longest UNIQUE_ID value.
	maxUniqueID = 128
)

var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	zeroCRC    [4]byte // a CRC32C value taken as zeros
)

// Header is a parsed PROXY protocol header.
type Header struct {
	Version uint8 // 1 or 2
	Command Command
	// Src and Dst are the addresses of the relayed connection: the client
	// and the address it connected to. Both are invalid when the header
	// gives none that a TCP receiver can use (see the package doc).
	// IPv4-mapped IPv6 addresses are returned as written.
	Src, Dst netip.AddrPort
	// TLVs holds the raw TLV vectors of a version 2 header (validated),
	// aliasing the bytes given to Parse: copy what must outlive them.
	TLVs []byte
}

// HasAddrs reports whether the header gives the relayed connection's
// addresses.
func (h *Header) HasAddrs() bool { return h.Src.IsValid() && h.Dst.IsValid() }

// TLV returns the value of the first TLV vector of type typ.
func (h *Header) TLV(typ byte) ([]byte, bool) {
	for t := h.TLVs; len(t) >= 3; {
		n := int(t[1])<<8 | int(t[2])
		if 3+n > len(t) {
			break
		}
		if t[0] == typ {
			return t[3 : 3+n], true
		}
		t = t[3+n:]
	}
	return nil, false
}

// parseError is an ErrInvalid with the reason.
type parseError struct{ reason string }

func (e *parseError) Error() string { return "proxyproto: invalid header: " + e.reason }
func (e *parseError) Unwrap() error { return ErrInvalid }

// invalid returns an ErrInvalid naming reason. The reasons are constants,
// so a refusal costs one small allocation.
func invalid(reason string) error { return &parseError{reason} }

// Parse decodes the header at the start of b and returns it with its
// length in bytes. It returns ErrIncomplete when b is a strict prefix of a
// header that may still turn out valid, and an error wrapping ErrInvalid
// as soon as b cannot start a valid header.
func Parse(b []byte) (Header, int, error) {
	if len(b) == 0 {
		return Header{}, 0, ErrIncomplete
	}
	switch b[0] {
	case 'P':
		return parseV1(b)
	case '\r':
		return parseV2(b)
	}
	return Header{}, 0, invalid("no PROXY protocol signature")
}

// hasPrefixSoFar reports whether b and sig agree on their common length.
func hasPrefixSoFar(b, sig []byte) bool {
	n := min(len(b), len(sig))
	return bytes.Equal(b[:n], sig[:n])
}

func parseV1(b []byte) (Header, int, error) {
	if !hasPrefixSoFar(b, sigV1) {
		return Header{}, 0, invalid("no PROXY protocol signature")
	}
	end := bytes.IndexByte(b[:min(len(b), MaxV1)], '\n')
	if end < 0 {
		if len(b) >= MaxV1 {
			return Header{}, 0, invalid("v1: no CRLF in the first 107 bytes")
		}
		if i := bytes.IndexByte(b, '\r'); i >= 0 && i < len(b)-1 {
			return Header{}, 0, invalid("v1: CR not followed by LF")
		}
		return Header{}, 0, ErrIncomplete
	}
	if end < len(sigV1) || b[end-1] != '\r' {
		return Header{}, 0, invalid("v1: line not ended by CRLF")
	}
	h := Header{Version: 1, Command: CmdProxy}
	line := b[len(sigV1) : end-1]
	proto, rest, more := bytes.Cut(line, []byte{' '})
	switch string(proto) {
	case "UNKNOWN":
		// The rest of the line is to be ignored, but a CR inside it
		// would be a line ended wrongly.
		if bytes.IndexByte(line, '\r') >= 0 {
			return Header{}, 0, invalid("v1: CR inside the line")
		}
		return h, end + 1, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, invalid("v1: protocol is not TCP4, TCP6 or UNKNOWN")
	}
	if !more {
		return Header{}, 0, invalid("v1: addresses missing")
	}
	v6 := proto[3] == '6'
	var f [4][]byte
	for i := range f {
		var ok bool
		f[i], rest, ok = bytes.Cut(rest, []byte{' '})
		if ok != (i < 3) {
			if i < 3 {
				return Header{}, 0, invalid("v1: expected 4 fields after the protocol")
			}
			return Header{}, 0, invalid("v1: extra field after the destination port")
		}
	}
	src, ok := parseAddrV1(f[0], v6)
	if !ok {
		return Header{}, 0, invalid("v1: bad source address")
	}
	dst, ok := parseAddrV1(f[1], v6)
	if !ok {
		return Header{}, 0, invalid("v1: bad destination address")
	}
	sp, ok := parsePort(f[2])
	if !ok {
		return Header{}, 0, invalid("v1: bad source port")
	}
	dp, ok := parsePort(f[3])
	if !ok {
		return Header{}, 0, invalid("v1: bad destination port")
	}
	h.Src = netip.AddrPortFrom(src, sp)
	h.Dst = netip.AddrPortFrom(dst, dp)
	return h, end + 1, nil
}

// parseAddrV1 parses an address of the announced family. netip refuses
// leading zeros in IPv4 addresses; zones are refused here.
func parseAddrV1(b []byte, v6 bool) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 45 {
		return netip.Addr{}, false
	}
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Is6() != v6 {
		return netip.Addr{}, false
	}
	return a, true
}

// parsePort parses a decimal port without leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// Address block lengths of version 2 families.
const (
	addrLenInet  = 12
	addrLenInet6 = 36
	addrLenUnix  = 216
)

func parseV2(b []byte) (Header, int, error) {
	if !hasPrefixSoFar(b, sigV2) {
		return Header{}, 0, invalid("no PROXY protocol signature")
	}
	if len(b) > 12 {
		if b[12]>>4 != 2 {
			return Header{}, 0, invalid("v2: version is not 2")
		}
		if Command(b[12]&0xf) > CmdProxy {
			return Header{}, 0, invalid("v2: unknown command")
		}
	}
	if len(b) > 13 && (b[13]>>4 > 3 || b[13]&0xf > 2) {
		return Header{}, 0, invalid("v2: unknown address family or transport")
	}
	if len(b) < V2HeaderLen {
		return Header{}, 0, ErrIncomplete
	}
	total := V2HeaderLen + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < total {
		return Header{}, 0, ErrIncomplete
	}
	hdr := b[:total]
	body := hdr[V2HeaderLen:]
	h := Header{Version: 2, Command: Command(b[12] & 0xf)}
	if h.Command == CmdLocal {
		// The receiver must skip the block whatever the family says.
		return h, total, nil
	}
	fam := b[13]
	alen := 0
	switch fam >> 4 {
	case 1:
		alen = addrLenInet
	case 2:
		alen = addrLenInet6
	case 3:
		alen = addrLenUnix
	}
	if alen == 0 || fam&0xf == 0 {
		// Unspecified family or transport: the block cannot be parsed
		// and is ignored.
		return h, total, nil
	}
	if len(body) < alen {
		return Header{}, 0, invalid("v2: address block shorter than its family needs")
	}
	switch fam {
	case 0x11:
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		h.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12]))
	case 0x21:
		src := netip.AddrFrom16([16]byte(body[0:16]))
		dst := netip.AddrFrom16([16]byte(body[16:32]))
		h.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:36]))
	}
	// UDP and UNIX sockets fall back to the connection's addresses.
	if tlvs := body[alen:]; len(tlvs) > 0 {
		if err := checkTLVs(hdr, V2HeaderLen+alen); err != nil {
			return Header{}, 0, err
		}
		h.TLVs = tlvs
	}
	return h, total, nil
}

// checkTLVs validates the TLV vectors of hdr, which start at off.
func checkTLVs(hdr []byte, off int) error {
	for i := off; i < len(hdr); {
		if len(hdr)-i < 3 {
			return invalid("v2: truncated TLV")
		}
		n := int(hdr[i+1])<<8 | int(hdr[i+2])
		v := i + 3
		if n > len(hdr)-v {
			return invalid("v2: TLV longer than the header")
		}
		switch hdr[i] {
		case TypeCRC32C:
			if n != 4 {
				return invalid("v2: CRC32C TLV is not 4 bytes")
			}
			// The checksum covers the whole header with its own
			// value taken as zeros.
			sum := crc32.Update(0, castagnoli, hdr[:v])
			sum = crc32.Update(sum, castagnoli, zeroCRC[:])
			sum = crc32.Update(sum, castagnoli, hdr[v+4:])
			if sum != binary.BigEndian.Uint32(hdr[v:v+4]) {
				return invalid("v2: CRC32C mismatch")
			}
		case TypeUniqueID:
			if n > maxUniqueID {
				return invalid("v2: UNIQUE_ID longer than 128 bytes")
			}
		}
		i = v + n
	}
	return nil
}

// TLV is a vector to append to a version 2 header.
type TLV struct {
	Type  byte
	Value []byte
}

// sameFamily returns src and dst in one family: both IPv4 when both are
// IPv4 (or IPv4-mapped), else both IPv6 (IPv4 mapped into IPv6).
func sameFamily(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort, bool) {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() && d.Is4() {
		return netip.AddrPortFrom(s, src.Port()), netip.AddrPortFrom(d, dst.Port()), false
	}
	if s.Is4() {
		s = netip.AddrFrom16(s.As16())
	}
	if d.Is4() {
		d = netip.AddrFrom16(d.As16())
	}
	return netip.AddrPortFrom(s.WithZone(""), src.Port()), netip.AddrPortFrom(d.WithZone(""), dst.Port()), true
}

// AppendV1 appends a version 1 header for a connection from src to dst.
// When either address is invalid it writes "PROXY UNKNOWN". Mixed families
// are sent as TCP6 with the IPv4 address mapped.
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	if !src.IsValid() || !dst.IsValid() {
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	s, d, v6 := sameFamily(src, dst)
	b = append(b, "PROXY TCP4 "...)
	if v6 {
		b[len(b)-2] = '6'
	}
	b = s.Addr().AppendTo(b)
	b = append(b, ' ')
	b = d.Addr().AppendTo(b)
	b = append(b, ' ')
	b = appendUint(b, s.Port())
	b = append(b, ' ')
	b = appendUint(b, d.Port())
	return append(b, '\r', '\n')
}

func appendUint(b []byte, n uint16) []byte {
	var d [5]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// AppendV2 appends a version 2 header for a TCP connection from src to dst,
// followed by tlvs. When either address is invalid it writes a LOCAL
// header. A TLV of type TypeCRC32C is written with the header's checksum,
// whatever its Value.
func AppendV2(b []byte, src, dst netip.AddrPort, tlvs ...TLV) []byte {
	start := len(b)
	b = append(b, sigV2...)
	if !src.IsValid() || !dst.IsValid() {
		b = append(b, 0x20|byte(CmdLocal), 0x00, 0, 0)
	} else {
		s, d, v6 := sameFamily(src, dst)
		if v6 {
			b = append(b, 0x20|byte(CmdProxy), 0x21, 0, 0)
			a, c := s.Addr().As16(), d.Addr().As16()
			b = append(b, a[:]...)
			b = append(b, c[:]...)
		} else {
			b = append(b, 0x20|byte(CmdProxy), 0x11, 0, 0)
			a, c := s.Addr().As4(), d.Addr().As4()
			b = append(b, a[:]...)
			b = append(b, c[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, s.Port())
		b = binary.BigEndian.AppendUint16(b, d.Port())
	}
	crcAt := -1
	for _, t := range tlvs {
		v := t.Value
		if t.Type == TypeCRC32C {
			v = []byte{0, 0, 0, 0}
			crcAt = len(b) + 3
		}
		b = append(b, t.Type, byte(len(v)>>8), byte(len(v)))
		b = append(b, v...)
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(len(b)-start-V2HeaderLen))
	if crcAt >= 0 {
		binary.BigEndian.PutUint32(b[crcAt:], crc32.Checksum(b[start:], castagnoli))
	}
	return b
}
