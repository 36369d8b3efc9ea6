package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errProtocol is returned by a load generator when the proxy did not
// negotiate the application protocol the row measures (ALPN h2). On a row
// that needs a strata feature it skips the strata row instead of failing it.
var errProtocol = errors.New("protocol not negotiated")

// h2loadGen runs h2load (nghttp2-client) over TLS, pinned with taskset when
// cpu is set: clients connections, each with up to streams requests in
// flight, for a duration.
//
// h2load offers only proto by ALPN (--npn-list), so that a proxy that does
// not speak it is not measured over a fallback (h2load would pipeline
// HTTP/1.1 requests with -m): the run fails with errProtocol instead.
type h2loadGen struct {
	clients, streams int
	proto            string // ALPN protocol asked for and required, "h2"
	cpu              string // taskset CPU list, "" for no pinning
}

func (h h2loadGen) name() string { return "h2load" }

func (h h2loadGen) describe() string {
	return fmt.Sprintf("h2load -t1 -c%d -m%d --npn-list=%s (%d connections × %d streams; p50/p99 from its per-request log)",
		h.clients, h.streams, h.proto, h.clients, h.streams)
}

func (h h2loadGen) run(ctx context.Context, url string, d time.Duration) (loadResult, error) {
	// h2load prints no percentiles: they come from its per-request log.
	logf, err := os.CreateTemp("", "stratabench-h2load-*.tsv")
	if err != nil {
		return loadResult{}, err
	}
	logPath := logf.Name()
	logf.Close()
	defer os.Remove(logPath)

	secs := int((d + time.Second - 1) / time.Second)
	args := []string{"h2load", "-t1", "-c" + strconv.Itoa(h.clients), "-m" + strconv.Itoa(h.streams),
		"-D" + strconv.Itoa(secs), "--npn-list=" + h.proto, "--log-file=" + logPath, url}
	cmd := pinned(ctx, h.cpu, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return loadResult{}, fmt.Errorf("h2load: %v: %s", err, lastLine(errb.String()+out.String()))
	}
	o, err := parseH2Load(out.String())
	if err != nil {
		return o.loadResult, err
	}
	if err := o.check(h.proto); err != nil {
		if o.Total == 0 {
			// Nothing was even attempted: a refused handshake or
			// connection. Ask the proxy directly which it was.
			err = probeALPN(ctx, url, h.proto)
		}
		if msg := strings.TrimSpace(errb.String()); msg != "" && err != nil {
			err = fmt.Errorf("%w (h2load: %s)", err, oneLine(msg, 200))
		}
		if err == nil {
			err = errors.New("h2load: no request was made, yet a TLS handshake with ALPN " + h.proto + " succeeds")
		}
		return o.loadResult, err
	}
	r := o.loadResult
	f, err := os.Open(logPath)
	if err != nil {
		return r, err
	}
	defer f.Close()
	if r.P50, r.P99, err = h2loadLatencies(f); err != nil {
		return r, err
	}
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

// probeALPN makes one TLS handshake with the server of url, offering only
// proto, and says why h2load could not use it: errProtocol when the server
// refuses proto or chooses another, the dial or handshake error otherwise,
// nil when proto is negotiated.
func probeALPN(ctx context.Context, rawURL, proto string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	d := tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		// The bench's own self-signed certificate.
		Config: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}},
	}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	switch {
	// An alert from the peer is an unexported type of crypto/tls (not
	// tls.AlertError, which is for alerts sent): only its text tells
	// no_application_protocol (RFC 7301, section 3.2) from the others.
	case err != nil && strings.Contains(err.Error(), "tls: no application protocol"):
		return fmt.Errorf("%w: asked for %s, the proxy refused the handshake (%v)", errProtocol, proto, err)
	case err != nil:
		return fmt.Errorf("h2load made no request; a TLS handshake fails too: %w", err)
	}
	defer c.Close()
	if got := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; got != proto {
		if got == "" {
			got = "none"
		}
		return fmt.Errorf("%w: asked for %s, the proxy chose %s", errProtocol, proto, got)
	}
	return nil
}

// h2loadOutput is what h2load's standard output says about a run.
type h2loadOutput struct {
	loadResult // Requests is the number that succeeded
	// From "requests: N total, N started, N done, N succeeded, N failed,
	// N errored, N timeout".
	Total, Succeeded, Failed int64
	// NoProtocol: h2load said "No protocol negotiated": the TLS handshake
	// completed without ALPN.
	NoProtocol bool
}

