//! Tag vocabularies and terms: created when an import names them, and the tags of entities.

use super::*;

/// Tag vocabularies and terms that entities use but no vocabulary defines yet (dynamic
/// vocabularies, as ThingWorx creates them).
#[derive(Default)]
pub(super) struct Vocabularies {
    pub(super) used: Vec<Tag>,
    pub(super) seen: HashSet<(String, String)>,
}

impl Vocabularies {
    pub(super) fn note(&mut self, e: &Entity) {
        if e.common.tags.is_empty() {
            return;
        }
        if let Ok(tags) = Tag::parse_list(&e.common.tags) {
            for tag in tags {
                if self.seen.insert((tag.vocabulary.clone(), tag.term.clone())) {
                    self.used.push(tag);
                }
            }
        }
    }

    pub(super) async fn write<C: ConnectionTrait>(self, db: &C) -> Result<(), ImportError> {
        if self.used.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = self.used.iter().map(|t| t.vocabulary.clone()).collect();
        names.sort();
        names.dedup();
        let mut known = bulk::entity_ids(db, Collection::ModelTags, &names).await?;
        let missing: Vec<entities::Model> = names
            .iter()
            .filter(|n| !known.contains_key(*n))
            .map(|n| entities::Model {
                id: 0,
                collection: Collection::ModelTags.as_str().to_owned(),
                name: n.clone(),
                description: String::new(),
                documentation_content: String::new(),
                tags: String::new(),
                project_name: String::new(),
                owner_id: None,
                home_mashup: String::new(),
                avatar: None,
                aspects: None,
                content: Some(json!({ "isDynamic": true })),
                is_system: false,
                created_at: now_ms(),
                last_modified_date: now_ms(),
            })
            .collect();
        known.extend(bulk::insert_entities(db, Collection::ModelTags, missing).await?);
        let vocab_ids: Vec<i64> = known.values().copied().collect();
        let existing = bulk::rows_of::<_, vocabulary_terms::Entity>(
            db,
            vocabulary_terms::Column::EntityId,
            vocabulary_terms::Column::Id,
            Some(&vocab_ids),
            |t| t.entity_id,
        )
        .await?;
        let mut have: HashSet<(i64, String)> = existing
            .into_values()
            .flatten()
            .map(|t| (t.entity_id, t.name))
            .collect();
        let mut rows = Vec::new();
        for tag in self.used {
            let Some(&vocab) = known.get(&tag.vocabulary) else {
                continue;
            };
            if have.insert((vocab, tag.term.clone())) {
                rows.push(vocabulary_terms::ActiveModel {
                    id: NotSet,
                    entity_id: Set(vocab),
                    name: Set(tag.term),
                    description: Set(String::new()),
                });
            }
        }
        insert_all(db, rows).await?;
        Ok(())
    }
}
