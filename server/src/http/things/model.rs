//! The effective model of one Thing as its run-time routes see it: the entities that define
//! its properties and services (the Thing, its templates nearest first, its own shapes, then
//! its templates' shapes), its effective property definitions (the first definition of a name
//! wins) with their current values, read from the database for the routes that need every
//! part of it (the property routes read the model in memory). A ThingTemplate or ThingShape
//! has the same model without a Thing part or values: what its implementing Things inherit.

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
        self.collection.element_name()
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

/// A Thing with everything its property and service routes need (or a ThingTemplate or
/// ThingShape with what it passes on).
#[derive(Clone, Debug)]
pub struct ThingModel {
    /// The Thing part (template, enabled); `None` for a template or shape.
    pub thing: Option<ThingRow>,
    /// The Thing first, then its templates nearest first, its shapes, its templates' shapes.
    pub definers: Vec<Definer>,
    /// Its effective properties, in definition order.
    pub properties: Vec<Property>,
}

impl ThingModel {
    /// The database id of the Thing (or template, or shape).
    pub fn id(&self) -> i64 {
        self.definers.first().map_or(0, |d| d.id)
    }

    /// The collection of the entity modelled (`Things`, `ThingTemplates`, `ThingShapes`).
    pub fn collection(&self) -> Collection {
        self.definers
            .first()
            .map_or(Collection::Things, |d| d.collection)
    }

    /// The Thing's (template's, shape's) name.
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
    let own = Definer {
        collection: Collection::Things,
        name: entity.name.clone(),
        id: entity.id,
    };
    let definers = definers_of(db, own, &thing.thing_template).await?;
    let stored = property_values::list(db, entity.id).await?;
    let properties = properties_of(db, &definers, stored).await?;
    Ok(ThingModel {
        thing: Some(thing),
        definers,
        properties,
    })
}

/// Loads the entity `name` of `collection` that defines properties and services: a Thing
/// ([`load`]), or a ThingTemplate (itself, its base templates, their shapes) or ThingShape
/// with the definitions its implementing Things inherit from it.
pub async fn load_in<C: ConnectionTrait>(
    db: &C,
    collection: Collection,
    name: &str,
) -> Result<ThingModel, ApiError> {
    let definers = match collection {
        Collection::Things => return load(db, name).await,
        Collection::ThingTemplates => {
            let (entity, template) = models::get_thing_template(db, name).await?;
            let own = Definer {
                collection,
                name: entity.name.clone(),
                id: entity.id,
            };
            definers_of(db, own, &template.base_thing_template).await?
        }
        Collection::ThingShapes => {
            let (entity, _) = models::get_thing_shape(db, name).await?;
            vec![Definer {
                collection,
                name: entity.name,
                id: entity.id,
            }]
        }
        _ => return Err(ApiError::NotFound),
    };
    let properties = properties_of(db, &definers, Vec::new()).await?;
    Ok(ThingModel {
        thing: None,
        definers,
        properties,
    })
}

/// `own` first, then the templates of `template`'s chain nearest first, then the shapes
/// `own` and those templates implement.
async fn definers_of<C: ConnectionTrait>(
    db: &C,
    own: Definer,
    template: &str,
) -> Result<Vec<Definer>, ApiError> {
    let entity_id = own.id;
    let mut definers = vec![own];
    let mut templates = Vec::new();
    for template in template_chain(db, template).await? {
        if let Some(row) = find_entity(db, Collection::ThingTemplates, &template).await? {
            templates.push(Definer {
                collection: Collection::ThingTemplates,
                name: template,
                id: row.id,
            });
        }
    }
    let mut shape_names: Vec<String> = Vec::new();
    for owner in std::iter::once(entity_id).chain(templates.iter().map(|t| t.id)) {
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
    Ok(definers)
}

/// The effective properties of `definers` (the first definition of a name wins), with the
/// values of `stored`; a stored value without a definition is a property of the Thing too.
async fn properties_of<C: ConnectionTrait>(
    db: &C,
    definers: &[Definer],
    mut stored: Vec<PropertyValueRow>,
) -> Result<Vec<Property>, ApiError> {
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
    Ok(properties)
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
