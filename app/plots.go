package app

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot colours, readable on the light and the dark theme's white plot card.
var (
	colorLoss  = color.RGBA{R: 0x1f, G: 0x6f, B: 0xd1, A: 0xff}
	colorLR    = color.RGBA{R: 0x2e, G: 0x9e, B: 0x4f, A: 0xff}
	colorGrad  = color.RGBA{R: 0xd9, G: 0x6a, B: 0x1c, A: 0xff}
	colorLimit = color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}
	colorBar   = color.RGBA{R: 0x5c, G: 0x8d, B: 0xd6, A: 0xff}
)

// plotDPI maps the pixels of a plot view to the points gonum/plot draws
// in: at 96 dpi a 9-point label is 12 pixels high, like the UI's text.
const plotDPI = 96

// plotView shows a plot rendered at exactly the pixel size it is given, so
// text stays sharp and the plot fills its space; update re-renders it in
// place (no new canvas object, no flicker).
type plotView struct {
	raster *canvas.Raster
	draw   func(w, h vg.Length) image.Image
	img    image.Image
}

// newPlotView makes a view at least minW×minH drawing with draw.
func newPlotView(draw func(w, h vg.Length) image.Image, minW, minH float32) *plotView {
	v := &plotView{draw: draw}
	v.raster = canvas.NewRaster(v.generate)
	v.raster.SetMinSize(fyne.NewSize(minW, minH))
	return v
}

// generate renders (or reuses) the plot at w×h pixels.
func (v *plotView) generate(w, h int) image.Image {
	if v.img != nil && v.img.Bounds().Dx() == w && v.img.Bounds().Dy() == h {
		return v.img
	}
	v.img = v.draw(vg.Length(w)*vg.Inch/plotDPI, vg.Length(h)*vg.Inch/plotDPI)
	return v.img
}

// update re-renders the plot with the data draw now sees.
func (v *plotView) update() {
	v.img = nil
	v.raster.Refresh()
}

// image returns the plot as last shown, rendered at the view's size (its
// minimum size before it is laid out).
func (v *plotView) image() image.Image {
	size := v.raster.Size()
	if size.Width < 1 || size.Height < 1 {
		size = v.raster.MinSize()
	}
	return v.generate(int(size.Width), int(size.Height))
}

// niceTicks labels an axis at 1, 2 or 5 times a power of ten, with as
// many decimals as the step needs; integer axes (steps) never get
// fractional ticks.
type niceTicks struct{ integer bool }

// Ticks returns about five ticks between lo and hi.
func (t niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if t.integer && step < 1 {
		step = 1
	}
	dec := max(0, int(-math.Floor(math.Log10(step))))
	var ticks []plot.Tick
	for i := math.Ceil(lo / step); i*step <= hi+step*1e-9; i++ {
		v := i * step
		label := strconv.FormatFloat(v, 'f', dec, 64)
		if step < 1e-3 {
			label = strconv.FormatFloat(v, 'g', 3, 64)
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}

// Series is one line of a line plot.
type Series struct {
	Name  string
	X, Y  []float64
	Color color.Color
}

// newPlot makes a plot with the app's look.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 10
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = 9
		a.Tick.Label.Font.Size = 8.5
	}
	p.X.Tick.Marker = niceTicks{}
	p.Y.Tick.Marker = niceTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// render draws p into an image of w×h points at plotDPI.
func render(p *plot.Plot, w, h vg.Length) image.Image {
	c := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(plotDPI))
	p.Draw(draw.New(c))
	return c.Image()
}

// LinePlot draws series against a shared x axis; with no points it shows
// the title and says what will appear ("Training loss appears here after
// the first step"), not axes without data.
func LinePlot(title, xLabel, yLabel string, series []Series, w, h vg.Length) image.Image {
	p := newPlot(title, xLabel, yLabel)
	p.X.Tick.Marker = niceTicks{integer: xLabel == "step"}
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = 8
	empty := true
	for _, s := range series {
		if len(s.X) == 0 {
			continue
		}
		empty = false
		pts := make(plotter.XYs, len(s.X))
		for i := range s.X {
			pts[i] = plotter.XY{X: s.X[i], Y: s.Y[i]}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			continue
		}
		l.Color = s.Color
		l.Width = vg.Points(1.4)
		p.Add(l)
		if len(series) > 1 {
			p.Legend.Add(s.Name, l)
		}
		if len(pts) == 1 {
			if sc, err := plotter.NewScatter(pts); err == nil {
				sc.Color = s.Color
				p.Add(sc)
			}
		}
	}
	if empty {
		return emptyPlot(title, title+" appears here after the first "+xLabel+".", w, h)
	}
	return render(p, w, h)
}

// emptyPlot draws a plot that has no data yet: its title and, where the
// data will be, a sentence saying what will appear there and when.
func emptyPlot(title, message string, w, h vg.Length) image.Image {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 10
	p.HideAxes()
	p.Add(notice{text: message, style: p.Title.TextStyle})
	return render(p, w, h)
}

// notice writes a line of grey text in the middle of the data area.
type notice struct {
	text  string
	style draw.TextStyle
}

// Plot centres the text in the canvas, wrapped at word boundaries to fit
// its width.
func (n notice) Plot(c draw.Canvas, _ *plot.Plot) {
	st := n.style
	st.Font.Size = vg.Points(9.5)
	st.Color = color.Gray{Y: 110}
	st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
	width := (c.Max.X - c.Min.X) * 0.9
	var lines []string
	for _, word := range strings.Fields(n.text) {
		if k := len(lines) - 1; k >= 0 && st.Width(lines[k]+" "+word) <= width {
			lines[k] += " " + word
			continue
		}
		lines = append(lines, word)
	}
	lh := st.Height("Mg") * 1.3
	mid := vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2}
	for i, l := range lines {
		y := mid.Y + lh*vg.Length(len(lines)-1)/2 - lh*vg.Length(i)
		c.FillText(st, vg.Point{X: mid.X, Y: y}, l)
	}
}

