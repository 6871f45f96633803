//! The PAL losses in graph form. Each one reads a batch `z` (`[rows, dim]`), the weighted
//! positive [`Edge`]s between its rows, and, where it can use them, what the answers say
//! about every other pair of rows ([`RowRelations`]).
//!
//! - [`vicreg_loss`]: invariance over edges, variance and covariance over rows (default).
//! - [`infonce_loss`]: SimCLR's softmax over cosine similarities; known negatives and
//!   unknown pairs make up the denominator, with separate weights.
//! - [`barlow_loss`]: the edge-weighted cross-correlation of standardised rows, pushed to
//!   the identity.
//! - [`spectral_loss`]: spectral contrastive loss.
//! - [`repulsion_term`]: pushes known-different rows apart, for the losses that have no
//!   place for negatives of their own.
//!
//! "Unknown" is never treated as "different": only pairs in [`RowRelations::different`]
//! get the known-negative weight or the repulsion.

mod barlow;
mod infonce;
mod relations;
mod spectral;
mod vicreg;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::Tensor;

pub use barlow::barlow_loss;
pub use infonce::{InfoNceWeights, infonce_loss};
pub use relations::{RowRelations, repulsion_term};
pub use spectral::spectral_loss;
pub use vicreg::{VicregParts, VicregWeights, vicreg_loss};

/// A positive pair of batch rows, counted towards `anchor`'s term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    /// Row of one end.
    pub left: i64,
    /// Row of the other end.
    pub right: i64,
    /// How much this edge counts among its anchor's edges (augmentation edges weigh 1).
    pub weight: f64,
    /// The anchor whose term this edge belongs to, numbered from 0.
    pub anchor: i64,
}

/// Which loss a project trains with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// VICReg 25 / 25 / 1: the default, because it needs neither large batches nor
    /// negatives and its variance hinge guards against collapse on small batches.
    #[default]
    Vicreg,
    /// SimCLR / InfoNCE on normalised rows with a temperature.
    Simclr,
    /// Barlow Twins.
    Barlow,
    /// Spectral contrastive loss.
    Spectral,
}

impl LossKind {
    /// Every loss, in a stable order.
    pub const ALL: [LossKind; 4] = [
        LossKind::Vicreg,
        LossKind::Simclr,
        LossKind::Barlow,
        LossKind::Spectral,
    ];

    /// The spelling used in settings, on the command line and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LossKind::Vicreg => "vicreg",
            LossKind::Simclr => "simclr",
            LossKind::Barlow => "barlow",
            LossKind::Spectral => "spectral",
        }
    }
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text named no loss.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown loss {0:?}: expected vicreg, simclr, barlow or spectral")]
pub struct ParseLossKindError(String);

impl FromStr for LossKind {
    type Err = ParseLossKindError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_ascii_lowercase();
        LossKind::ALL
            .into_iter()
            .find(|kind| {
                kind.as_str() == wanted || (wanted == "infonce" && *kind == LossKind::Simclr)
            })
            .ok_or_else(|| ParseLossKindError(text.to_string()))
    }
}

/// Everything besides the kind that the losses read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossSettings {
    /// Which loss.
    pub kind: LossKind,
    /// InfoNCE's temperature.
    pub temperature: f64,
    /// InfoNCE's denominator weights.
    pub infonce: InfoNceWeights,
    /// Barlow Twins' weight of the off-diagonal terms.
    pub barlow_off_diagonal: f64,
    /// Weight of [`repulsion_term`] for VICReg, Barlow Twins and the spectral loss.
    pub repulsion_weight: f64,
}

impl LossSettings {
    /// Whether the loss reads [`RowRelations`] beyond the diagonal: InfoNCE always (its
    /// denominator leaves out known positives), the others only to repel known negatives.
    pub fn reads_relations(&self, any_negatives: bool) -> bool {
        self.kind == LossKind::Simclr || (self.repulsion_weight > 0.0 && any_negatives)
    }
}

