//! A hand-written SVG line plot of accuracy against answers: per strategy, kNN with the whole
//! pool as bank (solid) and with only the recovered items (dashed; rounds that recovered
//! nothing are left out).

use std::fmt::Write;

use super::StrategyRun;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 440.0;
/// Room for the axis labels (left, right, top, bottom).
const MARGIN: (f64, f64, f64, f64) = (64.0, 210.0, 40.0, 56.0);
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// One line of the plot.
struct Series<'a> {
    label: String,
    colour: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// Maps data coordinates to the plot area.
struct Frame {
    x_max: f64,
    y_min: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, answers: f64) -> f64 {
        let width = WIDTH - MARGIN.0 - MARGIN.1;
        MARGIN.0 + answers / self.x_max * width
    }

    fn y(&self, accuracy: f64) -> f64 {
        let height = HEIGHT - MARGIN.2 - MARGIN.3;
        MARGIN.2 + (self.y_max - accuracy) / (self.y_max - self.y_min) * height
    }
}

/// The plot as a complete SVG document.
pub fn accuracy_svg(runs: &[StrategyRun]) -> String {
    let series = series_of(runs);
    let frame = frame_for(&series);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">Test accuracy (kNN, k=20) against answers</text>"#,
        (WIDTH - MARGIN.1 + MARGIN.0) / 2.0
    );
    draw_axes(&mut svg, &frame);
    for (index, line) in series.iter().enumerate() {
        draw_series(&mut svg, &frame, line);
        draw_legend_entry(&mut svg, index, line);
    }
    svg.push_str("</svg>\n");
    svg
}

fn series_of(runs: &[StrategyRun]) -> Vec<Series<'static>> {
    let mut series = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let points = |pick: fn(&super::RoundReport) -> Option<f64>| {
            run.rounds
                .iter()
                .filter_map(|r| Some((r.answers as f64, pick(r)?)))
                .collect::<Vec<_>>()
        };
        series.push(Series {
            label: format!("{} kNN", run.strategy),
            colour,
            dashed: false,
            points: points(|r| Some(r.quality.knn_accuracy)),
        });
        series.push(Series {
            label: format!("{} kNN, recovered", run.strategy),
            colour,
            dashed: true,
            points: points(|r| {
                (r.quality.label_recovery > 0.0).then_some(r.quality.knn_accuracy_recovered)
            }),
        });
    }
    series
}

/// x from 0 to the most answers (at least 1); y from the lowest value rounded down to a
/// tenth (0.5 at most, so that the curves keep their shape) to 1.
fn frame_for(series: &[Series]) -> Frame {
    let points = series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max);
    let lowest = points.map(|p| p.1).fold(0.5, f64::min);
    Frame {
        x_max: nice_ceiling(x_max),
        y_min: (lowest * 10.0).floor() / 10.0,
        y_max: 1.0,
    }
}

/// `value` rounded up to a whole number of the power of ten just below it: 4200 to 5000,
/// 4000 stays.
fn nice_ceiling(value: f64) -> f64 {
    let power = 10f64.powf(value.log10().floor());
    (value / power).ceil() * power
}

/// Spacing of the answer ticks: three to nine ticks of a power of ten, or halves or fifths
/// of it when the axis ends on 1 or 2 of them.
fn tick_step(x_max: f64) -> f64 {
    let power = 10f64.powf(x_max.log10().floor());
    match (x_max / power).round() as i32 {
        1 => power / 5.0,
        2 => power / 2.0,
        _ => power,
    }
}

fn draw_axes(svg: &mut String, frame: &Frame) {
    let (left, right) = (frame.x(0.0), frame.x(frame.x_max));
    let (bottom, top) = (frame.y(frame.y_min), frame.y(frame.y_max));
    let step = tick_step(frame.x_max);
    let ticks = (frame.x_max / step).round() as i32;
    for tick in 0..=ticks {
        let answers = step * f64::from(tick);
        let x = frame.x(answers);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{answers:.0}</text>"##,
            bottom + 18.0
        );
    }
    let steps = ((frame.y_max - frame.y_min) * 10.0).round() as i32;
    for tick in 0..=steps {
        let accuracy = frame.y_min + f64::from(tick) / 10.0;
        let y = frame.y(accuracy);
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{accuracy:.1}</text>"##,
            left - 8.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<path d="M{left:.1},{top:.1} V{bottom:.1} H{right:.1}" fill="none" stroke="#333"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">answers</text>"#,
        (left + right) / 2.0,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">test accuracy</text>"#,
        (top + bottom) / 2.0
    );
}

