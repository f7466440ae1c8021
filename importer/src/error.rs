//! Errors of the importer: reading a file, tree or archive, planning and applying an import,
//! exporting. Each names the file, the entity and the line where they are known.

use std::io;

use crate::model::Origin;

/// Why an import or export failed. Nothing was written when an import returns one.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The XML is malformed or does not have the shape of a ThingWorx export.
    #[error("{origin}: {message}")]
    Xml {
        /// Where.
        origin: Origin,
        /// What is wrong.
        message: String,
    },
    /// A `.twx` file could not be decoded.
    #[error("{file}: {source}")]
    Twx {
        /// The file.
        file: String,
        /// Why.
        source: TwxError,
    },
    /// A `.twx` tree does not have the shape of a ThingWorx export.
    #[error("{file}: {message}")]
    TwxShape {
        /// The file.
        file: String,
        /// What is wrong (with the JSON path).
        message: String,
    },
    /// A zip archive is unreadable.
    #[error("{file}: not a readable zip archive: {message}")]
    Zip {
        /// The archive.
        file: String,
        /// Why.
        message: String,
    },
    /// An archive entry would leave the folder it is extracted to (`../`, absolute path).
    #[error("{file}: refused entry '{entry}': its path leaves the archive")]
    UnsafePath {
        /// The archive.
        file: String,
        /// The entry name.
        entry: String,
    },
    /// An explicit limit was exceeded (size, entry count, nesting depth, …).
    #[error("{file}: {what} exceeds the limit of {limit}")]
    Limit {
        /// The file or archive.
        file: String,
        /// What was counted.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The input names an unsupported kind of file.
    #[error("{path}: {message}")]
    Unsupported {
        /// The path.
        path: String,
        /// Why.
        message: String,
    },
    /// An entity cannot be imported as it is (bad name, bad value, broken reference, …).
    #[error("{origin}: {entity}: {message}")]
    Invalid {
        /// Where it was read.
        origin: Origin,
        /// `Collection/Name`.
        entity: String,
        /// What is wrong.
        message: String,
    },
    /// `--strict`: the import names principals that neither it nor the database defines.
    #[error("strict import refused: {count} rule(s) name principals defined nowhere: {list}")]
    DanglingPrincipals {
        /// How many rules or memberships name them.
        count: usize,
        /// The principals, `Type:Name`, comma separated.
        list: String,
    },
    /// The caller may not set what the import holds: it lacks the right the REST service that
    /// sets it would need.
    #[error(
        "{}: {}: not authorized for {} on {} in {}",
        .0.origin, .0.entity, .0.permission, .0.resource, .0.name
    )]
    Forbidden(Box<Refusal>),
    /// The database refused a statement or could not be reached.
    #[error("database error while importing: {0}")]
    Db(String),
}

/// What an import may not do for its caller: `permission` on `resource` in entity `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Where it was read.
    pub origin: Origin,
    /// `Collection/Name`.
    pub entity: String,
    /// The permission (or service right) missing.
    pub permission: String,
    /// The resource it was asked on.
    pub resource: String,
    /// The entity's name.
    pub name: String,
}

pub use crate::twx_error::TwxError;

impl ImportError {
    /// An I/O error on `path`.
    pub fn io(path: impl std::fmt::Display, source: io::Error) -> Self {
        ImportError::Io {
            path: path.to_string(),
            source,
        }
    }
}

impl From<ironworx_entity::queries::QueryError> for ImportError {
    fn from(err: ironworx_entity::queries::QueryError) -> Self {
        match err {
            // The database's own words, as for a statement run here.
            ironworx_entity::queries::QueryError::Db(err) => ImportError::Db(err.to_string()),
            err => ImportError::Db(err.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for ImportError {
    fn from(err: sea_orm::DbErr) -> Self {
        ImportError::Db(err.to_string())
    }
}
