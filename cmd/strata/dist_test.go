package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests of what installs and runs strata: the version stamp, the systemd
// unit and its sd_notify readiness, the Dockerfile.

// TestVersion_Stamped builds strata as `make build` does, with the version
// and commit given by -ldflags -X, and reads them back from `strata
// version` and `strata version --json`.
func TestVersion_Stamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "strata")
	const ver, rev = "9.8.7-test", "0123456789abcdef0123456789abcdef01234567"
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+ver+" -X main.commit="+rev, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "strata " + ver + " (" + rev[:12] + ") " + runtime.Version() + "\n"; !strings.HasPrefix(string(out), want) {
		t.Fatalf("strata version: %q, want it to start with %q", out, want)
	}
	out, err = exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got buildInfo
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("strata version --json: %v\n%s", err, out)
	}
	if got.Version != ver || got.Commit != rev || got.Go != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("strata version --json: %+v", got)
	}
	if abis := got.ABI["strata"]; len(abis) != 1 || abis[0] != "strata_v1" {
		t.Fatalf("plugin ABIs %v, want [strata_v1]", got.ABI)
	}
	if pw := got.ABI["proxy-wasm"]; len(pw) != 2 || pw[0] != "proxy_abi_version_0_2_0" || pw[1] != "proxy_abi_version_0_2_1" {
		t.Fatalf("Proxy-Wasm ABIs %v, want the 0.2.0 and 0.2.1 markers", got.ABI)
	}
}

// TestVersion_BadArgs: anything but --json is a usage error.
func TestVersion_BadArgs(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version", "--yaml"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage: strata version") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestSystemdUnit_Verifies runs systemd-analyze verify over the unit, with
// the binary under test in place of /usr/local/bin/strata (verify checks
// that the commands exist). Any warning fails the test: systemd ignores an
// unknown key or a bad value with a warning and exit status 0.
func TestSystemdUnit_Verifies(t *testing.T) {
	unit, err := os.ReadFile("../../dist/systemd/strata.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nType=notify\n", "\nExecReload=/usr/local/bin/strata reload --pidfile /run/strata/strata.pid\n", "\nExecStart=/usr/local/bin/strata run --pidfile /run/strata/strata.pid -c /etc/strata/strata.yaml\n", "\nUser=strata\n", "\nNoNewPrivileges=yes\n", "\nNotifyAccess=all\n"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd): the unit is not verified")
	}
	path := filepath.Join(t.TempDir(), "strata.service")
	writeFile(t, path, strings.ReplaceAll(string(unit), "/usr/local/bin/strata", strataBin))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The unit's ExecStartPre is a real `strata check` command line.
	cfg := filepath.Join(t.TempDir(), "strata.yaml")
	writeFile(t, cfg, string(mustRead(t, "../../examples/configs/demo.yaml")))
	for _, line := range strings.Split(string(unit), "\n") {
		if pre, ok := strings.CutPrefix(line, "ExecStartPre=/usr/local/bin/strata "); ok {
			args := strings.Fields(strings.ReplaceAll(pre, "/etc/strata/strata.yaml", cfg))
			if out, err := exec.Command(strataBin, args...).CombinedOutput(); err != nil {
				t.Fatalf("ExecStartPre strata %v: %v\n%s", args, err, out)
			}
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// notifySocket is a unixgram socket standing in for systemd's: it collects
// the sd_notify datagrams of the strata it is given to.
type notifySocket struct {
	conn *net.UnixConn
	env  string // NOTIFY_SOCKET=…
}

func listenNotify(t *testing.T, abstract bool) *notifySocket {
	t.Helper()
	// A short directory: a socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	name := filepath.Join(dir, "notify")
	env := name
	if abstract {
		env = "@" + name
		name = "\x00" + name
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &notifySocket{conn: c, env: "NOTIFY_SOCKET=" + env}
}

// next returns the next datagram's assignments.
func (n *notifySocket) next(t *testing.T) map[string]string {
	t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	k, err := n.conn.Read(buf)
	if err != nil {
		t.Fatalf("no sd_notify datagram: %v", err)
	}
	return parseNotify(t, buf[:k])
}

// parseNotify reads the assignments of one sd_notify datagram.
func parseNotify(t *testing.T, b []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if key, val, ok := strings.Cut(sc.Text(), "="); ok {
			m[key] = val
		} else {
			t.Fatalf("datagram line %q is not KEY=VALUE", sc.Text())
		}
	}
	return m
}

// TestSdNotify_ReadyReloadStop runs the real binary with NOTIFY_SOCKET
// set to a real unixgram socket, as systemd does for Type=notify: READY=1
// with its pid comes once the frontend accepts; a SIGHUP reload is framed
// by RELOADING=1 and READY=1, a failed one too (the old configuration
// keeps serving) with a STATUS that says so; SIGTERM sends STOPPING=1.
func TestSdNotify_ReadyReloadStop(t *testing.T) {
	for _, tc := range []struct {
		name     string
		abstract bool
	}{
		{name: "path", abstract: false},
		{name: "abstract", abstract: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startUpstream(t, "s1")
			ns := listenNotify(t, tc.abstract)
			p := startStrataWith(t, proxyConfig(up.addr, "5s", ""), false, func(name string, args ...string) *exec.Cmd {
				cmd := exec.Command(name, args...)
				cmd.Env = append(os.Environ(), ns.env)
				return cmd
			})
			m := ns.next(t)
			if m["READY"] != "1" || m["MAINPID"] != strconv.Itoa(p.cmd.Process.Pid) {
				t.Fatalf("first datagram %v, want READY=1 MAINPID=%d", m, p.cmd.Process.Pid)
			}
			c, err := net.Dial("tcp", p.web)
			if err != nil {
				t.Fatalf("READY=1 sent before the frontend accepts: %v", err)
			}
			c.Close()

			p.signal(t, syscall.SIGHUP)
			if m := ns.next(t); m["RELOADING"] != "1" {
				t.Fatalf("after SIGHUP: %v, want RELOADING=1", m)
			}
			if m := ns.next(t); m["READY"] != "1" || m["STATUS"] != "serving" {
				t.Fatalf("after the reload: %v, want READY=1 STATUS=serving", m)
			}

			writeFile(t, p.config, "frontends: { web: { bind: [] } }\n")
			p.signal(t, syscall.SIGHUP)
			if m := ns.next(t); m["RELOADING"] != "1" {
				t.Fatalf("after SIGHUP: %v, want RELOADING=1", m)
			}
			if m := ns.next(t); m["READY"] != "1" || !strings.Contains(m["STATUS"], "reload failed") {
				t.Fatalf("after a failed reload: %v, want READY=1 and a STATUS that says it failed", m)
			}

			p.signal(t, syscall.SIGTERM)
			if m := ns.next(t); m["STOPPING"] != "1" {
				t.Fatalf("after SIGTERM: %v, want STOPPING=1", m)
			}
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit status %d:\n%s", code, p.stderr.String())
			}
		})
	}
}