fn draw_series(svg: &mut String, frame: &Frame, series: &Series) {
    let points: Vec<String> = series
        .points
        .iter()
        .map(|&(answers, accuracy)| format!("{:.1},{:.1}", frame.x(answers), frame.y(accuracy)))
        .collect();
    let dash = if series.dashed {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"#,
        points.join(" "),
        series.colour
    );
    for point in &points {
        let (x, y) = point.split_once(',').unwrap_or(("0", "0"));
        let _ = writeln!(
            svg,
            r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{}"/>"#,
            series.colour
        );
    }
}

fn draw_legend_entry(svg: &mut String, index: usize, series: &Series) {
    let x = WIDTH - MARGIN.1 + 16.0;
    let y = MARGIN.2 + 10.0 + index as f64 * 20.0;
    let dash = if series.dashed {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
        x + 24.0,
        series.colour,
        x + 30.0,
        y + 4.0,
        series.label
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::Timings;
    use crate::simulate::evaluate::{Quality, RoundReport};

    fn round(answers: usize, knn: f64, recovered: f64) -> RoundReport {
        RoundReport {
            strategy: "active",
            round: answers / 100,
            answers,
            quality: Quality {
                knn_accuracy: knn,
                knn_accuracy_recovered: recovered,
                knn_accuracy_random_bank: None,
                linear_probe_accuracy: 0.0,
                rank_me: 1.0,
                label_recovery: answers as f64 / 4000.0,
                answers_per_label: None,
                label_precision: None,
                classes_found: 0,
                recovered_per_label: Vec::new(),
            },
            conflicts: 0,
            awaiting: 0,
            joins_held: 0,
            reasked_answers: 0,
            audit_answers: 0,
            audits_overturned: 0,
            flipped_answers: 0,
            loss: 0.0,
            elapsed_s: 0.0,
        }
    }

    fn run(strategy: &'static str) -> StrategyRun {
        StrategyRun {
            strategy,
            rounds: vec![
                round(0, 0.8, 0.0),
                round(400, 0.85, 0.7),
                round(800, 0.9, 0.8),
            ],
            timings: Timings::default(),
            encoder: "small_cnn",
        }
    }

    #[test]
    fn each_strategy_gets_a_solid_and_a_dashed_line_in_the_legend() {
        let svg = accuracy_svg(&[run("active"), run("passive")]);

        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            4,
            "2 lines and 2 legend keys"
        );
        assert!(svg.contains(">passive kNN, recovered</text>"));
    }

    #[test]
    fn rounds_that_recovered_nothing_have_no_recovered_point() {
        let svg = accuracy_svg(&[run("active")]);

        let dashed = svg
            .lines()
            .find(|line| line.starts_with("<polyline") && line.contains("dasharray"))
            .expect("a dashed line");
        assert_eq!(
            dashed
                .split_whitespace()
                .filter(|w| w.contains(','))
                .count(),
            2
        );
    }

    #[test]
    fn points_map_answers_to_the_right_and_accuracy_upwards() {
        let frame = Frame {
            x_max: 1000.0,
            y_min: 0.0,
            y_max: 1.0,
        };

        assert_eq!(frame.x(0.0), MARGIN.0);
        assert_eq!(frame.x(1000.0), WIDTH - MARGIN.1);
        assert_eq!(frame.y(1.0), MARGIN.2);
        assert_eq!(frame.y(0.0), HEIGHT - MARGIN.3);
    }

    #[test]
    fn the_answer_axis_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(4000.0), 4000.0);
        assert_eq!(nice_ceiling(4200.0), 5000.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(nice_ceiling(1.5), 2.0);
    }

    #[test]
    fn the_answer_axis_gets_three_to_ten_ticks() {
        assert_eq!(tick_step(4000.0), 1000.0);
        assert_eq!(tick_step(2000.0), 1000.0 / 2.0);
        assert_eq!(tick_step(100.0), 20.0);
    }
}
