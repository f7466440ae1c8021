//! Entity CRUD over REST: `Resources/EntityServices` `Create…` and `Delete…` for Things,
//! ThingTemplates, ThingShapes, DataShapes, Users, Groups, Organizations, Projects and
//! LocalizationTables; `GET /Thingworx/<Collection>` (the entities the caller may see);
//! `GET`, `PUT` and `DELETE /Thingworx/<Collection>/<Name>` (the entity document as the `.twx`
//! tree holds it, saved back through the importer as Composer does). Create needs design-time
//! Create on the collection and makes the caller the owner; Read, Update and Delete are checked
//! on the entity; built-in entities cannot be deleted. Every write is one audited transaction.

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use ironworx_entity::queries::audit::Change;
use ironworx_entity::queries::dependents;
use ironworx_entity::queries::entities::{self, EntityRow};
use ironworx_entity::vocab::{BaseType, Collection, Tag, VocabError, builtin};
use ironworx_importer::extract::{Filter, header};
use ironworx_importer::model::Kind;
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::twx_tree::{TreeOptions, export_from_tree, tree_from_export};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::domain::create::{self, CreateParams, tags_text};
use crate::error::ApiError;
use crate::http::catalog::Method;
use crate::http::guard::Guard;
use crate::http::infotable::infotable;
use crate::http::params::{parse_body, required};
use crate::state::AppState;

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

/// The collection a `Create…` or `Delete…` service names, and whether it creates.
fn service_target(service: &str) -> Option<(bool, Collection)> {
    let (create, kind) = if let Some(kind) = service.strip_prefix("Create") {
        (true, kind)
    } else {
        (false, service.strip_prefix("Delete")?)
    };
    let collection = Collection::from_element_name(kind)?;
    matches!(
        collection,
        Collection::Things
            | Collection::ThingTemplates
            | Collection::ThingShapes
            | Collection::DataShapes
            | Collection::Users
            | Collection::Groups
            | Collection::Organizations
            | Collection::Projects
            | Collection::LocalizationTables
    )
    .then_some((create, collection))
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

/// A referenced entity, which must exist and be visible (otherwise 400, never revealing which).
fn referenced(guard: &Guard, collection: Collection, name: &str) -> Result<(), ApiError> {
    if guard.sees(collection, name) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "unknown {}: '{name}'",
            collection.element_name()
        )))
    }
}

/// `EntityServices/Create…` ([`create::create`]).
async fn create_entity(
    state: &AppState,
    guard: &Guard,
    service: &str,
    collection: Collection,
    body: &[u8],
) -> Result<Value, ApiError> {
    let p: CreateParams = parse_body(body)?;
    create::create(state, guard, service, collection, p).await?;
    Ok(json!({}))
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
    let sequence = crate::domain::write::commit_audited(
        txn,
        &Change::on(&guard.caller.name, action, collection, name, None),
    )
    .await?;
    crate::domain::write::refresh(state, sequence).await
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
        .filter(|row| guard.sees(collection, &row.name))
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
pub(crate) const LIST_FIELDS: &[(&str, BaseType)] = &[
    ("name", BaseType::String),
    ("description", BaseType::String),
    ("tags", BaseType::Tags),
    ("projectName", BaseType::ProjectName),
    ("homeMashup", BaseType::MashupName),
    ("isSystemObject", BaseType::Boolean),
    ("lastModifiedDate", BaseType::Datetime),
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
    crate::domain::write::refresh(&state, report.change_sequence).await?;
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
}
