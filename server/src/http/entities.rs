//! Entity CRUD over REST: `Resources/EntityServices` `Create…` and `Delete…` for Things,
//! ThingTemplates, ThingShapes, DataShapes, Users, Groups, Organizations, Projects and
//! LocalizationTables; `GET /Thingworx/<Collection>` (the entities the caller may see);
//! `GET`, `PUT` and `DELETE /Thingworx/<Collection>/<Name>` (the entity document as the `.twx`
//! tree holds it, saved back through the importer as Composer does). Create needs design-time
//! Create on the collection and makes the caller the owner; Read, Update and Delete are checked
//! on the entity; built-in entities cannot be deleted. Every write is one audited transaction.

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::entities::{self, EntityFields, EntityRow};
use ironworx_entity::queries::groups;
use ironworx_entity::queries::models::{self, TemplateFields, ThingFields};
use ironworx_entity::queries::organizations::{self, LoginPage};
use ironworx_entity::queries::users::{self, NewUser};
use ironworx_entity::queries::{dependents, parts};
use ironworx_entity::schema::field_definitions;
use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, MemberName, PermissionKind, Tag, VocabError, builtin,
};
use ironworx_importer::extract::{Filter, header};
use ironworx_importer::model::Kind;
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::twx_tree::{TreeOptions, export_from_tree, tree_from_export};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::password::{check_policy, hash_new};
use crate::authz::{Outcome, Target};
use crate::error::ApiError;
use crate::http::catalog::Method;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::{parse_body, required};
use crate::state::AppState;

/// The base types a DataShape field may have.
pub const BASE_TYPES: &[&str] = &[
    "APPLICATIONKEYNAME",
    "BASETYPENAME",
    "BLOB",
    "BOOLEAN",
    "DASHBOARDNAME",
    "DATASHAPENAME",
    "DATATAGVOCABULARYNAME",
    "DATETIME",
    "GROUPNAME",
    "GUID",
    "HTML",
    "HYPERLINK",
    "IMAGE",
    "IMAGELINK",
    "INFOTABLE",
    "INTEGER",
    "JSON",
    "LOCALIZATIONTABLENAME",
    "LOCATION",
    "LONG",
    "MASHUPNAME",
    "MEDIAENTITYNAME",
    "MENUNAME",
    "MODELTAGVOCABULARYNAME",
    "NETWORKNAME",
    "NOTIFICATIONCONTENTNAME",
    "NOTIFICATIONDEFINITIONNAME",
    "NUMBER",
    "ORGANIZATIONNAME",
    "PASSWORD",
    "PERSISTENCEPROVIDERNAME",
    "PERSISTENCEPROVIDERPACKAGENAME",
    "PROJECTNAME",
    "QUERY",
    "SCHEDULE",
    "STATEDEFINITIONNAME",
    "STRING",
    "STYLEDEFINITIONNAME",
    "STYLETHEMENAME",
    "TAGS",
    "TEXT",
    "THINGCODE",
    "THINGGROUPNAME",
    "THINGNAME",
    "THINGSHAPENAME",
    "THINGTEMPLATENAME",
    "TIMESPAN",
    "USERNAME",
    "VARIANT",
    "VEC2",
    "VEC3",
    "VEC4",
    "XML",
];

/// The keys of a user document that carry a password hash; a saved document never sets them.
/// The route of one entity document, as the catalog lists it.
const ENTITY_ROUTE: &str = "/Thingworx/{collection}/{name}";

const PASSWORD_KEYS: &[&str] = &[
    "passwordHash",
    "passwordHashAlgorithm",
    "passwordHashIterationCount",
    "passwordHashSaltSizeInBytes",
    "passwordHashSizeInBytes",
];

/// How many dependents an "in use" refusal names.
const NAMED_DEPENDENTS: usize = 5;

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

