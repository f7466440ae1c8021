//! Every bound on decoding a `.twx` document, alone and inside a zip archive: the payload, the
//! memory its tree takes (a small payload naming shared strings again and again), the nesting
//! depth; and the tree decoded within its bounds is the one `serde_json` builds.

use std::io::Write;
use std::path::{Path, PathBuf};

use ironworx_importer::twx::{frame, unframe};
use ironworx_importer::twx_value::{self, cost};
use ironworx_importer::{ImportError, Limits, TwxError, TwxLimits, read_twx, source};

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/twx");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "twx"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .twx file in the corpus");
    files
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(&p).expect("corpus file"),
            )
        })
        .collect()
}

/// Smile header: version 0, shared keys and shared string values.
const HEADER: &[u8] = b":)\n\x03";

/// `{"b": ["x" × 64, then `refs` back-references to it]}`.
fn shared_string_bomb(refs: usize) -> Vec<u8> {
    let mut smile = HEADER.to_vec();
    smile.extend_from_slice(&[0xFA, 0x80, b'b', 0xF8, 0x7F]);
    smile.extend_from_slice(&[b'x'; 64]);
    smile.resize(smile.len() + refs, 0x01);
    smile.extend_from_slice(&[0xF9, 0xFB]);
    smile
}

/// `{"k" × 64: 0, then `refs` entries naming that key again, each in its own object}`: an
/// array of one-entry objects whose keys are back-references.
fn shared_key_bomb(refs: usize) -> Vec<u8> {
    let mut smile = HEADER.to_vec();
    smile.extend_from_slice(&[0xF8, 0xFA, 0xBF]);
    smile.extend_from_slice(&[b'k'; 64]);
    smile.extend_from_slice(&[0xC0, 0xFB]);
    for _ in 0..refs {
        smile.extend_from_slice(&[0xFA, 0x40, 0xC0, 0xFB]);
    }
    smile.push(0xF9);
    smile
}

/// `depth` arrays, one in the other.
fn nested(depth: usize) -> Vec<u8> {
    let mut smile = HEADER.to_vec();
    smile.resize(smile.len() + depth, 0xF8);
    smile.resize(smile.len() + depth, 0xF9);
    smile
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(payload, &mut out).expect("frame");
    out
}

fn small_limits() -> Limits {
    Limits {
        max_expanded_bytes: 4 << 20,
        ..Limits::default()
    }
}

fn read_twx_upload(bytes: &[u8], limits: &Limits) -> Result<usize, ImportError> {
    source::read_bytes("bomb.twx", bytes, limits).map(|e| e.entities.len())
}

fn assert_limit(result: Result<usize, ImportError>, what: &str) {
    match result {
        Err(ImportError::Limit { what: found, .. }) if found.contains(what) => {}
        other => panic!("expected the limit on {what}, got {other:?}"),
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn the_budgeted_tree_is_the_serde_json_tree() {
    for (name, bytes) in corpus() {
        let payload = unframe(&bytes[..], &TwxLimits::default()).expect("unframe");
        let plain: serde_json::Value = serde_smile::from_slice(&payload).expect("serde_smile");
        let budgeted = read_twx(&bytes[..], &TwxLimits::default()).expect("read_twx");
        assert_eq!(plain, budgeted, "{name}");
    }
}

#[test]
#[cfg_attr(
    not(ironworx_corpus),
    ignore = "needs the corpus in ../shared/corpus, which this checkout lacks"
)]
fn a_tree_over_its_budget_stops_decoding() {
    for (name, bytes) in corpus() {
        let payload = unframe(&bytes[..], &TwxLimits::default()).expect("unframe");
        let err = twx_value::decode(&payload, payload.len(), 128).expect_err("over budget");
        assert!(
            matches!(err, TwxError::TreeTooLarge { limit } if limit == payload.len()),
            "{name}: {err}"
        );
        twx_value::decode(&payload, 64 * payload.len(), 128).expect("within budget");
    }
}

#[test]
fn shared_string_back_references_are_charged_per_use() {
    // 1 MiB of one-byte references would decode to about 100 MiB.
    let payload = shared_string_bomb(1 << 20);
    let twx = framed(&payload);
    assert!(twx.len() < 32 * 1024, "{} bytes", twx.len());
    let err = twx_value::decode(&payload, 1 << 20, 128).expect_err("bomb");
    assert!(matches!(err, TwxError::TreeTooLarge { .. }), "{err}");
    assert_limit(
        read_twx_upload(&twx, &small_limits()),
        "decoded .twx document",
    );
    // Within the budget, the same document decodes: each use costs a value and its string.
    let small = shared_string_bomb(100);
    let needed = 2 * cost::VALUE + cost::ENTRY + 1 + 101 * (cost::VALUE + 64);
    twx_value::decode(&small, needed, 128).expect("exactly within budget");
    let err = twx_value::decode(&small, needed - 1, 128).expect_err("one byte short");
    assert!(matches!(err, TwxError::TreeTooLarge { .. }), "{err}");
}

#[test]
fn shared_key_back_references_are_charged_per_use() {
    let payload = shared_key_bomb(1 << 18);
    let err = twx_value::decode(&payload, 1 << 20, 128).expect_err("bomb");
    assert!(matches!(err, TwxError::TreeTooLarge { .. }), "{err}");
    assert_limit(
        read_twx_upload(&framed(&payload), &small_limits()),
        "decoded .twx document",
    );
}

