//! A run chart drawn as SVG on the server: the monthly points joined in order, the
//! baseline median as the centre line (solid over the baseline, dashed after it), each
//! change idea marked on the month it began, and the points of every signal the rules found
//! drawn larger. The same drawing is shown on the page (beside the table of its data) and
//! downloaded as a file, so it needs no script and prints as it shows.

use askama::Template;

use attach_domain::qi::runchart::{Month, RunChartAnalysis, Side, SignalKind};

/// The drawing's size, in SVG units (pixels at 100 %).
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 340.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 56.0;

/// A change idea to mark on the chart: the month it began and its title.
#[derive(Debug, Clone)]
pub struct ChangeMark {
    pub month: Month,
    pub title: String,
}

/// A point of the drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Dot {
    pub x: String,
    pub y: String,
    /// Part of a signal: drawn larger.
    pub signal: bool,
    /// "2026-03: 64.2 %"
    pub label: String,
}

/// A label on an axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub x: String,
    pub y: String,
    pub text: String,
}

/// A change marked on the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: String,
    pub label_y: String,
    pub number: usize,
    pub title: String,
}

/// Everything the template draws.
#[derive(Debug, Clone, Template)]
#[template(path = "qi/runchart_svg.html")]
pub struct RunChartSvg {
    pub id: String,
    pub title: String,
    pub description: String,
    pub width: f64,
    pub height: f64,
    pub left: String,
    pub right: String,
    pub top: String,
    pub base: String,
    /// The points joined: `x,y x,y …` (empty with fewer than two points).
    pub line: String,
    pub dots: Vec<Dot>,
    pub grid: Vec<Tick>,
    pub months: Vec<Tick>,
    /// The centre line: over the baseline (solid) and after it (dashed).
    pub median_y: String,
    pub baseline_end: String,
    pub median_label: String,
    pub marks: Vec<Mark>,
}

/// Months from `a` to `b` (negative when `b` is earlier).
fn months_between(a: Month, b: Month) -> i64 {
    (i64::from(b.year()) * 12 + i64::from(b.month()))
        - (i64::from(a.year()) * 12 + i64::from(a.month()))
}

/// A round step for about five grid lines over `span`.
fn step_for(span: f64) -> f64 {
    let raw = (span / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * magnitude >= raw {
            return m * magnitude;
        }
    }
    10.0 * magnitude
}

/// Coordinates are written with one decimal: enough for a screen, stable for tests.
fn coord(v: f64) -> String {
    format!("{v:.1}")
}

