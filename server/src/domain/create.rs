//! Creating an entity (`EntityServices/Create…`): the parameters checked before anything is
//! written (name, tags, project, owner, template, DataShape fields, the password policy) into a
//! [`NewEntity`], which [`NewEntity::write`] writes in the caller's transaction. The REST
//! services write it at once; a script keeps it and writes it with the rest of its invocation
//! (`crate::script`), so both create exactly the same entity.

use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::entities::{self, EntityFields};
use ironworx_entity::queries::groups;
use ironworx_entity::queries::models::{self, TemplateFields, ThingFields};
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::queries::users::{self, NewUser, PasswordRecord};
use ironworx_entity::queries::{dependents, parts};
use ironworx_entity::schema::field_definitions;
use ironworx_entity::vocab::{BaseType, Collection, MemberName, PermissionKind, Tag};
use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::password::{check_policy, hash_new};
use crate::config::AuthSettings;
use crate::domain::Ctx;
use crate::domain::need::{Access, Need, On, Res, check, needs};
use crate::error::{ApiError, required};
use crate::state::AppState;

/// The parameters of the `Create…` and `Delete…` services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CreateParams {
    /// The entity's name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// `Vocabulary:Term` pairs joined by `;`, or an array of `{vocabulary, vocabularyTerm}`.
    pub tags: Option<Value>,
    /// The project the entity belongs to.
    pub project_name: Option<String>,
    /// The ThingTemplate of a Thing, or the base of a ThingTemplate.
    pub thing_template_name: Option<String>,
    /// The base of a ThingTemplate.
    pub base_thing_template_name: Option<String>,
    /// The owner of a Thing, when not the caller (security administrators only).
    pub owner_user_name: Option<String>,
    /// The password of a new user.
    pub password: Option<String>,
    /// The fields of a DataShape: an InfoTable of field definitions, or an array of them.
    pub fields: Option<Value>,
    /// The top unit of an organization.
    #[serde(rename = "topOUName")]
    pub top_ou_name: Option<String>,
    /// The description of that unit.
    #[serde(rename = "topOUDescription")]
    pub top_ou_description: Option<String>,
    /// What a project depends on.
    pub depends_on: Option<Value>,
}

/// An entity checked and ready to write.
pub struct NewEntity {
    /// Its collection.
    pub collection: Collection,
    /// Its name.
    pub name: String,
    fields: EntityFields,
    /// The template of a Thing, or the base of a ThingTemplate.
    template: String,
    data_fields: Vec<field_definitions::Model>,
    password_hash: Option<PasswordRecord>,
    top_unit: (String, String),
    /// What the audit record says of it (never a secret).
    detail: Value,
}

