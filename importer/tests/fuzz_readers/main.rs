//! A mutational fuzzer of the import readers (XML, `.twx`, zip, storage folder): inputs grown
//! from the corpus of real exports by byte-level and structure-aware mutations, each read by
//! the first pass of an import as the server runs it ([`ironworx_importer::stream::read_first`]
//! on a saved upload or a folder) under the server's default limits. It reports panics, inputs
//! read for longer than the watchdog allows, and inputs whose reading allocates more than the
//! memory ceiling at its peak; each failing input is saved under the output folder.
//!
//! `cargo test --workspace --features ironworx-importer/fuzz --test fuzz_readers -- --help`

mod mutate;
mod seeds;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ironworx_importer::Limits;
use ironworx_importer::stream::{ExportLocation, read_first};
use peak_alloc::PeakAlloc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

/// The readers, each fed its own kind of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    Xml,
    Twx,
    Zip,
    Folder,
}

impl Reader {
    const ALL: [Reader; 4] = [Reader::Xml, Reader::Twx, Reader::Zip, Reader::Folder];

    pub fn name(self) -> &'static str {
        match self {
            Reader::Xml => "xml",
            Reader::Twx => "twx",
            Reader::Zip => "zip",
            Reader::Folder => "folder",
        }
    }
}

/// One input: a single file (XML, `.twx`, zip) or the files of a storage tree.
#[derive(Clone, Debug)]
pub struct Input {
    pub files: Vec<(String, Vec<u8>)>,
}

impl Input {
    /// The bytes of a one-file input (an XML, `.twx` or zip file).
    fn single(&self) -> &[u8] {
        self.files.first().map(|(_, b)| b.as_slice()).unwrap_or(&[])
    }
}

const USAGE: &str = "\
fuzz_readers [--reader xml|twx|zip|folder|all] [--seconds N] [--seed N] [--corpus DIR]
             [--out DIR] [--timeout-seconds N] [--max-memory BYTES]
             [--max-expanded-bytes BYTES]

Mutates the corpus inputs of each selected reader for N seconds (default 20, split evenly
between the readers) and reads each mutated input as an import's first pass does, under the
server's default limits (--max-expanded-bytes lowers the expanded-size limit, and the file
size limit with it). Fails (exit status 1) on a panic, an input read for longer than the
timeout (default 10 s), or an input whose reading allocates more than the memory ceiling
(default: the expanded-size limit) at its peak; failing inputs are saved under --out
(default fuzz-failures).";

struct Options {
    readers: Vec<Reader>,
    seconds: u64,
    seed: u64,
    corpus: PathBuf,
    out: PathBuf,
    timeout: Duration,
    max_memory: Option<u64>,
    limits: Limits,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        readers: Reader::ALL.to_vec(),
        seconds: 20,
        seed: 0,
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
        out: PathBuf::from("fuzz-failures"),
        timeout: Duration::from_secs(10),
        max_memory: None,
        limits: Limits::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{arg} needs a value\n\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{arg} {value}: {e}"))
        };
        match arg.as_str() {
            "--reader" => {
                options.readers = match value.as_str() {
                    "all" => Reader::ALL.to_vec(),
                    name => vec![
                        *Reader::ALL
                            .iter()
                            .find(|r| r.name() == name)
                            .ok_or_else(|| format!("unknown reader {name}\n\n{USAGE}"))?,
                    ],
                }
            }
            "--seconds" => options.seconds = number()?,
            "--seed" => options.seed = number()?,
            "--corpus" => options.corpus = PathBuf::from(value),
            "--out" => options.out = PathBuf::from(value),
            "--timeout-seconds" => options.timeout = Duration::from_secs(number()?),
            "--max-memory" => options.max_memory = Some(number()?),
            "--max-expanded-bytes" => {
                let bytes = number()?;
                options.limits.max_expanded_bytes = bytes;
                options.limits.max_file_bytes = options.limits.max_file_bytes.min(bytes);
            }
            _ => return Err(format!("unknown option {arg}\n\n{USAGE}")),
        }
    }
    Ok(options)
}

