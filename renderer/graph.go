package renderer

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mtsfarm/mtsfarm/proto"
)

// The filter graph of a unit, one ffmpeg process for the whole unit:
//
//   - every video input is placed at its unit time (setpts), brought to the
//     unit's frame rate at once (fps: frames nobody sees are dropped before
//     any per-window work), and split into one branch per rectangle it
//     fills; an input drawn at one size throughout is scaled once, before
//     fps, on its own frames (see planScale);
//   - every window is a segment of exactly its frame count: a black canvas
//     (color + trim) with each branch trimmed to the window (in frames),
//     scaled to fit its rectangle (unless scaled already) and overlaid
//     centred in it; a source that
//     ends early simply stops being overlaid (black), one that starts late
//     appears when it starts;
//   - the segments are concatenated, so each overlay works only during its
//     own window, and the output has exactly the unit's frame count;
//   - slides are decoded once, scaled and padded white once, and looped by
//     reference into a stream the windows trim like any video;
//   - audio: every heard source resampled to the unit rate (gaps filled),
//     delayed to its unit time (silence made on demand), silenced outside the
//     windows that hear it, and mixed once (amix normalize=0) over a silent
//     base of exactly the unit's sample count.
//
// Nothing may reach a window's overlays before the window's time: an
// overlay that has a frame on one input pulls its canvas at once and would
// render its whole window ahead into memory.
//
// Labels: [vI_B] branch B of input I, [wN] segment of window N, [wNcK] its
// canvas after K draws, [wNpK] draw K scaled, [aI] audio of input I.

// videoOut and audioOut are the labels of the graph's outputs.
const (
	videoOut = "vout"
	audioOut = "aout"
)

type graphBuilder struct {
	u     proto.RenderUnit
	p     *unitPlan
	cuda  bool
	lines []string
}

func (g *graphBuilder) add(format string, args ...any) {
	g.lines = append(g.lines, fmt.Sprintf(format, args...))
}

// buildGraph returns the unit's filter graph, one filter chain per line.
func buildGraph(u proto.RenderUnit, p *unitPlan, cuda bool) string {
	g := &graphBuilder{u: u, p: p, cuda: cuda}
	for _, in := range p.inputs {
		if in.branches > 0 {
			g.videoInput(in)
		}
	}
	for _, seg := range p.windows {
		g.segment(seg)
	}
	if len(p.windows) > 1 {
		var b strings.Builder
		for _, seg := range p.windows {
			fmt.Fprintf(&b, "[w%d]", seg.index)
		}
		g.add("%sconcat=n=%d:v=1:a=0[%s]", b.String(), len(p.windows), videoOut)
	}
	g.audio()
	return strings.Join(g.lines, ";\n") + "\n"
}

// videoInput prepares input in's video once and splits it into its branches.
func (g *graphBuilder) videoInput(in *input) {
	var chain []string
	if in.src.Kind == proto.SourceSlide {
		// A still image: decoded, scaled to fit the slide area and padded
		// (white) once, then repeated by reference into a stream on the
		// unit's frame grid, which the windows trim like any video. (A lone
		// frame overlaid with repeat would reach every window's overlay at
		// once, and each would then render its whole window ahead into
		// memory.)
		r := g.slideRect()
		chain = append(chain,
			fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2", r.W, r.H),
			fmt.Sprintf("pad=%d:%d:(ow-iw)/2:(oh-ih)/2:%s", r.W, r.H, r.Pad))
		if g.cuda {
			chain = append(chain, "format=nv12", "hwupload")
		} else {
			chain = append(chain, "format=yuv420p")
		}
		chain = append(chain, "loop=loop=-1:size=1", fmt.Sprintf("settb=1/%d", g.u.FPS), "setpts=N")
	} else {
		if at := in.src.At; at > 0 {
			chain = append(chain, "setpts=PTS+"+seconds(at)+"/TB")
		}
		if in.fit != nil {
			// Scaled once, on the source's own frames: first drop the
			// frames beyond the unit's rate (at most one per output frame
			// slot), then scale, then fill the rate (fps repeats frames by
			// reference).
			r := strconv.Itoa(g.u.FPS)
			chain = append(chain, "select='isnan(prev_selected_t)+gt(floor(t*"+r+"),floor(prev_selected_t*"+r+"))'",
				g.scale(*in.fit))
		}
		chain = append(chain, "fps="+strconv.Itoa(g.u.FPS))
	}
	head := fmt.Sprintf("[%d:v]%s", in.index, strings.Join(chain, ","))
	if in.branches == 1 {
		g.add("%s[v%d_0]", head, in.index)
		return
	}
	var outs strings.Builder
	for b := range in.branches {
		fmt.Fprintf(&outs, "[v%d_%d]", in.index, b)
	}
	g.add("%s,split=%d%s", head, in.branches, outs.String())
}

