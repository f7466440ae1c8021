//! Tells the end-to-end tests whether the ThingWorx corpus is there, as the importer's build
//! script does (`importer/corpus_cfg.rs`).

include!("../importer/corpus_cfg.rs");

fn main() {
    corpus_cfg();
}
