package proxy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns the path of a Chromium (or Chrome) binary, or skips the
// test saying why there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("headless browser test: skipped in -short mode")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium installed: the stats page test needs a headless browser (apt-get install chromium)")
	return ""
}

// artifactDir is where a test leaves files for people to look at:
// $STRATA_TEST_ARTIFACTS when set (CI keeps it), else the test's
// temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("STRATA_TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestStatsPage_Browser loads the admin listener's stats page in headless
// Chromium: the page reads the servers' table through the runtime API
// with the token given in the address, a press on a server's drain button
// drains it (as GET of the server through the API shows), and the page
// shows the new state after it refreshes.
func TestStatsPage_Browser(t *testing.T) {
	bin := chromium(t)
	_, vars := startUpstreams(t, []string{"s1", "s2"})
	p := startProxy(t, backendConfig(`
    health_check: { type: tcp, interval: 100ms, timeout: 2s, rise: 1, fall: 1 }
    servers:
      s1: { address: "{{s1}}" }
      s2: { address: "{{s2}}" }
`), vars)
	api := startAdmin(t, p)
	cl := dial(t, p.addr("web"), "")
	for range 4 {
		if r := cl.get(t, "/"); r.status != 200 {
			t.Fatalf("GET /: %+v", r)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	type row struct {
		Backend, Server, Status, State string
		Requests                       string
	}
	readRows := chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll("tr.server")).map(r => ({
		Backend: r.dataset.backend, Server: r.dataset.server,
		Status: r.querySelector("td.status").textContent, State: r.querySelector("td.state").textContent,
		Requests: r.children[12].textContent}))`)
	err := chromedp.Do(ctx,
		chromedp.Navigate(api.base+"/stats#token=tok"),
		chromedp.WaitVisible(chromedp.CSS(`tr.server[data-backend="app"][data-server="s2"]`)),
	)
	if err != nil {
		t.Fatalf("loading the stats page: %v", err)
	}
	rows, err := chromedp.Run(ctx, readRows)
	if err != nil {
		t.Fatalf("reading the servers' table: %v", err)
	}
	if len(rows) != 2 || rows[0].Server != "s1" || rows[1].Server != "s2" {
		t.Fatalf("server rows: %+v", rows)
	}
	for _, r := range rows {
		if r.Backend != "app" || r.Status != "UP" || r.State != "ready" || r.Requests != "2" {
			t.Errorf("row %+v, want app UP ready with 2 requests", r)
		}
	}

	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`tr.server[data-server="s2"] button[data-action="drain"]`)),
		// The page reloads its data once the API has answered the PUT.
		chromedp.WaitVisible(chromedp.CSS(`tr.server[data-server="s2"].st-DRAIN`)),
	)
	if err != nil {
		t.Fatalf("pressing drain: %v", err)
	}
	if rows, err = chromedp.Run(ctx, readRows); err != nil {
		t.Fatalf("reading the servers' table: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(artifactDir(t), "stats-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	var s ServerStats
	if code := api.call(t, "GET", "/v1/backends/app/servers/s2", "", &s); code != 200 || s.State != "drain" || s.Summary != "DRAIN" {
		t.Fatalf("GET s2 through the API after drain was pressed: %d %+v", code, s)
	}
	if len(rows) != 2 || rows[1].Status != "DRAIN" || rows[1].State != "drain" || rows[0].Status != "UP" {
		t.Errorf("rows after drain: %+v", rows)
	}
}
