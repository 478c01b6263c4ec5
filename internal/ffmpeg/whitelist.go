package ffmpeg

import "strings"

// Untrusted media: a file fetched from MTS Link is opened by ffprobe and
// ffmpeg only as one of the media formats a recording can hold, over the
// protocols its location needs. A playlist or concat list served as a
// "chunk" (HLS, ffconcat, a .m3u8 in disguise) would otherwise make them
// fetch arbitrary URLs from inside the farm, around the fetcher's host
// allow-list.

// MediaFormats are the demuxers a chunk, a unit or a slide may use: MP4 and
// its kin, Matroska/WebM, MPEG-TS, FLAC, MP3, WAV, ADTS AAC, Ogg and still
// images. No playlist or list demuxer (hls, concat, ffmetadata, …).
const MediaFormats = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mpegts,flac,mp3,wav,aac,ogg," +
	"image2,jpeg_pipe,png_pipe,webp_pipe,gif,gif_pipe,bmp_pipe"

// SafeInput returns the flags that go before -i (or before the input of
// ffprobe) for one untrusted input: the format whitelist, and a protocol
// whitelist of file for a local path, or the HTTP family for a URL (a
// presigned object-store URL).
func SafeInput(input string) []string {
	protocols := "file"
	if strings.HasPrefix(input, "http://") || strings.HasPrefix(input, "https://") {
		protocols = "http,https,tcp,tls,crypto"
	}
	return []string{"-protocol_whitelist", protocols, "-format_whitelist", MediaFormats}
}
