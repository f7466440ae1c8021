//! The formats: readers and writers of ThingWorx XML (single files, source-control files,
//! collection-permission files), storage trees and zip archives, binary `.twx` (framing, Smile
//! values, the tree mapping), and the input sources that choose a reader by what they are given.

pub mod source;
pub mod storage;
pub mod twx;
pub mod twx_tree;
pub mod twx_value;
pub mod xml_read;
pub mod xml_write;
