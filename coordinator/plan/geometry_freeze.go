package plan

import (
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

// The output size of a job depends on the largest source shown, so it is
// known for sure only once every shown chunk is probed, i.e. after every
// download. Waiting for that would serialize downloading and rendering. A
// webinar's stream (one camera, one screen share) is recorded as many chunks
// of the same picture size (spec §2.4), so the coordinator decides the size
// once one chunk of every shown stream is probed, lending that chunk's size
// to its stream's other chunks, and freezes it in the job record: from then
// on every unit is rendered at that size (a later chunk that is larger after
// all is scaled down to fit its place, like any source), and units render
// while the rest downloads.

// lentProbes returns probes plus, for every shown session not yet probed (or
// absent), the probe of a probed session of the same stream, with an
// unbounded duration so only its size and streams count. ok is false while
// some shown stream has no probed chunk.
func lentProbes(base *proto.Plan, probes map[string]proto.MediaInfo, absent map[string]string) (map[string]proto.MediaInfo, bool) {
	byStream := map[string]proto.MediaInfo{}
	for _, s := range base.Sessions {
		if m, ok := probes[s.ID]; ok && m.HasVideo && s.Stream != "" {
			if _, seen := byStream[s.Stream]; !seen {
				byStream[s.Stream] = m
			}
		}
	}
	out := make(map[string]proto.MediaInfo, len(base.Sessions))
	for id, m := range probes {
		out[id] = m
	}
	for _, s := range base.Sessions {
		if _, ok := out[s.ID]; ok || absent[s.ID] != "" || !s.HasVideo {
			continue
		}
		m, ok := byStream[s.Stream]
		if !ok || s.Stream == "" {
			return nil, false
		}
		m.Duration = 1e9 // the flow's span decides; only size and streams are lent
		out[s.ID] = m
	}
	return out, true
}

// FreezeGeometry decides a job's output size from one probed chunk per
// shown stream, when there is one for every stream.
func FreezeGeometry(flow *mts.Flow, opts Options, base *proto.Plan) (int, int, bool) {
	lent, ok := lentProbes(base, opts.Probes, opts.Absent)
	if !ok {
		return 0, 0, false
	}
	opts.Probes = lent
	p, err := Plan(flow, opts)
	if err != nil || !p.GeometryKnown {
		return 0, 0, false
	}
	return p.Width, p.Height, true
}
