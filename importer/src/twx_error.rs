//! Errors raised while reading or writing binary `.twx` exports.

use std::io;

/// Everything that can go wrong while reading or writing a `.twx` file.
///
/// Offsets are byte offsets into the `.twx` file; block numbers count the
/// LZ4Block frames from 0.
#[derive(Debug, thiserror::Error)]
pub enum TwxError {
    /// The underlying reader failed.
    #[error("I/O error while reading .twx at byte offset {offset}: {source}")]
    Read {
        /// Offset at which the read was attempted.
        offset: u64,
        /// The I/O error.
        source: io::Error,
    },

    /// The underlying writer failed.
    #[error("I/O error while writing .twx: {0}")]
    Write(#[source] io::Error),

    /// A block header does not start with `LZ4Block`.
    #[error("bad magic at byte offset {offset}: expected \"LZ4Block\", found {found:02x?}")]
    BadMagic {
        /// Offset of the block header.
        offset: u64,
        /// The bytes found instead of the magic (at most 8).
        found: Vec<u8>,
    },

    /// The file ends in the middle of a block or before the end block.
    #[error("truncated .twx: {what} at byte offset {offset}")]
    Truncated {
        /// Offset at which more data was expected.
        offset: u64,
        /// What was missing.
        what: String,
    },

    /// The token names a compression method other than stored or LZ4.
    #[error(
        "unsupported compression method 0x{token:02x} in block {block} at byte offset {offset}"
    )]
    UnknownMethod {
        /// Block number.
        block: u64,
        /// Offset of the block header.
        offset: u64,
        /// The token byte.
        token: u8,
    },

    /// The token announces a block size above the configured limit.
    #[error(
        "block {block} at byte offset {offset} announces a block size of {block_size} bytes, \
         above the limit of {limit} bytes"
    )]
    BlockSizeTooLarge {
        /// Block number.
        block: u64,
        /// Offset of the block header.
        offset: u64,
        /// Block size encoded in the token.
        block_size: usize,
        /// Configured maximum.
        limit: usize,
    },

    /// The declared lengths of a block are inconsistent or out of range.
    #[error(
        "invalid lengths in block {block} at byte offset {offset}: compressed {compressed}, \
         decompressed {decompressed} ({reason})"
    )]
    BadBlockLengths {
        /// Block number.
        block: u64,
        /// Offset of the block header.
        offset: u64,
        /// Declared compressed length.
        compressed: i64,
        /// Declared decompressed length.
        decompressed: i64,
        /// Why the lengths were refused.
        reason: &'static str,
    },

    /// The LZ4 data of a block is malformed.
    #[error("corrupt LZ4 data in block {block} at byte offset {offset}: {message}")]
    Corrupt {
        /// Block number.
        block: u64,
        /// Offset of the block header.
        offset: u64,
        /// Details.
        message: String,
    },

    /// The xxHash32 checksum of a block does not match its contents.
    #[error(
        "checksum mismatch in block {block} at byte offset {offset}: stored 0x{stored:08x}, \
         computed 0x{computed:08x}"
    )]
    ChecksumMismatch {
        /// Block number.
        block: u64,
        /// Offset of the block header.
        offset: u64,
        /// Checksum stored in the header.
        stored: u32,
        /// Checksum of the decompressed data.
        computed: u32,
    },

    /// The decompressed payload would exceed the configured limit.
    #[error(
        "decompressed payload too large: block {block} at byte offset {offset} would exceed \
         the limit of {limit} bytes"
    )]
    TooLarge {
        /// Block number.
        block: u64,
        /// Offset of the block header.
        offset: u64,
        /// Configured maximum.
        limit: usize,
    },

    /// The decoded tree would take more memory than the configured limit (see
    /// [`crate::twx_value::cost`]).
    #[error("decoded .twx tree too large: it would take more than the limit of {limit} bytes")]
    TreeTooLarge {
        /// Configured maximum.
        limit: usize,
    },

    /// The decoded tree nests containers deeper than the configured limit.
    #[error("decoded .twx tree nested deeper than the limit of {limit} levels")]
    TooDeep {
        /// Configured maximum.
        limit: usize,
    },

    /// Bytes follow the end block.
    #[error("trailing data after the end block at byte offset {offset}")]
    TrailingData {
        /// Offset of the first unexpected byte.
        offset: u64,
    },

    /// The payload is not a valid Smile document (or does not fit a JSON tree).
    #[error("invalid Smile: {0}")]
    InvalidSmile(#[source] serde_smile::Error),

    /// The value could not be encoded as Smile.
    #[error("cannot encode Smile: {0}")]
    Encode(#[source] serde_smile::Error),
}
