package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// TestSdNotify_BinaryUpgrade plays systemd's part in a binary upgrade under
// the unit (Type=notify, NotifyAccess=all): a NOTIFY_SOCKET, and a
// subreaper that inherits the new process when the old one exits, as
// systemd does. SIGUSR2 makes the running strata start the binary as its
// child; the child says MAINPID=<its pid> before the old process lets go,
// then READY=1 with the same pid; the old process exits 0 without a
// STOPPING=1 (which would stop the service); the new one serves the
// frontend, holds the pid file, and answers SIGTERM with STOPPING=1.
func TestSdNotify_BinaryUpgrade(t *testing.T) {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Skipf("cannot become a subreaper (%v): the new process could not be waited for", errno)
	}
	up := startUpstream(t, "s1")
	ns := listenNotify(t, false)
	dir, err := os.MkdirTemp("", "sdu") // short: the upgrade socket's path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg, pidfile := filepath.Join(dir, "strata.yaml"), filepath.Join(dir, "strata.pid")
	writeFile(t, cfg, proxyConfig(up.addr, "2s", ""))
	// A file, not a pipe: the new process inherits it, and the old one's
	// Wait must not wait for the new one to close it.
	logf, err := os.Create(filepath.Join(dir, "strata.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	logText := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }

	old := exec.Command(strataBin, "run", "-c", cfg, "--pidfile", pidfile)
	old.Env = append(os.Environ(), ns.env)
	old.Stdout, old.Stderr = logf, logf
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	oldExited := make(chan int, 1)
	go func() { old.Wait(); oldExited <- old.ProcessState.ExitCode() }()
	t.Cleanup(func() { old.Process.Kill() })

	if m := ns.next(t); m["READY"] != "1" || m["MAINPID"] != strconv.Itoa(old.Process.Pid) {
		t.Fatalf("first datagram %v, want READY=1 MAINPID=%d", m, old.Process.Pid)
	}
	mm := listeningRE.FindStringSubmatch(logText())
	if mm == nil {
		t.Fatalf("READY=1 before the frontend listens:\n%s", logText())
	}
	web := mm[1]

	if err := old.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	m := ns.next(t)
	newPid, err := strconv.Atoi(m["MAINPID"])
	if err != nil || newPid == old.Process.Pid || m["STOPPING"] != "" {
		t.Fatalf("after SIGUSR2: %v, want MAINPID=<the new process>\n%s", m, logText())
	}
	t.Cleanup(func() {
		if syscall.Kill(newPid, syscall.SIGKILL) == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(newPid, &ws, 0, nil)
		}
	})
	if m := ns.next(t); m["READY"] != "1" || m["MAINPID"] != strconv.Itoa(newPid) {
		t.Fatalf("then %v, want READY=1 MAINPID=%d", m, newPid)
	}
	select {
	case code := <-oldExited:
		if code != 0 {
			t.Fatalf("the old process exited with %d:\n%s", code, logText())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the old process did not exit after the hand-over:\n%s", logText())
	}
	// The old process is gone: whatever it sent is in the socket now.
	for _, m := range pendingDatagrams(t, ns) {
		if m["STOPPING"] != "" || (m["MAINPID"] != "" && m["MAINPID"] != strconv.Itoa(newPid)) {
			t.Errorf("datagram %v after the hand-over: systemd would stop the service or watch the old process", m)
		}
	}
	if pid, err := readPidfile(pidfile); err != nil || pid != newPid {
		t.Fatalf("pid file: %d %v, want %d", pid, err, newPid)
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}).Get("http://" + web + "/")
	if err != nil {
		t.Fatalf("the new process does not serve the frontend: %v\n%s", err, logText())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the new process answered %d", resp.StatusCode)
	}

	if err := syscall.Kill(newPid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if m := ns.next(t); m["STOPPING"] != "1" {
		t.Fatalf("after SIGTERM to the new process: %v, want STOPPING=1", m)
	}
	var ws syscall.WaitStatus
	testsupport.WaitFor(t, 20*time.Second, "the new process exits", func() bool {
		pid, err := syscall.Wait4(newPid, &ws, syscall.WNOHANG, nil)
		return pid == newPid || errors.Is(err, syscall.ECHILD)
	})
	if ws.Exited() && ws.ExitStatus() != 0 {
		t.Fatalf("the new process exited with %d:\n%s", ws.ExitStatus(), logText())
	}
}

// pendingDatagrams reads the datagrams already queued on ns.
func pendingDatagrams(t *testing.T, ns *notifySocket) []map[string]string {
	t.Helper()
	var out []map[string]string
	buf := make([]byte, 4096)
	for {
		ns.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := ns.conn.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parseNotify(t, buf[:n]))
	}
}
