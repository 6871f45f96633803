//! Reading Fashion-MNIST's IDX files (gzipped, as Debian ships them, or plain).

use std::io::Read;
use std::path::{Path, PathBuf};

use akin_core::idx;
use anyhow::{Context, bail};

/// Where Debian's `dataset-fashion-mnist` puts the files.
pub const DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Labels as the dataset names them.
pub const CLASS_NAMES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];

/// One split: 28x28 grayscale images and their labels.
pub struct Split {
    pub images: idx::IdxImages,
    pub labels: Vec<u8>,
}

impl Split {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.images.rows * self.images.cols;
        &self.images.pixels[i * size..(i + 1) * size]
    }
}

/// Which split to read.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SplitName {
    Train,
    Test,
}

impl SplitName {
    fn prefix(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "t10k",
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "test",
        }
    }
}

/// Reads one split from `dir`, checking that images and labels agree.
pub fn load(dir: &Path, split: SplitName) -> anyhow::Result<Split> {
    let prefix = split.prefix();
    let image_bytes = read_maybe_gz(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let label_bytes = read_maybe_gz(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = idx::parse_images(&image_bytes)
        .with_context(|| format!("while reading the {} images", split.as_str()))?;
    let labels = idx::parse_labels(&label_bytes)
        .with_context(|| format!("while reading the {} labels", split.as_str()))?;
    if images.count != labels.len() {
        bail!(
            "{} images but {} labels in the {} split",
            images.count,
            labels.len(),
            split.as_str()
        );
    }
    Ok(Split { images, labels })
}

fn read_maybe_gz(dir: &Path, stem: &str) -> anyhow::Result<Vec<u8>> {
    let plain = dir.join(stem);
    let gz: PathBuf = dir.join(format!("{stem}.gz"));
    if plain.exists() {
        return std::fs::read(&plain).with_context(|| format!("while reading {}", plain.display()));
    }
    let file = std::fs::File::open(&gz).with_context(|| {
        format!(
            "cannot open {} (install the package dataset-fashion-mnist)",
            gz.display()
        )
    })?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{} is not a valid gzip file", gz.display()))?;
    Ok(bytes)
}
