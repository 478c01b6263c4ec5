package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var t0 = time.Date(2026, 3, 24, 10, 0, 0, 0, time.UTC)

func sampleUnit() RenderUnit {
	return RenderUnit{
		Type: TypeRenderUnit, Job: "j1", Index: 0, Generation: 0, Start: 0, End: 60,
		Width: 1280, Height: 720, FPS: 25, Encoding: DefaultEncoding(),
		Sources: []UnitSource{
			{ID: "a1", Kind: SourceWebcam, Key: MediaKey("https://x/a1.mp4", "mp4"), Offset: 0, At: 0, Duration: 60,
				HasVideo: true, HasAudio: true, Width: 640, Height: 360, SampleRate: 48000},
			{ID: "d4", Kind: SourceScreenshare, Key: MediaKey("https://x/d4.mp4", "mp4"), Offset: 5, At: 30, Duration: 30,
				HasVideo: true, Width: 1920, Height: 1080},
			{ID: "slide-1", Kind: SourceSlide, Key: SlideKey("https://x/p1.jpg", "jpg"), Duration: 60},
		},
		Windows: []UnitWindow{
			{Start: 0, End: 20, Layout: LayoutSingle, Main: "a1", Audio: []string{"a1"}},
			{Start: 20, End: 30, Layout: LayoutSlides, Slide: "slide-1", Column: []string{"a1"}, Audio: []string{"a1"}},
			{Start: 30, End: 60, Layout: LayoutPresenter, Main: "d4", Pip: "a1", Audio: []string{"a1"}},
		},
		VideoKey: UnitVideoKey("j1", 0, 0), AudioKey: UnitAudioKey("j1", 0, 0),
	}
}