// Histogram draws the distribution of token lengths with a red line at
// limit (max_length) when limit > 0.
func Histogram(lengths []int, limit int, w, h vg.Length) image.Image {
	const title = "Row lengths in tokens"
	if len(lengths) == 0 {
		return emptyPlot(title, "The length of every training row appears here once the data is inspected.", w, h)
	}
	p := newPlot(title, "tokens", "rows")
	vs := make(plotter.Values, len(lengths))
	for i, n := range lengths {
		vs[i] = float64(n)
	}
	bins := min(30, max(5, len(lengths)/2))
	if hist, err := plotter.NewHist(vs, bins); err == nil {
		hist.FillColor = colorBar
		hist.LineStyle.Color = color.White
		p.Add(hist)
	}
	if limit > 0 {
		line, err := plotter.NewLine(plotter.XYs{{X: float64(limit), Y: 0}, {X: float64(limit), Y: 0}})
		if err == nil {
			line.LineStyle = limitStyle()
			p.Add(vLine{x: float64(limit)})
			p.Legend.Add(fmt.Sprintf("max_length %d", limit), line)
			p.Legend.Top = true
			p.Legend.TextStyle.Font.Size = 8
		}
	}
	return render(p, w, h)
}

// vLine is a vertical line across the whole plot at x.
type vLine struct{ x float64 }

// limitStyle is the dashed red of the max_length line.
func limitStyle() draw.LineStyle {
	return draw.LineStyle{Color: colorLimit, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
}

// Plot draws the line from the bottom to the top of the data area.
func (v vLine) Plot(c draw.Canvas, p *plot.Plot) {
	x := p.X.Norm(v.x)
	if x < 0 || x > 1 {
		return
	}
	px := c.Min.X + vg.Length(x)*(c.Max.X-c.Min.X)
	c.StrokeLine2(limitStyle(), px, c.Min.Y, px, c.Max.Y)
}

// DataRange makes the axes include x.
func (v vLine) DataRange() (xmin, xmax, ymin, ymax float64) {
	return v.x, v.x, 0, 0
}

// Confusion draws a confusion matrix as a heatmap of coloured cells with
// their counts: rows are the expected labels, columns the predicted ones.
func Confusion(title string, labels []string, counts [][]int, w, h vg.Length) image.Image {
	if len(labels) == 0 {
		return emptyPlot(title, "Counts of each expected and predicted label appear here after an evaluation.", w, h)
	}
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 10
	p.X.Label.Text = "predicted"
	p.Y.Label.Text = "expected"
	p.X.Label.TextStyle.Font.Size = 9
	p.Y.Label.TextStyle.Font.Size = 9
	n := len(labels)
	maxCount := 1
	for _, row := range counts {
		for _, c := range row {
			maxCount = max(maxCount, c)
		}
	}
	p.Add(cells{labels: labels, counts: counts, max: maxCount})
	p.X.Min, p.X.Max = 0, float64(max(n, 1))
	p.Y.Min, p.Y.Max = 0, float64(max(n, 1))
	ticks := func(flip bool) plot.TickerFunc {
		return func(_, _ float64) []plot.Tick {
			t := make([]plot.Tick, n)
			for i, l := range labels {
				pos := float64(i) + 0.5
				if flip {
					pos = float64(n-1-i) + 0.5
				}
				t[i] = plot.Tick{Value: pos, Label: l}
			}
			return t
		}
	}
	p.X.Tick.Marker = ticks(false)
	p.Y.Tick.Marker = ticks(true)
	p.X.Tick.Label.Font.Size = 9
	p.Y.Tick.Label.Font.Size = 9
	return render(p, w, h)
}

// cells draws the confusion matrix's cells, expected label i in row n-1-i
// so the first label is at the top like a table.
type cells struct {
	labels []string
	counts [][]int
	max    int
}

// Plot fills each cell from white to blue by its count and writes the count.
func (m cells) Plot(c draw.Canvas, p *plot.Plot) {
	n := len(m.labels)
	tx, ty := p.Transforms(&c)
	style := draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(10)),
		Handler: p.Title.TextStyle.Handler, XAlign: draw.XCenter, YAlign: draw.YCenter}
	for i := range n {
		for j := range n {
			v := 0
			if i < len(m.counts) && j < len(m.counts[i]) {
				v = m.counts[i][j]
			}
			f := float64(v) / float64(m.max)
			fill := color.RGBA{R: uint8(255 - 200*f), G: uint8(255 - 140*f), B: uint8(255 - 40*f), A: 255}
			row := float64(n - 1 - i)
			x0, x1 := tx(float64(j)), tx(float64(j+1))
			y0, y1 := ty(row), ty(row+1)
			rect := vg.Rectangle{Min: vg.Point{X: x0, Y: y0}, Max: vg.Point{X: x1, Y: y1}}
			c.SetColor(fill)
			c.Fill(rect.Path())
			c.SetLineWidth(vg.Points(0.8))
			c.SetColor(color.Gray{Y: 180})
			c.Stroke(rect.Path())
			st := style
			if f > 0.6 {
				st.Color = color.White
			}
			c.FillText(st, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, fmt.Sprint(v))
		}
	}
}