/// A value as the table writes it: no more decimals than it needs (at most two).
pub fn value_text(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Lays out `chart` for drawing. `unit` follows each value (`%`, or empty); `changes` are
/// marked on the month they began when it is within the chart's months.
pub fn layout(
    id: &str,
    title: &str,
    unit: &str,
    chart: &RunChartAnalysis,
    changes: &[ChangeMark],
) -> RunChartSvg {
    let with_unit = |v: f64| {
        let t = value_text(v);
        if unit.is_empty() {
            t
        } else if unit == "%" {
            format!("{t} %")
        } else {
            format!("{t} {unit}")
        }
    };
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let base = TOP + plot_h;
    let first = chart.points.first().map(|p| p.month);
    let span_months = match (first, chart.points.last()) {
        (Some(f), Some(l)) => months_between(f, l.month).max(1),
        _ => 1,
    };
    let x_of = |m: Month| -> f64 {
        let i = first.map_or(0, |f| months_between(f, m));
        LEFT + plot_w * (i as f64) / (span_months as f64)
    };
    // The value scale: every point and the median, on round steps, from 0 when the values
    // are all positive and near it.
    let values = chart
        .points
        .iter()
        .map(|p| p.value)
        .chain(std::iter::once(chart.median));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let (lo, hi) = if (hi - lo).abs() < f64::EPSILON {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    };
    let step = step_for(hi - lo);
    let mut bottom = (lo / step).floor() * step;
    if bottom > 0.0 && bottom <= 2.0 * step {
        bottom = 0.0;
    }
    // A point exactly on the frame's edge would sit on the axis: leave a step of room.
    if (bottom - lo).abs() < f64::EPSILON && !(lo >= 0.0 && bottom <= 0.0) {
        bottom -= step;
        if lo >= 0.0 {
            bottom = bottom.max(0.0);
        }
    }
    let mut top = ((hi / step).ceil() * step).max(bottom + step);
    if (top - hi).abs() < f64::EPSILON {
        top += step;
    }
    let y_of = |v: f64| base - plot_h * (v - bottom) / (top - bottom);

    let in_signal: Vec<bool> = (0..chart.points.len())
        .map(|i| {
            chart.signals.iter().any(|s| {
                !matches!(
                    s.kind,
                    SignalKind::TooFewRuns { .. } | SignalKind::TooManyRuns { .. }
                ) && s.points.contains(&i)
            })
        })
        .collect();
    let dots: Vec<Dot> = chart
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| Dot {
            x: coord(x_of(p.month)),
            y: coord(y_of(p.value)),
            signal: in_signal.get(i).copied().unwrap_or(false),
            label: format!("{}: {}", p.month, with_unit(p.value)),
        })
        .collect();
    let line = if dots.len() > 1 {
        dots.iter()
            .map(|d| format!("{},{}", d.x, d.y))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        String::new()
    };
    let mut grid = Vec::new();
    let mut v = bottom;
    while v <= top + step / 2.0 {
        grid.push(Tick {
            x: coord(LEFT - 6.0),
            y: coord(y_of(v)),
            text: value_text(v),
        });
        v += step;
    }
    // Month labels: every month up to 12 of them, else every n-th.
    let every = (span_months as usize / 12 + 1).max(1);
    let months = match first {
        Some(f) => {
            let mut out = Vec::new();
            let mut m = f;
            for i in 0..=span_months as usize {
                if i % every == 0 {
                    out.push(Tick {
                        x: coord(x_of(m)),
                        y: coord(base + 18.0),
                        text: m.to_string(),
                    });
                }
                match m.next() {
                    Some(n) => m = n,
                    None => break,
                }
            }
            out
        }
        None => Vec::new(),
    };
    let baseline_end = chart
        .points
        .get(chart.baseline_points.saturating_sub(1))
        .map_or(LEFT, |p| x_of(p.month));
    let last_month = chart.points.last().map(|p| p.month);
    let marks = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            first.is_some_and(|f| months_between(f, c.month) >= 0)
                && last_month.is_some_and(|l| months_between(c.month, l) >= 0)
        })
        .map(|(i, c)| Mark {
            x: coord(x_of(c.month)),
            label_y: coord(TOP - 8.0 + 12.0 * (i % 2) as f64),
            number: i + 1,
            title: format!("Change {}: {} (from {})", i + 1, c.title, c.month),
        })
        .collect();
    let above = chart
        .signals
        .iter()
        .map(|s| match s.kind {
            SignalKind::Shift { side: Side::Above } => "a shift above the median",
            SignalKind::Shift { side: Side::Below } => "a shift below the median",
            SignalKind::Trend { .. } => "a trend",
            SignalKind::TooFewRuns { .. } => "too few runs",
            SignalKind::TooManyRuns { .. } => "too many runs",
            SignalKind::AstronomicalPoint { .. } => "an astronomical point",
        })
        .collect::<Vec<_>>();
    let description = format!(
        "{} monthly points from {} to {}; median of the first {} points {}; {}.",
        chart.points.len(),
        first.map(|m| m.to_string()).unwrap_or_default(),
        last_month.map(|m| m.to_string()).unwrap_or_default(),
        chart.baseline_points,
        with_unit(chart.median),
        if above.is_empty() {
            "no signal".to_owned()
        } else {
            format!("signals: {}", above.join(", "))
        }
    );
    RunChartSvg {
        id: id.to_owned(),
        title: title.to_owned(),
        description,
        width: WIDTH,
        height: HEIGHT,
        left: coord(LEFT),
        right: coord(WIDTH - RIGHT),
        top: coord(TOP),
        base: coord(base),
        line,
        dots,
        grid,
        months,
        median_y: coord(y_of(chart.median)),
        baseline_end: coord(baseline_end),
        median_label: format!("median {}", with_unit(chart.median)),
        marks,
    }
}