/// One loss evaluation: the total to minimise and its named parts, for logs.
#[derive(Debug)]
pub struct LossValue {
    /// The scalar to minimise.
    pub total: Tensor,
    /// Unweighted parts, still in the graph.
    pub parts: Vec<(&'static str, Tensor)>,
}

/// The loss `settings.kind` on batch `z`, plus the repulsion of known negatives for the
/// losses that have no denominator to put them in.
pub fn graph_loss(
    z: &Tensor,
    edges: &[Edge],
    relations: &RowRelations,
    settings: &LossSettings,
) -> LossValue {
    let (mut total, mut parts) = match settings.kind {
        LossKind::Vicreg => {
            let (total, parts) = vicreg_loss(z, edges, &VicregWeights::default());
            let named = vec![
                ("invariance", parts.invariance),
                ("variance", parts.variance),
                ("covariance", parts.covariance),
            ];
            (total, named)
        }
        LossKind::Simclr => {
            let total = infonce_loss(z, edges, relations, settings.temperature, &settings.infonce);
            (total, Vec::new())
        }
        LossKind::Barlow => (
            barlow_loss(z, edges, settings.barlow_off_diagonal),
            Vec::new(),
        ),
        LossKind::Spectral => (spectral_loss(z, edges), Vec::new()),
    };
    if settings.kind != LossKind::Simclr && settings.repulsion_weight > 0.0 {
        let repulsion = repulsion_term(z, relations);
        total += &repulsion * settings.repulsion_weight;
        parts.push(("repulsion", repulsion));
    }
    LossValue { total, parts }
}

/// Averages one value per edge within each anchor by edge weight, then over the anchors, so
/// that an anchor with many edges counts as much as one with a single edge. Anchors whose
/// weights sum to zero drop out; no edges give 0.
pub(crate) fn anchor_mean(per_edge: &Tensor, edges: &[Edge]) -> Tensor {
    let (kind, device) = (per_edge.kind(), per_edge.device());
    if edges.is_empty() {
        return Tensor::zeros([], (kind, device));
    }
    let anchor: Vec<i64> = edges.iter().map(|e| e.anchor).collect();
    let anchor = Tensor::from_slice(&anchor).to_device(device);
    let weights: Vec<f64> = edges.iter().map(|e| e.weight).collect();
    let weights = Tensor::from_slice(&weights).to_kind(kind).to_device(device);

    let anchors = edges.iter().map(|e| e.anchor).max().unwrap_or(0) + 1;
    let zeros = Tensor::zeros([anchors], (kind, device));
    let weighted_sums = zeros.index_add(0, &anchor, &(per_edge * &weights));
    let weight_totals = zeros.index_add(0, &anchor, &weights);
    let present = weight_totals.gt(0.0);
    (weighted_sums.masked_select(&present) / weight_totals.masked_select(&present)).mean(None)
}

/// The rows at the two ends of every edge, as index tensors on `device`.
pub(crate) fn edge_ends(edges: &[Edge], device: tch::Device) -> (Tensor, Tensor) {
    let rows = |end: fn(&Edge) -> i64| {
        Tensor::from_slice(&edges.iter().map(end).collect::<Vec<_>>()).to_device(device)
    };
    (rows(|e| e.left), rows(|e| e.right))
}

/// The edges and the tensor the losses' hand-worked tests share.
#[cfg(test)]
pub(crate) mod fixtures {
    use tch::Tensor;

    use super::Edge;

    pub fn edge(left: i64, right: i64, weight: f64, anchor: i64) -> Edge {
        Edge {
            left,
            right,
            weight,
            anchor,
        }
    }

    /// Rows (x, y): r0 = (0, 0), r1 = (1, 2), r2 = (0, 0), r3 = (1, 0).
    pub fn four_by_two() -> Tensor {
        Tensor::from_slice(&[0.0f64, 0.0, 1.0, 2.0, 0.0, 0.0, 1.0, 0.0]).view([4, 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_kinds_parse_from_their_names_and_infonce_means_simclr() {
        let parsed: Vec<LossKind> = ["vicreg", "SimCLR", " barlow", "spectral", "infonce"]
            .iter()
            .map(|t| t.parse().expect("valid name"))
            .collect();

        assert_eq!(
            parsed,
            [
                LossKind::Vicreg,
                LossKind::Simclr,
                LossKind::Barlow,
                LossKind::Spectral,
                LossKind::Simclr
            ]
        );
        assert!("mse".parse::<LossKind>().is_err());
    }

    #[test]
    fn loss_kinds_serialise_to_their_lowercase_names() {
        let json = serde_json::to_string(&LossKind::Barlow).expect("serialises");

        assert_eq!(json, "\"barlow\"");
        assert_eq!(
            serde_json::from_str::<LossKind>("\"spectral\"").expect("parses"),
            LossKind::Spectral
        );
    }
}
