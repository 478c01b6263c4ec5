package mts

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
)

// HLS delivery (spec §3.3). The direct wowza mp4 of some recordings holds only
// audio while the HLS delivery of the same chunk has video and audio.

const (
	wowzaPath    = "events-storage.webinar.ru/api-storage/files/wowza/"
	deliveryPath = "events-delivery-records.webinar.ru/record/"
)

// HLSURL is the HLS playlist URL of a media URL, by the exact rule of spec
// §3.3: the wowza storage path is replaced by the delivery path (every
// occurrence, as Python's str.replace does) and "/playlist.m3u8" is appended,
// so a URL without that path (the fake server's) just gets the suffix.
func HLSURL(mediaURL string) string {
	return strings.ReplaceAll(mediaURL, wowzaPath, deliveryPath) + "/playlist.m3u8"
}

// IsPlaylist reports whether body is an HLS playlist: it starts with
// #EXTM3U (after a byte-order mark and spaces).
func IsPlaylist(body []byte) bool {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	return bytes.HasPrefix(bytes.TrimSpace(body), []byte("#EXTM3U"))
}

var (
	resolutionRe = regexp.MustCompile(`(?i)RESOLUTION=\d+x\d+`)
	videoCodecRe = regexp.MustCompile(`(?i)CODECS="[^"]*\b(avc1|avc3|hvc1|hev1|vp09|av01|mp4v)`)
)

// PlaylistHasVideo reports whether an HLS playlist advertises video: cyberb's
// "v1/" rendition path (spec §3.3), or a variant stream with a resolution or
// a video codec.
func PlaylistHasVideo(body []byte) bool {
	if !IsPlaylist(body) {
		return false
	}
	return bytes.Contains(body, []byte("v1/")) || resolutionRe.Match(body) || videoCodecRe.Match(body)
}

var uriAttrRe = regexp.MustCompile(`URI="([^"]*)"`)

// RewritePlaylist rewrites every URI of an HLS playlist (segment and variant
// lines, and URI="…" attributes of EXT-X-KEY, EXT-X-MAP, EXT-X-MEDIA and the
// like) to mapURL of its absolute form, resolved against base. The fetcher's
// HLS proxy uses it so ffmpeg only ever talks to the proxy, which checks each
// URL with the Policy.
func RewritePlaylist(body []byte, base *url.URL, mapURL func(raw string) string) []byte {
	resolve := func(ref string) string {
		ref = strings.TrimSpace(ref)
		u, err := url.Parse(ref)
		if err != nil {
			return mapURL(ref)
		}
		return mapURL(base.ResolveReference(u).String())
	}
	var out bytes.Buffer
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			out.WriteString(line)
		case strings.HasPrefix(trimmed, "#"):
			out.WriteString(uriAttrRe.ReplaceAllStringFunc(line, func(m string) string {
				ref := uriAttrRe.FindStringSubmatch(m)[1]
				return `URI="` + resolve(ref) + `"`
			}))
		default:
			out.WriteString(resolve(trimmed))
		}
		if i < len(lines)-1 {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}
