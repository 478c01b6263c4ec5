package plan

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// FuzzPlan plans arbitrary flow JSON (with arbitrary probes) and requires a
// plan that passes every invariant, or an error wrapping one of the planner's
// sentinels: never a panic, never an inconsistent plan.
//
//	go test ./coordinator/plan -run '^$' -fuzz FuzzPlan -fuzztime 60s
func FuzzPlan(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.flow.json"))
	for _, file := range files {
		flow, _ := os.ReadFile(file)
		probes := []byte("{}")
		if o, err := os.ReadFile(file[:len(file)-len(".flow.json")] + ".options.json"); err == nil {
			var fo fixtureOptions
			if json.Unmarshal(o, &fo) == nil && fo.Probes != nil {
				probes, _ = json.Marshal(fo.Probes)
			}
		}
		f.Add(flow, probes, uint16(1800))
	}
	f.Add([]byte(`{"name":"x","duration":10,"eventLogs":[{"module":"mediasession.add","relativeTime":-1e308,"data":{"id":1,"url":"u"}}]}`), []byte(`{"1":{"duration":1e300,"has_audio":true}}`), uint16(1))
	f.Add([]byte(`{"name":"x","duration":1e-9,"eventLogs":[{"module":"mediasession.add","data":[{"id":"a","url":"u"},{"id":"a","url":"v"}]}]}`), []byte(`{}`), uint16(0))
	f.Add([]byte(`{"name":"x","duration":"90","eventLogs":[{"module":"presentation.update","relativeTime":"5","data":{"fileReference":{"slide":{"url":"s","number":1e300}}}},{"module":"x","data":{"url":"m"}}]}`), []byte(`null`), uint16(60))
	f.Fuzz(func(t *testing.T, data, probesJSON []byte, unit uint16) {
		flow, err := mts.DecodeFlow(data)
		if err != nil {
			return
		}
		opts := Options{UnitSeconds: float64(unit)}
		_ = json.Unmarshal(probesJSON, &opts.Probes)
		p, err := Plan(flow, opts)
		if err != nil {
			for _, sentinel := range []error{ErrNoMedia, ErrNoDuration, ErrBadOptions, mts.ErrBadFlow} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("Plan failed without a sentinel: %v", err)
		}
		if errors.Is(p.Validate(), proto.ErrInvalid) {
			t.Fatalf("invalid plan: %v", p.Validate())
		}
		checkInvariants(t, flow, opts, p)
	})
}
