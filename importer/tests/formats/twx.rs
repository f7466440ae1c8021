//! Reading and writing binary `.twx` exports against the shared corpus and the reference decoder.

use std::path::{Path, PathBuf};
use std::process::Command;

use ironworx_importer::twx::{BLOCK_SIZE, frame, unframe};
use ironworx_importer::{TwxError, TwxLimits, read_twx, write_twx};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/twx");
    assert!(
        dir.is_dir(),
        "the .twx corpus is missing: expected directory {}",
        dir.display()
    );
    dir
}

/// Every `.twx` file of the corpus with its bytes and the reference decode.
fn corpus() -> Vec<(String, Vec<u8>, Value)> {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus directory")
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "twx"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .twx files in {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("read .twx");
            let reference = path.with_extension("decoded.json");
            let text = std::fs::read_to_string(&reference).unwrap_or_else(|e| {
                panic!("missing reference decode {}: {e}", reference.display())
            });
            let json = serde_json::from_str(&text).expect("parse reference JSON");
            (name, bytes, json)
        })
        .collect()
}

fn read(bytes: &[u8]) -> Result<Value, TwxError> {
    read_twx(bytes, &TwxLimits::default())
}

fn to_twx(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_twx(value, &mut out).expect("write_twx");
    out
}

/// Serialized form, to compare key order as well as content.
fn compact(value: &Value) -> String {
    serde_json::to_string(value).expect("serialize")
}

/// Offsets of the block headers (all blocks, the end block included).
fn block_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        offsets.push(at);
        let clen = i32::from_le_bytes(bytes[at + 9..at + 13].try_into().expect("4 bytes"));
        at += 21 + usize::try_from(clen).expect("non-negative length");
    }
    offsets
}

