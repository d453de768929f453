//! Small time-series charts drawn on the server as inline SVG.
//!
//! The pages' Content-Security-Policy forbids inline styles and scripts, so the SVG
//! carries geometry and presentation attributes only; colours and strokes come from the
//! stylesheet through these classes: `chart-line` (plus `chart-line-<n>` per series),
//! `chart-area`, `chart-axis`, `chart-grid`, `chart-label`, and on the root `chart` or
//! `sparkline`. Any input renders: unsorted points, points outside the time range, NaN,
//! infinities, an empty range or no points at all.

use std::fmt::Write;

use chrono::DateTime;

/// One line: `(time in Unix nanoseconds, value)` points, in any order.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// Shown as the line's tooltip.
    pub label: &'a str,
    pub points: &'a [(i64, f64)],
}

/// A chart's size in pixels and the time range its x axis covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// Room for the value labels on the left and the time labels below the plot area.
const LEFT: f64 = 48.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 18.0;
/// Keeps a sparkline's stroke inside its box.
const SPARK_PAD: f64 = 1.0;

const DAY_NS: i128 = 86_400 * 1_000_000_000;

/// `s` escaped for XML text and attribute values. Control characters XML 1.0 forbids
/// become U+FFFD so the document stays well-formed.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most one decimal; never "NaN", "inf" or "-0". Coordinates stay
/// within a few times a `u32` width; the clamp only keeps the text short if one did not.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_owned();
    }
    let r = (x.clamp(-1e10, 1e10) * 10.0).round() / 10.0;
    if r == 0.0 {
        "0".to_owned()
    } else if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// The smallest 1, 2 or 5 × 10^k at or above `m`; 1 when there is nothing above zero.
fn nice_ceil(m: f64) -> f64 {
    if !m.is_finite() || m <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(m.log10().floor());
    for f in [1.0, 2.0, 5.0, 10.0] {
        let n = f * p;
        // Near f64::MAX the next step overflows: keep the maximum itself then.
        if n.is_finite() && n >= m {
            return n;
        }
    }
    m
}

