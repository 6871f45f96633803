//! The IDX file format that MNIST and Fashion-MNIST ship in, for already-decompressed bytes.
//!
//! An IDX file is a big-endian header followed by raw data. The header is a four-byte magic
//! number (two zero bytes, a data-type byte, the number of dimensions), then one `u32` size
//! per dimension. Akin reads two kinds, both with unsigned-byte data:
//!
//! - images: magic `0x00000803`, sizes count x rows x cols, pixels row-major;
//! - labels: magic `0x00000801`, size count, one byte per label.

/// Magic number of an IDX file of unsigned bytes in three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

/// Magic number of an IDX file of unsigned bytes in one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Decoded images: `count` images of `rows` x `cols` pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// All pixels, image after image, each image row-major: `count * rows * cols` bytes.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Number of pixels in one image.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, row-major.
    ///
    /// # Panics
    /// When `i >= count`.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }
}

/// Why some bytes are not a valid IDX file of the expected kind.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdxError {
    /// The buffer ends inside the header.
    #[error("IDX file too short for its header: need {needed} bytes, found {found}")]
    TooShortForHeader {
        /// Header length in bytes.
        needed: usize,
        /// Bytes available.
        found: usize,
    },
    /// The magic number is not the one of the expected kind.
    #[error(
        "wrong IDX magic number: expected {expected:#010x} ({expected_kind}), \
         found {found:#010x} ({found_kind}): {found_kind} file given where {expected_kind} expected"
    )]
    WrongMagic {
        /// The magic number wanted.
        expected: u32,
        /// The magic number read.
        found: u32,
        /// What the wanted magic number means.
        expected_kind: &'static str,
        /// What the magic number read means, as far as Akin knows.
        found_kind: &'static str,
    },
    /// A dimension of the header is zero.
    #[error("IDX dimension {dimension} is zero")]
    ZeroDimension {
        /// Index of the dimension in the header, from 0.
        dimension: usize,
    },
    /// The header announces more data than this machine can address.
    #[error("IDX header announces more data than fits in memory")]
    TooLarge,
    /// The data is shorter than the header announces.
    #[error("truncated IDX data: expected {expected} bytes after the header, found {found}")]
    Truncated {
        /// Data length the header announces.
        expected: usize,
        /// Data length found.
        found: usize,
    },
    /// Bytes follow the data that the header announces.
    #[error(
        "trailing bytes after IDX data: expected {expected} bytes after the header, found {found}"
    )]
    TrailingBytes {
        /// Data length the header announces.
        expected: usize,
        /// Data length found.
        found: usize,
    },
}

/// Parses an images file (magic `0x00000803`).
pub fn parse_images(bytes: &[u8]) -> Result<IdxImages, IdxError> {
    let (dims, data) = parse(bytes, IMAGES_MAGIC, 3)?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]];

    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: data.to_vec(),
    })
}

/// Parses a labels file (magic `0x00000801`): one byte per item.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<u8>, IdxError> {
    let (_, data) = parse(bytes, LABELS_MAGIC, 1)?;
    Ok(data.to_vec())
}

/// Checks the header and the data length; returns the dimensions and the data.
fn parse(bytes: &[u8], magic: u32, rank: usize) -> Result<(Vec<usize>, &[u8]), IdxError> {
    let header_len = 4 + 4 * rank;
    let too_short = IdxError::TooShortForHeader {
        needed: header_len,
        found: bytes.len(),
    };
    if bytes.len() < 4 {
        return Err(too_short);
    }
    check_magic(read_u32(bytes, 0), magic)?;
    if bytes.len() < header_len {
        return Err(too_short);
    }

    let dims: Vec<usize> = (0..rank)
        .map(|d| read_u32(bytes, 4 + 4 * d) as usize)
        .collect();
    if let Some(dimension) = dims.iter().position(|&size| size == 0) {
        return Err(IdxError::ZeroDimension { dimension });
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |total, &size| total.checked_mul(size))
        .ok_or(IdxError::TooLarge)?;

    let data = &bytes[header_len..];
    match data.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(IdxError::Truncated {
            expected,
            found: data.len(),
        }),
        std::cmp::Ordering::Greater => Err(IdxError::TrailingBytes {
            expected,
            found: data.len(),
        }),
        std::cmp::Ordering::Equal => Ok((dims, data)),
    }
}

fn check_magic(found: u32, expected: u32) -> Result<(), IdxError> {
    if found == expected {
        return Ok(());
    }
    Err(IdxError::WrongMagic {
        expected,
        found,
        expected_kind: magic_kind(expected),
        found_kind: magic_kind(found),
    })
}

/// Names the kind of file a magic number stands for.
fn magic_kind(magic: u32) -> &'static str {
    match magic {
        IMAGES_MAGIC => "images",
        LABELS_MAGIC => "labels",
        _ if magic >> 16 != 0 => "non-IDX",
        _ => "unsupported IDX",
    }
}

