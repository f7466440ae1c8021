//! Binary `.twx` exports: lz4-java `LZ4Block` framing around a Smile document.
//!
//! A `.twx` file is a sequence of blocks as written by lz4-java's
//! `LZ4BlockOutputStream`. Each block has a 21-byte header:
//!
//! | bytes | meaning |
//! |-------|---------|
//! | 0..8  | magic `LZ4Block` |
//! | 8     | token: high nibble method (`0x10` stored, `0x20` LZ4), low nibble log2(block size) − 10 |
//! | 9..13 | compressed length, `i32` little endian |
//! | 13..17 | decompressed length, `i32` little endian |
//! | 17..21 | xxHash32 (seed `0x9747B28C`) of the decompressed data, masked with `0x0FFFFFFF` |
//!
//! followed by the compressed bytes. The stream ends with a block whose lengths
//! and checksum are all zero. The concatenated payload is one Smile document,
//! decoded here into a [`serde_json::Value`] with object key order preserved.

use std::io::{self, Read, Write};

use serde_json::Value;

use crate::twx_error::TwxError;
use crate::twx_value;

/// Magic bytes opening every block.
pub const MAGIC: &[u8; 8] = b"LZ4Block";

/// Size of a block header in bytes.
const HEADER_LEN: usize = 21;

/// Seed of the xxHash32 block checksum used by lz4-java.
const CHECKSUM_SEED: u32 = 0x9747_B28C;

/// Mask applied to the block checksum by lz4-java.
const CHECKSUM_MASK: u32 = 0x0FFF_FFFF;

/// Method nibble of a stored (uncompressed) block.
const METHOD_RAW: u8 = 0x10;

/// Method nibble of an LZ4-compressed block.
const METHOD_LZ4: u8 = 0x20;

/// Block size of the blocks written by [`write_twx`] (and by ThingWorx).
pub const BLOCK_SIZE: usize = 64 * 1024;

/// Token low nibble for [`BLOCK_SIZE`]: log2(64 KiB) − 10.
const BLOCK_SIZE_NIBBLE: u8 = 6;

/// Limits applied while reading a `.twx` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwxLimits {
    /// Largest block size a token may announce. Block lengths are checked
    /// against the size from the token, so this bounds every per-block
    /// allocation. ThingWorx writes 64 KiB blocks; lz4-java allows up to 32 MiB.
    pub max_block_size: usize,
    /// Largest total decompressed payload; reading stops with
    /// [`TwxError::TooLarge`] before a block would exceed it.
    pub max_decompressed_bytes: usize,
    /// Largest memory the decoded tree may take, as [`crate::twx_value::cost`] charges it;
    /// decoding stops with [`TwxError::TreeTooLarge`] once it would take more.
    pub max_tree_bytes: usize,
    /// Deepest nesting of containers in the decoded tree (the root container is depth 1);
    /// decoding stops with [`TwxError::TooDeep`] past it.
    pub max_depth: usize,
}

impl Default for TwxLimits {
    fn default() -> Self {
        Self {
            max_block_size: BLOCK_SIZE,
            max_decompressed_bytes: 512 * 1024 * 1024,
            max_tree_bytes: 1024 * 1024 * 1024,
            max_depth: 128,
        }
    }
}

/// Reads a `.twx` file and decodes its Smile document into a JSON tree.
///
/// Every block checksum is verified, the end block is required and nothing
/// may follow it. The payload is bounded by [`TwxLimits::max_decompressed_bytes`] and the tree
/// by [`TwxLimits::max_tree_bytes`] and [`TwxLimits::max_depth`], whatever the file declares.
pub fn read_twx<R: Read>(reader: R, limits: &TwxLimits) -> Result<Value, TwxError> {
    let payload = unframe(reader, limits)?;
    twx_value::decode(&payload, limits.max_tree_bytes, limits.max_depth)
}

/// Encodes `value` as Smile and writes it as a `.twx` file.
///
/// Output is deterministic: the same value always yields the same bytes.
pub fn write_twx<W: Write>(value: &Value, writer: W) -> Result<(), TwxError> {
    let payload = serde_smile::to_vec(value).map_err(TwxError::Encode)?;
    frame(&payload, writer)
}