impl RunChartSvg {
    /// The drawing as a file of its own.
    pub fn file(&self) -> Result<String, askama::Error> {
        Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n",
            self.render()?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attach_domain::qi::runchart::{DesiredDirection, Point, analyse};

    fn month(s: &str) -> Month {
        s.parse().expect("a month")
    }

    fn chart(values: &[f64], baseline: usize) -> RunChartAnalysis {
        let mut m = month("2025-01");
        let mut points = Vec::new();
        for v in values {
            points.push(Point::new(m, *v));
            m = m.next().expect("a next month");
        }
        analyse(&points, Some(baseline), DesiredDirection::Up).expect("analysed")
    }

    #[test]
    fn points_go_left_to_right_and_higher_values_higher_up() {
        let c = chart(&[50.0, 60.0, 55.0, 70.0], 4);
        let svg = layout("m", "Measure", "%", &c, &[]);
        let xs: Vec<f64> = svg.dots.iter().map(|d| d.x.parse().unwrap()).collect();
        let ys: Vec<f64> = svg.dots.iter().map(|d| d.y.parse().unwrap()).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
        assert!(ys[1] < ys[0] && ys[3] < ys[1], "{ys:?}");
        assert_eq!(svg.dots[3].label, "2025-04: 70 %");
        assert_eq!(svg.line.split(' ').count(), 4);
        let top: f64 = svg.top.parse().unwrap();
        let base: f64 = svg.base.parse().unwrap();
        assert!(ys.iter().all(|y| *y >= top && *y <= base));
    }

    #[test]
    fn the_centre_line_is_at_the_median() {
        let c = chart(&[10.0, 20.0, 30.0, 40.0, 50.0], 3);
        assert_eq!(c.median, 20.0);
        let svg = layout("m", "Measure", "", &c, &[]);
        assert_eq!(
            svg.median_y, svg.dots[1].y,
            "the median's height is the point at 20"
        );
        assert_eq!(svg.baseline_end, svg.dots[2].x);
        assert_eq!(svg.median_label, "median 20");
    }

    #[test]
    fn a_missing_month_leaves_its_place() {
        let points = [
            Point::new(month("2025-01"), 1.0),
            Point::new(month("2025-02"), 2.0),
            Point::new(month("2025-04"), 3.0),
        ];
        let c = analyse(&points, None, DesiredDirection::Up).expect("analysed");
        let svg = layout("m", "Measure", "", &c, &[]);
        let xs: Vec<f64> = svg.dots.iter().map(|d| d.x.parse().unwrap()).collect();
        assert!(
            ((xs[2] - xs[1]) - 2.0 * (xs[1] - xs[0])).abs() < 0.2,
            "{xs:?}"
        );
        assert_eq!(
            svg.months.len(),
            4,
            "every month labelled, the missing one too"
        );
    }

    #[test]
    fn changes_are_marked_on_their_month_and_signals_drawn_larger() {
        let values = [
            58.0, 61.0, 60.0, 59.0, 62.0, 60.0, 57.0, 63.0, 60.0, 61.0, 59.0, 60.0, 66.0, 68.0,
            67.0, 70.0, 69.0, 71.0,
        ];
        let c = chart(&values, 12);
        let changes = [
            ChangeMark {
                month: month("2026-01"),
                title: "Standing orders for HbA1c".to_owned(),
            },
            ChangeMark {
                month: month("2030-01"),
                title: "outside the chart".to_owned(),
            },
        ];
        let svg = layout("m", "Measure", "%", &c, &changes);
        assert_eq!(svg.marks.len(), 1);
        assert_eq!(svg.marks[0].x, svg.dots[12].x);
        assert!(svg.marks[0].title.starts_with("Change 1: Standing orders"));
        assert!(svg.dots[12..].iter().all(|d| d.signal));
        assert!(svg.dots[..12].iter().all(|d| !d.signal));
        assert!(
            svg.description.contains("a shift above the median"),
            "{}",
            svg.description
        );
        let file = svg.file().expect("renders");
        assert!(file.starts_with("<?xml"));
        assert!(file.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(file.matches("<circle").count(), values.len());
    }

    #[test]
    fn one_point_or_flat_values_still_draw() {
        let c = chart(&[5.0], 1);
        let svg = layout("m", "Measure", "", &c, &[]);
        assert!(svg.line.is_empty());
        assert_eq!(svg.dots.len(), 1);
        let c = chart(&[5.0, 5.0, 5.0], 3);
        let svg = layout("m", "Measure", "", &c, &[]);
        assert!(svg.grid.len() >= 2);
        assert!(svg.file().is_ok());
    }

    #[test]
    fn values_read_without_needless_decimals() {
        assert_eq!(value_text(64.0), "64");
        assert_eq!(value_text(64.25), "64.25");
        assert_eq!(value_text(64.5), "64.5");
        assert_eq!(value_text(-0.0001), "0");
    }
}
