//! Embedding export formats: NumPy `.npy`, JSON and CSV. Every format carries item ids.

use std::fmt::Write as _;
use std::str::FromStr;

use akin_store::models::ModelEmbeddings;
use serde_json::json;

/// A format that `export::encode` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// One structured array with fields `item_id` (`<i8`) and `embedding` (`<f4`, dim).
    Npy,
    Json,
    Csv,
}

/// A format name that is not one of npy, json, csv.
#[derive(Debug, thiserror::Error)]
#[error("unknown format {0:?}: use npy, json or csv")]
pub struct UnknownFormat(String);

impl FromStr for ExportFormat {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, UnknownFormat> {
        match name {
            "npy" => Ok(Self::Npy),
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

impl ExportFormat {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Npy => "npy",
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }

    /// HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Npy => "application/octet-stream",
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

/// Encodes a model's embeddings in `format`.
pub fn encode(format: ExportFormat, model_id: i64, embeddings: &ModelEmbeddings) -> Vec<u8> {
    match format {
        ExportFormat::Npy => npy(embeddings),
        ExportFormat::Json => json_document(model_id, embeddings),
        ExportFormat::Csv => csv(embeddings),
    }
}

fn rows(embeddings: &ModelEmbeddings) -> impl Iterator<Item = (i64, &[f32])> {
    embeddings
        .item_ids
        .iter()
        .copied()
        .zip(embeddings.values.chunks(embeddings.dim.max(1)))
}

/// NumPy format 1.0: magic, header length, a Python-literal header padded with spaces to a
/// multiple of 64 bytes and ended by a newline, then the little-endian records.
fn npy(embeddings: &ModelEmbeddings) -> Vec<u8> {
    let header = format!(
        "{{'descr': [('item_id', '<i8'), ('embedding', '<f4', ({},))], \
         'fortran_order': False, 'shape': ({},), }}",
        embeddings.dim,
        embeddings.item_ids.len()
    );
    let unpadded = 10 + header.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header_len = u16::try_from(header.len() + padding + 1).expect("the header is short");

    let mut out = Vec::with_capacity(unpadded + padding + embeddings.values.len() * 4 + 8 * 64);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padding));
    out.push(b'\n');
    for (id, row) in rows(embeddings) {
        out.extend_from_slice(&id.to_le_bytes());
        row.iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    out
}

fn json_document(model_id: i64, embeddings: &ModelEmbeddings) -> Vec<u8> {
    let items: Vec<_> = rows(embeddings)
        .map(|(id, row)| json!({ "item_id": id, "embedding": row }))
        .collect();
    let document = json!({ "model_id": model_id, "dim": embeddings.dim, "items": items });
    serde_json::to_vec(&document).expect("JSON values always serialise")
}

fn csv(embeddings: &ModelEmbeddings) -> Vec<u8> {
    let mut out = String::from("item_id");
    (0..embeddings.dim).for_each(|d| {
        let _ = write!(out, ",e{d}");
    });
    out.push('\n');
    for (id, row) in rows(embeddings) {
        let _ = write!(out, "{id}");
        row.iter().for_each(|v| {
            let _ = write!(out, ",{v}");
        });
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_items() -> ModelEmbeddings {
        ModelEmbeddings {
            item_ids: vec![7, 9],
            dim: 2,
            values: vec![0.5, -1.0, 2.0, 0.25],
        }
    }

    #[test]
    fn npy_header_is_aligned_and_describes_the_records() {
        let bytes = encode(ExportFormat::Npy, 1, &two_items());

        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii header");
        assert!(header.contains("('embedding', '<f4', (2,))"));
        assert!(header.contains("'shape': (2,)"));
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 2 * (8 + 2 * 4));
    }

    #[test]
    fn npy_records_hold_the_id_then_the_vector() {
        let bytes = encode(ExportFormat::Npy, 1, &two_items());
        let body = &bytes[bytes.len() - 32..];

        assert_eq!(
            i64::from_le_bytes(body[0..8].try_into().expect("8 bytes")),
            7
        );
        assert_eq!(
            f32::from_le_bytes(body[12..16].try_into().expect("4 bytes")),
            -1.0
        );
        assert_eq!(
            i64::from_le_bytes(body[16..24].try_into().expect("8 bytes")),
            9
        );
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_item() {
        let text = String::from_utf8(encode(ExportFormat::Csv, 1, &two_items())).expect("utf8");

        assert_eq!(text, "item_id,e0,e1\n7,0.5,-1\n9,2,0.25\n");
    }

    #[test]
    fn json_lists_items_with_their_vectors() {
        let bytes = encode(ExportFormat::Json, 3, &two_items());
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("valid json");

        assert_eq!(value["model_id"], 3);
        assert_eq!(value["items"][1]["item_id"], 9);
        assert_eq!(value["items"][1]["embedding"][1], 0.25);
    }

    #[test]
    fn unknown_formats_are_refused_by_name() {
        let error = "parquet".parse::<ExportFormat>().expect_err("not a format");

        assert!(error.to_string().contains("parquet"));
    }
}
