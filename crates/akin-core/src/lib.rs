//! Akin's pure core: everything that can be decided without I/O, torch or async.
//!
//! - [`idx`] parses the IDX files that Fashion-MNIST ships in.
//! - [`graph`] derives the similarity graph (union-find over "same" answers, "different" edges
//!   between components, conflicts) from the append-only answer log.
//! - [`embeddings`] holds one model version's item embeddings.
//! - [`consensus`] settles pairs from the votes of several annotators and weighs the
//!   annotators by their reliability.
//! - [`select`] chooses the next pairs to ask, with one strategy or a [`select::StrategyMix`].
//! - [`synthetic`] makes seeded clustered embeddings and answer logs for benchmarks and tests.
//! - [`metrics`] measures how good the embeddings and the answers are.
//!
//! Items are dense indices `usize` in `0..n` everywhere in this crate.

pub mod consensus;
pub mod embeddings;
pub mod graph;
pub mod idx;
pub mod metrics;
pub mod select;
pub mod synthetic;

mod vector;

pub use embeddings::Embeddings;
pub use graph::{Applied, Conflict, Graph, Relation, Verdict};
pub use select::{PairChoice, Strategy, StrategyMix};