func samples() map[string]Message {
	media := &MediaInfo{Duration: 120.04, Size: 1234567, Format: "mov,mp4,m4a,3gp,3g2,mj2", HasVideo: true,
		HasAudio: true, Width: 640, Height: 360, FPS: 25, VideoCodec: "h264", AudioCodec: "aac",
		SampleRate: 48000, Channels: 1, Source: "direct"}
	spec := JobSpec{Type: TypeJobSpec, URL: "https://my.mts-link.ru/1/2/record-new/123/record-file/456",
		Name: "{title}", Priority: 1, UnitSeconds: 1800, MaxHeight: 720}
	return map[string]Message{
		"job_spec": spec,
		"submit_request": SubmitRequest{URL: "https://my.mts-link.ru/1/2/record-new/123",
			URLs: []string{"https://my.mts-link.ru/1/2/record-new/124"}, SessionCookie: "3:abc", Priority: 2},
		"submit_reply": SubmitReply{Type: TypeSubmitReply, Jobs: []SubmittedJob{{ID: "j1", URL: spec.URL, State: StateQueued}}},
		"job_request":  JobRequest{Type: TypeJobRequest, Job: "j1"},
		"error":        APIError{Type: TypeAPIError, Code: 400, Error: "url is empty: give an MTS Link recording URL"},
		"job": Job{Type: TypeJob, ID: "j1", Spec: spec, Recording: "123/456", State: StateRendering,
			Generation: 1, Title: "Лекция 3", Duration: 360,
			Chunks: []ChunkState{{Index: 0, Kind: FetchMedia, Session: "a1", URL: "https://x/a1.mp4",
				Key: MediaKey("https://x/a1.mp4", "mp4"), State: TaskDone, Attempts: 1, Worker: "f1", Bytes: 1234567, Media: media}},
			Units: []UnitState{{Index: 0, Start: 0, End: 360, State: TaskRunning, Generation: 1, Attempts: 2, Worker: "r1",
				Rendered: 120, Failures: []Failure{{Worker: "r2", Error: "ffmpeg exited 1", At: t0}}}},
			Warnings: []string{"chunk 3 is undecodable; shown absent"},
			Progress: Progress{Stage: "rendering", Fraction: 0.5, ETASeconds: 42, RenderedSeconds: 120},
			Created:  t0, Updated: t0.Add(time.Minute), Timings: map[string]float64{"fetch": 12.5}},
		"fetch_task": FetchTask{Type: TypeFetchTask, Job: "j1", Kind: FetchMedia, Index: 3, Generation: 0,
			URL: "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/5e1f0c2d9a.mp4",
			Key: MediaKey("https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/5e1f0c2d9a.mp4", "mp4"), Session: "a1b2c3"},
		"fetch_result": FetchResult{Type: TypeFetchResult, Job: "j1", Kind: FetchMedia, Index: 3, Worker: "f1",
			Status: FetchStored, Key: MediaKey("https://x/a1.mp4", "mp4"), Media: media, Bytes: 1234567, Attempts: 1, Elapsed: 2.5},
		"render_unit": sampleUnit(),
		"unit_result": UnitResult{Type: TypeUnitResult, Job: "j1", Index: 0, Worker: "r1", Status: UnitDone, Encoder: "libx264",
			VideoKey: UnitVideoKey("j1", 0, 0), AudioKey: UnitAudioKey("j1", 0, 0), Duration: 60, Elapsed: 12},
		"finalize_task": FinalizeTask{Type: TypeFinalizeTask, Job: "j1", Generation: 1},
		"event": Event{Type: TypeEvent, Job: "j1", Kind: EventProgress, Time: t0, Task: "render", Index: 2, Worker: "r1",
			Progress: &Progress{Stage: "rendering", Fraction: 0.25}},
		"worker": WorkerInfo{Type: TypeWorker, ID: "gpu-node-1", Host: "gpu-node-1", Roles: []string{RoleRenderer},
			Encoders: []string{"h264_nvenc", "libx264"}, GPU: "NVIDIA H100", CUDA: true, Slots: 2, Started: t0, Seen: t0},
		"plan": Plan{Type: TypePlan, Title: "Лекция", Duration: 60, Width: 1280, Height: 720, FPS: 25, UnitSeconds: 1800,
			Sessions: []PlanSession{{ID: "a1", URL: "https://x/a1.mp4", Kind: SourceWebcam, Start: 0, End: 60, HasAudio: true, HasVideo: true, Admin: true}},
			Units: []PlanUnit{{Index: 0, Start: 0, End: 60,
				Windows: []PlanWindow{{Start: 0, End: 60, Layout: LayoutSingle, Main: "a1", Column: []string{},
					Sources: []string{"a1"}, Audio: []string{"a1"}}},
				Inputs: []PlanInput{{Session: "a1", Offset: 0, At: 0, Duration: 60}}}},
			AudioTracks: []AudioTrack{}, Slides: []PlanSlide{}, Warnings: []string{}},
	}
}