/// The last panic seen on any thread: its location and message.
static PANICKED: Mutex<Option<(String, String)>> = Mutex::new(None);

fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        if let Ok(mut slot) = PANICKED.lock() {
            *slot = Some((location, message));
        }
    }));
    let share = options.seconds / options.readers.len() as u64;
    let mut failed = false;
    for reader in options.readers.clone() {
        match run(reader, &options, Duration::from_secs(share.max(1))) {
            Ok(summary) => {
                summary.print(reader);
                failed |= !summary.failures.is_empty();
            }
            Err(message) => {
                eprintln!("{}: {message}", reader.name());
                std::process::exit(2);
            }
        }
    }
    std::process::exit(i32::from(failed));
}

/// What one reader's run found.
#[derive(Default)]
struct Summary {
    executions: u64,
    /// Inputs kept to mutate further: the seeds and the mutated inputs read without error.
    pool: usize,
    elapsed: Duration,
    peak: u64,
    /// Unique failures: key (kind and place) → where the input was saved, and the detail.
    failures: BTreeMap<String, (PathBuf, String)>,
}

impl Summary {
    fn print(&self, reader: Reader) {
        let secs = self.elapsed.as_secs_f64().max(0.001);
        println!(
            "{}: {} executions in {:.0} s ({:.0} exec/s), {} inputs in the pool, peak allocation of one input {:.1} MiB, {} unique failure(s)",
            reader.name(),
            self.executions,
            secs,
            self.executions as f64 / secs,
            self.pool,
            self.peak as f64 / (1024.0 * 1024.0),
            self.failures.len()
        );
        for (key, (path, detail)) in &self.failures {
            println!(
                "  FAILURE {key}: {detail} (input saved in {})",
                path.display()
            );
        }
    }
}

/// The input being read and when its reading started, for the watchdog.
struct Current {
    input: Mutex<Option<Input>>,
    started_ms: AtomicU64,
    busy: AtomicBool,
}

fn run(reader: Reader, options: &Options, duration: Duration) -> Result<Summary, String> {
    let seeds = seeds::load(&options.corpus, reader)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut rng = StdRng::seed_from_u64(options.seed ^ (reader as u64).wrapping_mul(0x9E37_79B9));
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ceiling = options
        .max_memory
        .unwrap_or(options.limits.max_expanded_bytes);
    let clock = Instant::now();
    let current = Arc::new(Current {
        input: Mutex::new(None),
        started_ms: AtomicU64::new(0),
        busy: AtomicBool::new(false),
    });
    watchdog(
        Arc::clone(&current),
        clock,
        options.timeout,
        reader,
        options.out.clone(),
    );

    // The pool: the seeds, then mutated inputs that read to the end without error (they go
    // deeper into the readers than the ones refused at once).
    let mut pool: Vec<Input> = seeds;
    let mut summary = Summary::default();
    while clock.elapsed() < duration {
        let base = &pool[rng.random_range(0..pool.len())];
        let others: Vec<&[u8]> = (0..3)
            .filter_map(|_| {
                let other = &pool[rng.random_range(0..pool.len())];
                other.files.first().map(|(_, b)| b.as_slice())
            })
            .collect();
        let input = mutate::input(&mut rng, reader, base, &others);
        let path = write_input(work.path(), reader, &input, summary.executions)?;
        if let Ok(mut slot) = current.input.lock() {
            *slot = Some(input.clone());
        }
        current
            .started_ms
            .store(clock.elapsed().as_millis() as u64, Ordering::SeqCst);
        current.busy.store(true, Ordering::SeqCst);

        let before = ALLOC.current_usage() as u64;
        ALLOC.reset_peak_usage();
        let source = ExportLocation::upload(&path, &shown(reader));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(read_first(&source, &options.limits))
        }));
        let peak = (ALLOC.peak_usage() as u64).saturating_sub(before);
        current.busy.store(false, Ordering::SeqCst);
        summary.executions += 1;
        summary.peak = summary.peak.max(peak);
        remove_input(&path);

        let panicked = PANICKED.lock().ok().and_then(|mut slot| slot.take());
        let failure = if let Some((location, message)) = panicked {
            Some((format!("panic at {location}"), message))
        } else if peak > ceiling {
            Some((
                "memory".to_owned(),
                format!("{peak} bytes allocated at the peak, above the ceiling of {ceiling}"),
            ))
        } else {
            None
        };
        match (failure, outcome) {
            (Some((key, detail)), _) if !summary.failures.contains_key(&key) => {
                let saved = save(&options.out, reader, &input, summary.executions)?;
                eprintln!("{}: FAILURE {key}: {detail}", reader.name());
                summary.failures.insert(key, (saved, detail));
            }
            (None, Ok(Ok(_))) if pool.len() < 512 => pool.push(input),
            _ => {}
        }
    }
    summary.elapsed = clock.elapsed();
    summary.pool = pool.len();
    Ok(summary)
}

