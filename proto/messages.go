package proto

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid is wrapped by every validation error: a message that fails
// validation is terminated with the reason, never retried.
var ErrInvalid = errors.New("invalid message")

// Message type names.
const (
	TypeJobSpec       = "mtsfarm.v1.job_spec"
	TypeSubmitRequest = "mtsfarm.v1.submit_request"
	TypeSubmitReply   = "mtsfarm.v1.submit_reply"
	TypeJobRequest    = "mtsfarm.v1.job_request"
	TypeAPIError      = "mtsfarm.v1.error"
	TypeJob           = "mtsfarm.v1.job"
	TypeFetchTask     = "mtsfarm.v1.fetch_task"
	TypeFetchResult   = "mtsfarm.v1.fetch_result"
	TypeRenderUnit    = "mtsfarm.v1.render_unit"
	TypeUnitResult    = "mtsfarm.v1.unit_result"
	TypeFinalizeTask  = "mtsfarm.v1.finalize_task"
	TypeEvent         = "mtsfarm.v1.event"
	TypeWorker        = "mtsfarm.v1.worker"
	TypePlan          = "mtsfarm.v1.plan"
)

// Message is implemented by every wire type.
type Message interface {
	MessageType() string
	Validate() error
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

func checkType(got, want string) error {
	if got != want {
		return invalidf("type is %q, want %q", got, want)
	}
	return nil
}

func finite(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalidf("%s is not a finite number", name)
	}
	return nil
}

func nonNegative(name string, v float64) error {
	if err := finite(name, v); err != nil {
		return err
	}
	if v < 0 {
		return invalidf("%s is negative (%g)", name, v)
	}
	return nil
}

func checkKeyField(name, key string) error {
	if err := ValidKey(key); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
