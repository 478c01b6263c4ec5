package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

const specFlow = "../../coordinator/plan/testdata/spec-example.flow.json"

func decodePlan(t *testing.T, out string) proto.Plan {
	t.Helper()
	var p proto.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("plan output is not JSON: %v\n%s", err, out)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("plan output does not validate: %v", err)
	}
	return p
}

func TestPlanCommandFlow(t *testing.T) {
	code, out, errs := runCLI(t, nil, "plan", "--flow", specFlow)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	p := decodePlan(t, out)
	if p.Title != "Лекция 3: Конкурентность в Go" || p.Duration != 5400 || len(p.Units) != 3 || p.Width != 1280 {
		t.Errorf("plan %s %g s, %d units, %dx%d", p.Title, p.Duration, len(p.Units), p.Width, p.Height)
	}
	if !strings.HasPrefix(out, "{\n  \"type\": \"mtsfarm.v1.plan\",") {
		t.Errorf("output is not indented JSON: %.60q", out)
	}

	// Flags and their environment variables.
	code, out, errs = runCLI(t, map[string]string{"MTSFARM_MAX_HEIGHT": "360"}, "plan", "--flow", specFlow, "--unit-seconds", "600")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if p := decodePlan(t, out); len(p.Units) != 9 || p.UnitSeconds != 600 || p.Height != 360 {
		t.Errorf("--unit-seconds 600, MTSFARM_MAX_HEIGHT=360: %d units of %g s, %dx%d", len(p.Units), p.UnitSeconds, p.Width, p.Height)
	}

	// Probes make the geometry known.
	probes := filepath.Join(t.TempDir(), "probes.json")
	os.WriteFile(probes, []byte(`{"a1b2c3": {"duration": 5398.5, "size": 1, "has_video": true, "has_audio": true, "width": 640, "height": 360},
		"d4e5f6": {"duration": 1800, "size": 1, "has_video": true, "width": 1920, "height": 1080}}`), 0o644)
	code, out, errs = runCLI(t, nil, "plan", "--flow", specFlow, "--probes", probes)
	if p := decodePlan(t, out); code != 0 || !p.GeometryKnown || p.Sessions[1].HasAudio {
		t.Errorf("exit %d (%s): with probes, geometry known %v, screenshare audio %v", code, errs, p.GeometryKnown, p.Sessions[1].HasAudio)
	}
}

func TestPlanCommandErrors(t *testing.T) {
	dir := t.TempDir()
	noMedia := filepath.Join(dir, "nomedia.json")
	os.WriteFile(noMedia, []byte(`{"name": "x", "duration": 60, "eventLogs": [{"module": "message.add", "data": {"text": "hi"}}]}`), 0o644)
	noDuration := filepath.Join(dir, "noduration.json")
	os.WriteFile(noDuration, []byte(`{"name": "x", "eventLogs": []}`), 0o644)
	badProbes := filepath.Join(dir, "probes.json")
	os.WriteFile(badProbes, []byte(`[1, 2]`), 0o644)
	cases := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"plan"}, 2, "give --flow FILE or one recording URL"},
		{[]string{"plan", "--flow", specFlow, "https://my.mts-link.ru/1/2/record-new/3"}, 2, "not both"},
		{[]string{"plan", "https://example.com/not-mts"}, 2, "MTS Link"},
		{[]string{"plan", "--flow", filepath.Join(dir, "nope.json")}, 1, "nope.json does not exist"},
		{[]string{"plan", "--flow", noMedia}, 1, "nothing to render"},
		{[]string{"plan", "--flow", noDuration}, 1, "duration"},
		{[]string{"plan", "--flow", specFlow, "--unit-seconds", "0.5"}, 1, "unit seconds"},
		{[]string{"plan", "--flow", specFlow, "--probes", badProbes}, 1, "session id → media info"},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, nil, c.args...)
		if code != c.code || !strings.Contains(errs, c.says) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %.40q; want exit %d saying %q", c.args, code, errs, out, c.code, c.says)
		}
	}
}

// TestPlanCommandURL resolves a recording URL through the MTS client against
// the fake MTS Link server.
func TestPlanCommandURL(t *testing.T) {
	sc, err := mtstest.ParseScenario([]byte(`{"name": "План по ссылке", "duration": 30, "org": 1, "event": 2,
		"event_session_id": 41, "record_file_id": 42, "participants": [{"id": 1, "name": "L", "role": "ADMIN"}],
		"streams": [{"kind": "webcam", "participant": 1, "start": 0, "duration": 30, "color": "#d02020", "tone_hz": 440}],
		"slides": [{"at": 10, "color": "#e0e020"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	fake := mtstest.Start(t, sc)
	code, out, errs := runCLI(t, map[string]string{"MTSFARM_MTS_BASE_URL": fake.URL}, "plan", "--log-level", "error", fake.RecordingURL(0))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	p := decodePlan(t, out)
	if p.Title != "План по ссылке" || p.Duration != 30 || len(p.Sessions) != 1 || len(p.Slides) != 1 {
		t.Errorf("plan %+v", p)
	}
}
