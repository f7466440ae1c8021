//! The seed inputs of each reader, taken from the corpus of real exports (`MANIFEST.tsv` lists
//! its files, with the path each had in its repository).

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::Path;

use crate::{Input, Reader};

/// Reads the corpus at `dir` and builds the seeds of `reader`.
pub fn load(dir: &Path, reader: Reader) -> Result<Vec<Input>, String> {
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .map_err(|e| format!("{}: {e}", dir.join("MANIFEST.tsv").display()))?;
    let mut xml = Vec::new();
    let mut twx = Vec::new();
    // Storage trees: the files of one repository, each at its path there.
    let mut trees: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for line in manifest.lines().skip(1) {
        let mut fields = line.split('\t');
        let (Some(local), Some(repo), Some(path)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let bytes = std::fs::read(dir.join(local)).map_err(|e| format!("{local}: {e}"))?;
        if local.ends_with(".twx") {
            twx.push(bytes);
        } else if local.ends_with(".xml") {
            if path.contains('/') {
                trees
                    .entry(repo.to_owned())
                    .or_default()
                    .push((path.to_owned(), bytes.clone()));
            }
            xml.push(bytes);
        }
    }
    let single = |name: &str, files: Vec<Vec<u8>>| -> Vec<Input> {
        files
            .into_iter()
            .map(|bytes| Input {
                files: vec![(name.to_owned(), bytes)],
            })
            .collect()
    };
    let seeds = match reader {
        Reader::Xml => single("upload.xml", xml),
        Reader::Twx => single("upload.twx", twx),
        Reader::Folder => trees.into_values().map(|files| Input { files }).collect(),
        Reader::Zip => {
            let mut zips = Vec::new();
            for files in trees.into_values() {
                zips.push(zip_of(&files)?);
            }
            for (i, bytes) in twx.into_iter().enumerate() {
                zips.push(zip_of(&[(format!("export{i}.twx"), bytes)])?);
            }
            for (i, bytes) in xml.into_iter().take(4).enumerate() {
                zips.push(zip_of(&[(format!("Entities{i}.xml"), bytes)])?);
            }
            single("upload.zip", zips)
        }
    };
    if seeds.is_empty() {
        return Err(format!("no seed for the {} reader", reader.name()));
    }
    Ok(seeds)
}

/// A zip archive of `files`, deflated unless `stored`.
pub fn zip_with(files: &[(String, Vec<u8>)], stored: bool) -> Result<Vec<u8>, String> {
    let method = if stored {
        zip::CompressionMethod::Stored
    } else {
        zip::CompressionMethod::Deflated
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        out.start_file(name.as_str(), options)
            .map_err(|e| e.to_string())?;
        out.write_all(bytes).map_err(|e| e.to_string())?;
    }
    Ok(out.finish().map_err(|e| e.to_string())?.into_inner())
}

fn zip_of(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    zip_with(files, false)
}
