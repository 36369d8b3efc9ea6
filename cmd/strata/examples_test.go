package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/strata-proxy/strata/internal/testsupport"
)

// exampleTasks are the common tasks examples/configs must show, by file.
var exampleTasks = map[string]string{
	"tls-sni.yaml":       "TLS termination with SNI",
	"rate-limit.yaml":    "rate limiting",
	"canary.yaml":        "canary release",
	"websocket.yaml":     "WebSocket",
	"tcp.yaml":           "TCP mode",
	"health-checks.yaml": "health checks",
	"plugins.yaml":       "plugins",
}

// TestExampleConfigsAreValid keeps examples/configs true to the code: every
// example passes `strata check`, and the example of each common task
// exists. An example that loads plugins (file: plugins/NAME.wasm) is
// checked with examples/plugins/NAME built next to a copy of it, as its
// comment tells users to do.
func TestExampleConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configurations found: %v", err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	for file, task := range exampleTasks {
		if !have[file] {
			t.Errorf("examples/configs/%s (%s) is missing", file, task)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			f := withExamplePlugins(t, f)
			var out, errb bytes.Buffer
			if code := run([]string{"check", "-c", f}, &out, &errb); code != 0 {
				t.Fatalf("strata check %s: exit %d\n%s", f, code, errb.String())
			}
			if !strings.Contains(out.String(), "configuration is valid") {
				t.Fatalf("output %q", out.String())
			}
		})
	}
}

// TestCheck_ReportsEveryRuleError: a configuration with several bad rules
// is refused with one line per rule, each naming its path.
func TestCheck_ReportsEveryRuleError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	writeFile(t, path, `
frontends:
  web:
    bind: ["127.0.0.1:0"]
    tcp_request_connection: ["reject if { req.hdr(host) -m found }"]
    http_request: ["deny if { path_beg /x }", "bogus-action", "set-header x %[req.hdrr(a)]"]
    default_backend: app
backends:
  app:
    servers: { s1: { address: "127.0.0.1:1" } }
`)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", path}, &out, &errb); code == 0 {
		t.Fatal("a bad configuration passed check")
	}
	for _, want := range []string{
		`frontends.web.tcp_request_connection[0]: tcp-request connection "reject if { req.hdr(host) -m found }": fetch "req.hdr" needs layer TXN, which does not exist at tcp-request connection (available: CONN|SESS)`,
		`frontends.web.http_request[1]: http-request "bogus-action": unknown action "bogus-action"`,
		`frontends.web.http_request[2]: `,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}
}

// pluginFileRE matches the plugin files of an example configuration.
var pluginFileRE = regexp.MustCompile(`(?m)^\s+file: plugins/([a-z0-9_-]+)\.wasm\s*$`)

// withExamplePlugins returns path, or, when the configuration loads
// plugins/NAME.wasm files, a copy of it in a directory where those are
// built from examples/plugins/NAME.
func withExamplePlugins(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ms := pluginFileRE.FindAllStringSubmatch(string(b), -1)
	if len(ms) == 0 {
		return path
	}
	dir := t.TempDir()
	for _, m := range ms {
		if err := testsupport.BuildPlugin("../..", m[1], filepath.Join(dir, "plugins", m[1]+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	cp := filepath.Join(dir, filepath.Base(path))
	writeFile(t, cp, string(b))
	return cp
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fragmentMark starts a YAML block of the documentation that is only part
// of a configuration; the rest of the line says why it cannot stand alone.
const fragmentMark = "# fragment:"

// docYAMLBlocks returns the ```yaml blocks of the Markdown file at path,
// each with the line it starts on.
func docYAMLBlocks(t *testing.T, path string) (blocks []string, lines []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cur *strings.Builder
	for i, line := range strings.Split(string(b), "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case cur == nil && trimmed == "```yaml":
			cur = &strings.Builder{}
			lines = append(lines, i+2)
		case cur != nil && trimmed == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("%s: a ```yaml block is not closed", path)
	}
	return blocks, lines
}

// TestDocs_YAMLBlocksPassCheck keeps the documentation true to the code:
// every ```yaml block of every Markdown file of the repository passes
// `strata check`, except blocks marked "# fragment: REASON", which are
// skipped with their reason stated.
func TestDocs_YAMLBlocksPassCheck(t *testing.T) {
	var docs []string
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != "../..") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, doc := range docs {
		blocks, lines := docYAMLBlocks(t, doc)
		for i, block := range blocks {
			name := fmt.Sprintf("%s:%d", strings.TrimPrefix(doc, "../../"), lines[i])
			t.Run(name, func(t *testing.T) {
				if first, _, _ := strings.Cut(block, "\n"); strings.HasPrefix(first, fragmentMark) {
					reason := strings.TrimSpace(strings.TrimPrefix(first, fragmentMark))
					if reason == "" {
						t.Fatalf("%q needs a reason", fragmentMark)
					}
					t.Skip("fragment: " + reason)
				}
				path := filepath.Join(t.TempDir(), "block.yaml")
				writeFile(t, path, block)
				var out, errb bytes.Buffer
				if code := run([]string{"check", "-c", path}, &out, &errb); code != 0 {
					t.Fatalf("strata check of the block at %s: exit %d\n%s\nblock:\n%s", name, code, errb.String(), block)
				}
				checked++
			})
		}
	}
	// Counted only for blocks that were checked, so a documentation of
	// fragments alone does not pass for a checked one.
	if checked == 0 {
		t.Fatal("no whole ```yaml configuration found in the documentation: nothing was checked")
	}
}