func TestGoldenRoundTrip(t *testing.T) {
	for name, msg := range samples() {
		t.Run(name, func(t *testing.T) {
			if err := msg.Validate(); err != nil {
				t.Fatalf("sample does not validate: %v", err)
			}
			got, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./proto -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s differs from golden:\n got: %s\nwant: %s", path, got, want)
			}
			// Decode the golden strictly into a fresh value of the same type.
			ptr := reflect.New(reflect.TypeOf(msg))
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			if err := dec.Decode(ptr.Interface()); err != nil {
				t.Fatalf("decoding golden: %v", err)
			}
			back := ptr.Elem().Interface().(Message)
			if !reflect.DeepEqual(back, msg) {
				t.Fatalf("round trip changed the value:\n got %#v\nwant %#v", back, msg)
			}
			if back.MessageType() == "" || !strings.HasPrefix(back.MessageType(), "mtsfarm.v1.") {
				t.Fatalf("bad message type %q", back.MessageType())
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	unit := func(f func(*RenderUnit)) Message { u := sampleUnit(); f(&u); return u }
	cases := []struct {
		name string
		msg  Message
		want string
	}{
		{"spec wrong type", JobSpec{Type: "mtsfarm.v2.job_spec", URL: "https://x"}, "type is"},
		{"spec empty url", JobSpec{Type: TypeJobSpec, URL: "  "}, "url is empty"},
		{"spec tiny units", JobSpec{Type: TypeJobSpec, URL: "https://x", UnitSeconds: 1}, "unit_seconds"},
		{"submit nothing", SubmitRequest{}, `give "url"`},
		{"submit bad type", SubmitRequest{Type: "x", URL: "https://x"}, "type is"},
		{"job request bad id", JobRequest{Job: "../etc"}, "job id"},
		{"job request bad state", JobRequest{State: "sleeping"}, "unknown state"},
		{"fetch bad kind", FetchTask{Type: TypeFetchTask, Job: "j1", Kind: "ftp", URL: "https://x", Key: "media/a"}, "unknown fetch kind"},
		{"fetch file url", FetchTask{Type: TypeFetchTask, Job: "j1", Kind: FetchMedia, URL: "file:///etc/passwd", Key: "media/a"}, "not http"},
		{"fetch key escapes", FetchTask{Type: TypeFetchTask, Job: "j1", Kind: FetchMedia, URL: "https://x", Key: "../../etc/passwd"}, "bad object key"},
		{"fetch cookie on media", FetchTask{Type: TypeFetchTask, Job: "j1", Kind: FetchMedia, URL: "https://x", Key: "media/a", SessionCookie: "s"}, "session_cookie"},
		{"fetch job as subject wildcard", FetchTask{Type: TypeFetchTask, Job: "j1.>", Kind: FetchMedia, URL: "https://x", Key: "media/a"}, "job id"},
		{"fetch result failed without error", FetchResult{Type: TypeFetchResult, Job: "j1", Status: FetchFailed}, "needs an error"},
		{"unit windows gap", unit(func(u *RenderUnit) { u.Windows[1].Start = 21 }), "tile"},
		{"unit windows short", unit(func(u *RenderUnit) { u.Windows = u.Windows[:2] }), "unit is 60 long"},
		{"unit unknown source", unit(func(u *RenderUnit) { u.Windows[0].Main = "zz" }), "not a source"},
		{"unit odd width", unit(func(u *RenderUnit) { u.Width = 1281 }), "geometry"},
		{"unit audio twice", unit(func(u *RenderUnit) { u.Windows[0].Audio = []string{"a1", "a1"} }), "twice"},
		{"unit shows audio-only", unit(func(u *RenderUnit) { u.Sources[0].HasVideo = false }), "no video"},
		{"unit negative offset", unit(func(u *RenderUnit) { u.Sources[0].Offset = -1 }), "negative"},
		{"unit bad layout", unit(func(u *RenderUnit) { u.Windows[0].Layout = "mosaic" }), "unknown layout"},
		{"unit column of five", unit(func(u *RenderUnit) { u.Windows[1].Column = []string{"a1", "a1", "a1", "a1", "a1"} }), "at most 4"},
		{"unit nvenc typo", unit(func(u *RenderUnit) { u.Encoding.Encoder = "nvenc" }), "encoder"},
		{"unit result done without keys", UnitResult{Type: TypeUnitResult, Job: "j1", Worker: "r1", Status: UnitDone}, "video_key"},
		{"event kind wildcard", Event{Type: TypeEvent, Job: "j1", Kind: "a.>"}, "subject token"},
		{"worker no roles", WorkerInfo{Type: TypeWorker, ID: "w1"}, "no roles"},
		{"plan units short", Plan{Type: TypePlan, Duration: 10, Width: 640, Height: 360, FPS: 25,
			Units: []PlanUnit{{Index: 0, Start: 0, End: 5, Windows: []PlanWindow{{Start: 0, End: 5}}}}}, "units end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.msg.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	good := []string{"media/ab.mp4", "jobs/j1/units/00000-g0.ts", "outputs/Лекция_3.mp4"}
	bad := []string{"", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b", "a\x00b", "a/\nb", "a/", strings.Repeat("a", 1025)}
	for _, k := range good {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for _, k := range bad {
		if err := ValidKey(k); !errors.Is(err, ErrBadKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrBadKey", k, err)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	cases := map[string]string{
		"Лекция 3: Конкурентность в Go": "Лекция_3_Конкурентность_в_Go",
		"../../etc/passwd":  "etc_passwd",
		`a\b|c?d*e"f<g>h`:   "a_b_c_d_e_f_g_h",
		"":                  "webinar",
		"...":               "webinar",
		"x\x00y\x1bz":       "xyz",
		"tab\tand\nnewline": "tab_and_newline",
	}
	for in, want := range cases {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	long := SanitizeName(strings.Repeat("ж", 200))
	if len(long) > 180 || ValidKey("outputs/"+long+".mp4") != nil {
		t.Errorf("long name %d bytes, key valid: %v", len(long), ValidKey("outputs/"+long+".mp4"))
	}
}

func TestKeysAreValidAndStable(t *testing.T) {
	keys := []string{MediaKey("https://a/b.mp4?x=1", "MP4"), SlideKey("https://a/p.jpg", ".jpg"), MediaKey("u", "../.."),
		FlowKey("j1"), PlanKey("j1"), UnitVideoKey("j1", 3, 2), UnitAudioKey("j1", 3, 2), OutputKey("../x"), FlowKey("../../etc")}
	for _, k := range keys {
		if err := ValidKey(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	if MediaKey("u", "mp4") != MediaKey("u", "mp4") || MediaKey("u", "mp4") == MediaKey("v", "mp4") {
		t.Error("media keys are not content-addressed by URL")
	}
	if got := UnitVideoKey("j1", 3, 2); got != "jobs/j1/units/00003-g2.ts" {
		t.Errorf("UnitVideoKey = %q", got)
	}
	if got := FlowKey("../../etc"); !strings.HasPrefix(got, "jobs/invalid-") {
		t.Errorf("a bad job id escaped the jobs prefix: %q", got)
	}
}

func TestDefaultWorkerID(t *testing.T) {
	for _, c := range []struct{ role, host, want string }{
		{RoleFetcher, "Host.Example.COM", "fetcher-host-example-com"},
		{RoleRenderer, "gpu_node 1", "renderer-gpu_node-1"},
		{RoleCoordinator, "", "coordinator-"},
	} {
		if got := DefaultWorkerID(c.role, c.host); got != c.want || !ValidWorkerID(got) {
			t.Errorf("DefaultWorkerID(%q, %q) = %q, want %q", c.role, c.host, got, c.want)
		}
	}
	if got := DefaultWorkerID(RoleRenderer, strings.Repeat("x", 100)); len(got) != 64 || !ValidWorkerID(got) {
		t.Errorf("long host gives %q", got)
	}
}

func TestSubjects(t *testing.T) {
	if FetchSubject("j1") != "mtsfarm.fetch.j1" || EventSubject("j1", EventState) != "mtsfarm.events.j1.state" {
		t.Error("subjects changed")
	}
	if MsgID("j1", "render", 2, 1) != "j1/render/2/1" {
		t.Error("msg id changed")
	}
}

func TestRedactURL(t *testing.T) {
	tok := "0123456789abcdef0123456789abcdef"
	for in, want := range map[string]string{
		"https://my.mts-link.ru/1/2/record-new/3/record-file/4?recordAccessToken=" + tok + "&utm=x": "https://my.mts-link.ru/1/2/record-new/3/record-file/4?recordAccessToken=<redacted>&utm=x",
		"https://my.mts-link.ru/1/2/record-new/3/record-file/4/" + tok:                              "https://my.mts-link.ru/1/2/record-new/3/record-file/4/<redacted>",
		"GET http://127.0.0.1:9000/b/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=abc123 failed":       "GET http://127.0.0.1:9000/b/k?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted> failed",
		"https://my.mts-link.ru/1/2/record-new/3/record-file/4":                                     "https://my.mts-link.ru/1/2/record-new/3/record-file/4",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	s := JobSpec{URL: "https://my.mts-link.ru/1/2/record-new/3/record-file/4?recordAccessToken=" + tok, SessionCookie: "c"}.Redacted()
	if strings.Contains(s.URL, tok) || s.SessionCookie == "c" {
		t.Errorf("Redacted spec still holds a secret: %+v", s)
	}
}
