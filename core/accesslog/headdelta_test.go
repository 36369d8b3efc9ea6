package accesslog

import "testing"

// TestHeadDelta counts heads as HAProxy 2.6's HTX does: 20 bytes plus the
// start line without two of its spaces, each field's name and value
// without separators, Connection not at all, one byte for the end; a head
// not whole counts as sent.
func TestHeadDelta(t *testing.T) {
	tests := []struct {
		name string
		head string
		want int64
	}{
		// htx 33 + 15 + 0 + 1 = 49; wire 17 + 19 + 24 + 2 = 62.
		{"connection skipped", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello", 49 - 62},
		// "Not Found" keeps its own space: htx 20 + 22 - 2 + 1 = 41; wire 24 + 2 = 26.
		{"reason with a space", "HTTP/1.1 404 Not Found\r\n\r\n", 41 - 26},
		// CONNECTION in any case is the codec's; a tab before the value is a separator.
		{"case and tab", "HTTP/1.1 204 No Content\r\nCONNECTION: close\r\nX-A:\tb\r\n\r\n", (20 + 23 - 2 + 4 + 1) - (25 + 19 + 8 + 2)},
		{"not whole", "HTTP/1.1 200 OK\r\nX: y", 0},
		{"bare LF", "HTTP/1.1 200 OK\nA: b\n\n", (20 + 15 - 2 + 2 + 1) - (16 + 5 + 1)},
	}
	for _, tt := range tests {
		if got := HeadDelta([]byte(tt.head)); got != tt.want {
			t.Errorf("%s: HeadDelta = %d, want %d", tt.name, got, tt.want)
		}
	}
}
