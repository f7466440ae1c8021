//! The explicit limits every reader enforces, with their defaults.

use crate::twx::TwxLimits;

/// Limits on what an import may read. Exceeding one is an [`crate::ImportError::Limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single input file (or zip entry, expanded), in bytes.
    pub max_file_bytes: u64,
    /// Most entries a zip archive or folder tree may hold.
    pub max_entries: u64,
    /// Largest total expanded size of a zip archive or folder tree, in bytes.
    pub max_expanded_bytes: u64,
    /// Deepest element nesting of an XML document (and of a `.twx` tree).
    pub max_depth: usize,
    /// Largest compression ratio a zip entry may claim (expanded / compressed).
    pub max_compression_ratio: u64,
    /// Limits of the `.twx` framing.
    pub twx: TwxLimits,
    /// Most iterations an imported PBKDF2 password hash may claim (ThingWorx stores 100,000):
    /// each guess at such a password costs one derivation, so a user carrying more is refused.
    pub max_pbkdf2_iterations: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 512 * 1024 * 1024,
            max_entries: 200_000,
            max_expanded_bytes: 1024 * 1024 * 1024,
            max_depth: 128,
            max_compression_ratio: 200,
            twx: TwxLimits::default(),
            max_pbkdf2_iterations: 210_000,
        }
    }
}
