package accesslog

// HeadDelta returns HAProxy's HTX size of the HTTP/1.1 response head at
// the start of b minus its size on the wire, which Record.HTXDelta sums
// for %B: HAProxy 2.6 counts a head as its internal HTX form takes it — a
// 20-byte start-line block plus the version, status and reason; each
// field's name and value (none for Connection, which its HTTP/1 codec
// consumes and writes back itself); one byte for the end of the head. A
// head not whole in b counts as it went (0).
func HeadDelta(b []byte) int64 {
	var htx, wire int64
	first := true
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i == len(b) {
			return 0 // not a whole head: count it as it went
		}
		line := b[:i]
		wire += int64(i + 1)
		b = b[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case len(line) == 0:
			return htx + 1 - wire
		case first:
			// "HTTP/1.1 200 OK": the three parts, without their spaces.
			htx += 20 + int64(len(line)) - int64(min(2, countByte(line, ' ')))
			first = false
		default:
			colon := 0
			for colon < len(line) && line[colon] != ':' {
				colon++
			}
			if colon == len("connection") && asciiEqualFold(line[:colon], "connection") {
				continue
			}
			v := line[min(colon+1, len(line)):]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			htx += int64(colon + len(v))
		}
	}
	return 0
}

func countByte(b []byte, c byte) int {
	n := 0
	for _, x := range b {
		if x == c {
			n++
		}
	}
	return n
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