// slideRect is the slide area of the unit's geometry.
func (g *graphBuilder) slideRect() proto.Rect {
	for _, r := range proto.LayoutRects(proto.LayoutSlides, "", "", "slide", nil, nil, g.u.Width, g.u.Height) {
		if r.Role == proto.RectSlide {
			return r
		}
	}
	return proto.Rect{W: g.u.Width, H: g.u.Height, Pad: proto.PadWhite}
}

// segment writes window seg: a black canvas of exactly its frames with its
// draws overlaid.
func (g *graphBuilder) segment(seg segment) {
	n := seg.end - seg.start
	out := fmt.Sprintf("[w%d]", seg.index)
	if len(g.p.windows) == 1 {
		out = "[" + videoOut + "]"
	}
	// Each draw's branch: trimmed to the window (in frames, before any
	// scaling), re-timed to the segment and scaled to fit its rectangle.
	labels := make([]string, len(seg.draws))
	for k, d := range seg.draws {
		labels[k] = fmt.Sprintf("[v%d_%d]", d.in.index, d.branch)
		chain := []string{fmt.Sprintf("trim=start_pts=%d:end_pts=%d", seg.start, seg.end)}
		if seg.start > 0 {
			chain = append(chain, fmt.Sprintf("setpts=PTS-%d", seg.start))
		}
		// A slide is scaled and padded to its rectangle already.
		if d.in.fit == nil && d.in.src.Kind != proto.SourceSlide {
			chain = append(chain, g.scale(d.rect))
		}
		pk := fmt.Sprintf("[w%dp%d]", seg.index, k)
		g.add("%s%s%s", labels[k], strings.Join(chain, ","), pk)
		labels[k] = pk
	}
	cur := g.canvas(g.u.Width, g.u.Height, n)
	for k, d := range seg.draws {
		if d.box {
			cur = g.box(seg, k, cur, d.rect)
		}
		ck := fmt.Sprintf("[w%dc%d]", seg.index, k)
		g.add("%s%s", cur, ck)
		cur = ck + labels[k] + g.overlay(d)
	}
	g.add("%s%s", cur, out)
}

// canvas is a chain making n black frames of w×h.
func (g *graphBuilder) canvas(w, h, n int) string {
	// The canvas format is pinned: left to negotiation it becomes yuva420p
	// (overlay's input format) and every overlay takes its slow path for a
	// main picture with alpha (4x the cost here).
	if g.cuda {
		return fmt.Sprintf("color=c=black:s=%dx%d:r=%d,format=nv12,trim=end_frame=%d,hwupload", w, h, g.u.FPS, n)
	}
	return fmt.Sprintf("color=c=black:s=%dx%d:r=%d,format=yuv420p,trim=end_frame=%d", w, h, g.u.FPS, n)
}

// box paints rectangle r with its pad colour on the canvas chain cur and
// returns the new chain.
func (g *graphBuilder) box(seg segment, k int, cur string, r proto.Rect) string {
	if !g.cuda {
		return fmt.Sprintf("%s,drawbox=x=%d:y=%d:w=%d:h=%d:color=%s:t=fill", cur, r.X, r.Y, r.W, r.H, r.Pad)
	}
	// No CUDA drawbox: overlay one uploaded frame of the colour, repeated.
	bk := fmt.Sprintf("[w%db%d]", seg.index, k)
	g.add("color=c=%s:s=%dx%d:r=%d,trim=end_frame=1,format=nv12,hwupload%s", r.Pad, r.W, r.H, g.u.FPS, bk)
	ck := fmt.Sprintf("[w%dd%d]", seg.index, k)
	g.add("%s%s", cur, ck)
	return fmt.Sprintf("%s%soverlay_cuda=x=%d:y=%d", ck, bk, r.X, r.Y)
}