/// Reads a big-endian `u32`; the caller has checked that the four bytes exist.
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for size in dims {
            bytes.extend_from_slice(&size.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn two_images_of_two_by_three_pixels_are_parsed_row_major() {
        let pixels: Vec<u8> = (1..=12).collect();
        let bytes = encode(IMAGES_MAGIC, &[2, 2, 3], &pixels);

        let images = parse_images(&bytes).expect("valid images file");

        assert_eq!((images.count, images.rows, images.cols), (2, 2, 3));
        assert_eq!(images.image(0), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(images.image(1), &[7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn labels_are_parsed_one_byte_per_item() {
        let bytes = encode(LABELS_MAGIC, &[4], &[9, 0, 3, 3]);

        let labels = parse_labels(&bytes).expect("valid labels file");

        assert_eq!(labels, vec![9, 0, 3, 3]);
    }

    #[test]
    fn a_labels_file_given_as_images_names_both_kinds() {
        let bytes = encode(LABELS_MAGIC, &[1, 1, 1], &[0]);

        let error = parse_images(&bytes).expect_err("labels are not images");

        assert!(matches!(
            error,
            IdxError::WrongMagic {
                found: LABELS_MAGIC,
                ..
            }
        ));
        let message = error.to_string();
        assert!(
            message.contains("labels file given where images expected"),
            "{message}"
        );
        assert!(
            message.contains("0x00000803") && message.contains("0x00000801"),
            "{message}"
        );
    }

    #[test]
    fn an_images_file_given_as_labels_is_refused() {
        let bytes = encode(IMAGES_MAGIC, &[1, 1, 1], &[0]);

        let error = parse_labels(&bytes).expect_err("images are not labels");

        assert!(
            error
                .to_string()
                .contains("images file given where labels expected")
        );
    }

    #[test]
    fn a_gzip_file_is_reported_as_non_idx() {
        let bytes = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0];

        let error = parse_labels(&bytes).expect_err("gzip is not IDX");

        assert!(error.to_string().contains("non-IDX"), "{error}");
    }

    #[test]
    fn a_buffer_shorter_than_the_header_is_refused() {
        let bytes = &encode(IMAGES_MAGIC, &[2, 2, 2], &[])[..10];

        let error = parse_images(bytes).expect_err("header cut short");

        assert_eq!(
            error,
            IdxError::TooShortForHeader {
                needed: 16,
                found: 10
            }
        );
    }

    #[test]
    fn an_empty_buffer_is_too_short() {
        let error = parse_labels(&[]).expect_err("nothing to parse");

        assert_eq!(
            error,
            IdxError::TooShortForHeader {
                needed: 8,
                found: 0
            }
        );
    }

    #[test]
    fn truncated_data_reports_expected_and_found_lengths() {
        let bytes = encode(IMAGES_MAGIC, &[2, 2, 2], &[0; 7]);

        let error = parse_images(&bytes).expect_err("one byte missing");

        assert_eq!(
            error,
            IdxError::Truncated {
                expected: 8,
                found: 7
            }
        );
        assert!(error.to_string().contains("expected 8 bytes"), "{error}");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let bytes = encode(LABELS_MAGIC, &[2], &[1, 2, 3]);

        let error = parse_labels(&bytes).expect_err("one byte too many");

        assert_eq!(
            error,
            IdxError::TrailingBytes {
                expected: 2,
                found: 3
            }
        );
    }

    #[test]
    fn a_zero_dimension_is_refused() {
        let bytes = encode(IMAGES_MAGIC, &[3, 0, 28], &[]);

        let error = parse_images(&bytes).expect_err("zero rows");

        assert_eq!(error, IdxError::ZeroDimension { dimension: 1 });
    }

    #[test]
    fn a_header_announcing_more_than_memory_is_too_large() {
        let bytes = encode(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[]);

        let error = parse_images(&bytes).expect_err("absurd sizes");

        assert_eq!(error, IdxError::TooLarge);
    }

    proptest! {
        #[test]
        fn encoded_images_parse_back_to_the_same_pixels(
            count in 1u32..5, rows in 1u32..6, cols in 1u32..6, seed in any::<u64>()
        ) {
            let len = (count * rows * cols) as usize;
            let pixels: Vec<u8> =
                (0..len).map(|i| (seed.rotate_left(i as u32 % 64) as u8) ^ i as u8).collect();
            let bytes = encode(IMAGES_MAGIC, &[count, rows, cols], &pixels);

            let images = parse_images(&bytes).expect("valid images file");

            prop_assert_eq!(images.count, count as usize);
            prop_assert_eq!(images.rows, rows as usize);
            prop_assert_eq!(images.cols, cols as usize);
            prop_assert_eq!(images.pixels, pixels);
        }

        #[test]
        fn encoded_labels_parse_back_to_the_same_bytes(
            labels in proptest::collection::vec(any::<u8>(), 1..200)
        ) {
            let bytes = encode(LABELS_MAGIC, &[labels.len() as u32], &labels);

            let parsed = parse_labels(&bytes).expect("valid labels file");

            prop_assert_eq!(parsed, labels);
        }

        #[test]
        fn any_cut_of_a_valid_file_is_an_error(cut in 0usize..20) {
            let bytes = encode(IMAGES_MAGIC, &[1, 2, 2], &[1, 2, 3, 4]);

            let result = parse_images(&bytes[..cut]);

            prop_assert!(result.is_err());
        }
    }
}