/// Checks the parameters of creating an entity of `collection` for the caller of `ctx`, who
/// holds Create on it: `visible` says whether a referenced entity (project, template) exists
/// and may be seen by whoever creates it (never revealing which it is not).
pub async fn prepare(
    auth: &AuthSettings,
    ctx: &Ctx,
    collection: Collection,
    p: CreateParams,
    visible: &(dyn Fn(Collection, &str) -> bool + Sync),
) -> Result<NewEntity, ApiError> {
    let referenced = |collection: Collection, name: &str| {
        if visible(collection, name) {
            Ok(())
        } else {
            Err(ApiError::BadRequest(format!(
                "unknown {}: '{name}'",
                collection.element_name()
            )))
        }
    };
    let name = required(&p.name, "name")?.to_owned();
    entities::validate_name(collection, &name)?;
    let tags = tags_text(&p.tags)?;
    let project = text_of(&p.project_name);
    let own_project = collection == Collection::Projects && project == name;
    if !project.is_empty() && !own_project {
        referenced(Collection::Projects, &project)?;
    }
    let (owner, owner_id) = match p.owner_user_name.as_deref().filter(|o| !o.is_empty()) {
        Some(owner) if owner != ctx.caller.name => {
            let id = ctx
                .index
                .lookup(Collection::Users, owner)
                .and_then(|idx| ctx.index.entity(idx))
                .map(|e| e.id)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{owner}'")))?;
            (owner.to_owned(), id)
        }
        _ => (ctx.caller.name.clone(), ctx.caller.user_id),
    };
    let mut fields = EntityFields {
        description: text_of(&p.description),
        tags,
        project_name: project,
        ..EntityFields::owned_by(owner_id)
    };
    let mut detail = json!({ "owner": owner });
    let template = match collection {
        Collection::Things => {
            let template = required(&p.thing_template_name, "thingTemplateName")?.to_owned();
            referenced(Collection::ThingTemplates, &template)?;
            detail["thingTemplateName"] = json!(template);
            template
        }
        Collection::ThingTemplates => {
            let base = p
                .base_thing_template_name
                .clone()
                .filter(|b| !b.is_empty())
                .or_else(|| p.thing_template_name.clone())
                .unwrap_or_default();
            if !base.is_empty() {
                if base == name {
                    return Err(ApiError::BadRequest(format!(
                        "ThingTemplate '{name}' cannot derive from itself"
                    )));
                }
                referenced(Collection::ThingTemplates, &base)?;
            }
            detail["baseThingTemplateName"] = json!(base);
            base
        }
        _ => String::new(),
    };
    let data_fields = if collection == Collection::DataShapes {
        let rows = field_rows(&p.fields)?;
        detail["fields"] = json!(rows.iter().map(|f| &f.name).collect::<Vec<_>>());
        rows
    } else {
        Vec::new()
    };
    let password_hash = if collection == Collection::Users {
        let password = required(&p.password, "password")?;
        check_policy(auth, password)?;
        Some(hash_new(password).await?)
    } else {
        None
    };
    if collection == Collection::Projects {
        let depends_on = match &p.depends_on {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if !depends_on.is_empty() {
            fields.content = Some(json!({ "extra": { "dependsOn": depends_on } }));
        }
    }
    let top_unit = (text_of(&p.top_ou_name), text_of(&p.top_ou_description));
    if collection == Collection::Organizations {
        let top = if top_unit.0.is_empty() {
            name.clone()
        } else {
            top_unit.0.clone()
        };
        detail["topOUName"] = json!(top);
    }
    Ok(NewEntity {
        collection,
        name,
        fields,
        template,
        data_fields,
        password_hash,
        top_unit,
        detail,
    })
}

impl NewEntity {
    /// Writes the entity in the caller's transaction `txn`.
    pub async fn write<C: ConnectionTrait>(&self, txn: &C) -> Result<(), ApiError> {
        let (name, fields) = (&self.name, &self.fields);
        match self.collection {
            Collection::Things => {
                models::create_thing(
                    txn,
                    name,
                    fields,
                    &ThingFields {
                        thing_template: self.template.clone(),
                        // As in ThingWorx, a new Thing waits for EnableThing.
                        disabled: true,
                        ..ThingFields::default()
                    },
                )
                .await?;
            }
            Collection::ThingTemplates => {
                models::create_thing_template(
                    txn,
                    name,
                    fields,
                    &TemplateFields {
                        base_thing_template: self.template.clone(),
                        ..TemplateFields::default()
                    },
                )
                .await?;
            }
            Collection::ThingShapes => {
                models::create_thing_shape(txn, name, fields, "").await?;
            }
            Collection::DataShapes => {
                let row = models::create_data_shape(txn, name, fields, "").await?;
                let rows = self
                    .data_fields
                    .iter()
                    .map(|f| field_definitions::Model {
                        entity_id: row.id,
                        ..f.clone()
                    })
                    .collect();
                parts::field_definitions::insert(txn, rows).await?;
            }
            Collection::Users => {
                users::create_user(
                    txn,
                    &NewUser {
                        name: name.clone(),
                        fields: fields.clone(),
                        password: self.password_hash.clone(),
                        ..NewUser::default()
                    },
                )
                .await?;
            }
            Collection::Groups => {
                groups::create_group(txn, name, fields).await?;
            }
            Collection::Organizations => {
                let row =
                    organizations::create_organization(txn, name, fields, &LoginPage::default())
                        .await?;
                let (top, top_description) = &self.top_unit;
                // The root unit carries the organization's name; another top unit name
                // becomes the unit right below it.
                if !top.is_empty() && top != name {
                    organizations::add_unit(txn, name, name, top, top_description).await?;
                } else if !top_description.is_empty() {
                    dependents::set_root_unit_description(txn, row.id, top_description).await?;
                }
            }
            _ => {
                entities::insert_entity(txn, self.collection, name, fields).await?;
            }
        }
        Ok(())
    }

    /// The audit record of creating it by `actor` through `service`.
    pub fn change(&self, actor: &str, service: &str) -> Change {
        Change::on(
            actor,
            service,
            self.collection,
            &self.name,
            self.detail.clone(),
        )
    }
}

/// What creating an entity of `collection` needs: Create on the collection; naming another
/// owner (`ownerUserName`) needs a security administrator. A collection no service creates
/// in is a security administrator's alone.
pub const fn need(collection: Collection) -> Need {
    macro_rules! on {
        ($collection:expr) => {
            &const {
                [check(
                    PermissionKind::Create,
                    On::Collection($collection),
                    Res::Any,
                )]
            }
        };
    }
    let checks: &'static [crate::domain::need::Check] = match collection {
        Collection::Things => on!(Collection::Things),
        Collection::ThingTemplates => on!(Collection::ThingTemplates),
        Collection::ThingShapes => on!(Collection::ThingShapes),
        Collection::DataShapes => on!(Collection::DataShapes),
        Collection::Users => on!(Collection::Users),
        Collection::Groups => on!(Collection::Groups),
        Collection::Organizations => on!(Collection::Organizations),
        Collection::Projects => on!(Collection::Projects),
        Collection::LocalizationTables => on!(Collection::LocalizationTables),
        _ => {
            return Need {
                access: Access::SecurityAdministrator,
                ..needs(&[])
            };
        }
    };
    Need {
        subject: Some("ownerUserName"),
        ..needs(checks)
    }
}