/// Reads the `LZ4Block` stream and returns the concatenated decompressed payload.
pub fn unframe<R: Read>(reader: R, limits: &TwxLimits) -> Result<Vec<u8>, TwxError> {
    let mut input = OffsetReader {
        inner: reader,
        offset: 0,
    };
    let mut out = Vec::new();
    let mut compressed = Vec::new();
    let mut block: u64 = 0;
    loop {
        let start = input.offset;
        let mut header = [0u8; HEADER_LEN];
        let got = input.fill(&mut header)?;
        if got == 0 {
            return Err(TwxError::Truncated {
                offset: start,
                what: "stream ends without the end block".to_owned(),
            });
        }
        let magic_len = got.min(MAGIC.len());
        if header[..magic_len] != MAGIC[..magic_len] {
            return Err(TwxError::BadMagic {
                offset: start,
                found: header[..magic_len].to_vec(),
            });
        }
        if got < HEADER_LEN {
            return Err(TwxError::Truncated {
                offset: input.offset,
                what: format!("header of block {block} is cut short ({got} of {HEADER_LEN} bytes)"),
            });
        }

        let token = header[8];
        let method = token & 0xF0;
        if method != METHOD_RAW && method != METHOD_LZ4 {
            return Err(TwxError::UnknownMethod {
                block,
                offset: start,
                token,
            });
        }
        let block_size = 1usize << (10 + usize::from(token & 0x0F));
        if block_size > limits.max_block_size {
            return Err(TwxError::BlockSizeTooLarge {
                block,
                offset: start,
                block_size,
                limit: limits.max_block_size,
            });
        }
        let compressed_len = read_i32(&header, 9);
        let decompressed_len = read_i32(&header, 13);
        let stored = read_u32(&header, 17);
        let bad_lengths = |reason| TwxError::BadBlockLengths {
            block,
            offset: start,
            compressed: i64::from(compressed_len),
            decompressed: i64::from(decompressed_len),
            reason,
        };
        let (Ok(clen), Ok(dlen)) = (
            usize::try_from(compressed_len),
            usize::try_from(decompressed_len),
        ) else {
            return Err(bad_lengths("negative length"));
        };
        if dlen > block_size {
            return Err(bad_lengths("decompressed length exceeds the block size"));
        }
        if clen > max_compressed_len(block_size) {
            return Err(bad_lengths("compressed length exceeds the block size"));
        }
        if (clen == 0) != (dlen == 0) {
            return Err(bad_lengths("only one length is zero"));
        }
        if method == METHOD_RAW && clen != dlen {
            return Err(bad_lengths("stored block with different lengths"));
        }

        if dlen == 0 {
            if stored != 0 {
                return Err(TwxError::ChecksumMismatch {
                    block,
                    offset: start,
                    stored,
                    computed: 0,
                });
            }
            let mut probe = [0u8; 1];
            if input.fill(&mut probe)? != 0 {
                return Err(TwxError::TrailingData {
                    offset: input.offset - 1,
                });
            }
            return Ok(out);
        }

        if dlen > limits.max_decompressed_bytes.saturating_sub(out.len()) {
            return Err(TwxError::TooLarge {
                block,
                offset: start,
                limit: limits.max_decompressed_bytes,
            });
        }

        compressed.resize(clen, 0);
        let got = input.fill(&mut compressed)?;
        if got < clen {
            return Err(TwxError::Truncated {
                offset: input.offset,
                what: format!("data of block {block} is cut short ({got} of {clen} bytes)"),
            });
        }

        let begin = out.len();
        if method == METHOD_RAW {
            out.extend_from_slice(&compressed);
        } else {
            out.resize(begin + dlen, 0);
            let written = lz4_flex::block::decompress_into(&compressed, &mut out[begin..])
                .map_err(|e| TwxError::Corrupt {
                    block,
                    offset: start,
                    message: e.to_string(),
                })?;
            if written != dlen {
                return Err(TwxError::Corrupt {
                    block,
                    offset: start,
                    message: format!("decompressed to {written} bytes, header declares {dlen}"),
                });
            }
        }

        let computed = checksum(&out[begin..]);
        if computed != stored {
            return Err(TwxError::ChecksumMismatch {
                block,
                offset: start,
                stored,
                computed,
            });
        }
        block += 1;
    }
}

/// Frames `payload` into 64 KiB `LZ4Block` blocks followed by the end block.
///
/// A block is stored uncompressed when LZ4 does not make it smaller, as
/// lz4-java does.
pub fn frame<W: Write>(payload: &[u8], mut writer: W) -> Result<(), TwxError> {
    let mut compressed = vec![0u8; lz4_flex::block::get_maximum_output_size(BLOCK_SIZE)];
    for chunk in payload.chunks(BLOCK_SIZE) {
        let clen = lz4_flex::block::compress_into(chunk, &mut compressed).map_err(|e| {
            TwxError::Write(io::Error::other(format!("LZ4 compression failed: {e}")))
        })?;
        let (method, data) = match compressed.get(..clen) {
            Some(data) if clen < chunk.len() => (METHOD_LZ4, data),
            _ => (METHOD_RAW, chunk),
        };
        write_block(&mut writer, method, data, chunk.len(), checksum(chunk))?;
    }
    write_block(&mut writer, METHOD_RAW, &[], 0, 0)?;
    writer.flush().map_err(TwxError::Write)
}