#[test]
fn the_payload_counts_against_the_expanded_limit() {
    // 8 MiB of one long string: a payload larger than the limit, cheap to frame.
    let mut payload = HEADER.to_vec();
    payload.push(0xE0);
    payload.resize(payload.len() + (8 << 20), b'a');
    payload.push(0xFC);
    assert_limit(
        read_twx_upload(&framed(&payload), &small_limits()),
        "decompressed size in bytes of the .twx payload",
    );
    // Many tiny blocks reach the same limit.
    let mut tiny = Vec::new();
    for chunk in payload.chunks(16) {
        frame(chunk, &mut tiny).expect("frame");
        tiny.truncate(tiny.len() - 21); // drop each end block but the last
    }
    frame(&[], &mut tiny).expect("end block");
    assert_limit(
        read_twx_upload(&tiny, &small_limits()),
        "decompressed size in bytes of the .twx payload",
    );
}

#[test]
fn nesting_is_bounded_while_decoding() {
    let limits = Limits {
        max_depth: 16,
        ..Limits::default()
    };
    assert_limit(
        read_twx_upload(&framed(&nested(17)), &limits),
        "nesting depth of the .twx tree",
    );
    let err = twx_value::decode(&nested(17), 1 << 20, 16).expect_err("too deep");
    assert!(matches!(err, TwxError::TooDeep { limit: 16 }), "{err}");
    twx_value::decode(&nested(16), 1 << 20, 16).expect("at the limit");
    // Far deeper than any limit: refused, not a stack overflow.
    let err = read_twx_upload(&framed(&nested(100_000)), &Limits::default()).expect_err("deep");
    assert!(err.to_string().contains(".twx"), "{err}");
}

#[test]
fn a_bomb_inside_a_zip_archive_meets_the_same_bound() {
    let twx = framed(&shared_string_bomb(1 << 20));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bombs.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    for name in ["a.twx", "b.twx"] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .expect("entry");
        zip.write_all(&twx).expect("write");
    }
    zip.finish().expect("finish");
    match source::read_path(&path, &small_limits()) {
        Err(ImportError::Limit { file, what, limit }) => {
            assert!(file.ends_with("bombs.zip!a.twx"), "{file}");
            assert!(what.contains("decoded .twx document"), "{what}");
            assert_eq!(limit, 4 << 20);
        }
        other => panic!("expected the limit, got {other:?}"),
    }
}

#[test]
fn many_distinct_dropped_elements_are_noted_in_linear_time() {
    // One note per distinct element the model has no place for: 100 000 of them in one entity.
    let mut xml =
        String::from("<Entities><Things><Thing name=\"T\"><DesignTimePermissions><Create>");
    for i in 0..100_000 {
        xml.push_str(&format!("<x{i}/>"));
    }
    xml.push_str("</Create></DesignTimePermissions></Thing></Things></Entities>");
    let started = std::time::Instant::now();
    let export = source::read_bytes("many.xml", xml.as_bytes(), &Limits::default()).expect("read");
    let elapsed = started.elapsed();
    assert_eq!(export.entities.len(), 1);
    assert!(
        export.notes.len() >= 100_000,
        "{} notes",
        export.notes.len()
    );
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "reading took {elapsed:?}"
    );
}

/// An archive of nothing but a zip64 end record claiming `entries` entries in a central
/// directory of `size` bytes at `offset`.
fn zip64_claiming(entries: u64, size: u64, offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
    out.extend_from_slice(&44u64.to_le_bytes());
    out.extend_from_slice(&[45, 0, 45, 0]);
    out.extend_from_slice(&[0; 8]); // this disk, the directory's disk
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&entries.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // where the zip64 end record is
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&[0xff; 4]);
    out.extend_from_slice(&[0xff; 8]);
    out.extend_from_slice(&[0; 2]);
    out
}

#[test]
fn claimed_zip_directory_sizes_allocate_nothing() {
    for (entries, size, offset) in [
        (1 << 34, 46 << 34, 1 << 40),
        (u64::MAX, u64::MAX, u64::MAX),
        (1 << 30, 46 << 30, 1 << 31),
    ] {
        let bytes = zip64_claiming(entries, size, offset);
        let err = source::read_bytes("claims.zip", &bytes, &Limits::default())
            .expect_err("an archive of claims");
        assert!(
            matches!(err, ImportError::Zip { .. } | ImportError::Limit { .. }),
            "{err}"
        );
    }
}

#[test]
fn one_xml_entity_is_read_within_the_expanded_limit() {
    // 100 000 empty elements in one entity: 500 KiB of XML, some 8 MiB as a tree.
    let mut xml = String::from("<Entities><Things><Thing name=\"T\"><Extra>");
    for _ in 0..100_000 {
        xml.push_str("<x/>");
    }
    xml.push_str("</Extra></Thing></Things></Entities>");
    let limits = Limits {
        max_expanded_bytes: 1 << 20,
        ..Limits::default()
    };
    match source::read_bytes("wide.xml", xml.as_bytes(), &limits) {
        Err(ImportError::Limit { file, what, limit }) => {
            assert_eq!(file, "wide.xml");
            assert!(what.contains("element read from line 1"), "{what}");
            assert_eq!(limit, 1 << 20);
        }
        other => panic!("expected the limit, got {other:?}"),
    }
    let export = source::read_bytes("wide.xml", xml.as_bytes(), &Limits::default())
        .expect("within the default limit");
    assert_eq!(export.entities.len(), 1);
}