/// The collection a `Create…` or `Delete…` service names, and whether it creates.
fn service_target(service: &str) -> Option<(bool, Collection)> {
    let (create, kind) = if let Some(kind) = service.strip_prefix("Create") {
        (true, kind)
    } else {
        (false, service.strip_prefix("Delete")?)
    };
    let collection = match kind {
        "Thing" => Collection::Things,
        "ThingTemplate" => Collection::ThingTemplates,
        "ThingShape" => Collection::ThingShapes,
        "DataShape" => Collection::DataShapes,
        "User" => Collection::Users,
        "Group" => Collection::Groups,
        "Organization" => Collection::Organizations,
        "Project" => Collection::Projects,
        "LocalizationTable" => Collection::LocalizationTables,
        _ => return None,
    };
    Some((create, collection))
}

/// `EntityServices/Create…` and `Delete…`; `None` when `service` is not one of them.
pub async fn entity_services(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    if service == "GetEntityList" {
        return Some(entity_list(state, guard, body).await);
    }
    let (create, collection) = service_target(service)?;
    Some(if create {
        create_entity(state, guard, service, collection, body).await
    } else {
        async {
            let p: CreateParams = parse_body(body)?;
            let name = required(&p.name, "name")?;
            delete_checked(state, guard, service, collection.as_str(), name).await?;
            Ok(json!({}))
        }
        .await
    })
}

/// Whether the entity exists and the caller may see it.
fn visible(guard: &Guard, collection: Collection, name: &str) -> bool {
    guard.index.lookup(collection, name).is_some_and(|idx| {
        guard.decide(
            Target::Entity(idx),
            PermissionKind::Visibility,
            ANY_RESOURCE,
        ) == Outcome::Allow
    })
}

/// A referenced entity, which must exist and be visible (otherwise 400, never revealing which).
fn referenced(guard: &Guard, collection: Collection, name: &str) -> Result<(), ApiError> {
    if visible(guard, collection, name) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "unknown {}: '{name}'",
            collection.element_name()
        )))
    }
}

