package finalize

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepsHaveNoNATS: finalize knows nothing of NATS, the bus or the job
// service (`go list -deps ./coordinator/finalize`).
func TestDepsHaveNoNATS(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "nats") || strings.HasSuffix(dep, "mtsfarm/coordinator") || strings.Contains(dep, "internal/bus") {
			t.Errorf("finalize depends on %s", dep)
		}
	}
}