fn write_block<W: Write>(
    writer: &mut W,
    method: u8,
    data: &[u8],
    decompressed_len: usize,
    checksum: u32,
) -> Result<(), TwxError> {
    let len = |n: usize| {
        i32::try_from(n)
            .map_err(|_| TwxError::Write(io::Error::other("block length does not fit in i32")))
    };
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8] = method | BLOCK_SIZE_NIBBLE;
    header[9..13].copy_from_slice(&len(data.len())?.to_le_bytes());
    header[13..17].copy_from_slice(&len(decompressed_len)?.to_le_bytes());
    header[17..21].copy_from_slice(&checksum.to_le_bytes());
    writer.write_all(&header).map_err(TwxError::Write)?;
    writer.write_all(data).map_err(TwxError::Write)
}

/// The lz4-java block checksum: masked xxHash32 with lz4-java's seed.
fn checksum(data: &[u8]) -> u32 {
    xxhash_rust::xxh32::xxh32(data, CHECKSUM_SEED) & CHECKSUM_MASK
}

/// lz4-java's bound on the compressed size of a block of `len` bytes.
const fn max_compressed_len(len: usize) -> usize {
    len + len / 255 + 16
}

fn read_i32(header: &[u8; HEADER_LEN], at: usize) -> i32 {
    i32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
}

fn read_u32(header: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
}

/// A reader that knows how many bytes it has consumed.
struct OffsetReader<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> OffsetReader<R> {
    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TwxError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => {
                    filled += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TwxError::Read {
                        offset: self.offset,
                        source,
                    });
                }
            }
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(token: u8, clen: i32, dlen: i32, check: u32) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        h.push(token);
        h.extend_from_slice(&clen.to_le_bytes());
        h.extend_from_slice(&dlen.to_le_bytes());
        h.extend_from_slice(&check.to_le_bytes());
        h
    }

    #[test]
    fn empty_stream_is_only_the_end_block() {
        let mut out = Vec::new();
        frame(&[], &mut out).expect("frame");
        assert_eq!(out, header(0x16, 0, 0, 0));
        assert_eq!(
            unframe(&out[..], &TwxLimits::default()).expect("unframe"),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn incompressible_block_is_stored() {
        // A short payload without repeats does not shrink under LZ4.
        let payload = b"abcdefgh";
        let mut out = Vec::new();
        frame(payload, &mut out).expect("frame");
        assert_eq!(out[8], 0x16);
        assert_eq!(&out[HEADER_LEN..HEADER_LEN + 8], payload);
        assert_eq!(
            unframe(&out[..], &TwxLimits::default()).expect("unframe"),
            payload
        );
    }

    #[test]
    fn compressible_payload_uses_lz4_blocks() {
        let payload = vec![b'x'; 3 * BLOCK_SIZE + 17];
        let mut out = Vec::new();
        frame(&payload, &mut out).expect("frame");
        assert_eq!(out[8], 0x26);
        assert!(out.len() < payload.len() / 10);
        assert_eq!(
            unframe(&out[..], &TwxLimits::default()).expect("unframe"),
            payload
        );
    }

    #[test]
    fn nonzero_end_block_checksum_is_refused() {
        let data = header(0x16, 0, 0, 5);
        let err = unframe(&data[..], &TwxLimits::default()).expect_err("must fail");
        assert!(
            matches!(err, TwxError::ChecksumMismatch { block: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn negative_and_inconsistent_lengths_are_refused() {
        for (token, clen, dlen) in [
            (0x26, -1, 10),
            (0x26, 10, -1),
            (0x26, 0, 10),
            (0x16, 5, 10),
            (0x26, 70_000, 10),
        ] {
            let data = header(token, clen, dlen, 0);
            let err = unframe(&data[..], &TwxLimits::default()).expect_err("must fail");
            assert!(matches!(err, TwxError::BadBlockLengths { .. }), "{err}");
        }
    }

    #[test]
    fn unknown_method_and_large_block_size_are_refused() {
        let data = header(0x36, 1, 1, 0);
        let err = unframe(&data[..], &TwxLimits::default()).expect_err("must fail");
        assert!(
            matches!(err, TwxError::UnknownMethod { token: 0x36, .. }),
            "{err}"
        );

        let data = header(0x2F, 1, 1, 0);
        let err = unframe(&data[..], &TwxLimits::default()).expect_err("must fail");
        assert!(
            matches!(err, TwxError::BlockSizeTooLarge { block_size, .. } if block_size == 1 << 25),
            "{err}"
        );
    }

    #[test]
    fn big_integers_fit_the_tree() {
        let value = serde_json::json!({"max": u64::MAX, "min": i64::MIN, "f": 0.1});
        let mut out = Vec::new();
        write_twx(&value, &mut out).expect("write");
        let back = read_twx(&out[..], &TwxLimits::default()).expect("read");
        assert_eq!(back, value);
    }
}
