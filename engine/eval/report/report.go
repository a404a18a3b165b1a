// Package report writes an offline evaluation as one self-contained HTML
// page: the metrics table and, drawn with gonum/plot as inline SVG,
// metric@k curves per model, catalog coverage, popularity bias against the
// held-out purchases, and training loss by iteration.
package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"rapport/engine/eval"
)

// Input is what a report shows.
type Input struct {
	Command   string // the command line that produced it
	Protocol  string
	Task      eval.Task
	K         int
	Generated time.Time
	Results   []eval.Result
	// Relevant is eval.RelevantDeciles of the split: the popularity of
	// what people actually bought in the test part.
	Relevant []float64
	Orders   *eval.OrderResult
}

// chart is one figure: a title, a caption and the SVG.
type chart struct {
	Title, Caption string
	SVG            template.HTML
}

// Write renders the report.
func Write(w io.Writer, in Input) error {
	var charts []chart
	add := func(title, caption string, p *plot.Plot, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		if p == nil {
			return nil
		}
		svg, err := render(p)
		if err != nil {
			return fmt.Errorf("%s: %w", title, err)
		}
		charts = append(charts, chart{Title: title, Caption: caption, SVG: svg})
		return nil
	}
	for _, c := range []struct {
		title, caption, metric string
		value                  func(eval.CurvePoint) float64
	}{
		{"NDCG@k", "Normalised discounted cumulative gain of each model's list cut at every length k.", "NDCG", func(p eval.CurvePoint) float64 { return p.NDCG }},
		{"Recall@k", "Share of each person's held-out purchases found in the first k.", "recall", func(p eval.CurvePoint) float64 { return p.Recall }},
		{"Hit rate@k", "Share of people with at least one held-out purchase in the first k.", "hit rate", func(p eval.CurvePoint) float64 { return p.HitRate }},
	} {
		p, err := curves(in.Results, c.metric, c.value)
		if err := add(c.title, c.caption, p, err); err != nil {
			return err
		}
	}
	p, err := coverage(in.Results)
	if err := add("Catalog coverage", fmt.Sprintf("Share of the items anyone had in training that appear in some top-%d list.", in.K), p, err); err != nil {
		return err
	}
	p, err = popularity(in.Results, in.Relevant)
	if err := add("Popularity bias", "Where recommended slots go, by training popularity of the item (tenths of the catalog, most popular first), against the held-out purchases themselves (dashed): a curve above the dashed one on the left leans to the popular.", p, err); err != nil {
		return err
	}
	p, err = losses(in.Results)
	if err := add("Training loss by iteration", "The ALS objective after each iteration (the ranker's ALS part for the ranker): weighted squared error on every (person, item) pair plus regularisation.", p, err); err != nil {
		return err
	}
	return page.Execute(w, struct {
		Input
		Charts []chart
	}{in, charts})
}

func render(p *plot.Plot) (template.HTML, error) {
	wt, err := p.WriterTo(16*vg.Centimeter, 9*vg.Centimeter, "svg")
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", err
	}
	svg := b.String()
	if i := strings.Index(svg, "<svg"); i > 0 {
		svg = svg[i:] // drop the XML prolog: the SVG is inline
	}
	return template.HTML(svg), nil // produced by gonum/plot from numbers and model names it escapes
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func line(p *plot.Plot, i int, name string, pts plotter.XYs, dashed bool) error {
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	s.Color = plotutil.Color(i)
	s.Shape = plotutil.Shape(i)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l, s)
	p.Legend.Add(name, l, s)
	return nil
}

// perModel draws one line per model from the points each result gives
// (none: the model is left out); false when no model gave any.
func perModel(p *plot.Plot, rs []eval.Result, points func(eval.Result) plotter.XYs) (bool, error) {
	drawn := false
	for i, r := range rs {
		pts := points(r)
		if len(pts) == 0 {
			continue
		}
		if err := line(p, i, r.Model, pts, false); err != nil {
			return false, err
		}
		drawn = true
	}
	return drawn, nil
}

// numbered places values at x = 1, 2, …
func numbered(vs []float64) plotter.XYs {
	pts := make(plotter.XYs, len(vs))
	for i, v := range vs {
		pts[i] = plotter.XY{X: float64(i + 1), Y: v}
	}
	return pts
}

