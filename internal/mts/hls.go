package mts

import (
	"bytes"
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

// IsPlaylist reports whether a body is an HLS playlist (it contains #EXTM3U,
// the Leenday fork's test).
func IsPlaylist(body []byte) bool { return bytes.Contains(body, []byte("#EXTM3U")) }

// PlaylistHasVideo reports whether an HLS playlist body announces a video
// variant: it contains "v1/" (the cyberb rule of spec §3.3).
func PlaylistHasVideo(body []byte) bool { return bytes.Contains(body, []byte("v1/")) }

// MediaHosts are the hosts the real service serves media, HLS and slides
// from (spec §2.5, §3.3); fetchers allow these by default.
func MediaHosts() []string {
	return []string{"events-storage.webinar.ru", "events-delivery-records.webinar.ru"}
}