// check returns an error when the run does not measure proto: errProtocol
// when another protocol or none was negotiated, a plain error when
// requests failed or none succeeded.
func (o h2loadOutput) check(proto string) error {
	switch {
	case o.Protocol != "" && o.Protocol != proto:
		return fmt.Errorf("%w: asked for %s, the proxy chose %s", errProtocol, proto, o.Protocol)
	case o.NoProtocol:
		return fmt.Errorf("%w: asked for %s, the proxy chose none (no ALPN)", errProtocol, proto)
	case o.Protocol == "" && o.Succeeded == 0 && o.Failed == 0:
		// The handshake failed on every connection: a Go server
		// refuses one whose ALPN offer it does not share
		// (no_application_protocol), and h2load then counts nothing.
		return fmt.Errorf("%w: asked for %s, no TLS session was established (the proxy may offer other protocols only)", errProtocol, proto)
	case o.Failed > 0:
		return fmt.Errorf("h2load: %d of %d requests failed (%d succeeded)", o.Failed, o.Total, o.Succeeded)
	case o.Succeeded == 0:
		return errors.New("h2load: no request succeeded")
	}
	return nil
}

// parseH2Load reads the standard output of h2load.
func parseH2Load(out string) (h2loadOutput, error) {
	var o h2loadOutput
	var haveFinished, haveRequests bool
	var tlsVersion, cipher string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "finished in "):
			// "finished in 2.01s, 28689.50 req/s, 953.32KB/s"
			parts := strings.Split(strings.TrimPrefix(line, "finished in "), ",")
			if len(parts) < 2 {
				return o, fmt.Errorf("h2load finished %q", line)
			}
			d, err := parseWRKDuration(strings.TrimSpace(parts[0]))
			if err != nil {
				return o, fmt.Errorf("h2load finished %q: %w", line, err)
			}
			rps, ok := strings.CutSuffix(strings.TrimSpace(parts[1]), " req/s")
			if !ok {
				return o, fmt.Errorf("h2load finished %q: no req/s", line)
			}
			v, err := strconv.ParseFloat(rps, 64)
			if err != nil {
				return o, fmt.Errorf("h2load finished %q: %w", line, err)
			}
			o.Elapsed, o.RPS, haveFinished = d, v, true
		case strings.HasPrefix(line, "requests: "):
			counts, err := h2loadCounts(strings.TrimPrefix(line, "requests: "))
			if err != nil {
				return o, fmt.Errorf("h2load requests %q: %w", line, err)
			}
			o.Total, o.Succeeded, o.Failed = counts["total"], counts["succeeded"], counts["failed"]
			o.Requests = o.Succeeded
			haveRequests = true
		case strings.HasPrefix(line, "status codes: "):
			counts, err := h2loadCounts(strings.TrimPrefix(line, "status codes: "))
			if err != nil {
				return o, fmt.Errorf("h2load status codes %q: %w", line, err)
			}
			o.Non2xx = counts["4xx"] + counts["5xx"]
		case strings.HasPrefix(line, "Application protocol:"):
			o.Protocol = strings.TrimSpace(strings.TrimPrefix(line, "Application protocol:"))
		case strings.HasPrefix(line, "No protocol negotiated"):
			o.NoProtocol = true
		case strings.HasPrefix(line, "TLS Protocol:"):
			tlsVersion = strings.TrimSpace(strings.TrimPrefix(line, "TLS Protocol:"))
		case strings.HasPrefix(line, "Cipher:"):
			cipher = strings.TrimSpace(strings.TrimPrefix(line, "Cipher:"))
		}
	}
	o.TLS = strings.TrimSpace(tlsVersion + " " + cipher)
	if !haveFinished || !haveRequests {
		return o, errors.New("h2load: no request count in its output: " + lastLine(out))
	}
	return o, nil
}

// h2loadCounts reads "N name, N name, …" into a map from name to N.
func h2loadCounts(s string) (map[string]int64, error) {
	m := make(map[string]int64)
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return nil, fmt.Errorf("malformed count %q", strings.TrimSpace(part))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, err
		}
		m[f[1]] = n
	}
	return m, nil
}

// h2loadLatencies returns the median and 99th percentile response times of
// an h2load --log-file: one request a line, tab-separated start time (µs
// since the epoch), HTTP status and µs until the end of the response.
// Percentiles are nearest-rank.
func h2loadLatencies(r io.Reader) (p50, p99 time.Duration, err error) {
	var us []int64
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return 0, 0, fmt.Errorf("h2load log line %d: %d fields, want 3", n, len(f))
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("h2load log line %d: %w", n, err)
		}
		us = append(us, v)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if len(us) == 0 {
		return 0, 0, errors.New("h2load log: no request")
	}
	slices.Sort(us)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(us)))) - 1
		i = max(0, min(i, len(us)-1))
		return time.Duration(us[i]) * time.Microsecond
	}
	return rank(0.50), rank(0.99), nil
}
