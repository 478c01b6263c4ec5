package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

// hostileTitle is a webinar title a page must show as text.
const hostileTitle = `Лекция <img src=x onerror="window.pwned=1"><script>window.pwned=2</script> & "Q&A"`

// TestE2EDashboard opens the dashboard of `mtsfarm run --http` (no URL: the
// farm serves until stopped) in a real headless Chromium, unlocks it with
// the token, submits the demo webinar (titled with markup and a script)
// from the page, watches the job move to done without reloading the page,
// opens the job's page and its timeline, downloads the output and saves
// screenshots (MTSFARM_SCREENSHOT_DIR, default a temp dir; the path is
// logged).
func TestE2EDashboard(t *testing.T) {
	e2eTools(t, "ffmpeg", "ffprobe")
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (scripts/test.sh installs it): %v", err)
	}
	sc := e2eScenario(t, "demo.json")
	sc.Webinars[0].Name = hostileTitle
	fake := mtstest.Start(t, sc)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	farmCtx, stopFarm := context.WithCancel(ctx)
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(farmCtx, &cli{stdout: io.Discard, stderr: &stderr, getenv: e2eEnv(nil)},
			[]string{"run", "--http", "127.0.0.1:0", "--http-token", "t0ken-for-the-test", "--data-dir", t.TempDir(),
				"--mts-base-url", fake.URL, "--log-level", "warn"})
	}()
	defer func() {
		stopFarm()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("mtsfarm run --http exited %d:\n%s", code, tailLines(stderr.String(), 30))
			}
		case <-time.After(60 * time.Second):
			t.Errorf("mtsfarm run --http did not stop within 60 s of Ctrl-C")
		}
	}()
	addrRe := regexp.MustCompile(`dashboard at (http://\S+/)`)
	var base string
	for deadline := time.Now().Add(60 * time.Second); base == ""; {
		if m := addrRe.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard did not start:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	// The first action starts the browser, for as long as bctx lives (no
	// timeout on it: that would stop the browser).
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", browser, err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 90*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v\nfarm log:\n%s", what, err, tailLines(stderr.String(), 30))
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s on the page: %v", sel, err)
		}
		return s
	}
	num := func(expr string) float64 {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[float64](expr))
		if err != nil {
			t.Fatalf("evaluating %s on the page: %v", expr, err)
		}
		return v
	}
	// The page's requests for the job list, from the browser's resource
	// timing: events drive reloads, at most one a second, never a poll
	// per event.
	const listCount = `performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/jobs')).length`
	do("opening the dashboard and unlocking it",
		chromedp.Navigate(base),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(`#workers tr[data-worker="renderer-local"]`)))
	if n := num(`document.querySelector('#submit').offsetParent === null ? 0 : 1`); n != 0 {
		t.Errorf("the submit form shows before the token is given")
	}
	do("unlocking the actions with the token",
		chromedp.SendKeys(chromedp.CSS("#token"), "t0ken-for-the-test"),
		chromedp.Click(chromedp.CSS("#login button")),
		chromedp.WaitVisible(chromedp.CSS("#submit")))
	num(`performance.setResourceTimingBufferSize(100000), window.__sameDocument = 42`)
	if mode := text("#mode"); mode != "actions on" {
		t.Errorf("after the token the page says %q, want \"actions on\"", mode)
	}
	start := time.Now()
	listBefore := num(listCount)
	do("submitting the demo webinar from the page",
		chromedp.SendKeys(chromedp.CSS("#urls"), fake.RecordingURL(0)),
		chromedp.Click(chromedp.CSS("#submit button")),
		chromedp.WaitVisible(chromedp.CSS("#jobs tr[data-job]")))

	seen := map[string]bool{}
	var order []string
	for {
		st, err := chromedp.Run(bctx, chromedp.Evaluate[string](
			`(document.querySelector('#jobs tr[data-job]') || {dataset: {}}).dataset.state || ''`))
		if err != nil {
			t.Fatalf("reading the job's state on the page: %v", err)
		}
		if st != "" && !seen[st] {
			seen[st] = true
			order = append(order, st)
		}
		if st == "done" || st == "failed" || st == "canceled" {
			break
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("the job did not end on the page within 5 minutes (states seen: %v)\n%s", order, tailLines(stderr.String(), 30))
		}
		time.Sleep(150 * time.Millisecond)
	}
	took := time.Since(start)
	lists := num(listCount) - listBefore
	t.Logf("states the page showed, live: %v in %s; %v job-list requests", order, took.Round(time.Second), lists)
	if !seen["done"] {
		t.Fatalf("the job ended %v, want done\n%s", order, tailLines(stderr.String(), 30))
	}
	if len(order) < 3 {
		t.Errorf("the page showed only %v: it did not follow the job live", order)
	}
	if lists > took.Seconds()+5 {
		t.Errorf("the page asked for the job list %v times in %s: reloads are not coalesced", lists, took.Round(time.Second))
	}
	same := num(`window.__sameDocument || 0`)
	title, live := text("#jobs tr[data-job] a.job-link"), text("#live")
	imgs, pwned := num(`document.querySelectorAll('img, #jobs script').length`), num(`window.pwned || 0`)
	if same != 42 {
		t.Errorf("the page was reloaded while the job ran; it must update in place")
	}
	if live != "live" {
		t.Errorf("the live badge says %q, want live", live)
	}
	if title != hostileTitle || imgs != 0 || pwned != 0 {
		t.Errorf("the hostile title was not shown as text: %q, %v injected elements, pwned=%v", title, imgs, pwned)
	}

	do("opening the job's page and its timeline",
		chromedp.Click(chromedp.CSS("#jobs tr[data-job] a.job-link")),
		chromedp.WaitVisible(chromedp.CSS("#timeline .window")),
		chromedp.WaitVisible(chromedp.CSS("#download")))
	jobTitle := text("#job-title")
	windows, units := num(`document.querySelectorAll('#timeline .window').length`), num(`document.querySelectorAll('#timeline .unit').length`)
	doneUnits := num(`document.querySelectorAll('#timeline .unit[data-state=done]').length`)
	slideTicks := num(`document.querySelectorAll('#timeline .slide-tick').length`)
	imgs = num(`document.querySelectorAll('img, #job-view script').length`)
	href, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('#download').href`))
	if err != nil {
		t.Fatal(err)
	}
	if jobTitle != hostileTitle || imgs != 0 {
		t.Errorf("the job page shows the title %q with %v injected elements", jobTitle, imgs)
	}
	layouts, err := chromedp.Run(bctx, chromedp.Evaluate[string](
		`[...new Set([...document.querySelectorAll('#timeline .window')].map(w => w.dataset.layout))].sort().join(' ')`))
	if err != nil {
		t.Fatal(err)
	}
	// The demo's plan (coordinator/plan/testdata/scenario-demo-0.plan.json):
	// single, then slides, the screen share over them, slides, single; 3
	// slide changes; one unit.
	if windows < 5 || layouts != "presenter single slides" || units != 1 || doneUnits != units || slideTicks != 3 {
		t.Errorf("timeline: %v layout windows (%s), %v units (%v done), %v slide changes; want at least 5 windows of presenter, single and slides, 1 unit done, 3 slide changes",
			windows, layouts, units, doneUnits, slideTicks)
	}
	dir := os.Getenv("MTSFARM_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mtsfarm-dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	page, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot of the job page: %v", err)
	}
	tl, err := chromedp.Run(bctx, chromedp.Screenshot(chromedp.CSS("#timeline")))
	if err != nil {
		t.Fatalf("screenshot of the timeline: %v", err)
	}
	for name, b := range map[string][]byte{"dashboard-job.png": page, "dashboard-timeline.png": tl} {
		if len(b) < 1000 {
			t.Errorf("screenshot %s is %d bytes", name, len(b))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots: %s, %s", filepath.Join(dir, "dashboard-job.png"), filepath.Join(dir, "dashboard-timeline.png"))

	resp, err := http.Get(href)
	if err != nil {
		t.Fatalf("downloading the output from the page's link: %v", err)
	}
	defer resp.Body.Close()
	head := make([]byte, 12)
	_, err = io.ReadFull(resp.Body, head)
	if resp.StatusCode != 200 || err != nil || string(head[4:8]) != "ftyp" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Errorf("download: %s, %q, %v, disposition %q", resp.Status, head, err, resp.Header.Get("Content-Disposition"))
	}
}