/// Tags given as text or as an array of `{vocabulary, vocabularyTerm}`, validated.
fn tags_text(value: &Option<Value>) -> Result<String, ApiError> {
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
        if !BASE_TYPES.contains(&base_type.as_str()) {
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

async fn create_entity(
    state: &AppState,
    guard: &Guard,
    service: &str,
    collection: Collection,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: CreateParams = parse_body(body)?;
    let name = required(&p.name, "name")?.to_owned();
    entities::validate_name(collection, &name)?;
    let tags = tags_text(&p.tags)?;
    let project = text_of(&p.project_name);
    let own_project = collection == Collection::Projects && project == name;
    if !project.is_empty() && !own_project {
        referenced(guard, Collection::Projects, &project)?;
    }
    let (owner, owner_id) = match p.owner_user_name.as_deref().filter(|o| !o.is_empty()) {
        Some(owner) if owner != guard.caller.name => {
            let id = guard
                .index
                .lookup(Collection::Users, owner)
                .and_then(|idx| guard.index.entity(idx))
                .map(|e| e.id)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown user '{owner}'")))?;
            (owner.to_owned(), id)
        }
        _ => (guard.caller.name.clone(), guard.caller.user_id),
    };
    let mut fields = EntityFields {
        description: text_of(&p.description),
        tags,
        project_name: project,
        ..EntityFields::owned_by(owner_id)
    };
    let mut detail = json!({ "owner": owner });

    // What each kind needs, checked before the transaction starts.
    let template = match collection {
        Collection::Things => {
            let template = required(&p.thing_template_name, "thingTemplateName")?.to_owned();
            referenced(guard, Collection::ThingTemplates, &template)?;
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
                referenced(guard, Collection::ThingTemplates, &base)?;
            }
            detail["baseThingTemplateName"] = json!(base);
            base
        }
        _ => String::new(),
    };
    let data_fields = if collection == Collection::DataShapes {
        field_rows(&p.fields)?
    } else {
        Vec::new()
    };
    let password = if collection == Collection::Users {
        let password = required(&p.password, "password")?;
        check_policy(&state.config.auth, password)?;
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

    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    match collection {
        Collection::Things => {
            models::create_thing(
                &txn,
                &name,
                &fields,
                &ThingFields {
                    thing_template: template,
                    // As in ThingWorx, a new Thing waits for EnableThing.
                    disabled: true,
                    ..ThingFields::default()
                },
            )
            .await?;
        }
        Collection::ThingTemplates => {
            models::create_thing_template(
                &txn,
                &name,
                &fields,
                &TemplateFields {
                    base_thing_template: template,
                    ..TemplateFields::default()
                },
            )
            .await?;
        }
        Collection::ThingShapes => {
            models::create_thing_shape(&txn, &name, &fields, "").await?;
        }
        Collection::DataShapes => {
            let row = models::create_data_shape(&txn, &name, &fields, "").await?;
            detail["fields"] = json!(data_fields.iter().map(|f| &f.name).collect::<Vec<_>>());
            let rows = data_fields
                .into_iter()
                .map(|f| field_definitions::Model {
                    entity_id: row.id,
                    ..f
                })
                .collect();
            parts::field_definitions::insert(&txn, rows).await?;
        }
        Collection::Users => {
            users::create_user(
                &txn,
                &NewUser {
                    name: name.clone(),
                    fields,
                    password,
                    ..NewUser::default()
                },
            )
            .await?;
        }
        Collection::Groups => {
            groups::create_group(&txn, &name, &fields).await?;
        }
        Collection::Organizations => {
            let row =
                organizations::create_organization(&txn, &name, &fields, &LoginPage::default())
                    .await?;
            let top = text_of(&p.top_ou_name);
            let top_description = text_of(&p.top_ou_description);
            // The root unit carries the organization's name; another top unit name becomes
            // the unit right below it.
            if !top.is_empty() && top != name {
                organizations::add_unit(&txn, &name, &name, &top, &top_description).await?;
            } else if !top_description.is_empty() {
                dependents::set_root_unit_description(&txn, row.id, &top_description).await?;
            }
            detail["topOUName"] = json!(if top.is_empty() { name.clone() } else { top });
        }
        _ => {
            entities::insert_entity(&txn, collection, &name, &fields).await?;
        }
    }
    let sequence = crate::http::write::commit_audited(
        txn,
        &Change {
            actor: guard.caller.name.clone(),
            action: service.to_owned(),
            target_collection: collection.as_str().to_owned(),
            target_name: name,
            detail: Some(detail),
            ..Default::default()
        },
    )
    .await?;
    refresh(state, sequence).await?;
    Ok(json!({}))
}

/// Brings this process's index up to the write just committed.
async fn refresh(state: &AppState, sequence: i64) -> Result<(), ApiError> {
    state
        .security
        .refresh(sequence)
        .await
        .map_err(ApiError::internal)?;
    Ok(())
}

/// Why a built-in entity or one in use cannot be deleted, if it cannot.
async fn refuse_delete<C: sea_orm::ConnectionTrait>(
    db: &C,
    collection: Collection,
    row: &EntityRow,
) -> Result<(), ApiError> {
    let builtin_user = collection == Collection::Users
        && (row.name == builtin::ADMINISTRATOR || row.name == builtin::SYSTEM);
    let builtin_template = collection == Collection::ThingTemplates
        && builtin::THING_TEMPLATES.contains(&row.name.as_str());
    if row.is_system || builtin_user || builtin_template {
        return Err(ApiError::BadRequest(format!(
            "{} '{}' is built in and cannot be deleted",
            collection.element_name(),
            row.name
        )));
    }
    let users = match collection {
        Collection::ThingTemplates => dependents::template_dependents(db, &row.name).await?,
        Collection::ThingShapes => dependents::shape_dependents(db, &row.name).await?,
        _ => Vec::new(),
    };
    if !users.is_empty() {
        let more = users.len().saturating_sub(NAMED_DEPENDENTS);
        let mut list = users
            .iter()
            .take(NAMED_DEPENDENTS)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            list.push_str(&format!(" and {more} more"));
        }
        return Err(ApiError::BadRequest(format!(
            "{} '{}' is in use by {list}",
            collection.element_name(),
            row.name
        )));
    }
    Ok(())
}

/// Deletes entity `name` of the collection named `collection`, whose need the caller's door
/// enforced (design-time Delete; the owner needs none): 404 when missing or invisible, 400 for
/// a built-in entity or a template or shape still in use.
async fn delete_checked(
    state: &AppState,
    guard: &Guard,
    action: &str,
    collection: &str,
    name: &str,
) -> Result<(), ApiError> {
    let (collection, _) = guard.visible_entity(collection, name)?;
    let txn = crate::db::begin_write(&state.db)
        .await
        .map_err(ApiError::internal)?;
    let row = entities::find_entity(&txn, collection, name)
        .await?
        .ok_or(ApiError::NotFound)?;
    refuse_delete(&txn, collection, &row).await?;
    if !entities::delete_entity(&txn, collection, name).await? {
        return Err(ApiError::NotFound);
    }
    let sequence = crate::http::write::commit_audited(
        txn,
        &Change {
            actor: guard.caller.name.clone(),
            action: action.to_owned(),
            target_collection: collection.as_str().to_owned(),
            target_name: name.to_owned(),
            detail: None,
            ..Default::default()
        },
    )
    .await?;
    refresh(state, sequence).await
}

/// The tags of a row as the documents write them: `[{vocabulary, vocabularyTerm}]`.
fn tags_json(tags: &str) -> Value {
    Value::Array(
        Tag::parse_list(tags)
            .unwrap_or_default()
            .into_iter()
            .map(|t| json!({ "vocabulary": t.vocabulary, "vocabularyTerm": t.term }))
            .collect(),
    )
}

/// The entities of `collection` the caller may see, as `EntitySummary`-like rows, in name
/// order.
pub(crate) async fn visible_rows(
    state: &AppState,
    guard: &Guard,
    collection: Collection,
) -> Result<Vec<(EntityRow, Value)>, ApiError> {
    Ok(entities::list_entities(&state.db, collection)
        .await?
        .into_iter()
        .filter(|row| visible(guard, collection, &row.name))
        .map(|row| {
            let json = json!({
                "name": row.name,
                "description": row.description,
                "tags": tags_json(&row.tags),
                "projectName": row.project_name,
                "homeMashup": row.home_mashup,
                "isSystemObject": row.is_system,
                "lastModifiedDate": row.last_modified_date,
            });
            (row, json)
        })
        .collect())
}

/// The fields of an entity list (`RootEntityList`).
pub(crate) const LIST_FIELDS: &[(&str, &str)] = &[
    ("name", "STRING"),
    ("description", "STRING"),
    ("tags", "TAGS"),
    ("projectName", "PROJECTNAME"),
    ("homeMashup", "MASHUPNAME"),
    ("isSystemObject", "BOOLEAN"),
    ("lastModifiedDate", "DATETIME"),
];

fn list_table(rows: Vec<Value>) -> Value {
    infotable(LIST_FIELDS, rows)
}

/// `GET /Thingworx/<Collection>`: the entities of the collection the caller may see.
#[get("/Thingworx/{collection}")]
pub async fn list_collection(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let guard = Guard::of(&req, &state).await?;
    let collection: Collection = path
        .into_inner()
        .parse()
        .map_err(|_: VocabError| ApiError::NotFound)?;
    let rows = visible_rows(&state, &guard, collection).await?;
    Ok(HttpResponse::Ok().json(list_table(rows.into_iter().map(|(_, j)| j).collect())))
}

/// The parameters of `GetEntityList`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListParams {
    /// The entity type (`Thing`) or its collection (`Things`).
    #[serde(rename = "type")]
    entity_type: Option<String>,
    /// At most this many rows (default 500).
    max_items: Option<Value>,
    /// A name pattern: `*` any run of characters, `?` one character, case-insensitive.
    name_mask: Option<String>,
    /// Only entities carrying every one of these tags (`Vocabulary:Term;…`).
    tags: Option<Value>,
}

