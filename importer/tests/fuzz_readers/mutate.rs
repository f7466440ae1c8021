//! The mutations: byte-level ones for any file, and ones aware of each format's structure so
//! that mutated content gets past the framing (a `.twx` payload is re-framed with valid
//! checksums, a zip entry is re-zipped, a storage tree's files are changed one at a time).

use std::io::{Cursor, Read};

use ironworx_importer::TwxLimits;
use ironworx_importer::twx::{frame, unframe};
use rand::Rng;
use rand::rngs::StdRng;

use crate::Input;
use crate::seeds::zip_with;

/// The largest file a mutation makes; larger results are cut back.
const MAX_LEN: usize = 4 << 20;

/// Tokens that mean something in XML, for insertion.
const XML_TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"</",
    b"/>",
    b"=\"",
    b"\"",
    b"<![CDATA[",
    b"]]>",
    b"&amp;",
    b"&#x10FFFF;",
    b"&#0;",
    b"&lt;",
    b"&unknown;",
    b"<!DOCTYPE x>",
    b"<?xml version=\"1.0\"?>",
    b"<!-- -->",
    b"<Thing name=\"T\">",
    b"</Thing>",
    b"<Things>",
    b"</Things>",
    b"name=\"",
    b"xmlns:a=\"b\"",
    b"<Principal isPermitted=\"true\" name=\"U\" type=\"User\"/>",
    b"\xff\xfe",
    b"\0",
];

/// Smile tokens: shared string and key references, containers, numbers, strings.
const SMILE_TOKENS: &[&[u8]] = &[
    &[0x01],
    &[0x02],
    &[0x1f],
    &[0x40],
    &[0x41],
    &[0x7f],
    &[0xec, 0x00],
    &[0x30, 0x05],
    &[0xf8],
    &[0xf9],
    &[0xfa],
    &[0xfb],
    &[0xf8, 0xf8, 0xf8, 0xf8],
    &[0xfa, 0x80, b'a', 0xc0],
    &[0x24, 0x80],
    &[
        0x25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81,
    ],
    &[0x26, 0x8a, 0x01],
    &[0x2a, 0x81, 0x8a],
    &[0x28, 0, 0, 0, 0, 0x81],
    &[0xe8, 0xff, 0xff],
    &[0xfd, 0xff, 0xff, 0xff, 0x8f],
    &[0xe0, 0xc3, 0xa9, 0xfc],
    &[0x21],
    &[0x20],
    &[0x00],
];

/// Byte-level mutations of `data`, `rounds` of them, each drawing from the other seeds too.
pub fn bytes(rng: &mut StdRng, data: &mut Vec<u8>, others: &[&[u8]], tokens: &[&[u8]]) {
    let rounds = 1 + rng.random_range(0..4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.random_range(0..10) {
            0 | 1 if len > 0 => {
                let at = rng.random_range(0..len);
                data[at] ^= 1 << rng.random_range(0..8);
            }
            2 if len > 0 => {
                let at = rng.random_range(0..len);
                data[at] = [0, 0xff, 0x7f, 0x80, b'<', b'"', 0x01, 0xfa][rng.random_range(0..8)];
            }
            3 => {
                let at = rng.random_range(0..=len);
                let extra: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
                data.splice(at..at, extra);
            }
            4 if len > 0 => {
                let at = rng.random_range(0..len);
                let end = (at + rng.random_range(1..64)).min(len);
                data.drain(at..end);
            }
            5 if len > 0 => {
                // Repeat a slice, many times now and then: amplification and long runs.
                let at = rng.random_range(0..len);
                let end = (at + rng.random_range(1..256)).min(len);
                let piece = data[at..end].to_vec();
                let times = if rng.random_bool(0.1) {
                    rng.random_range(1..20_000)
                } else {
                    rng.random_range(1..8)
                };
                let repeated: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * times)
                    .collect();
                data.splice(end..end, repeated);
            }
            6 if !others.is_empty() => {
                // Splice a piece of another seed in.
                let other = others[rng.random_range(0..others.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let to = (from + rng.random_range(1..4096)).min(other.len());
                    let at = rng.random_range(0..=len);
                    data.splice(at..at, other[from..to].iter().copied());
                }
            }
            7 if len > 0 => {
                data.truncate(rng.random_range(0..len));
            }
            _ => {
                let token = tokens[rng.random_range(0..tokens.len())];
                let at = rng.random_range(0..=len);
                data.splice(at..at, token.iter().copied());
            }
        }
    }
    data.truncate(MAX_LEN);
}

