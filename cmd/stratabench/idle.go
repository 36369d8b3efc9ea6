package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// oneIdle opens a connection to addr for the idle figure and makes
// requests on it, one after another: over TLS when the row's scheme is
// https (any certificate accepted), with HTTP/2 when the row says idleH2,
// else HTTP/1.1 keep-alive. The connection is returned open.
func oneIdle(ctx context.Context, addr string, sc *scenario, requests int) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if sc.scheme == "https" {
		alpn := "http/1.1"
		if sc.idleH2 {
			alpn = "h2"
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "bench", NextProtos: []string{alpn}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		if got := tc.ConnectionState().NegotiatedProtocol; got != alpn {
			c.Close()
			return nil, fmt.Errorf("ALPN %q, want %q", got, alpn)
		}
		c = tc
	}
	if sc.idleH2 {
		err = h2Requests(c, sc.path, requests)
	} else {
		err = h1Requests(c, sc.path, requests)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// h1Requests makes requests GET requests on c, keep-alive.
func h1Requests(c net.Conn, path string, requests int) error {
	br := bufio.NewReaderSize(c, 1024)
	for range requests {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			return fmt.Errorf("answer %s, close %v", resp.Status, resp.Close)
		}
	}
	return nil
}

// h2Requests opens an HTTP/2 connection on c and makes requests GET
// requests on it, one stream after another, acknowledging the server's
// settings as a client must.
func h2Requests(c net.Conn, path string, requests int) error {
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return err
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		return err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range requests {
		id := uint32(2*i + 1)
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "bench"}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			return err
		}
		if err := h2Response(fr, id); err != nil {
			return err
		}
	}
	return nil
}

// h2Response reads frames until stream id ends with status 200.
func h2Response(fr *http2.Framer, id uint32) error {
	status := ""
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		ended := false
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return err
				}
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				if s := f.PseudoValue("status"); s != "" {
					status = s
				}
				ended = f.StreamEnded()
			}
		case *http2.DataFrame:
			ended = f.StreamID == id && f.StreamEnded()
		case *http2.RSTStreamFrame:
			return fmt.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			return fmt.Errorf("GOAWAY: %v", f.ErrCode)
		}
		if ended {
			if status != "200" {
				return errors.New("answer " + status)
			}
			return nil
		}
	}
}
