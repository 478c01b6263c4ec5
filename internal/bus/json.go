package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/mtsfarm/mtsfarm/proto"
	"github.com/nats-io/nats.go/jetstream"
)

// Publish validates msg, encodes it as JSON and publishes it to subject,
// waiting for the stream's ack. A message that fails validation is never
// published. A non-empty msgID becomes the Nats-Msg-Id header, so the stream
// drops a republished copy within its duplicate window.
func Publish(ctx context.Context, js jetstream.JetStream, subject string, msg proto.Message, msgID string) error {
	if err := msg.Validate(); err != nil {
		return fmt.Errorf("publishing %s to %s: %w", msg.MessageType(), subject, err)
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("publishing %s to %s: encoding: %w", msg.MessageType(), subject, err)
	}
	var opts []jetstream.PublishOpt
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	if _, err := js.Publish(ctx, subject, data, opts...); err != nil {
		return fmt.Errorf("publishing %s to %s: %w", msg.MessageType(), subject, err)
	}
	return nil
}

// Decode decodes a JSON message of type T and validates it. Every error wraps
// proto.ErrInvalid and names the expected type, so a worker terminates the
// message with that reason instead of retrying it.
func Decode[T proto.Message](data []byte) (T, error) {
	var v T
	want := messageType[T]()
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decoding %s: %w: %w", want, proto.ErrInvalid, err)
	}
	if rv := reflect.ValueOf(&v).Elem(); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return v, fmt.Errorf("decoding %s: %w: the message is null", want, proto.ErrInvalid)
	}
	if err := v.Validate(); err != nil {
		return v, fmt.Errorf("decoding %s: %w", want, err)
	}
	return v, nil
}

// messageType is T's type name, also when T is a pointer type whose zero
// value is nil.
func messageType[T proto.Message]() string {
	var v T
	rt := reflect.TypeOf(&v).Elem()
	if rt.Kind() == reflect.Pointer {
		if m, ok := reflect.New(rt.Elem()).Interface().(proto.Message); ok {
			return m.MessageType()
		}
		return rt.String()
	}
	return v.MessageType()
}
