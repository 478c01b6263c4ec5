package mts

import (
	"strings"
	"testing"
)

func TestHLSURL(t *testing.T) {
	cases := map[string]string{
		// spec §3.3, the exact rule and its example
		"https://events-storage.webinar.ru/api-storage/files/wowza/2025/02/20/86d6b3.mp4": "https://events-delivery-records.webinar.ru/record/2025/02/20/86d6b3.mp4/playlist.m3u8",
		// no wowza path: the suffix only
		"http://127.0.0.1:8080/m/x.mp4":                                  "http://127.0.0.1:8080/m/x.mp4/playlist.m3u8",
		"http://127.0.0.1:8080/api-storage/files/wowza/2026/03/24/a.mp4": "http://127.0.0.1:8080/api-storage/files/wowza/2026/03/24/a.mp4/playlist.m3u8",
		// every occurrence is replaced, as Python's str.replace does
		"https://events-storage.webinar.ru/api-storage/files/wowza/events-storage.webinar.ru/api-storage/files/wowza/x.mp4": "https://events-delivery-records.webinar.ru/record/events-delivery-records.webinar.ru/record/x.mp4/playlist.m3u8",
	}
	for in, want := range cases {
		if got := HLSURL(in); got != want {
			t.Errorf("HLSURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlaylistRules(t *testing.T) {
	video := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000\nv1/index.m3u8\n"
	audio := "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=64000\na1/index.m3u8\n"
	if !PlaylistHasVideo([]byte(video)) || PlaylistHasVideo([]byte(audio)) || !IsPlaylist([]byte(audio)) || IsPlaylist([]byte("<html>")) {
		t.Fatal("playlist rules")
	}
}

func TestCleanCookie(t *testing.T) {
	real := "3:1737478902.5.0.1662032633859:JCiOBQ:2c.1.2:1|646684349.0.2|3:10301613.675775.8Em1UANy3IkgNMFG4zlb2S6L8go"
	ok := map[string]string{real: real, " sessionId=" + real + "\n": real, `"abc"`: "abc", "": ""}
	for in, want := range ok {
		if got, err := CleanCookie(in); err != nil || got != want {
			t.Errorf("CleanCookie(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"a b", "a;b", "sessionId=a; other=b", "кука", "a\tb"} {
		if _, err := CleanCookie(bad); err == nil || !strings.Contains(err.Error(), "sessionId") {
			t.Errorf("CleanCookie(%q) = %v, want an error", bad, err)
		}
	}
}

func TestAccessDeniedErrorMessages(t *testing.T) {
	e := &AccessDeniedError{Recording: "https://my.mts-link.ru/1/2/record-new/3", Status: 403, Message: "Access denied"}
	for _, want := range []string{"record-new/3", `"Access denied"`, "private", "--session-cookie", `"session_cookie"`} {
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%q lacks %q", e.Error(), want)
		}
	}
	e.CookieSent = true
	if !strings.Contains(e.Error(), "was refused") || !strings.Contains(e.Error(), "fresh") {
		t.Errorf("cookie sent: %q", e.Error())
	}
}
