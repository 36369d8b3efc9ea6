// Command upstream is the origin server that strata's tests and benchmarks
// put behind the proxy.
//
// It is small and cheap on purpose: on a two-core machine its CPU competes
// with the proxy's, so it does not use net/http. Requests are read by a
// minimal HTTP/1.1 reader (keep-alive, pipelining, Content-Length and
// chunked request bodies, Expect: 100-continue) into one buffer per
// connection, and the default answer is a prebuilt byte slice.
//
// Modes (-mode):
//
//	fixed   200 with the -body text (default), keep-alive
//	echo    200 with a JSON description of what was received: method, uri,
//	        proto, headers in order, body length and SHA-256, trailers
//	tcp     raw TCP echo; when the client shuts its write side the server
//	        finishes echoing, then closes
//
// Every HTTP mode also answers these paths, and uses its default answer for
// any other path:
//
//	/status/N          answer status N (a 1xx is sent as an interim
//	                   response, then the default answer follows)
//	/delay/D           wait D (at most 30s), then the default answer
//	/close             close the connection without answering
//	/chunked/N         a chunked response of N chunks
//	/big/N             a body of N bytes
//	/drip/N/D          a body of N bytes, one byte every D (at most 60s in all)
//	/headers-only[/D]  a head announcing a body, then nothing until the
//	                   client goes away or D passes (default and at most 30s)
//	/badresponse       an invalid response (both Content-Length and
//	                   Transfer-Encoding), then close
//
// A request carrying "Connection: upgrade" and "Upgrade: websocket" gets an
// RFC 6455 handshake, then every data frame is echoed back unmasked, pings
// are answered and a close is answered with a close.
//
// Every response carries "x-server: NAME" (-name). With -log FILE, one JSON
// line is appended per accepted connection, per request received (method,
// uri and the raw head in base64), per malformed request and per closed
// connection; each line is written with one write(2), so it is on disk when
// the request is answered.
//
// -idle-timeout closes a connection on which nothing came for that long,
// a new one included; -keep-alive-timeout closes one that waits that long
// for its next request after an answer only, as a server's keep-alive
// timeout does, so that a client slow to send its first request is not
// caught by it.
//
// The first line on stdout is "listening on ADDR". The process exits on
// SIGTERM or SIGINT, and by itself after -max-lifetime.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Limits that keep a misbehaving test from holding the machine.
const (
	maxLifetimeLimit = 24 * time.Hour
	maxDelay         = 30 * time.Second
	maxDrip          = 60 * time.Second
	maxHang          = 30 * time.Second
)

// config is what the flags say.
type config struct {
	listen      string
	name        string
	mode        string
	body        string
	logPath     string
	maxLifetime time.Duration
	idleTimeout time.Duration
	// keepAlive, when set, bounds the wait for the next request after an
	// answer (a server's keep-alive timeout), apart from idleTimeout.
	keepAlive time.Duration
}

const (
	modeFixed = "fixed"
	modeEcho  = "echo"
	modeTCP   = "tcp"
	// modeStatus is accepted for readability in scripts: the special paths
	// work in every HTTP mode, and other paths get the fixed answer.
	modeStatus = "status"
)

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "loopback `address` to listen on")
	fs.StringVar(&cfg.name, "name", "s1", "server `name`, sent in the x-server response header and in bodies")
	fs.StringVar(&cfg.mode, "mode", modeFixed, "fixed, echo, status (same as fixed) or tcp")
	fs.StringVar(&cfg.body, "body", "hello world!", "response body of the fixed mode")
	fs.StringVar(&cfg.logPath, "log", "", "append one JSON line per connection and request to `file`")
	fs.DurationVar(&cfg.maxLifetime, "max-lifetime", 10*time.Minute, "exit after this long (at most 24h)")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 60*time.Second, "close a connection idle for this long")
	fs.DurationVar(&cfg.keepAlive, "keep-alive-timeout", 0, "close a connection that waits this long for the next request after an answer (0: -idle-timeout only)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch cfg.mode {
	case modeFixed, modeEcho, modeTCP:
	case modeStatus:
		cfg.mode = modeFixed
	default:
		return cfg, fmt.Errorf("-mode %q: want fixed, echo, status or tcp", cfg.mode)
	}
	if cfg.maxLifetime <= 0 || cfg.maxLifetime > maxLifetimeLimit {
		return cfg, fmt.Errorf("-max-lifetime %v: want more than 0 and at most %v", cfg.maxLifetime, maxLifetimeLimit)
	}
	// A test server that echoes what it is sent stays on the loopback.
	if addr, err := net.ResolveTCPAddr("tcp", cfg.listen); err != nil {
		return cfg, fmt.Errorf("-listen: %w", err)
	} else if !addr.IP.IsLoopback() {
		return cfg, fmt.Errorf("-listen %q: want a loopback address such as 127.0.0.1:0", cfg.listen)
	}
	if cfg.idleTimeout <= 0 {
		return cfg, fmt.Errorf("-idle-timeout %v: want more than 0", cfg.idleTimeout)
	}
	if cfg.keepAlive < 0 {
		return cfg, fmt.Errorf("-keep-alive-timeout %v: want 0 or more", cfg.keepAlive)
	}
	if len(cfg.name) == 0 || !validFieldValue([]byte(cfg.name)) || !validFieldValue([]byte(cfg.body)) {
		return cfg, errors.New("-name must be non-empty; -name and -body must be printable")
	}
	return cfg, nil
}

func main() {
	err := run(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

// run starts the server described by args, prints "listening on ADDR" as the
// first line on stdout, and serves until SIGTERM, SIGINT or -max-lifetime.
func run(args []string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return runContext(ctx, args, stdout)
}

// runContext is run with a context that stops the server when done.
func runContext(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	srv, err := newServer(cfg)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "listening on %s\n", srv.ln.Addr()); err != nil {
		srv.ln.Close()
		srv.log.close()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.maxLifetime)
	defer cancel()
	err = srv.serve(ctx)
	fmt.Fprintf(stdout, "stopped: %d connections, %d requests\n", srv.conns.Load(), srv.requests.Load())
	return err
}