/// Default `maxItems` of `GetEntityList` (the largest is `--max-page-rows`).
const LIST_DEFAULT_ITEMS: u64 = 500;

/// `EntityServices/GetEntityList(type, maxItems, nameMask, tags)`: what `GET /Thingworx/<C>`
/// answers, filtered and bounded.
async fn entity_list(state: &AppState, guard: &Guard, body: &[u8]) -> Result<Value, ApiError> {
    let p: ListParams = parse_body(body)?;
    let kind = required(&p.entity_type, "type")?;
    let collection = Collection::from_element_name(kind)
        .or_else(|| kind.parse().ok())
        .ok_or_else(|| ApiError::BadRequest(format!("unknown entity type '{kind}'")))?;
    let largest = state.config.limits.max_page_rows;
    let max = match &p.max_items {
        None | Some(Value::Null) => LIST_DEFAULT_ITEMS.min(largest),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 1.0)
                    .map(|f| f as u64)
            })
            .filter(|n| (1..=largest).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "parameter 'maxItems' must be a whole number from 1 to {largest}"
                ))
            })?,
    };
    let wanted = Tag::parse_list(&tags_text(&p.tags)?)
        .map_err(|e| ApiError::BadRequest(format!("parameter 'tags': {e}")))?;
    let mask = p
        .name_mask
        .as_deref()
        .filter(|m| !m.is_empty() && *m != "*");
    let rows = visible_rows(state, guard, collection)
        .await?
        .into_iter()
        .filter(|(row, _)| mask.is_none_or(|m| matches_mask(m, &row.name)))
        .filter(|(row, _)| {
            let have = Tag::parse_list(&row.tags).unwrap_or_default();
            wanted.iter().all(|t| have.contains(t))
        })
        .map(|(_, json)| json)
        .take(usize::try_from(max).unwrap_or(usize::MAX))
        .collect();
    Ok(list_table(rows))
}

