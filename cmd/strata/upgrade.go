package main

// Binary upgrade: `strata run --pidfile P` listens on the Unix socket P.sock
// for the strata that will replace it; `strata run --upgrade-from P …`
// (the new binary, with its configuration) takes over:
//
//	new → old  hello
//	old → new  the listening sockets (frontends, and the admin API when it
//	           has one) with their configured addresses, over SCM_RIGHTS
//	           (the new process builds its configuration, which it did
//	           before connecting, and keeps the sockets its binds name)
//	new → old  tables
//	old → new  a dump of the stick tables (proxy.DumpTables)
//	           (the new process restores them, starts serving on the
//	           sockets and writes its pid file)
//	new → old  done
//	old → new  bye, once it has closed P.sock; the new process then
//	           listens there itself
//
// The old process then stops like on SIGTERM: it stops accepting (the
// sockets stay open through the new process), closes its idle keep-alive
// connections, lets streams in flight finish within global.grace and
// exits. Both processes hold the same listening sockets throughout, so an
// upgrade refuses no connection. Until "done" the old process keeps
// serving as before: a new process that fails (a configuration error, a
// crash) changes nothing.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/strata-proxy/strata/core/admin"
	"github.com/strata-proxy/strata/core/handover"
	"github.com/strata-proxy/strata/core/proxy"
)

// startSuccessor serves SIGUSR2: it starts the binary now at this
// process's path (a package upgrade replaced the file) with this
// process's arguments and --upgrade-from, as HAProxy's master re-executes
// itself on SIGUSR2. Being this process's child, the successor runs in
// the same systemd service, whose main process it can then become. A
// successor that fails leaves this process serving, and the log says why.
func (r *reloader) startSuccessor() {
	if r.ro.pidfile == "" {
		r.log.Error("SIGUSR2: a binary upgrade needs strata run --pidfile")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		r.log.Error("SIGUSR2: cannot find this binary's path", "error", err)
		return
	}
	cmd := exec.Command(exe, successorArgs(os.Args[1:], r.ro.pidfile)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		r.log.Error("SIGUSR2: cannot start the new binary", "path", exe, "error", err)
		return
	}
	r.log.Info("SIGUSR2: the new binary is taking over", "path", exe, "pid", cmd.Process.Pid)
	go func() {
		// Seen only while this process lives, that is when the
		// successor failed before the hand-over.
		err := cmd.Wait()
		r.log.Warn("upgrade: the new process exited; still serving", "pid", cmd.Process.Pid, "error", err)
	}()
}

// successorArgs are args (this process's, without the program name) with
// any --upgrade-from replaced by --upgrade-from pidfile.
func successorArgs(args []string, pidfile string) []string {
	out := make([]string, 0, len(args)+2)
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, withValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "upgrade-from" {
			if !withValue {
				i++ // its value is the next argument
			}
			continue
		}
		out = append(out, a)
	}
	return append(out, "--upgrade-from", pidfile)
}

// upgradeSocket is the Unix socket beside a pid file.
func upgradeSocket(pidfile string) string { return pidfile + ".sock" }

type upgradeMsg struct {
	Op        string   `json:"op"`
	Pid       int      `json:"pid,omitempty"`
	Listeners []string `json:"listeners,omitempty"` // configured addresses, in the order of the files
	Admin     bool     `json:"admin,omitempty"`     // the last file is the admin API's
	Error     string   `json:"error,omitempty"`
}

// upgradeSignal is what wait returns when a new process took over.
type upgradeSignal struct{}

func (upgradeSignal) String() string { return "upgrade: a new strata took over" }
func (upgradeSignal) Signal()        {}

// upgradeServer hands this process's sockets over to its successor.
type upgradeServer struct {
	p    *proxy.Proxy
	api  *admin.Server // nil without an admin API
	log  *slog.Logger
	ln   *net.UnixListener
	done chan struct{} // closed once a successor has taken over
	once sync.Once
}

func startUpgradeServer(path string, p *proxy.Proxy, api *admin.Server, log *slog.Logger) (*upgradeServer, error) {
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o600)
	u := &upgradeServer{p: p, api: api, log: log, ln: ln, done: make(chan struct{})}
	go u.serve()
	return u, nil
}

func (u *upgradeServer) serve() {
	for {
		c, err := u.ln.AcceptUnix()
		if err != nil {
			return
		}
		if err := u.handOver(c); err != nil {
			u.log.Warn("upgrade aborted: still serving", "error", err)
		}
		c.Close()
		select {
		case <-u.done:
			return
		default:
		}
	}
}

