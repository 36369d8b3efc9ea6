package main

import (
	"net"
	"os"
	"strconv"
)

// sd_notify, as systemd's Type=notify services speak it: one datagram of
// "KEY=VALUE" lines to the unix socket named by $NOTIFY_SOCKET (a path, or
// an abstract name written with a leading '@'). strata says READY=1 once
// its listeners accept, RELOADING=1 … READY=1 around a SIGHUP reload and
// STOPPING=1 when it starts to drain. In a binary upgrade the new process
// sends MAINPID= before the hand-over and the old one stays silent as it
// drains: a STOPPING=1 from it would stop the service. Without $NOTIFY_SOCKET (not under
// systemd) every call is a no-op. Why no library: it is one write.

// notifier sends sd_notify states; the zero value (no socket) does nothing.
type notifier struct {
	addr *net.UnixAddr
}

func newNotifier() *notifier {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return &notifier{}
	}
	if name[0] == '@' {
		name = "\x00" + name[1:] // Linux abstract namespace
	}
	return &notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// send writes state (newline-separated assignments) in one datagram.
func (n *notifier) send(state string) error {
	if n == nil || n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

func (n *notifier) ready() error {
	return n.send("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()) + "\nSTATUS=serving")
}

// reloading starts a reload. (Type=notify-reload would also want
// MONOTONIC_USEC; the unit is Type=notify with ExecReload sending SIGHUP,
// which works with every systemd that has Type=notify.)
func (n *notifier) reloading() error { return n.send("RELOADING=1\nSTATUS=reloading") }

// reloaded ends a reload, with its outcome in STATUS (systemctl status
// shows it): a failed reload leaves the old configuration serving, so the
// service is ready either way.
func (n *notifier) reloaded(err error) error {
	status := "serving"
	if err != nil {
		status = "serving the previous configuration: reload failed"
	}
	return n.send("READY=1\nSTATUS=" + status)
}

func (n *notifier) stopping() error { return n.send("STOPPING=1\nSTATUS=draining") }

// mainPID makes this process the service's main process: the new process
// of a binary upgrade says so before the old one lets go, so that systemd
// watches it rather than the old process, which is about to exit. The
// unit needs NotifyAccess=all, since the sender is not yet the main
// process; READY=1 follows once SIGHUP is served, as at a start.
func (n *notifier) mainPID() error {
	return n.send("MAINPID=" + strconv.Itoa(os.Getpid()) + "\nSTATUS=taking over (binary upgrade)")
}
