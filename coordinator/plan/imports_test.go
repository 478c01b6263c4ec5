package plan

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepsArePure keeps the planner pure, all the way down: nothing it
// imports, directly or not, may pull in NATS, the object store, logging or
// ffmpeg (`go list -deps ./coordinator/plan`).
func TestDepsArePure(t *testing.T) {
	checkDeps(t, ".", "nats", "minio", "zerolog", "internal/ffmpeg", "internal/blob", "internal/bus")
}

// checkDeps fails when a dependency of pkg contains one of the banned words.
func checkDeps(t *testing.T, pkg string, banned ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.Contains(dep, b) {
				t.Errorf("%s depends on %s (%s is not allowed here)", pkg, dep, b)
			}
		}
	}
}
