package plan

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
	"github.com/mtsfarm/mtsfarm/proto"
)

// TestPlanScenarios plans the flow of every webinar of every bundled
// scenario (scripts/scenarios, as the fake MTS Link serves it), first from
// the flow alone and then with the probes and missing files the fetchers
// would report, and compares the final plan with
// testdata/scenario-NAME-I.plan.json (-update rewrites them).
func TestPlanScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(mtstest.ScenarioDir(), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bundled scenarios in %s: %v", mtstest.ScenarioDir(), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			sc, err := mtstest.LoadScenario(file)
			if err != nil {
				t.Fatal(err)
			}
			srv, err := mtstest.New(sc, mtstest.Options{CacheDir: t.TempDir(), BaseURL: "http://mts.test"})
			if err != nil {
				t.Fatal(err)
			}
			for i := range sc.Webinars {
				flow, err := mts.DecodeFlow(srv.Flow(i, true))
				if err != nil {
					t.Fatalf("webinar %d: %v", i, err)
				}
				first, err := Plan(flow, Options{})
				if err != nil {
					t.Fatalf("webinar %d (%s) before probing: %v", i, flow.Name, err)
				}
				checkInvariants(t, flow, Options{}, first)
				opts := fetchedOptions(first, srv.Chunks(i), srv.Slides(i))
				p, err := Plan(flow, opts)
				if err != nil {
					t.Fatalf("webinar %d (%s) after probing: %v", i, flow.Name, err)
				}
				checkInvariants(t, flow, opts, p)
				if !p.GeometryKnown {
					t.Errorf("webinar %d: every session is probed or absent, yet the geometry is not known", i)
				}
				checkScenarioShapes(t, i, p, srv.Chunks(i))
				compareGolden(t, fmt.Sprintf("scenario-%s-%d", name, i), marshalPlan(t, p))
			}
		})
	}
}

// fetchedOptions builds the probes and absences the fetchers would report
// for the fake server's chunks: the HLS variant when the chunk has one (it
// is preferred), else the direct mp4; a "missing" fault makes the media or
// slide absent.
func fetchedOptions(p *proto.Plan, chunks []mtstest.Chunk, slides []mtstest.SlideInfo) Options {
	byURL := map[string]string{}
	for _, s := range p.Sessions {
		byURL[s.URL] = s.ID
	}
	opts := Options{Probes: map[string]proto.MediaInfo{}, Absent: map[string]string{}, AbsentSlides: map[string]string{}}
	for _, c := range chunks {
		id, ok := byURL[c.URL]
		if !ok {
			continue
		}
		if slices.Contains(c.Faults, mtstest.FaultMissing) {
			opts.Absent[id] = "HTTP 404"
			continue
		}
		video, audio := c.DirectVideo, c.DirectAudio
		if c.HLSURL != "" {
			video, audio = c.HLSVideo, c.HLSAudio
		}
		mi := proto.MediaInfo{Duration: c.Duration, Size: 1, HasVideo: video, HasAudio: audio}
		if video {
			mi.Width, mi.Height = c.Width, c.Height
		}
		opts.Probes[id] = mi
	}
	for _, s := range slides {
		if slices.Contains(s.Faults, mtstest.FaultMissing) {
			opts.AbsentSlides[s.URL] = "HTTP 404"
		}
	}
	return opts
}

// checkScenarioShapes checks what the scenario says directly: chunks of
// screenshare kind are screenshares, audio-kind chunks are audio tracks.
func checkScenarioShapes(t *testing.T, i int, p *proto.Plan, chunks []mtstest.Chunk) {
	t.Helper()
	kinds := map[string]string{}
	for _, s := range p.Sessions {
		kinds[s.URL] = s.Kind
	}
	for _, c := range chunks {
		k, ok := kinds[c.URL]
		if !ok || slices.Contains(c.Faults, mtstest.FaultMissing) {
			continue
		}
		switch {
		case c.Kind == mtstest.KindScreenshare && k != proto.SourceScreenshare,
			c.Kind == mtstest.KindAudio && k != proto.SourceAudio:
			t.Errorf("webinar %d: chunk %s (%s) planned as %s", i, c.SessionID, c.Kind, k)
		}
	}
}