fn header(token: u8, clen: i32, dlen: i32, check: u32) -> Vec<u8> {
    let mut h = b"LZ4Block".to_vec();
    h.push(token);
    h.extend_from_slice(&clen.to_le_bytes());
    h.extend_from_slice(&dlen.to_le_bytes());
    h.extend_from_slice(&check.to_le_bytes());
    h
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn corpus_decodes_to_reference_json_with_key_order() {
    for (name, bytes, reference) in corpus() {
        let value = read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(value, reference, "{name}: tree differs from reference");
        assert_eq!(
            compact(&value),
            compact(&reference),
            "{name}: key order or number form differs from reference"
        );
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn corpus_round_trips_through_write_twx() {
    for (name, bytes, _) in corpus() {
        let value = read(&bytes).expect("read corpus file");
        let written = to_twx(&value);
        assert_eq!(written, to_twx(&value), "{name}: output not deterministic");
        assert_eq!(&written[..8], b"LZ4Block");
        // Smile header with flags 0x01, as ThingWorx writes it.
        let payload = unframe(&written[..], &TwxLimits::default()).expect("unframe");
        assert_eq!(&payload[..4], b":)\n\x01", "{name}: Smile header");
        assert!(
            written.ends_with(&header(0x16, 0, 0, 0)),
            "{name}: end block"
        );
        let back = read(&written).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, value, "{name}: round trip differs");
        assert_eq!(compact(&back), compact(&value), "{name}: key order lost");
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn written_files_decode_with_reference_decoder() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools/twxdecode.py");
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "skipped: python3 is not available to run {}",
            script.display()
        );
        return;
    }
    assert!(
        script.is_file(),
        "missing reference decoder {}",
        script.display()
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    for (name, _, reference) in corpus() {
        let twx = tmp.path().join(&name);
        let json = tmp.path().join(format!("{name}.json"));
        std::fs::write(&twx, to_twx(&reference)).expect("write .twx");
        let output = Command::new("python3")
            .arg(&script)
            .arg(&twx)
            .arg(&json)
            .output()
            .expect("run twxdecode.py");
        assert!(
            output.status.success(),
            "{name}: twxdecode.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let decoded: Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("read decoded JSON"))
                .expect("parse decoded JSON");
        assert_eq!(decoded, reference, "{name}: reference decoder disagrees");
        assert_eq!(compact(&decoded), compact(&reference), "{name}: key order");
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn truncated_files_are_refused() {
    for (name, bytes, _) in corpus() {
        let offsets = block_offsets(&bytes);
        let end_block = *offsets.last().expect("end block");
        let mut cuts = vec![0, 1, 7, 8, 9, 20, 21, 22, 100, bytes.len() / 2, end_block];
        cuts.extend([end_block + 1, end_block + 20, bytes.len() - 1]);
        for &cut in &offsets[1..] {
            cuts.extend([cut - 1, cut + 3]);
        }
        for cut in cuts {
            let err = read(&bytes[..cut]).expect_err("truncated file must fail");
            assert!(
                matches!(err, TwxError::Truncated { .. }),
                "{name} cut at {cut}: unexpected error {err}"
            );
            assert!(err.to_string().contains("offset"), "{err}");
        }
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn missing_end_block_names_its_offset() {
    let (_, bytes, _) = corpus().into_iter().next().expect("corpus file");
    let cut = bytes.len() - 21;
    let err = read(&bytes[..cut]).expect_err("missing end block");
    assert!(
        matches!(err, TwxError::Truncated { offset, .. } if offset == cut as u64),
        "{err}"
    );
    assert!(err.to_string().contains(&cut.to_string()), "{err}");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn flipped_checksum_is_refused() {
    for (name, bytes, _) in corpus() {
        for (block, &at) in block_offsets(&bytes).iter().enumerate() {
            let mut bad = bytes.clone();
            bad[at + 17] ^= 0x01;
            let err = read(&bad).expect_err("flipped checksum");
            assert!(
                matches!(err, TwxError::ChecksumMismatch { block: b, offset, .. }
                    if b == block as u64 && offset == at as u64),
                "{name} block {block}: {err}"
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn flipped_payload_byte_is_refused() {
    for (name, bytes, _) in corpus() {
        let offsets = block_offsets(&bytes);
        let mut checksum_errors = 0;
        for &at in &offsets[..offsets.len() - 1] {
            let end = offsets
                .iter()
                .find(|&&o| o > at)
                .copied()
                .expect("next block");
            for pos in (at + 21..end).step_by(997) {
                let mut bad = bytes.clone();
                bad[pos] ^= 0x20;
                match read(&bad) {
                    Err(TwxError::ChecksumMismatch { .. }) => checksum_errors += 1,
                    Err(TwxError::Corrupt { .. } | TwxError::Truncated { .. }) => {}
                    Err(other) => panic!("{name} byte {pos}: unexpected error {other}"),
                    Ok(_) => panic!("{name} byte {pos}: corruption not detected"),
                }
            }
        }
        assert!(checksum_errors > 0, "{name}: no flip reached the checksum");
    }
}

#[test]
fn flipped_byte_in_stored_block_is_a_checksum_error() {
    // Bytes that LZ4 cannot shrink are written as stored blocks (token 0x16).
    let payload: Vec<u8> = (0u32..200)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut bytes = Vec::new();
    frame(&payload, &mut bytes).expect("frame");
    assert_eq!(bytes[8], 0x16, "expected a stored block");
    assert_eq!(
        unframe(&bytes[..], &TwxLimits::default()).expect("unframe"),
        payload
    );
    let mut bad = bytes.clone();
    bad[21 + 50] ^= 0x04;
    let err = unframe(&bad[..], &TwxLimits::default()).expect_err("flipped byte");
    assert!(
        matches!(
            err,
            TwxError::ChecksumMismatch {
                block: 0,
                offset: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("checksum mismatch in block 0"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn wrong_magic_is_refused() {
    let (_, bytes, _) = corpus().into_iter().next().expect("corpus file");
    let mut bad = bytes.clone();
    bad[0] = b'X';
    let err = read(&bad).expect_err("bad magic");
    assert!(matches!(err, TwxError::BadMagic { offset: 0, .. }), "{err}");
    assert!(
        err.to_string().contains("bad magic at byte offset 0"),
        "{err}"
    );

    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00 not a twx file";
    let err = read(zip).expect_err("zip is not twx");
    assert!(matches!(err, TwxError::BadMagic { offset: 0, .. }), "{err}");

    let offsets = block_offsets(&bytes);
    let second = offsets[1];
    let mut bad = bytes.clone();
    bad[second + 3] ^= 0xFF;
    let err = read(&bad).expect_err("bad magic in second block");
    assert!(
        matches!(err, TwxError::BadMagic { offset, .. } if offset == second as u64),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn trailing_data_is_refused() {
    let (_, bytes, _) = corpus().into_iter().next().expect("corpus file");
    let mut bad = bytes.clone();
    bad.push(0);
    let err = read(&bad).expect_err("trailing byte");
    assert!(
        matches!(err, TwxError::TrailingData { offset } if offset == bytes.len() as u64),
        "{err}"
    );
    let mut twice = bytes.clone();
    twice.extend_from_slice(&bytes);
    assert!(matches!(read(&twice), Err(TwxError::TrailingData { .. })));
}

#[test]
fn huge_declared_size_fails_before_allocating() {
    // 2 GiB declared in a 64 KiB-class block.
    let data = header(0x26, 16, i32::MAX, 0);
    let err = read(&data).expect_err("huge block");
    assert!(matches!(err, TwxError::BadBlockLengths { .. }), "{err}");
    let data = header(0x26, i32::MAX, 16, 0);
    let err = read(&data).expect_err("huge compressed block");
    assert!(matches!(err, TwxError::BadBlockLengths { .. }), "{err}");

    // A 32 MiB-class block with a permissive block limit still meets the payload limit
    // before its data is read (the data is absent, so reading it would report truncation).
    let limits = TwxLimits {
        max_block_size: 1 << 25,
        max_decompressed_bytes: 1 << 20,
        ..TwxLimits::default()
    };
    let data = header(0x2F, 1 << 20, 1 << 25, 0);
    let err = read_twx(&data[..], &limits).expect_err("over the payload limit");
    assert!(matches!(err, TwxError::TooLarge { block: 0, .. }), "{err}");
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn decompressed_limit_is_enforced() {
    for (name, bytes, reference) in corpus() {
        let size = unframe(&bytes[..], &TwxLimits::default())
            .expect("unframe")
            .len();
        let exact = TwxLimits {
            max_decompressed_bytes: size,
            ..TwxLimits::default()
        };
        assert_eq!(
            read_twx(&bytes[..], &exact).expect("limit equal to size"),
            reference
        );
        let below = TwxLimits {
            max_decompressed_bytes: size - 1,
            ..TwxLimits::default()
        };
        let err = read_twx(&bytes[..], &below).expect_err("over the limit");
        assert!(matches!(err, TwxError::TooLarge { .. }), "{name}: {err}");
        assert!(err.to_string().contains("too large"), "{err}");
    }
}

#[test]
fn compression_bomb_stops_at_the_limit() {
    // 64 MiB of zeros frame into about 260 KiB.
    let mut bomb = Vec::new();
    frame(&vec![0u8; 64 << 20], &mut bomb).expect("frame");
    assert!(bomb.len() < 1 << 20);
    let limits = TwxLimits {
        max_decompressed_bytes: 1 << 20,
        ..TwxLimits::default()
    };
    let err = read_twx(&bomb[..], &limits).expect_err("bomb");
    assert!(
        matches!(err, TwxError::TooLarge { block, .. } if block == ((1 << 20) / BLOCK_SIZE) as u64),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn invalid_smile_is_refused() {
    let mut bytes = Vec::new();
    frame(b"{\"not\": \"smile\"}", &mut bytes).expect("frame");
    let err = read(&bytes).expect_err("JSON is not Smile");
    assert!(matches!(err, TwxError::InvalidSmile(_)), "{err}");
    assert!(err.to_string().starts_with("invalid Smile"), "{err}");

    let (_, corpus_bytes, _) = corpus().into_iter().next().expect("corpus file");
    let mut payload = unframe(&corpus_bytes[..], &TwxLimits::default()).expect("unframe");
    payload.truncate(payload.len() / 2);
    let mut half = Vec::new();
    frame(&payload, &mut half).expect("frame");
    let err = read(&half).expect_err("half a document");
    assert!(matches!(err, TwxError::InvalidSmile(_)), "{err}");
}

#[test]
fn multi_block_values_round_trip() {
    let value = serde_json::json!({
        "z": "last key first",
        "a": (0..20_000).map(|i| serde_json::json!({"n": i, "s": format!("item {i}"), "f": f64::from(i) / 3.0})).collect::<Vec<_>>(),
        "unicode": "Grüße, 東京 ✓",
        "empty": {},
        "nothing": null,
    });
    let bytes = to_twx(&value);
    assert!(block_offsets(&bytes).len() > 3, "expected several blocks");
    let back = read(&bytes).expect("read");
    assert_eq!(back, value);
    assert_eq!(compact(&back), compact(&value));
}
