//! What a question is about, from the names a caller gives: an entity type as a collection,
//! and an entity name (or none) as a [`Target`] of the index. Shared by the
//! `ExplainPermission` service and `ironworx explain`.

use ironworx_entity::vocab::Collection;

use crate::authz::decide::Target;
use crate::authz::index::AuthzIndex;

/// Resolves an entity type given as a collection (`Things`) or an entity element (`Thing`).
pub fn collection_of(entity_type: &str) -> Option<Collection> {
    entity_type
        .parse()
        .ok()
        .or_else(|| Collection::from_element_name(entity_type))
}

/// The target of a question: an entity, or a collection when no entity is named; `None` when
/// the named entity is not in the index.
pub fn target_of(index: &AuthzIndex, collection: Collection, name: &str) -> Option<Target> {
    if name.is_empty() {
        Some(Target::Collection(collection))
    } else {
        index.lookup(collection, name).map(Target::Entity)
    }
}
