//! The content-addressed image store on disk. Originals live under `originals/` by their
//! SHA-256; each has an upright, size-bounded PNG display copy under `display/`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader};
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// Longest side of a display copy, in pixels.
pub const DISPLAY_MAX_SIDE: u32 = 512;

/// An image ready to store: its hash, its shape, and the training copy for the project.
#[derive(Clone, Debug)]
pub struct PreparedImage {
    pub content_hash: String,
    pub width: u32,
    pub height: u32,
    /// channels x size x size bytes, channel-major.
    pub pixels: Vec<u8>,
}

/// A directory that holds originals and display copies, named by content hash.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Where the display copy of `hash` lives.
    pub fn display_path(&self, hash: &str) -> Option<PathBuf> {
        is_hash(hash).then(|| {
            self.root
                .join("display")
                .join(&hash[..2])
                .join(format!("{hash}.png"))
        })
    }

    fn original_path(&self, hash: &str) -> PathBuf {
        self.root.join("originals").join(&hash[..2]).join(hash)
    }

    /// Decodes an encoded image (PNG or JPEG), stores the original bytes and an upright
    /// display copy, and returns the training copy at `size` x `size` with `channels`.
    pub fn put_encoded(&self, bytes: &[u8], channels: u8, size: u32) -> Result<PreparedImage> {
        let mut decoder = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| self.io_error(&self.root, e))?
            .into_decoder()?;
        let orientation = decoder.orientation()?;
        let mut image = DynamicImage::from_decoder(decoder)?;
        image.apply_orientation(orientation);

        let hash = hex_sha256(bytes);
        self.write_once(&self.original_path(&hash), bytes)?;
        self.store_display(&hash, &image)?;
        Ok(prepare(hash, &image, channels, size))
    }

    /// Stores raw grayscale pixels (as in an IDX file) as a PNG original and display copy.
    pub fn put_gray(&self, width: u32, height: u32, pixels: Vec<u8>) -> Result<PreparedImage> {
        let gray = image::GrayImage::from_raw(width, height, pixels)
            .ok_or_else(|| StoreError::Corrupt("pixel count does not match the size".into()))?;
        let image = DynamicImage::ImageLuma8(gray);
        let png = encode_png(&image)?;

        let hash = hex_sha256(&png);
        self.write_once(&self.original_path(&hash), &png)?;
        self.store_display(&hash, &image)?;
        Ok(prepare(hash, &image, 1, width.max(height)))
    }

    fn store_display(&self, hash: &str, image: &DynamicImage) -> Result<()> {
        let path = self.display_path(hash).expect("a computed hash is valid");
        if path.exists() {
            return Ok(());
        }
        let bounded = if image.width().max(image.height()) > DISPLAY_MAX_SIDE {
            image.resize(DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE, FilterType::Lanczos3)
        } else {
            image.clone()
        };
        self.write_once(&path, &encode_png(&bounded)?)
    }

    /// Writes `bytes` to `path` unless it exists, through a temporary file renamed into
    /// place, so a reader never sees half a file.
    fn write_once(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir).map_err(|e| self.io_error(dir, e))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| self.io_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| self.io_error(path, e))
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

fn prepare(hash: String, image: &DynamicImage, channels: u8, size: u32) -> PreparedImage {
    let resized = if image.width() == size && image.height() == size {
        image.clone()
    } else {
        image.resize_exact(size, size, FilterType::Triangle)
    };
    let pixels = if channels == 1 {
        resized.to_luma8().into_raw()
    } else {
        channel_major(&resized.to_rgb8())
    };
    PreparedImage {
        content_hash: hash,
        width: image.width(),
        height: image.height(),
        pixels,
    }
}

fn channel_major(rgb: &image::RgbImage) -> Vec<u8> {
    let plane = (rgb.width() * rgb.height()) as usize;
    let mut out = vec![0; plane * 3];
    for (i, pixel) in rgb.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = pixel.0[c];
        }
    }
    out
}

fn encode_png(image: &DynamicImage) -> Result<Vec<u8>> {
    let mut png = Vec::new();
    image.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
    Ok(png)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_pixels_round_trip_through_the_display_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::new(dir.path());
        let pixels: Vec<u8> = (0..=255).cycle().take(28 * 28).collect();

        let prepared = store.put_gray(28, 28, pixels.clone()).expect("stored");

        assert_eq!(prepared.pixels, pixels);
        let path = store
            .display_path(&prepared.content_hash)
            .expect("valid hash");
        let shown = image::open(path).expect("display copy decodes").to_luma8();
        assert_eq!(shown.into_raw(), pixels);
    }

    #[test]
    fn a_large_rgb_image_gets_a_bounded_display_copy_and_a_small_training_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::new(dir.path());
        let big = DynamicImage::new_rgb8(1200, 600);

        let prepared = store
            .put_encoded(&encode_png(&big).expect("png"), 3, 32)
            .expect("stored");

        assert_eq!((prepared.width, prepared.height), (1200, 600));
        assert_eq!(prepared.pixels.len(), 3 * 32 * 32);
        let path = store
            .display_path(&prepared.content_hash)
            .expect("valid hash");
        let shown = image::open(path).expect("display copy decodes");
        assert_eq!((shown.width(), shown.height()), (512, 256));
    }

    #[test]
    fn bytes_that_are_not_an_image_are_refused_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = BlobStore::new(dir.path());

        let result = store.put_encoded(b"certainly not a png", 3, 32);

        assert!(result.is_err());
        assert!(!dir.path().join("originals").exists());
    }

    #[test]
    fn a_display_path_is_only_given_for_a_well_formed_hash() {
        let store = BlobStore::new("/tmp/blobs");

        assert!(store.display_path("../../etc/passwd").is_none());
        assert!(store.display_path(&"a".repeat(64)).is_some());
    }
}