/// Whether `name` matches `mask` (`*` any run, `?` one character), ignoring case.
fn matches_mask(mask: &str, name: &str) -> bool {
    let mask: Vec<char> = mask.to_lowercase().chars().collect();
    let name: Vec<char> = name.to_lowercase().chars().collect();
    // Classic wildcard matching with one backtracking point.
    let (mut m, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if m < mask.len() && (mask[m] == '?' || mask[m] == name[n]) {
            m += 1;
            n += 1;
        } else if m < mask.len() && mask[m] == '*' {
            star = Some(m);
            mark = n;
            m += 1;
        } else if let Some(s) = star {
            m = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    mask[m..].iter().all(|c| *c == '*')
}

/// The document of an entity: its object in the `.twx` tree, secrets blanked.
async fn document(state: &AppState, collection: Collection, name: &str) -> Result<Value, ApiError> {
    let filter = Filter {
        collections: vec![collection],
        names: vec![name.to_owned()],
        ..Filter::default()
    };
    let export = crate::transfer::extract(&state.db, &filter, Mode::File, true, true).await?;
    let tree = tree_from_export(
        &export,
        &TreeOptions {
            blank_secrets: true,
        },
    );
    tree.get(collection.as_str())
        .and_then(|c| c.get(collection.element_name()))
        .and_then(Value::as_array)
        .and_then(|list| list.iter().find(|e| e["name"] == name))
        .cloned()
        .ok_or(ApiError::NotFound)
}

/// `GET /Thingworx/<Collection>/<Name>`: the entity document (design-time Read).
#[get("/Thingworx/{collection}/{name}")]
pub async fn read_entity(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (collection, name) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (collection, idx) = guard.visible_entity(&collection, &name)?;
    guard.enforce_route(Method::Get, ENTITY_ROUTE, Some(idx))?;
    Ok(HttpResponse::Ok().json(document(&state, collection, &name).await?))
}

/// Keeps what a saved document may not change: password hashes and key ids are never set this
/// way, and only a security administrator may change the owner or the user of a key.
fn protect(guard: &Guard, current: &Value, doc: &mut Map<String, Value>) {
    for key in PASSWORD_KEYS {
        doc.remove(*key);
    }
    if doc.contains_key("keyId") {
        doc.insert("keyId".into(), json!(""));
    }
    if !guard.is_security_admin() {
        for key in ["owner", "userNameReference"] {
            match current.get(key) {
                Some(value) => {
                    doc.insert(key.to_owned(), value.clone());
                }
                None => {
                    doc.remove(key);
                }
            }
        }
    }
    // The save is a modification now.
    doc.remove("lastModifiedDate");
}

/// `PUT /Thingworx/<Collection>/<Name>`: saves an edited entity document (design-time Update).
#[put("/Thingworx/{collection}/{name}")]
pub async fn save_entity(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (collection, name) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (collection, idx) = guard.visible_entity(&collection, &name)?;
    guard.enforce_route(Method::Put, ENTITY_ROUTE, Some(idx))?;
    let mut doc = match crate::http::params::json::<Value>(&body) {
        Ok(Value::Object(doc)) => doc,
        Ok(_) => {
            return Err(ApiError::BadRequest(
                "the entity document must be a JSON object".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    match doc.get("name").and_then(Value::as_str) {
        Some(n) if n == name => {}
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "the document is of '{n}', not of '{name}' (renaming is not supported)"
            )));
        }
        None => return Err(ApiError::BadRequest("the document has no name".into())),
    }
    let current = document(&state, collection, &name).await?;
    protect(&guard, &current, &mut doc);

    let mut tree: Map<String, Value> = header(true)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    tree.insert(
        collection.as_str().to_owned(),
        json!({ collection.element_name(): [Value::Object(doc)] }),
    );
    let export = export_from_tree(
        &Value::Object(tree),
        "request body",
        &state.config.limits.import(),
    )?;
    let [entity] = export.entities.as_slice() else {
        return Err(ApiError::BadRequest(
            "the request body must hold exactly one entity".into(),
        ));
    };
    if entity.collection != collection || entity.name != name {
        return Err(ApiError::BadRequest(format!(
            "the document is not of {collection}/{name}"
        )));
    }
    match &entity.kind {
        Kind::Thing(t) => referenced(&guard, Collection::ThingTemplates, &t.thing_template)?,
        Kind::ThingTemplate(t) if !t.base_thing_template.is_empty() => {
            referenced(&guard, Collection::ThingTemplates, &t.base_thing_template)?;
        }
        _ => {}
    }
    let user_services = |user: &str, service: &str| guard.may_invoke_user(user, service);
    let report = crate::transfer::import(
        &state.db,
        export,
        PlanOptions {
            mode: Mode::File,
            strict: false,
        },
        &guard.import_caller(&user_services),
    )
    .await?;
    refresh(&state, report.change_sequence).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// `DELETE /Thingworx/<Collection>/<Name>`: deletes the entity (design-time Delete).
#[delete("/Thingworx/{collection}/{name}")]
pub async fn delete_entity(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (collection, name) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (_, idx) = guard.visible_entity(&collection, &name)?;
    guard.enforce_route(Method::Delete, ENTITY_ROUTE, Some(idx))?;
    delete_checked(&state, &guard, "Delete", &collection, &name).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_masks() {
        for (mask, name, hit) in [
            ("Pump*", "Pump1", true),
            ("pump*", "PUMP1", true),
            ("*1", "Pump1", true),
            ("P?mp1", "Pump1", true),
            ("P?mp", "Pump1", false),
            ("*um*", "Pump1", true),
            ("*x*", "Pump1", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(matches_mask(mask, name), hit, "{mask} ~ {name}");
        }
    }

    #[test]
    fn service_names() {
        assert_eq!(
            service_target("CreateThing"),
            Some((true, Collection::Things))
        );
        assert_eq!(
            service_target("DeleteLocalizationTable"),
            Some((false, Collection::LocalizationTables))
        );
        assert_eq!(service_target("CreateApplicationKey"), None);
        assert_eq!(service_target("SetEntityPermission"), None);
    }

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
