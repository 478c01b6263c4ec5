package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/bus"
	"github.com/mtsfarm/mtsfarm/internal/bus/bustest"
	"github.com/mtsfarm/mtsfarm/proto"
)

func TestPublishRefusesInvalidMessages(t *testing.T) {
	_, _, js := bustest.Start(t)
	bad := fetchTask(0)
	bad.URL = "ftp://example.com/x.mp4"
	err := bus.Publish(context.Background(), js, proto.FetchSubject("j1"), bad, "")
	if !errors.Is(err, proto.ErrInvalid) || !strings.Contains(err.Error(), "publishing mtsfarm.v1.fetch_task to mtsfarm.fetch.j1") {
		t.Errorf("Publish of an invalid task: %v, want an ErrInvalid that names the type and subject", err)
	}
	if n := bustest.StreamMsgs(t, js, proto.StreamFetch); n != 0 {
		t.Errorf("%d messages in the stream after refusing an invalid one", n)
	}
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	_, _, js := bustest.Start(t)
	ctx := context.Background()
	id := proto.MsgID("j1", proto.FetchMedia, 0, 0)
	for range 2 {
		if err := bus.Publish(ctx, js, proto.FetchSubject("j1"), fetchTask(0), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := bus.Publish(ctx, js, proto.FetchSubject("j1"), fetchTask(0), proto.MsgID("j1", proto.FetchMedia, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if n := bustest.StreamMsgs(t, js, proto.StreamFetch); n != 2 {
		t.Errorf("%d messages after publishing generation 0 twice and generation 1 once, want 2", n)
	}
	s, _ := js.Stream(ctx, proto.StreamFetch)
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != id {
		t.Errorf("Nats-Msg-Id %q, want %q", got, id)
	}
	got, err := bus.Decode[proto.FetchTask](m.Data)
	if err != nil || !reflect.DeepEqual(got, fetchTask(0)) {
		t.Errorf("stored message decodes to %+v, %v", got, err)
	}
}

func TestDecodeRejectsWrongInput(t *testing.T) {
	task, _ := json.Marshal(fetchTask(1))
	tests := []struct {
		name string
		data string
		want string
	}{
		{"wrong type", string(task), `decoding mtsfarm.v1.render_unit: invalid message: type is "mtsfarm.v1.fetch_task", want "mtsfarm.v1.render_unit"`},
		{"not JSON", "hello", "decoding mtsfarm.v1.render_unit: invalid message: invalid character"},
		{"null", "null", `decoding mtsfarm.v1.render_unit: invalid message: type is "", want`},
		{"array", "[1]", "decoding mtsfarm.v1.render_unit: invalid message: json: cannot unmarshal array"},
	}
	for _, tc := range tests {
		_, err := bus.Decode[proto.RenderUnit]([]byte(tc.data))
		if !errors.Is(err, proto.ErrInvalid) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: Decode: %v\nwant an ErrInvalid starting %q", tc.name, err, tc.want)
		}
	}
	if _, err := bus.Decode[*proto.FetchTask]([]byte("null")); !errors.Is(err, proto.ErrInvalid) ||
		!strings.Contains(err.Error(), "decoding mtsfarm.v1.fetch_task") {
		t.Errorf("Decode of null into a pointer type: %v", err)
	}
	got, err := bus.Decode[*proto.FetchTask](task)
	if err != nil || got.Index != 1 {
		t.Errorf("Decode into a pointer type: %+v, %v", got, err)
	}
}