/// Values a chart can draw: times clamped to `[lo, hi]`, NaN and infinities as 0,
/// negatives as 0 (the y axis starts at 0), sorted by time.
fn clean(points: &[(i64, f64)], lo: i64, hi: i64) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = points
        .iter()
        .map(|&(t, v)| {
            let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
            (t.clamp(lo, hi), v)
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

/// Where values land: a rectangle in pixels, the time range and the value at the top.
struct Frame {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    lo: i64,
    hi: i64,
    max: f64,
}

impl Frame {
    fn x(&self, t: i64) -> f64 {
        // i128: the difference of two i64 can overflow i64.
        let span = (i128::from(self.hi) - i128::from(self.lo)).max(1) as f64;
        let off = (i128::from(t.clamp(self.lo, self.hi)) - i128::from(self.lo)) as f64;
        self.left + self.width * (off / span)
    }

    fn y(&self, v: f64) -> f64 {
        let frac = if self.max > 0.0 && v.is_finite() {
            (v / self.max).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.top + self.height * (1.0 - frac)
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    fn points(&self, pts: &[(i64, f64)]) -> String {
        let mut s = String::with_capacity(pts.len() * 10);
        for (i, &(t, v)) in pts.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let _ = write!(s, "{},{}", num(self.x(t)), num(self.y(v)));
        }
        s
    }
}

/// A time axis label: "HH:MM", with the date when the range spans a day or more.
fn time_label(ns: i64, long_range: bool) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let Some(t) = DateTime::from_timestamp(secs, 0) else {
        return String::new();
    };
    let fmt = if long_range { "%m-%d %H:%M" } else { "%H:%M" };
    t.format(fmt).to_string()
}

impl Chart {
    fn size(&self) -> (f64, f64) {
        (f64::from(self.width.max(1)), f64::from(self.height.max(1)))
    }

    fn range(&self) -> (i64, i64) {
        (
            self.start_ns.min(self.end_ns),
            self.start_ns.max(self.end_ns),
        )
    }

    /// The root element's opening tag and its `<title>`.
    fn open(&self, class: &str, title: &str) -> String {
        let (w, h) = (self.width.max(1), self.height.max(1));
        let t = escape(title);
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{class}\" viewBox=\"0 0 {w} {h}\" \
             width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>"
        )
    }

    /// A line chart: one line per series (the first with a light area under it), y from 0
    /// to the largest value rounded up to 1, 2 or 5 × 10^k, grid lines at the top and
    /// the middle labelled with `unit`, and the time range's ends labelled in UTC.
    /// Without any point it says "no data".
    pub fn line(&self, series: &[Series<'_>], unit: fn(f64) -> String, title: &str) -> String {
        let (w, h) = self.size();
        let (lo, hi) = self.range();
        let cleaned: Vec<(&str, Vec<(i64, f64)>)> = series
            .iter()
            .map(|s| (s.label, clean(s.points, lo, hi)))
            .collect();
        let has_data = cleaned.iter().any(|(_, p)| !p.is_empty());
        let top_value = cleaned
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&(_, v)| v))
            .fold(0.0, f64::max);
        // Margins shrink on tiny charts so the plot area keeps a positive size.
        let (left, right) = (LEFT.min(w / 2.0), RIGHT.min(w / 4.0));
        let (top, bottom) = (TOP.min(h / 4.0), BOTTOM.min(h / 4.0));
        let frame = Frame {
            left,
            top,
            width: w - left - right,
            height: h - top - bottom,
            lo,
            hi,
            max: nice_ceil(top_value),
        };
        let (x0, x1) = (frame.left, frame.left + frame.width);
        let mut out = self.open("chart", title);

        if has_data {
            for v in [frame.max, frame.max / 2.0] {
                let y = num(frame.y(v));
                let _ = write!(
                    out,
                    "<line class=\"chart-grid\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>\
                     <text class=\"chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                    num(x0),
                    num(x1),
                    num(x0 - 4.0),
                    num(frame.y(v) + 4.0),
                    escape(&unit(v)),
                );
            }
        }
        let bottom = num(frame.bottom());
        let _ = write!(
            out,
            "<line class=\"chart-axis\" x1=\"{}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>",
            num(x0),
            num(x1),
        );
        let long_range = i128::from(hi) - i128::from(lo) >= DAY_NS;
        let label_y = num(h - 4.0);
        let _ = write!(
            out,
            "<text class=\"chart-label\" x=\"{}\" y=\"{label_y}\" text-anchor=\"start\">{}</text>\
             <text class=\"chart-label\" x=\"{}\" y=\"{label_y}\" text-anchor=\"end\">{} UTC</text>",
            num(x0),
            time_label(lo, long_range),
            num(x1),
            time_label(hi, long_range),
        );

        if !has_data {
            let _ = write!(
                out,
                "<text class=\"chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>",
                num(frame.left + frame.width / 2.0),
                num(frame.top + frame.height / 2.0),
            );
            out.push_str("</svg>");
            return out;
        }

        // The area goes first so every line is drawn over it.
        if let Some((_, first)) = cleaned.first().filter(|(_, p)| !p.is_empty()) {
            let (start, end) = (
                first.first().map_or(lo, |p| p.0),
                first.last().map_or(hi, |p| p.0),
            );
            let _ = write!(
                out,
                "<polygon class=\"chart-area\" points=\"{},{bottom} {} {},{bottom}\"/>",
                num(frame.x(start)),
                frame.points(first),
                num(frame.x(end)),
            );
        }
        for (i, (label, pts)) in cleaned.iter().enumerate() {
            if pts.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "<polyline class=\"chart-line chart-line-{i}\" points=\"{}\"><title>{}</title></polyline>",
                frame.points(pts),
                escape(label),
            );
        }
        out.push_str("</svg>");
        out
    }

    /// A sparkline: one line filling the box, y from 0 to the largest value, no axes or
    /// labels (for table cells). Without points it is an empty box.
    pub fn sparkline(&self, points: &[(i64, f64)], title: &str) -> String {
        let (w, h) = self.size();
        let (lo, hi) = self.range();
        let pts = clean(points, lo, hi);
        let (pad_x, pad_y) = (SPARK_PAD.min(w / 4.0), SPARK_PAD.min(h / 4.0));
        let frame = Frame {
            left: pad_x,
            top: pad_y,
            width: w - 2.0 * pad_x,
            height: h - 2.0 * pad_y,
            lo,
            hi,
            max: pts.iter().map(|p| p.1).fold(0.0, f64::max),
        };
        let mut out = self.open("sparkline", title);
        if !pts.is_empty() {
            let _ = write!(
                out,
                "<polyline class=\"chart-line\" points=\"{}\"/>",
                frame.points(&pts)
            );
        }
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_795_588_200_000_000_000; // 2026-11-25 06:30:00 UTC
    const MIN: i64 = 60_000_000_000;

    fn chart() -> Chart {
        Chart {
            width: 600,
            height: 160,
            start_ns: START,
            end_ns: START + 15 * MIN,
        }
    }

    fn plain(v: f64) -> String {
        format!("{v}")
    }

    /// Tags open and close in nesting order, attribute values are quoted, and text holds
    /// no raw `<` or stray `&`: enough of XML's well-formedness for generated output.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            let text = &rest[..open];
            assert_entities(text);
            let close = rest[open..].find('>').expect("tag closes") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "{tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name), "{svg}");
            } else {
                let name = tag.split([' ', '/']).next().unwrap_or_default();
                assert!(!name.is_empty(), "{tag}");
                assert_eq!(tag.matches('"').count() % 2, 0, "{tag}");
                assert_entities(tag);
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(rest.is_empty());
        assert!(stack.is_empty(), "unclosed {stack:?}");
    }

    fn assert_entities(s: &str) {
        for (i, _) in s.match_indices('&') {
            let ent = &s[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| ent.starts_with(e)),
                "{s}"
            );
        }
    }

    /// The `points` of every `<polyline>`, as numbers.
    fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split("<polyline ")
            .skip(1)
            .map(|s| {
                let p = s.split("points=\"").nth(1).expect("points");
                let p = &p[..p.find('"').expect("quote")];
                p.split(' ')
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').expect("x,y");
                        (x.parse().expect("x"), y.parse().expect("y"))
                    })
                    .collect()
            })
            .collect()
    }

    fn assert_clean(svg: &str) {
        assert_well_formed(svg);
        assert!(!svg.contains("style"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        for bad in ["NaN", "inf", "-0,", "-0 "] {
            assert!(!svg.contains(bad), "{bad} in {svg}");
        }
    }

    #[test]
    fn nice_maxima() {
        for (m, want) in [
            (0.0, 1.0),
            (-3.0, 1.0),
            (f64::NAN, 1.0),
            (7.0, 10.0),
            (10.0, 10.0),
            (11.0, 20.0),
            (0.3, 0.5),
            (1500.0, 2000.0),
            (4.9e6, 5e6),
        ] {
            assert_eq!(nice_ceil(m), want, "{m}");
        }
        assert_eq!(nice_ceil(f64::MAX), f64::MAX);
    }

    #[test]
    fn line_maps_max_to_top_and_zero_to_bottom() {
        let c = chart();
        let pts = [
            (START + 10 * MIN, 4.0),
            (START, 0.0),
            (START + 5 * MIN, 10.0),
            (START + 15 * MIN, 2.5),
        ];
        let svg = c.line(
            &[Series {
                label: "requests",
                points: &pts,
            }],
            plain,
            "Requests",
        );
        assert_clean(&svg);
        let lines = polylines(&svg);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        // Sorted by time, spanning the plot area's width.
        assert_eq!(line.len(), 4);
        assert!(line.windows(2).all(|w| w[0].0 < w[1].0), "{line:?}");
        let bottom = 160.0 - BOTTOM;
        assert_eq!(line[0], (LEFT, bottom));
        assert_eq!(line[1], (LEFT + (600.0 - LEFT - RIGHT) / 3.0, TOP));
        assert_eq!(line[3].0, 600.0 - RIGHT);
        // 2.5 of 10: three quarters of the way down.
        assert_eq!(line[3].1, TOP + (bottom - TOP) * 0.75);
        // Grid labels by `unit`, time labels in UTC.
        assert!(
            svg.contains(">10</text>") && svg.contains(">5</text>"),
            "{svg}"
        );
        assert!(svg.contains(">06:30</text>") && svg.contains(">06:45 UTC</text>"));
        assert!(svg.contains("class=\"chart-area\""));
        assert!(svg.contains("<title>requests</title>"));
    }

    #[test]
    fn titles_and_labels_are_escaped() {
        let title = "a<b&\"c\" 'd'";
        let svg = chart().line(
            &[Series {
                label: "</polyline><script>",
                points: &[(START, 1.0)],
            }],
            |v| format!("{v}<&>"),
            title,
        );
        assert_clean(&svg);
        let escaped = "a&lt;b&amp;&quot;c&quot; &apos;d&apos;";
        assert!(svg.contains(&format!("aria-label=\"{escaped}\"")), "{svg}");
        assert!(svg.contains(&format!("<title>{escaped}</title>")), "{svg}");
        assert!(svg.contains("&lt;/polyline&gt;&lt;script&gt;"));
        assert!(svg.contains("1&lt;&amp;&gt;</text>"));
        let spark = chart().sparkline(&[], "x\u{1}<y>");
        assert_clean(&spark);
        assert!(spark.contains("<title>x\u{fffd}&lt;y&gt;</title>"));
    }

    #[test]
    fn root_element_is_accessible() {
        let svg = chart().sparkline(&[(START, 1.0)], "Latency");
        assert!(svg.starts_with(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sparkline\" \
             viewBox=\"0 0 600 160\" width=\"600\" height=\"160\" role=\"img\" \
             aria-label=\"Latency\"><title>Latency</title>"
        ));
    }

    #[test]
    fn no_points_says_no_data() {
        for series in [
            vec![],
            vec![Series {
                label: "a",
                points: &[],
            }],
        ] {
            let svg = chart().line(&series, plain, "Empty");
            assert_clean(&svg);
            assert!(svg.contains(">no data</text>"));
            assert!(polylines(&svg).is_empty());
        }
    }

    #[test]
    fn all_zero_is_a_flat_line_at_the_bottom() {
        let pts = [(START, 0.0), (START + MIN, 0.0), (START + 2 * MIN, 0.0)];
        let svg = chart().line(
            &[Series {
                label: "errors",
                points: &pts,
            }],
            plain,
            "Errors",
        );
        assert_clean(&svg);
        assert!(!svg.contains("no data"));
        let lines = polylines(&svg);
        assert!(lines[0].iter().all(|p| p.1 == 160.0 - BOTTOM), "{lines:?}");
    }

    #[test]
    fn degenerate_input_renders_without_nan() {
        let huge = [
            (START, 1e300),
            (START + MIN, f64::MAX),
            (START + 2 * MIN, 1.0),
        ];
        let bad = [
            (i64::MIN, f64::NAN),
            (i64::MAX, f64::INFINITY),
            (START, f64::NEG_INFINITY),
            (START, -5.0),
        ];
        let single = [(START + MIN, 3.0)];
        let charts = [
            chart(),
            // An empty time range, and a reversed one.
            Chart {
                end_ns: START,
                ..chart()
            },
            Chart {
                start_ns: START + MIN,
                end_ns: START,
                ..chart()
            },
            // No room at all, and the extremes of time.
            Chart {
                width: 0,
                height: 0,
                ..chart()
            },
            Chart {
                width: 3,
                height: 2,
                start_ns: i64::MIN,
                end_ns: i64::MAX,
            },
        ];
        for c in charts {
            for pts in [&huge[..], &bad[..], &single[..], &[]] {
                let svg = c.line(
                    &[
                        Series {
                            label: "a",
                            points: pts,
                        },
                        Series {
                            label: "b",
                            points: &single,
                        },
                    ],
                    plain,
                    "t",
                );
                assert_clean(&svg);
                for line in polylines(&svg) {
                    for (x, y) in line {
                        let (w, h) = (f64::from(c.width.max(1)), f64::from(c.height.max(1)));
                        assert!((0.0..=w).contains(&x) && (0.0..=h).contains(&y), "{svg}");
                    }
                }
                assert_clean(&c.sparkline(pts, "s"));
            }
        }
    }

    #[test]
    fn huge_values_keep_their_shape() {
        let pts = [(START, 1e300), (START + MIN, 0.0)];
        let svg = chart().line(
            &[Series {
                label: "a",
                points: &pts,
            }],
            plain,
            "t",
        );
        let line = &polylines(&svg)[0];
        assert_eq!(line[0].1, TOP);
        assert_eq!(line[1].1, 160.0 - BOTTOM);
    }

    #[test]
    fn points_outside_the_range_are_clamped_to_its_edges() {
        let pts = [(START - MIN, 1.0), (START + 30 * MIN, 1.0)];
        let svg = chart().sparkline(&pts, "s");
        let line = &polylines(&svg)[0];
        assert_eq!(line[0], (SPARK_PAD, SPARK_PAD));
        assert_eq!(line[1], (600.0 - SPARK_PAD, SPARK_PAD));
    }

    #[test]
    fn sparkline_fills_the_box() {
        let c = Chart {
            width: 100,
            height: 20,
            ..chart()
        };
        let pts = [
            (START + 15 * MIN, 2.0),
            (START, 0.0),
            (START + 5 * MIN, 4.0),
        ];
        let svg = c.sparkline(&pts, "trend");
        assert_clean(&svg);
        assert!(!svg.contains("<text") && !svg.contains("chart-axis"));
        let line = &polylines(&svg)[0];
        assert_eq!(line.len(), 3);
        assert_eq!(line[0], (1.0, 19.0));
        assert_eq!(line[1].1, 1.0);
        assert_eq!(line[2], (99.0, 10.0));
    }

    #[test]
    fn long_ranges_label_the_date() {
        let c = Chart {
            end_ns: START + 3 * 24 * 60 * MIN,
            ..chart()
        };
        let svg = c.line(
            &[Series {
                label: "a",
                points: &[(START, 1.0)],
            }],
            plain,
            "t",
        );
        assert!(svg.contains(">11-25 06:30</text>") && svg.contains(">11-28 06:30 UTC</text>"));
    }

    #[test]
    fn numbers_have_at_most_one_decimal() {
        assert_eq!(num(1.25), "1.3");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(1e300), "10000000000");
    }
}
