package proto

import (
	"reflect"
	"testing"
)

func TestGridShape(t *testing.T) {
	want := map[int][2]int{0: {0, 0}, 1: {1, 1}, 2: {2, 1}, 3: {2, 2}, 4: {2, 2}, 5: {3, 2}, 6: {3, 2},
		7: {3, 3}, 9: {3, 3}, 10: {4, 3}, 40: {7, 6}}
	for n, w := range want {
		if c, r := GridShape(n); c != w[0] || r != w[1] {
			t.Errorf("GridShape(%d) = %dx%d, want %dx%d", n, c, r, w[0], w[1])
		}
	}
}

func TestLayoutRects(t *testing.T) {
	black := func(id, role string, x, y, w, h int) Rect {
		return Rect{ID: id, Role: role, X: x, Y: y, W: w, H: h, Pad: PadBlack}
	}
	cases := []struct {
		name string
		w    UnitWindow
		W, H int
		want []Rect
	}{
		{"gap draws nothing", UnitWindow{Layout: LayoutGap}, 1280, 720, nil},
		{"single fills the frame", UnitWindow{Layout: LayoutSingle, Main: "a"}, 1280, 720,
			[]Rect{black("a", RectMain, 0, 0, 1280, 720)}},
		{"presenter: pip even(W/4) x even(H/4) at W-w-16, 16", UnitWindow{Layout: LayoutPresenter, Main: "s", Pip: "a"}, 1280, 720,
			[]Rect{black("s", RectMain, 0, 0, 1280, 720), black("a", RectPip, 944, 16, 320, 180)}},
		{"presenter on an odd quarter", UnitWindow{Layout: LayoutPresenter, Main: "s", Pip: "a"}, 900, 720,
			[]Rect{black("s", RectMain, 0, 0, 900, 720), black("a", RectPip, 660, 16, 224, 180)}},
		{"presenter without pip", UnitWindow{Layout: LayoutPresenter, Main: "s"}, 640, 360,
			[]Rect{black("s", RectMain, 0, 0, 640, 360)}},
		{"slides: left 3/4 white, column of W/4 x H/4", UnitWindow{Layout: LayoutSlides, Slide: "p", Column: []string{"a", "b"}}, 1280, 720,
			[]Rect{{ID: "p", Role: RectSlide, W: 960, H: 720, Pad: PadWhite},
				black("a", RectColumn, 960, 0, 320, 180), black("b", RectColumn, 960, 180, 320, 180)}},
		{"slides column stops at 4", UnitWindow{Layout: LayoutSlides, Slide: "p", Column: []string{"a", "b", "c", "d", "e"}}, 1280, 720,
			[]Rect{{ID: "p", Role: RectSlide, W: 960, H: 720, Pad: PadWhite},
				black("a", RectColumn, 960, 0, 320, 180), black("b", RectColumn, 960, 180, 320, 180),
				black("c", RectColumn, 960, 360, 320, 180), black("d", RectColumn, 960, 540, 320, 180)}},
		{"slides with an empty column", UnitWindow{Layout: LayoutSlides, Slide: "p"}, 1366, 768,
			[]Rect{{ID: "p", Role: RectSlide, W: 1026, H: 768, Pad: PadWhite}}},
		{"grid of 2 side by side", UnitWindow{Layout: LayoutGrid, Grid: []string{"a", "b"}}, 1280, 720,
			[]Rect{black("a", RectGrid, 0, 0, 640, 720), black("b", RectGrid, 640, 0, 640, 720)}},
		{"grid of 3 in 2x2, row-major", UnitWindow{Layout: LayoutGrid, Grid: []string{"a", "b", "c"}}, 1280, 720,
			[]Rect{black("a", RectGrid, 0, 0, 640, 360), black("b", RectGrid, 640, 0, 640, 360), black("c", RectGrid, 0, 360, 640, 360)}},
		{"grid of 5 centred", UnitWindow{Layout: LayoutGrid, Grid: []string{"a", "b", "c", "d", "e"}}, 640, 360,
			[]Rect{black("a", RectGrid, 2, 0, 212, 180), black("b", RectGrid, 214, 0, 212, 180), black("c", RectGrid, 426, 0, 212, 180),
				black("d", RectGrid, 2, 180, 212, 180), black("e", RectGrid, 214, 180, 212, 180)}},
		{"unknown layout", UnitWindow{Layout: "mosaic", Main: "a"}, 1280, 720, nil},
	}
	for _, c := range cases {
		if got := c.w.Rects(c.W, c.H); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	// A plan window names its slide by SlideID.
	pw := PlanWindow{Layout: LayoutSlides, Slide: "https://x/p.jpg", SlideID: "slide_1", Column: []string{}}
	if r := pw.Rects(1280, 720); len(r) != 1 || r[0].ID != "slide_1" {
		t.Errorf("plan window rects %+v", r)
	}
}

func TestEven(t *testing.T) {
	for in, want := range map[int]int{640: 640, 641: 640, 1: 0, 0: 0, -3: 0} {
		if got := Even(in); got != want {
			t.Errorf("Even(%d) = %d, want %d", in, got, want)
		}
	}
}
