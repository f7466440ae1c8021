//! The effective model of one Thing as its run-time routes see it: the entities that define
//! its properties and services (the Thing, its templates nearest first, its own shapes, then
//! its templates' shapes), its effective property definitions (the first definition of a name
//! wins) with their current values, read from the database for the routes that need every
//! part of it (the property routes read the model in memory).

use ironworx_entity::queries::data::PropertyValueRow;
use ironworx_entity::queries::entities::find_entity;
use ironworx_entity::queries::models::{self, ThingRow, implemented_shape_names, template_chain};
use ironworx_entity::queries::parts::{
    property_definitions, property_values, service_definitions, service_implementations,
};
use ironworx_entity::vocab::Collection;
use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::domain::things::values;
use crate::error::ApiError;

/// An entity that contributes definitions to a Thing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definer {
    /// `Things`, `ThingTemplates` or `ThingShapes`.
    pub collection: Collection,
    /// Its name.
    pub name: String,
    /// Its database id.
    pub id: i64,
}

impl Definer {
    /// The ThingWorx name of its kind (`Thing`, `ThingTemplate`, `ThingShape`).
    pub fn kind(&self) -> &'static str {
        match self.collection {
            Collection::ThingTemplates => "ThingTemplate",
            Collection::ThingShapes => "ThingShape",
            _ => "Thing",
        }
    }
}

/// One effective property of a Thing.
#[derive(Clone, Debug)]
pub struct Property {
    /// Its name.
    pub name: String,
    /// Its base type.
    pub base_type: String,
    /// Its definition; `None` for a value stored without one (imported data).
    pub definition: Option<property_definitions::Model>,
    /// Index into [`ThingModel::definers`] of the entity that defines it (0: the Thing).
    pub definer: usize,
    /// Its current value row, when one was written.
    pub stored: Option<PropertyValueRow>,
}

impl Property {
    /// The aspects of its definition.
    pub fn aspects(&self) -> Option<&Value> {
        self.definition.as_ref().and_then(|d| d.aspects.as_ref())
    }

    /// Whether writes through the API are refused.
    pub fn is_read_only(&self) -> bool {
        self.aspects()
            .and_then(|a| a.get("isReadOnly"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// Its current value: the stored one, or the default before anything was written.
    pub fn value(&self) -> Value {
        match &self.stored {
            Some(row) => row.value.clone().unwrap_or(Value::Null),
            None => values::default_value(&self.base_type, self.aspects()),
        }
    }
}

/// A Thing with everything its property and service routes need.
#[derive(Clone, Debug)]
pub struct ThingModel {
    /// The Thing part (template, enabled).
    pub thing: ThingRow,
    /// The Thing first, then its templates nearest first, its shapes, its templates' shapes.
    pub definers: Vec<Definer>,
    /// Its effective properties, in definition order.
    pub properties: Vec<Property>,
}

impl ThingModel {
    /// The Thing's database id.
    pub fn id(&self) -> i64 {
        self.thing.entity_id
    }

    /// The Thing's name.
    pub fn name(&self) -> &str {
        self.definers.first().map_or("", |d| d.name.as_str())
    }

    /// The effective property `name`.
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }
}

/// Loads the Thing `name` with its definers, effective properties and values.
pub async fn load<C: ConnectionTrait>(db: &C, name: &str) -> Result<ThingModel, ApiError> {
    let (entity, thing) = models::get_thing(db, name).await?;
    let mut definers = vec![Definer {
        collection: Collection::Things,
        name: entity.name.clone(),
        id: entity.id,
    }];
    let mut templates = Vec::new();
    for template in template_chain(db, &thing.thing_template).await? {
        if let Some(row) = find_entity(db, Collection::ThingTemplates, &template).await? {
            templates.push(Definer {
                collection: Collection::ThingTemplates,
                name: template,
                id: row.id,
            });
        }
    }
    let mut shape_names: Vec<String> = Vec::new();
    for owner in std::iter::once(entity.id).chain(templates.iter().map(|t| t.id)) {
        for shape in implemented_shape_names(db, owner).await? {
            if !shape_names.contains(&shape) {
                shape_names.push(shape);
            }
        }
    }
    definers.extend(templates);
    for shape in shape_names {
        if let Some(row) = find_entity(db, Collection::ThingShapes, &shape).await? {
            definers.push(Definer {
                collection: Collection::ThingShapes,
                name: shape,
                id: row.id,
            });
        }
    }

    let mut stored = property_values::list(db, entity.id).await?;
    let mut properties: Vec<Property> = Vec::new();
    for (index, definer) in definers.iter().enumerate() {
        let mut definitions = property_definitions::list(db, definer.id).await?;
        definitions.sort_by_key(|d| d.ordinal);
        for definition in definitions {
            if properties.iter().any(|p| p.name == definition.name) {
                continue;
            }
            let value = stored
                .iter()
                .position(|v| v.name == definition.name)
                .map(|i| stored.remove(i));
            properties.push(Property {
                name: definition.name.clone(),
                base_type: definition.base_type.clone(),
                definition: Some(definition),
                definer: index,
                stored: value,
            });
        }
    }
    // Values stored without a definition (imported data) are properties of the Thing too.
    for value in stored {
        properties.push(Property {
            name: value.name.clone(),
            base_type: value.base_type.clone(),
            definition: None,
            definer: 0,
            stored: Some(value),
        });
    }
    Ok(ThingModel {
        thing,
        definers,
        properties,
    })
}

/// A user-defined service of a Thing: its definition and, when there is one, its
/// implementation, from the first definer that defines it.
#[derive(Clone, Debug)]
pub struct DefinedService {
    /// The definer (index into [`ThingModel::definers`]).
    pub definer: usize,
    /// The implementation, when one is kept.
    pub implementation: Option<service_implementations::Model>,
}

/// The service `service` as the Thing's definers define it, when one does.
pub async fn defined_service<C: ConnectionTrait>(
    db: &C,
    model: &ThingModel,
    service: &str,
) -> Result<Option<DefinedService>, ApiError> {
    for (index, definer) in model.definers.iter().enumerate() {
        let definitions = service_definitions::list(db, definer.id).await?;
        if definitions.iter().any(|d| d.name == service) {
            let implementation = service_implementations::list(db, definer.id)
                .await?
                .into_iter()
                .find(|i| i.name == service);
            return Ok(Some(DefinedService {
                definer: index,
                implementation,
            }));
        }
    }
    Ok(None)
}
