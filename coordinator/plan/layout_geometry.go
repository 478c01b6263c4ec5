package plan

import "github.com/mtsfarm/mtsfarm/proto"

// Output geometry (spec §4.2, §5.6, issue 4): one size per job, so every
// unit joins by stream copy.
const (
	minWidth, minHeight = 640, 360
	// maxAspect bounds how wide the output may get (width ≤ 32/9 × height,
	// twice 16:9): a freakishly wide source is letterboxed instead.
	maxAspectNum, maxAspectDen = 32, 9
	maxFrameWidth              = 7680
)

// geometry picks the output size: the largest-area video source among the
// sessions some window displays (probed size, or the size assumed for its
// kind before the probe), made at least 640×360 and at most MaxHeight high
// keeping its aspect, both even; at least MinSlidesWidth×MinSlidesHeight
// (scaled down to fit MaxHeight) when the recording has slides.
//
// Choice: a source no window displays (a feed shorter than MinWindow, a
// fifth webcam beside a slide, a second screenshare) does not set the size:
// its pixels are never on screen.
//
// known reports whether every session that can be shown was probed (or is
// absent), i.e. whether the size is final: a probe can change a session's
// size, kind or span and so what the windows display.
func geometry(shown []*session, displayed map[string]bool, hasSlides bool, o *Options) (width, height int, known bool) {
	known = true
	var best *session
	var bestArea int64
	for _, s := range shown {
		if !s.probed {
			known = false
		}
		if !displayed[s.id] {
			continue
		}
		w, h := s.size()
		if a := int64(w) * int64(h); a > bestArea {
			best, bestArea = s, a
		}
	}
	sw, sh := 0, 0
	if best != nil {
		sw, sh = best.size()
	}
	minSW, minSH := 0, 0
	if hasSlides {
		minSW, minSH = o.MinSlidesWidth, o.MinSlidesHeight
	}
	width, height = fitGeometry(sw, sh, o.MaxHeight, minSW, minSH)
	return width, height, known
}

// fitGeometry turns a source size into the output size:
//
//   - no source (sw or sh ≤ 0): 640×360;
//   - smaller than 640×360 in either dimension: scaled up, aspect kept,
//     until both are at least that (192×108 → 640×360, 320×240 → 640×480);
//   - taller than maxHeight: scaled down to maxHeight, aspect kept, width
//     rounded down (1920×1080 → 1280×720, 1280×1024 → 900×720);
//   - both rounded down to even; then at least 640 wide (a portrait source
//     capped at maxHeight is pillarboxed) and at most 32/9 × height wide
//     (and 7680);
//   - at least minSW×minSH (the slides minimum), scaled down to fit
//     maxHeight when it is lower.
func fitGeometry(sw, sh, maxHeight, minSW, minSH int) (int, int) {
	w, h := int64(sw), int64(sh)
	if w <= 0 || h <= 0 {
		w, h = minWidth, minHeight
	}
	if w < minWidth || h < minHeight {
		if w*minHeight >= h*minWidth { // at least as wide as 16:9
			w, h = w*minHeight/h, minHeight
		} else {
			w, h = minWidth, h*minWidth/w
		}
	}
	mh := int64(maxHeight)
	if h > mh {
		w, h = int64(sw)*mh/int64(sh), mh
		if sw <= 0 || sh <= 0 {
			w = minWidth * mh / minHeight
		}
	}
	w = max(w, minWidth)
	w = min(w, h*maxAspectNum/maxAspectDen, maxFrameWidth)
	if minSW > 0 && minSH > 0 {
		msw, msh := int64(minSW), int64(minSH)
		if msh > mh {
			msw, msh = msw*mh/msh, mh
		}
		w, h = max(w, msw), max(h, msh)
	}
	return proto.Even(int(w)), proto.Even(int(h))
}
