package proto

// Window geometry (issue 4 layout rules), shared by the planner and the
// renderer so both agree on where every source is drawn. Pure integer math:
// every rectangle has an even position and size.

// Rect roles: which part of a layout a rectangle is.
const (
	RectMain   = "main"   // single, presenter: the whole frame
	RectPip    = "pip"    // presenter: the picture-in-picture, top right
	RectSlide  = "slide"  // slides: the left 3/4
	RectColumn = "column" // slides: a webcam cell of the right 1/4 column
	RectGrid   = "grid"   // grid: one cell
)

// Pad colours: what fills a rectangle around a source scaled to fit.
const (
	PadBlack = "black"
	PadWhite = "white"
)

// PipMargin is the distance of the picture-in-picture from the top and right
// edges of the frame.
const PipMargin = 16

// MaxColumn is the number of webcams the slides column stacks.
const MaxColumn = 4

// Rect is where one source of a window is drawn on the W×H frame. The source
// is scaled to fit inside the rectangle (aspect kept, never cropped) and the
// rest of the rectangle is filled with Pad; the frame outside every
// rectangle is black. Rects are listed bottom to top (draw order).
type Rect struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	X    int    `json:"x"`
	Y    int    `json:"y"`
	W    int    `json:"w"`
	H    int    `json:"h"`
	Pad  string `json:"pad"`
}

// Even rounds a non-negative size down to an even number.
func Even(v int) int {
	if v < 0 {
		return 0
	}
	return v &^ 1
}

// GridShape is the grid for n sources: cols = ceil(sqrt(n)), rows =
// ceil(n/cols) (1→1×1, 2→2×1, 3-4→2×2, 5-6→3×2, 7-9→3×3).
func GridShape(n int) (cols, rows int) {
	if n <= 0 {
		return 0, 0
	}
	cols = 1
	for cols*cols < n {
		cols++
	}
	return cols, (n + cols - 1) / cols
}

// PipRect is the picture-in-picture rectangle of a W×H frame:
// even(W/4)×even(H/4) at x = W−w−16, y = 16.
func PipRect(width, height int) (x, y, w, h int) {
	w, h = Even(width/4), Even(height/4)
	return width - w - PipMargin, PipMargin, w, h
}

// LayoutRects returns where each shown source of a window is drawn on a
// width×height frame. slide is the id of the slide image (slides layout);
// column and grid list source ids top down / row-major. Ids that are empty
// are skipped; a layout it does not know (or gap) draws nothing.
func LayoutRects(layout, main, pip, slide string, column, grid []string, width, height int) []Rect {
	switch layout {
	case LayoutSingle:
		if main == "" {
			return nil
		}
		return []Rect{{ID: main, Role: RectMain, W: width, H: height, Pad: PadBlack}}
	case LayoutPresenter:
		var out []Rect
		if main != "" {
			out = append(out, Rect{ID: main, Role: RectMain, W: width, H: height, Pad: PadBlack})
		}
		if pip != "" {
			x, y, w, h := PipRect(width, height)
			out = append(out, Rect{ID: pip, Role: RectPip, X: x, Y: y, W: w, H: h, Pad: PadBlack})
		}
		return out
	case LayoutSlides:
		// The slide fills the left 3/4 (padded white); the right 1/4 column
		// stacks up to four webcams of W/4 × H/4, top down.
		colW, cellH := Even(width/4), Even(height/4)
		slideW := width - colW
		var out []Rect
		if slide != "" {
			out = append(out, Rect{ID: slide, Role: RectSlide, W: slideW, H: height, Pad: PadWhite})
		}
		for i, id := range column {
			if i == MaxColumn {
				break
			}
			if id == "" {
				continue
			}
			out = append(out, Rect{ID: id, Role: RectColumn, X: slideW, Y: i * cellH, W: colW, H: cellH, Pad: PadBlack})
		}
		return out
	case LayoutGrid:
		// cols × rows cells of even(W/cols) × even(H/rows), row-major; the
		// grid is centred (the few pixels left over are black).
		cols, rows := GridShape(len(grid))
		if cols == 0 {
			return nil
		}
		cw, ch := Even(width/cols), Even(height/rows)
		x0, y0 := Even((width-cols*cw)/2), Even((height-rows*ch)/2)
		var out []Rect
		for i, id := range grid {
			if id == "" {
				continue
			}
			out = append(out, Rect{ID: id, Role: RectGrid, X: x0 + (i%cols)*cw, Y: y0 + (i/cols)*ch, W: cw, H: ch, Pad: PadBlack})
		}
		return out
	}
	return nil
}

// Rects returns where the window's sources are drawn on a width×height frame.
func (w UnitWindow) Rects(width, height int) []Rect {
	return LayoutRects(w.Layout, w.Main, w.Pip, w.Slide, w.Column, w.Grid, width, height)
}

// Rects returns where the window's sources are drawn on a width×height frame
// (the slide rectangle carries the SlideID).
func (w PlanWindow) Rects(width, height int) []Rect {
	return LayoutRects(w.Layout, w.Main, w.Pip, w.SlideID, w.Column, w.Grid, width, height)
}
