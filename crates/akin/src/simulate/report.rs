//! The Markdown report of `akin simulate --out DIR`: the command and its parameters, one
//! table per strategy, what the noise did, where the time went, and the SVG plot beside it.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::{SimulateArgs, StrategyRun, Timings, plot};

/// Everything the report shows.
pub struct ReportInput<'a> {
    pub args: &'a SimulateArgs,
    pub runs: &'a [StrategyRun],
    /// kNN accuracy of raw pixels with the whole pool as bank, when measured.
    pub pixel_knn: Option<f64>,
    /// Wall time of the whole command.
    pub total: Duration,
}

/// Writes `report.md` and `accuracy.svg` into `dir` (created when missing); returns the
/// report's path.
pub fn write(dir: &Path, input: &ReportInput) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
    let svg = dir.join("accuracy.svg");
    std::fs::write(&svg, plot::accuracy_svg(input.runs))
        .with_context(|| format!("while writing {}", svg.display()))?;
    let report = dir.join("report.md");
    std::fs::write(&report, markdown(input))
        .with_context(|| format!("while writing {}", report.display()))?;
    Ok(report)
}

/// The whole report as Markdown.
pub fn markdown(input: &ReportInput) -> String {
    let mut text = String::from("# Akin simulation report\n\n");
    let command: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(text, "Command: `akin {}`\n", command.join(" "));
    parameters(&mut text, input);
    for run in input.runs {
        results(&mut text, run);
    }
    noise(&mut text, input);
    time(&mut text, input);
    text.push_str("![Test accuracy against answers](accuracy.svg)\n");
    text
}

fn parameters(text: &mut String, input: &ReportInput) {
    let args = input.args;
    let encoder = input.runs.first().map_or("-", |run| run.encoder);
    let rows = [
        ("dataset", args.dataset.clone()),
        ("training pool", format!("{} items, stratified", args.items)),
        ("rounds", args.rounds.to_string()),
        ("queries per round", args.queries_per_round.to_string()),
        ("seed", args.seed.to_string()),
        ("loss", args.loss.to_string()),
        ("encoder", encoder.to_string()),
        ("answer noise", format!("{}", args.noise)),
        ("audit share", format!("{}", args.audit_share)),
        ("warm-up steps", args.warmup_steps.to_string()),
        ("steps per round", args.steps_per_round.to_string()),
        (
            "device / threads",
            format!("{} / {}", args.device, args.threads),
        ),
    ];
    text.push_str("## Parameters\n\n| parameter | value |\n| --- | --- |\n");
    for (name, value) in rows {
        let _ = writeln!(text, "| {name} | {value} |");
    }
    if let Some(pixels) = input.pixel_knn {
        let _ = writeln!(
            text,
            "\nkNN on raw pixels with the whole pool as bank (the bar to clear): {pixels:.4}"
        );
    }
    text.push('\n');
}

fn results(text: &mut String, run: &StrategyRun) {
    let _ = writeln!(text, "## {} strategy\n", run.strategy);
    text.push_str(
        "| round | answers | kNN | kNN, recovered bank | kNN, random bank as large | linear \
         probe | RankMe | label recovery | answers per label | label precision | conflicts | \
         re-asks | audits |\n",
    );
    text.push_str(
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: \
         | ---: |\n",
    );
    let optional = |value: Option<f64>, digits: usize| {
        value.map_or("-".to_string(), |v| format!("{v:.digits$}"))
    };
    for r in &run.rounds {
        let _ = writeln!(
            text,
            "| {} | {} | {:.4} | {:.4} | {} | {:.4} | {:.1} | {:.4} | {} | {} | {} | {} | {} |",
            r.round,
            r.answers,
            r.quality.knn_accuracy,
            r.quality.knn_accuracy_recovered,
            optional(r.quality.knn_accuracy_random_bank, 4),
            r.quality.linear_probe_accuracy,
            r.quality.rank_me,
            r.quality.label_recovery,
            optional(r.quality.answers_per_label, 2),
            optional(r.quality.label_precision, 4),
            r.conflicts,
            r.reasked_answers,
            r.audit_answers
        );
    }
    if let Some(last) = run.rounds.last() {
        let counts: Vec<String> = last
            .quality
            .recovered_per_label
            .iter()
            .enumerate()
            .map(|(label, count)| {
                let name = crate::fashion_mnist::CLASS_NAMES
                    .get(label)
                    .copied()
                    .unwrap_or("?");
                format!("{name} {count}")
            })
            .collect();
        let _ = writeln!(
            text,
            "\nAfter the last round the answers had found {} {}; recovered items by true \
             label: {}.",
            last.quality.classes_found,
            if last.quality.classes_found == 1 {
                "class"
            } else {
                "classes"
            },
            counts.join(", ")
        );
    }
    text.push('\n');
}

fn noise(text: &mut String, input: &ReportInput) {
    text.push_str("## Noisy answers\n\n");
    for run in input.runs {
        let Some(last) = run.rounds.last() else {
            continue;
        };
        let _ = writeln!(
            text,
            "- {}: {} of {} answers flipped by the oracle (noise {}). Votes are settled by \
             consensus as on the server: {} answers re-asked pairs in conflict, without a \
             clear majority or joining two groups unconfirmed, {} audited settled pairs \
             (those the model disagreed with most first) and {} of those disagreed with the \
             verdict they checked; at the end {} \
             settled verdicts contradicted the graph and {} pairs still awaited an answer, {} \
             of them a \"same\" that would join two groups and waits to be confirmed. Label \
             precision after the last round: {}.",
            run.strategy,
            last.flipped_answers,
            last.answers,
            input.args.noise,
            last.reasked_answers,
            last.audit_answers,
            last.audits_overturned,
            last.conflicts,
            last.awaiting,
            last.joins_held,
            last.quality
                .label_precision
                .map_or("-".to_string(), |p| format!("{p:.4}"))
        );
    }
    text.push('\n');
}

fn time(text: &mut String, input: &ReportInput) {
    text.push_str("## Where the time went\n\n");
    text.push_str("| strategy | training | embedding | evaluation | selection |\n");
    text.push_str("| --- | ---: | ---: | ---: | ---: |\n");
    for run in input.runs {
        let Timings {
            training,
            embedding,
            evaluation,
            selection,
        } = run.timings;
        let _ = writeln!(
            text,
            "| {} | {:.0} s | {:.0} s | {:.0} s | {:.1} s |",
            run.strategy,
            training.as_secs_f64(),
            embedding.as_secs_f64(),
            evaluation.as_secs_f64(),
            selection.as_secs_f64()
        );
    }
    let _ = writeln!(
        text,
        "\nWhole command, data loading included: {:.0} s.\n",
        input.total.as_secs_f64()
    );
}
