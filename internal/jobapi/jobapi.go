// Package jobapi is the client side of the coordinator's job API (the micro
// service "mtsfarm" on mtsfarm.api.*): one request, its reply decoded, a
// coordinator's error reply turned into an error with its text. The CLI's
// client commands and the web dashboard both call it, so a page action and
// `nats req` go through exactly the same API.
package jobapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/mtsfarm/mtsfarm/proto"
)

// ErrNoCoordinator: nothing answers the job API.
var ErrNoCoordinator = errors.New("no coordinator answers")

// Request sends body to an API subject and decodes the reply into out (nil:
// the reply is not read). Without a deadline on ctx it waits 30 s.
func Request(ctx context.Context, nc *nats.Conn, subject string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	msg, err := nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%w on %s: start one (mtsfarm coordinator) or check --nats-url", ErrNoCoordinator, subject)
	}
	if err != nil {
		return fmt.Errorf("asking %s: %w", subject, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		var ae proto.APIError
		if json.Unmarshal(msg.Data, &ae) == nil && ae.Error != "" {
			return &Error{Code: code, Message: ae.Error}
		}
		return &Error{Code: code, Message: fmt.Sprintf("%s (code %s)", msg.Header.Get(micro.ErrorHeader), code)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("reading the answer of %s: %w", subject, err)
	}
	return nil
}

// Error is a coordinator's error reply: Code is the micro error code ("400"
// for a request the user must change, "404" for an unknown job, "500" for
// the farm's own trouble).
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }
