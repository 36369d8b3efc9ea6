package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// wsFrame is a frame as the test client sees it.
type wsFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// writeFrame sends a frame, masked unless unmasked is set. It may be
// called from any goroutine.
func writeFrame(t *testing.T, w io.Writer, fin bool, op byte, payload []byte, unmasked bool) {
	t.Helper()
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var mbit byte = 0x80
	if unmasked {
		mbit = 0
	}
	f := []byte{b0}
	switch n := len(payload); {
	case n <= 125:
		f = append(f, mbit|byte(n))
	case n <= 0xffff:
		f = append(f, mbit|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, mbit|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	p := append([]byte(nil), payload...)
	if !unmasked {
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		f = append(f, key[:]...)
		unmask(p, key, 0)
	}
	if _, err := w.Write(append(f, p...)); err != nil {
		t.Error(err) // may run on a goroutine other than the test's
	}
}

func readFrame(t *testing.T, br *bufio.Reader) wsFrame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("server frame is masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return wsFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, payload: p}
}

// handshake upgrades a new connection and returns it with its reader.
func handshake(t *testing.T, u *upstream, extra string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := u.dial(t)
	io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+extra+"\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || resp.Header.Get("x-server") != "s1" {
		t.Fatalf("handshake answer %d %v", resp.StatusCode, resp.Header)
	}
	return c, br
}

func TestWebSocket_Echo(t *testing.T) {
	for _, mode := range []string{"fixed", "echo"} {
		t.Run(mode, func(t *testing.T) {
			u := start(t, "-mode", mode)
			c, br := handshake(t, u, "Sec-WebSocket-Protocol: chat, superchat\r\n")
			big := bytes.Repeat([]byte("websocket "), 20_000)
			tests := []struct {
				name string
				send []wsFrame
				want []wsFrame
			}{
				{name: "text", send: []wsFrame{{true, wsText, []byte("hello")}}, want: []wsFrame{{true, wsText, []byte("hello")}}},
				{name: "empty", send: []wsFrame{{true, wsBinary, nil}}, want: []wsFrame{{true, wsBinary, []byte{}}}},
				{name: "16-bit length", send: []wsFrame{{true, wsBinary, big[:1000]}}, want: []wsFrame{{true, wsBinary, big[:1000]}}},
				{name: "64-bit length", send: []wsFrame{{true, wsBinary, big}}, want: []wsFrame{{true, wsBinary, big}}},
				{
					name: "fragments with a ping between",
					send: []wsFrame{{false, wsText, []byte("ab")}, {true, wsPing, []byte("p")}, {true, wsContinuation, []byte("cd")}},
					want: []wsFrame{{false, wsText, []byte("ab")}, {true, wsPong, []byte("p")}, {true, wsContinuation, []byte("cd")}},
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					go func() {
						for _, f := range tt.send {
							writeFrame(t, c, f.fin, f.op, f.payload, false)
						}
					}()
					for _, want := range tt.want {
						got := readFrame(t, br)
						if got.fin != want.fin || got.op != want.op || !bytes.Equal(got.payload, want.payload) {
							t.Fatalf("got fin %v op %d %d bytes, want fin %v op %d %d bytes",
								got.fin, got.op, len(got.payload), want.fin, want.op, len(want.payload))
						}
					}
				})
			}
			writeFrame(t, c, true, wsClose, []byte{0x03, 0xe8, 'b', 'y', 'e'}, false)
			got := readFrame(t, br)
			if got.op != wsClose || !bytes.Equal(got.payload, []byte{0x03, 0xe8}) {
				t.Errorf("close answer op %d %x", got.op, got.payload)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("connection open after close: %v", err)
			}
		})
	}
}

func TestWebSocket_ProtocolErrors(t *testing.T) {
	u := start(t)
	tests := []struct {
		name     string
		op       byte
		fin      bool
		payload  []byte
		unmasked bool
	}{
		{name: "unmasked client frame", op: wsText, fin: true, payload: []byte("x"), unmasked: true},
		{name: "unknown opcode", op: 0x3, fin: true},
		{name: "fragmented control frame", op: wsPing, fin: false},
		{name: "long control frame", op: wsPing, fin: true, payload: make([]byte, 126)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := handshake(t, u, "")
			writeFrame(t, c, tt.fin, tt.op, tt.payload, tt.unmasked)
			got := readFrame(t, br)
			if got.op != wsClose || binary.BigEndian.Uint16(got.payload) != wsCloseProtocolError {
				t.Errorf("got op %d payload %x, want close 1002", got.op, got.payload)
			}
		})
	}
}

func TestWebSocket_WrongVersion(t *testing.T) {
	u := start(t)
	c := u.dial(t)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: a2V5\r\nSec-WebSocket-Version: 8\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Errorf("got %d %v", resp.StatusCode, resp.Header)
	}
}