func curves(rs []eval.Result, metric string, value func(eval.CurvePoint) float64) (*plot.Plot, error) {
	p := newPlot("", "k (list length)", metric)
	drawn, err := perModel(p, rs, func(r eval.Result) plotter.XYs {
		pts := make(plotter.XYs, len(r.Curve))
		for j, c := range r.Curve {
			pts[j] = plotter.XY{X: float64(c.K), Y: value(c)}
		}
		return pts
	})
	if err != nil || !drawn {
		return nil, err
	}
	p.Y.Min = 0
	return p, nil
}

func coverage(rs []eval.Result) (*plot.Plot, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	p := newPlot("", "", "catalog coverage")
	vals := make(plotter.Values, len(rs))
	names := make([]string, len(rs))
	for i, r := range rs {
		vals[i], names[i] = r.Coverage, r.Model
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(28))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)
	p.Y.Min = 0
	p.X.Tick.Label.Rotation = 0.5
	p.X.Tick.Label.XAlign = draw.XRight
	return p, nil
}

func popularity(rs []eval.Result, relevant []float64) (*plot.Plot, error) {
	p := newPlot("", "popularity tenth of the catalog (1 = most popular)", "share of slots")
	drawn, err := perModel(p, rs, func(r eval.Result) plotter.XYs { return numbered(r.PopularityDeciles) })
	if err != nil || !drawn {
		return nil, err
	}
	if len(relevant) > 0 {
		if err := line(p, len(rs), "held-out purchases", numbered(relevant), true); err != nil {
			return nil, err
		}
	}
	p.Y.Min = 0
	return p, nil
}

func losses(rs []eval.Result) (*plot.Plot, error) {
	p := newPlot("", "iteration", "loss")
	drawn, err := perModel(p, rs, func(r eval.Result) plotter.XYs { return numbered(r.Loss) })
	if err != nil || !drawn {
		return nil, err
	}
	return p, nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"f4":  func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"pct": func(n, d int) string { return fmt.Sprintf("%.2f%%", 100*float64(n)/float64(max(1, d))) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Rapport evaluation — {{.Task}}@{{.K}}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}code{background:#f4f4f4;padding:0 .2rem}
.meta{color:#555}.chart svg{max-width:100%;height:auto}figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}
</style></head><body>
<h1>Offline evaluation: {{.Task}}, k = {{.K}}</h1>
<p class="meta">Split: {{.Protocol}}.<br>Generated {{.Generated.Format "2006-01-02 15:04 MST"}}{{if .Command}} by <code>{{.Command}}</code>{{end}}.</p>
<table><thead><tr><th>model</th><th>NDCG@{{.K}}</th><th>recall</th><th>precision</th><th>MAP</th><th>MRR</th><th>hit rate</th><th>coverage</th><th>novelty</th><th>train s</th></tr></thead><tbody>
{{range .Results}}<tr><td>{{.Model}}</td><td>{{f4 .NDCG}}</td><td>{{f4 .Recall}}</td><td>{{f4 .Precision}}</td><td>{{f4 .MAP}}</td><td>{{f4 .MRR}}</td><td>{{f4 .HitRate}}</td><td>{{f4 .Coverage}}</td><td>{{f2 .Novelty}}</td><td>{{f2 .TrainSeconds}}</td></tr>
{{end}}</tbody></table>
{{with index .Results 0}}<p class="meta">{{.Users}} test people, {{.Pairs}} relevant (person, item) pairs; every metric is averaged over those people.</p>{{end}}
{{range .Charts}}<h2>{{.Title}}</h2><figure class="chart">{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}
{{with .Orders}}<h2>Order lines</h2>
<p>{{.Pairs}} (person, item) pairs ordered before the cutoff and again after it.</p>
<table><thead><tr><th>estimator</th><th>value</th></tr></thead><tbody>
{{range $name, $hits := .QuantityHits}}<tr><td>quantity = next order's: {{$name}}</td><td>{{pct $hits $.Orders.Pairs}}</td></tr>
{{end}}{{range $name, $days := .DateErrorDays}}<tr><td>next-order date, median error in days: {{$name}}</td><td>{{f2 $days}}</td></tr>
{{end}}</tbody></table>{{end}}
</body></html>
`))