/// A mutated XML document.
pub fn xml(rng: &mut StdRng, data: &mut Vec<u8>, others: &[&[u8]]) {
    bytes(rng, data, others, XML_TOKENS);
}

/// A mutated `.twx` file: mostly its Smile payload mutated and framed again with valid
/// checksums; now and then the framing itself.
pub fn twx(rng: &mut StdRng, data: &mut Vec<u8>, others: &[&[u8]]) {
    if rng.random_bool(0.15) {
        bytes(
            rng,
            data,
            others,
            &[b"LZ4Block", &[0x26], &[0x10], &[0xff; 4]],
        );
        return;
    }
    let Ok(mut payload) = unframe(&data[..], &TwxLimits::default()) else {
        bytes(rng, data, others, SMILE_TOKENS);
        return;
    };
    let payloads: Vec<Vec<u8>> = others
        .iter()
        .filter_map(|o| unframe(*o, &TwxLimits::default()).ok())
        .collect();
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    bytes(rng, &mut payload, &refs, SMILE_TOKENS);
    let mut out = Vec::new();
    if frame(&payload, &mut out).is_ok() {
        *data = out;
    }
}

/// A mutated zip archive: an entry's content mutated and the archive written again, entries
/// added, renamed or removed, or the archive's bytes mutated.
pub fn zip(rng: &mut StdRng, data: &mut Vec<u8>, others: &[&[u8]]) {
    let Some(mut files) = unzip(data).filter(|_| rng.random_bool(0.85)) else {
        bytes(
            rng,
            data,
            others,
            &[b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", &[0xff; 4]],
        );
        return;
    };
    tree(rng, &mut files, others);
    if let Ok(out) = zip_with(&files, rng.random_bool(0.3)) {
        *data = out;
    }
}

/// A mutated storage tree (or the files of an archive): one file's content mutated, or a file
/// added, renamed or removed.
pub fn tree(rng: &mut StdRng, files: &mut Vec<(String, Vec<u8>)>, others: &[&[u8]]) {
    if files.is_empty() {
        files.push(("Things/T.xml".into(), b"<Entities/>".to_vec()));
    }
    let at = rng.random_range(0..files.len());
    match rng.random_range(0..10) {
        0 => {
            let names = [
                "../escape.xml",
                "/abs.xml",
                "a/../../b.xml",
                ".hidden/x.xml",
                "x.twx",
                "x.zip",
                "Things/Thing.XML",
                "deep/a/b/c/d/e/f/g/h.xml",
                "permissions/permissions.xml",
                "sysobj/Entities.xml",
                "noext",
            ];
            files[at].0 = names[rng.random_range(0..names.len())].into();
        }
        1 => {
            let copy = files[at].clone();
            files.push((format!("{}-{}.xml", copy.0, files.len()), copy.1));
        }
        2 if files.len() > 1 => {
            files.remove(at);
        }
        _ => {
            let (name, content) = &mut files[at];
            if name.to_ascii_lowercase().ends_with(".twx") {
                twx(rng, content, others);
            } else {
                xml(rng, content, others);
            }
        }
    }
}

/// The entries of a zip archive, or `None` when it cannot be read whole.
pub fn unzip(data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(data)).ok()?;
    let mut files = Vec::new();
    for index in 0..archive.len().min(64) {
        let mut entry = archive.by_index(index).ok()?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().ok()?.into_owned();
        let mut bytes = Vec::new();
        entry
            .by_ref()
            .take(MAX_LEN as u64)
            .read_to_end(&mut bytes)
            .ok()?;
        files.push((name, bytes));
    }
    Some(files)
}

/// One mutated input of `seed`, drawing on `others`.
pub fn input(rng: &mut StdRng, reader: crate::Reader, seed: &Input, others: &[&[u8]]) -> Input {
    let mut input = seed.clone();
    match reader {
        crate::Reader::Folder => tree(rng, &mut input.files, others),
        _ => {
            if let Some((_, data)) = input.files.first_mut() {
                match reader {
                    crate::Reader::Xml => xml(rng, data, others),
                    crate::Reader::Twx => twx(rng, data, others),
                    _ => zip(rng, data, others),
                }
            }
        }
    }
    input
}