// dockerInstr is one instruction of a Dockerfile: its keyword (upper
// case), its arguments with continuations joined, and its line.
type dockerInstr struct {
	cmd, args string
	line      int
}

// dockerStage is one FROM … and the instructions under it.
type dockerStage struct {
	from, name string
	instrs     []dockerInstr
}

// parseDockerfile splits a Dockerfile into stages. It knows what the
// checks below need: comments, backslash continuations, FROM … AS name.
func parseDockerfile(t *testing.T, text string) []*dockerStage {
	t.Helper()
	var stages []*dockerStage
	var cur strings.Builder
	start := 0
	lines := strings.Split(text, "\n")
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasPrefix(line, "#") { // a comment inside a continued instruction
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := &dockerStage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before FROM", in.line, in.cmd)
			}
			continue
		}
		st := stages[len(stages)-1]
		st.instrs = append(st.instrs, in)
	}
	return stages
}

// all returns the arguments of the stage's instructions named cmd.
func (s *dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// TestDockerfile_Lint checks the Dockerfile's instructions: a multi-stage
// build whose build stage compiles with CGO_ENABLED=0 (a static binary,
// since the final image has no libc) and stamps the version, and whose
// final stage copies the binary from it, runs as a non-root user, has
// the configuration and plugin directories as volumes, exposes the
// configuration's port and starts strata on a configuration it holds.
// The image is built and run when a Docker daemon answers; here that is
// skipped with the reason.
func TestDockerfile_Lint(t *testing.T) {
	stages := parseDockerfile(t, string(mustRead(t, "../../Dockerfile")))
	if len(stages) < 2 {
		t.Fatalf("%d stage(s): want a multi-stage build", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if build.name == "" {
		t.Fatal("the build stage has no name (FROM … AS build)")
	}
	buildText := strings.Join(append(build.all("ENV"), build.all("RUN")...), "\n")
	if !strings.Contains(buildText, "CGO_ENABLED=0") {
		t.Error("the build stage does not set CGO_ENABLED=0: the binary would need libc")
	}
	if !strings.Contains(buildText, "-X main.version=") || !strings.Contains(buildText, "-X main.commit=") {
		t.Error("the build does not stamp the version and commit (-ldflags -X main.version=… -X main.commit=…)")
	}
	if !strings.Contains(buildText, "./cmd/strata") {
		t.Error("the build stage does not build ./cmd/strata")
	}

	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("the final stage has no USER: it would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1], ":")
	if user == "root" || user == "0" {
		t.Fatalf("the final stage runs as %q", users[len(users)-1])
	}
	fromBuild := false
	for _, c := range final.all("COPY") {
		if strings.Contains(c, "--from="+build.name) && strings.Contains(c, "/usr/local/bin/strata") {
			fromBuild = true
		}
	}
	if !fromBuild {
		t.Errorf("the final stage does not copy the binary from stage %q", build.name)
	}
	volumes := strings.Join(final.all("VOLUME"), " ")
	for _, v := range []string{`"/etc/strata"`, `"/usr/lib/strata/plugins"`} {
		if !strings.Contains(volumes, v) {
			t.Errorf("no VOLUME %s (volumes: %s)", v, volumes)
		}
	}
	if !strings.Contains(strings.Join(final.all("EXPOSE"), " "), "8080") {
		t.Error("the final stage does not EXPOSE 8080, the port of its configuration")
	}
	entry, cmd := final.all("ENTRYPOINT"), final.all("CMD")
	if len(entry) == 0 || !strings.Contains(entry[0], "/usr/local/bin/strata") || len(cmd) == 0 || !strings.Contains(cmd[0], `"/etc/strata/strata.yaml"`) {
		t.Fatalf("ENTRYPOINT %v CMD %v: want strata run -c /etc/strata/strata.yaml", entry, cmd)
	}

	// The image's configuration is the built-in one with the bind moved
	// from 127.0.0.1 (unreachable from outside a container) to every
	// address; the substitution must still find its text, and the result
	// must pass strata check.
	def := string(mustRead(t, "../../core/config/default.yaml"))
	if !strings.Contains(buildText, `sed 's/127\.0\.0\.1:8080/:8080/' core/config/default.yaml`) || !strings.Contains(def, "127.0.0.1:8080") {
		t.Fatal("the image's configuration is no longer the built-in one with bind :8080: update the Dockerfile and this test together")
	}
	cfg := filepath.Join(t.TempDir(), "strata.yaml")
	writeFile(t, cfg, strings.ReplaceAll(def, "127.0.0.1:8080", ":8080"))
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", cfg}, &out, &errb); code != 0 {
		t.Fatalf("the image's configuration fails strata check: %s", errb.String())
	}

	t.Run("build", func(t *testing.T) {
		docker, err := exec.LookPath("docker")
		if err != nil {
			t.Skip("no docker client: the image is not built")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, docker, "info").CombinedOutput(); err != nil {
			t.Skipf("no Docker daemon answers (%v: %s): the image is not built", err, lastLine(out))
		}
		tag := "strata-test:" + strconv.Itoa(os.Getpid())
		bctx, bcancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer bcancel()
		if out, err := exec.CommandContext(bctx, docker, "build", "--build-arg", "VERSION=9.9.9-image", "-t", tag, "../..").CombinedOutput(); err != nil {
			t.Fatalf("docker build: %v\n%s", err, out)
		}
		defer exec.Command(docker, "rmi", "-f", tag).Run()
		out, err := exec.CommandContext(ctx, docker, "run", "--rm", tag, "version", "--json").Output()
		if err != nil {
			t.Fatalf("docker run: %v", err)
		}
		var bi buildInfo
		if err := json.Unmarshal(out, &bi); err != nil || bi.Version != "9.9.9-image" {
			t.Fatalf("strata version --json in the image: %s (%v)", out, err)
		}
		out, err = exec.CommandContext(ctx, docker, "run", "--rm", "--entrypoint", "/usr/local/bin/strata", tag, "check", "-c", "/etc/strata/strata.yaml").CombinedOutput()
		if err != nil {
			t.Fatalf("strata check in the image: %v\n%s", err, out)
		}
	})
}

// lastLine is the last line of a command's output, where docker says why.
func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	return s[strings.LastIndexByte(s, '\n')+1:]
}