// scale fits a source into rectangle r, aspect kept, even sizes.
func (g *graphBuilder) scale(r proto.Rect) string {
	if g.cuda {
		return fmt.Sprintf("scale_cuda=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2:format=nv12", r.W, r.H)
	}
	return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease:force_divisible_by=2", r.W, r.H)
}

// overlay places a draw centred in its rectangle. Positions are expressions
// of the scaled size (w, h), evaluated per frame, so a source that changes
// resolution mid-stream stays centred. A source that ended passes the canvas
// through (black).
func (g *graphBuilder) overlay(d draw) string {
	name := "overlay"
	if g.cuda {
		name = "overlay_cuda"
	}
	if d.in.src.Kind == proto.SourceSlide {
		return fmt.Sprintf("%s=x=%d:y=%d:eof_action=pass", name, d.rect.X, d.rect.Y)
	}
	return fmt.Sprintf("%s=x=%s:y=%s:eof_action=pass", name, centre(d.rect.X, d.rect.W, "w"), centre(d.rect.Y, d.rect.H, "h"))
}

func centre(at, size int, v string) string {
	if at == 0 {
		return fmt.Sprintf("(%d-%s)/2", size, v)
	}
	return fmt.Sprintf("%d+(%d-%s)/2", at, size, v)
}

// audio writes the unit's window audio: every heard input mixed once over a
// silent base of exactly the unit's samples.
func (g *graphBuilder) audio() {
	rate := g.u.Encoding.AudioRate
	layout := channelLayout(g.u.Encoding.AudioChannels)
	base := fmt.Sprintf("anullsrc=r=%d:cl=%s,atrim=end_sample=%d", rate, layout, g.p.samples)
	var mix []string
	for _, in := range g.p.inputs {
		if len(in.heard) == 0 {
			continue
		}
		var chain []string
		if g.u.Encoding.AudioChannels == 2 {
			// A mono microphone goes to both channels at its own level
			// (as a player plays a mono file), not 3 dB down as ffmpeg's
			// default upmix puts it; stereo passes unchanged.
			chain = append(chain, "pan=stereo|FL=FL+FC|FR=FR+FC")
		}
		// async fills gaps in the source's timestamps (first_pts=0: also
		// any gap before its first sample).
		chain = append(chain, fmt.Sprintf("aresample=%d:async=1:first_pts=0", rate))
		if in.src.At > 0 {
			// Silence until the source starts, made as the mix asks for it
			// (padding by timestamps would make it all at once: 670 MB for
			// a source joining 29 minutes into a unit).
			chain = append(chain, fmt.Sprintf("adelay=delays=%dS:all=1", int64(math.Round(in.src.At*float64(rate)))))
		}
		chain = append(chain, fmt.Sprintf("aformat=sample_fmts=fltp:channel_layouts=%s", layout))
		if in.gate {
			var on []string
			for _, s := range in.heard {
				on = append(on, fmt.Sprintf("between(t,%s,%s)", seconds(s.start), seconds(s.end)))
			}
			chain = append(chain, fmt.Sprintf("volume=volume=0:enable='not(%s)'", strings.Join(on, "+")))
		}
		label := fmt.Sprintf("[a%d]", in.index)
		g.add("[%d:a]%s%s", in.index, strings.Join(chain, ","), label)
		mix = append(mix, label)
	}
	if len(mix) == 0 {
		g.add("%s[%s]", base, audioOut)
		return
	}
	g.add("%s[abase]", base)
	// duration=first: the silent base decides the length; normalize=0: every
	// source at its own level, however many speak.
	g.add("[abase]%samix=inputs=%d:duration=first:normalize=0,atrim=end_sample=%d[%s]",
		strings.Join(mix, ""), len(mix)+1, g.p.samples, audioOut)
}

// channelLayout names the layout of n channels for aformat/anullsrc.
func channelLayout(n int) string {
	switch n {
	case 1:
		return "mono"
	case 2:
		return "stereo"
	case 3:
		return "2.1"
	case 4:
		return "quad"
	case 5:
		return "5.0"
	case 6:
		return "5.1"
	case 7:
		return "6.1"
	case 8:
		return "7.1"
	}
	return "stereo"
}

// seconds formats a time for a filter expression, to the microsecond.
func seconds(t float64) string {
	return strconv.FormatFloat(math.Round(t*1e6)/1e6, 'f', -1, 64)
}