/// The name messages call an upload by (its extension chooses the format).
fn shown(reader: Reader) -> String {
    match reader {
        Reader::Xml => "upload.xml".into(),
        Reader::Twx => "upload.twx".into(),
        Reader::Zip => "upload.zip".into(),
        Reader::Folder => "tree".into(),
    }
}

/// Writes `input` where the reader reads it: one file, or a folder holding its files.
fn write_input(work: &Path, reader: Reader, input: &Input, n: u64) -> Result<PathBuf, String> {
    let path = work.join(format!("input-{n}"));
    match reader {
        Reader::Folder => write_tree(&path, input)?,
        _ => {
            std::fs::write(&path, input.single())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(path)
}

/// Writes the files of a storage tree under `dir`; a name leaving it is written flattened.
fn write_tree(dir: &Path, input: &Input) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for (name, bytes) in &input.files {
        let safe: Vec<&str> = name
            .split('/')
            .filter(|p| !p.is_empty() && *p != "." && *p != "..")
            .collect();
        if safe.is_empty() {
            continue;
        }
        let path = dir.join(safe.join("/"));
        if let Some(parent) = path.parent() {
            // A file and a folder of one name clash; the later one is skipped.
            if std::fs::create_dir_all(parent).is_err() {
                continue;
            }
        }
        std::fs::write(&path, bytes).ok();
    }
    Ok(())
}

fn remove_input(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).ok();
    } else {
        std::fs::remove_file(path).ok();
    }
}

/// Saves a failing input under `out` and returns where.
fn save(out: &Path, reader: Reader, input: &Input, n: u64) -> Result<PathBuf, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let path = match reader {
        Reader::Folder => {
            let dir = out.join(format!("folder-{n}"));
            write_tree(&dir, input)?;
            dir
        }
        _ => {
            let path = out.join(format!("{}-{n}.{}", reader.name(), extension(reader)));
            std::fs::write(&path, input.single())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            path
        }
    };
    Ok(path)
}

fn extension(reader: Reader) -> &'static str {
    match reader {
        Reader::Zip => "zip",
        Reader::Twx => "twx",
        _ => "xml",
    }
}

/// Watches the reading of each input: one read for longer than `timeout` is saved and the
/// process stops with status 1 (a thread cannot be stopped from outside).
fn watchdog(
    current: Arc<Current>,
    clock: Instant,
    timeout: Duration,
    reader: Reader,
    out: PathBuf,
) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if !current.busy.load(Ordering::SeqCst) {
                continue;
            }
            let started = Duration::from_millis(current.started_ms.load(Ordering::SeqCst));
            if clock.elapsed().saturating_sub(started) <= timeout {
                continue;
            }
            let input = current.input.lock().ok().and_then(|slot| slot.clone());
            let saved = input
                .map(|input| save(&out, reader, &input, u64::MAX))
                .transpose();
            eprintln!(
                "{}: FAILURE hang: an input was read for more than {} s (input saved in {:?})",
                reader.name(),
                timeout.as_secs(),
                saved
            );
            std::process::exit(1);
        }
    });
}
