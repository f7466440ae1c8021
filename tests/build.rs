//! Tells the integration tests whether the ThingWorx corpus (`../shared/corpus` beside the
//! checkout) is there: the tests that read it are ignored, with the reason, when it is not,
//! unless `IRONWORX_REQUIRE_CORPUS` is set (as `.ci/run` does), which makes it an error.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ironworx_corpus)");
    println!("cargo::rerun-if-env-changed=IRONWORX_REQUIRE_CORPUS");
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let corpus = std::path::Path::new(&manifest).join("../../shared/corpus");
    println!("cargo::rerun-if-changed={}", corpus.display());
    if corpus.is_dir() {
        println!("cargo::rustc-cfg=ironworx_corpus");
    } else if std::env::var_os("IRONWORX_REQUIRE_CORPUS").is_some() {
        panic!(
            "IRONWORX_REQUIRE_CORPUS is set but the corpus is missing: expected {}",
            corpus.display()
        );
    }
}