/// Creates an entity of `collection` for the caller through `service` (`CreateThing`, …):
/// what [`need`] declares, the parameters checked ([`prepare`]), then the entity written in
/// one audited transaction; this process's index is brought up to it before returning.
pub async fn create(
    state: &AppState,
    ctx: &Ctx,
    service: &str,
    collection: Collection,
    p: CreateParams,
) -> Result<(), ApiError> {
    let owner = p.owner_user_name.clone();
    ctx.enforce(&need(collection), None, service, &|param| {
        (param == "ownerUserName").then(|| owner.clone()).flatten()
    })?;
    let visible = |collection: Collection, name: &str| ctx.sees(collection, name);
    let new = prepare(&state.config.auth, ctx, collection, p, &visible).await?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    new.write(&txn).await?;
    crate::domain::write::commit_refreshed(state, txn, &new.change(&ctx.caller.name, service)).await
}

/// Tags given as text or as an array of `{vocabulary, vocabularyTerm}`, validated.
pub fn tags_text(value: &Option<Value>) -> Result<String, ApiError> {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                let part = |key: &str| t.get(key).and_then(Value::as_str).unwrap_or_default();
                format!("{}:{}", part("vocabulary"), part("vocabularyTerm"))
            })
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "parameter 'tags' must be text like Vocabulary:Term, not {other}"
            )));
        }
    };
    let tags = Tag::parse_list(&text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Tag::join_list(&tags))
}

/// The field definitions of `CreateDataShape`, validated.
fn field_rows(fields: &Option<Value>) -> Result<Vec<field_definitions::Model>, ApiError> {
    let bad = |what: String| ApiError::BadRequest(format!("parameter 'fields': {what}"));
    let empty = Vec::new();
    let rows: &Vec<Value> = match fields {
        None | Some(Value::Null) => &empty,
        Some(Value::String(s)) if s.is_empty() => &empty,
        Some(Value::Array(rows)) => rows,
        Some(Value::Object(table)) => match table.get("rows") {
            Some(Value::Array(rows)) => rows,
            None => &empty,
            Some(_) => return Err(bad("rows must be an array".into())),
        },
        Some(_) => return Err(bad("expected an InfoTable of field definitions".into())),
    };
    let mut out: Vec<field_definitions::Model> = Vec::with_capacity(rows.len());
    for (ordinal, row) in rows.iter().enumerate() {
        let row = row
            .as_object()
            .ok_or_else(|| bad(format!("row {ordinal} is not an object")))?;
        let text = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or_default();
        let name = text("name");
        MemberName::parse(name).map_err(|e| bad(e.to_string()))?;
        if out.iter().any(|f| f.name == name) {
            return Err(bad(format!("the field '{name}' is defined twice")));
        }
        let base_type = text("baseType").to_ascii_uppercase();
        if !base_type.parse().is_ok_and(BaseType::is_field_type) {
            return Err(bad(format!(
                "unknown base type '{}' of field '{name}'",
                text("baseType")
            )));
        }
        let mut aspects = match row.get("aspects") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(a)) => a.clone(),
            Some(_) => return Err(bad(format!("the aspects of '{name}' are not an object"))),
        };
        if !text("dataShape").is_empty() {
            aspects.insert("dataShape".into(), json!(text("dataShape")));
        }
        let ordinal = match row.get("ordinal").and_then(Value::as_i64) {
            Some(n) => i32::try_from(n).map_err(|_| bad(format!("bad ordinal of '{name}'")))?,
            None => i32::try_from(ordinal).map_err(|_| bad("too many fields".into()))?,
        };
        out.push(field_definitions::Model {
            id: 0,
            entity_id: 0,
            name: name.to_owned(),
            base_type,
            description: text("description").to_owned(),
            ordinal,
            aspects: (!aspects.is_empty()).then_some(Value::Object(aspects)),
        });
    }
    Ok(out)
}

fn text_of(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_fields() {
        assert_eq!(
            tags_text(&Some(
                json!([{"vocabulary": "Plant", "vocabularyTerm": "A"}])
            ))
            .expect("array tags"),
            "Plant:A"
        );
        assert!(tags_text(&Some(json!("no-term"))).is_err());
        let fields = field_rows(&Some(json!({
            "rows": [{"name": "temp", "baseType": "number"}, {"name": "at", "baseType": "DATETIME"}]
        })))
        .expect("fields");
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].base_type, "NUMBER");
        assert_eq!(fields[1].ordinal, 1);
        assert!(field_rows(&Some(json!([{"name": "x", "baseType": "FOO"}]))).is_err());
        assert!(
            field_rows(&Some(json!([
                {"name": "x", "baseType": "STRING"},
                {"name": "x", "baseType": "STRING"}
            ])))
            .is_err()
        );
    }
}