func (u *upgradeServer) handOver(c *net.UnixConn) error {
	c.SetDeadline(time.Now().Add(time.Minute))
	var m upgradeMsg
	if _, err := handover.ReadMessage(c, &m); err != nil || m.Op != "hello" {
		return fmt.Errorf("hello: %v %q", err, m.Op)
	}
	u.log.Info("upgrade: handing the listening sockets over", "to_pid", m.Pid)
	lns, err := u.p.ListenerFiles()
	if err != nil {
		return err
	}
	var files []*os.File
	out := upgradeMsg{Op: "listeners"}
	for _, l := range lns {
		out.Listeners = append(out.Listeners, l.Addr)
		files = append(files, l.File)
	}
	if u.api != nil {
		if f, err := u.api.ListenerFile(); err == nil {
			files = append(files, f)
			out.Admin = true
		}
	}
	err = handover.WriteMessage(c, out, files...)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		return err
	}
	if _, err := handover.ReadMessage(c, &m); err != nil || m.Op != "tables" {
		return fmt.Errorf("the new process did not start: %v %s", err, m.Error)
	}
	if err := handover.WriteMessage(c, u.p.DumpTables()); err != nil {
		return err
	}
	if _, err := handover.ReadMessage(c, &m); err != nil || m.Op != "done" {
		return fmt.Errorf("the new process did not start: %v %s", err, m.Error)
	}
	// From here on the new process serves: this one stops.
	u.ln.Close()
	u.once.Do(func() { close(u.done) })
	handover.WriteMessage(c, upgradeMsg{Op: "bye"})
	return nil
}

// close stops listening for a successor.
func (u *upgradeServer) close() {
	if u != nil {
		u.ln.Close()
	}
}

// takeover is the new process's side of an upgrade.
type takeover struct {
	c         *net.UnixConn
	listeners map[string]*net.TCPListener
	admin     net.Listener
	tables    handover.TableDump
}

// takeOver connects to the strata whose pid file is pidfile and receives
// its sockets.
func takeOver(pidfile string) (*takeover, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: upgradeSocket(pidfile), Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("upgrade from %s: %w", pidfile, err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	t := &takeover{c: c, listeners: map[string]*net.TCPListener{}}
	if err := handover.WriteMessage(c, upgradeMsg{Op: "hello", Pid: os.Getpid()}); err != nil {
		c.Close()
		return nil, err
	}
	var m upgradeMsg
	files, err := handover.ReadMessage(c, &m)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("upgrade: receiving the sockets: %w", err)
	}
	want := len(m.Listeners)
	if m.Admin {
		want++
	}
	if len(files) != want {
		c.Close()
		return nil, fmt.Errorf("upgrade: got %d sockets, want %d", len(files), want)
	}
	for i, a := range m.Listeners {
		ln, err := net.FileListener(files[i])
		if err != nil {
			t.abort(err)
			return nil, err
		}
		tl, ok := ln.(*net.TCPListener)
		if !ok {
			ln.Close()
			continue
		}
		t.listeners[a] = tl
	}
	if m.Admin {
		if t.admin, err = net.FileListener(files[len(files)-1]); err != nil {
			t.abort(err)
			return nil, err
		}
	}
	if err := handover.WriteMessage(c, upgradeMsg{Op: "tables"}); err != nil {
		t.abort(err)
		return nil, err
	}
	if _, err := handover.ReadMessage(c, &t.tables); err != nil {
		t.abort(err)
		return nil, err
	}
	return t, nil
}

// abort tells the old process to carry on and closes what was received.
func (t *takeover) abort(err error) {
	handover.WriteMessage(t.c, upgradeMsg{Op: "abort", Error: err.Error()})
	t.c.Close()
	for _, l := range t.listeners {
		l.Close()
	}
	if t.admin != nil {
		t.admin.Close()
	}
}

// finish tells the old process to drain and waits until it has let go of
// its upgrade socket.
func (t *takeover) finish() error {
	defer t.c.Close()
	if err := handover.WriteMessage(t.c, upgradeMsg{Op: "done"}); err != nil {
		return err
	}
	var m upgradeMsg
	if _, err := handover.ReadMessage(t.c, &m); err != nil || m.Op != "bye" {
		return errors.Join(errors.New("upgrade: the old process did not confirm"), err)
	}
	return nil
}
