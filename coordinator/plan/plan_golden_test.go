package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden plans in testdata")

// fixtureOptions is the optional NAME.options.json next to a flow fixture.
type fixtureOptions struct {
	UnitSeconds  float64                    `json:"unit_seconds"`
	MaxHeight    int                        `json:"max_height"`
	Probes       map[string]proto.MediaInfo `json:"probes"`
	Absent       map[string]string          `json:"absent"`
	AbsentSlides map[string]string          `json:"absent_slides"`
}

// loadFixture reads testdata/NAME.flow.json and its options.
func loadFixture(t testing.TB, name string) (*mts.Flow, Options) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".flow.json"))
	if err != nil {
		t.Fatal(err)
	}
	flow, err := mts.DecodeFlow(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var fo fixtureOptions
	if data, err := os.ReadFile(filepath.Join("testdata", name+".options.json")); err == nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fo); err != nil {
			t.Fatalf("%s options: %v", name, err)
		}
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return flow, Options{UnitSeconds: fo.UnitSeconds, MaxHeight: fo.MaxHeight, Probes: fo.Probes,
		Absent: fo.Absent, AbsentSlides: fo.AbsentSlides}
}

func fixtureNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.flow.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no flow fixtures: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".flow.json"))
	}
	return names
}

func marshalPlan(t testing.TB, p *proto.Plan) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPlanGolden plans every flow fixture and compares the plan with
// testdata/NAME.plan.json (go test ./coordinator/plan -run Golden -update
// rewrites them). Every golden plan also passes the invariant checks.
func TestPlanGolden(t *testing.T) {
	for _, name := range fixtureNames(t) {
		t.Run(name, func(t *testing.T) {
			flow, opts := loadFixture(t, name)
			p, err := Plan(flow, opts)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			checkInvariants(t, flow, opts, p)
			compareGolden(t, name, marshalPlan(t, p))
		})
	}
}

// compareGolden compares a marshaled plan with testdata/NAME.plan.json,
// or rewrites that file with -update.
func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name+".plan.json")
	if *updateGolden {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./coordinator/plan -run 'Golden|Scenarios' -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("plan differs from %s (rerun with -update and review the diff):\n%s", golden, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line with a little context.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			from := max(0, i-3)
			ctx := strings.Join(gl[from:min(i, len(gl))], "\n")
			return ctx + "\n- " + w + "\n+ " + g
		}
	}
	return ""
}
