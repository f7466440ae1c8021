//! Import and export over HTTP: `POST /Thingworx/Importer` (file mode, a multipart upload),
//! `Resources/SourceControlFunctions` (storage mode, on folders of the storage repository) and
//! `GET /Thingworx/Exporter/<Collection>/<Name>` (one entity as XML). An import needs
//! design-time Create on every collection it writes into and Update on every entity it replaces;
//! writing collection-level rules needs a security administrator; an export needs Read. Imports
//! run in two passes: an upload is saved to a temporary file as it arrives, the first pass reads
//! what the import would write, the rights are checked on that, and only then is it planned and
//! applied, the Things read again, so memory does not grow with the Things of an export.

use std::path::{Component, Path, PathBuf};

use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt as _;
use ironworx_entity::vocab::{Collection, PermissionKind};
use ironworx_importer::ImportError;
use ironworx_importer::extract::Filter;
use ironworx_importer::plan::{Mode, PlanOptions};
use ironworx_importer::stream::{ExportLocation, FirstPass};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authz::{Outcome, Target};
use crate::error::ApiError;
use crate::http::catalog::Method;
use crate::http::guard::Guard;
use crate::http::params::{parse_body, required};
use crate::state::AppState;
use crate::transfer::uploads::{self, UploadTicket};
use crate::transfer::{self, Format};

/// The header the ThingWorx importer expects (a fixed value, as Composer sends it).
pub const XSRF_HEADER: &str = "X-XSRF-TOKEN";
/// Its value.
pub const XSRF_VALUE: &str = "TWX-XSRF-TOKEN-VALUE";
/// The repository used when a service names none.
pub const DEFAULT_REPOSITORY: &str = "SystemRepository";

/// Checks that the caller may write everything the first pass of an import read.
fn authorize_import(guard: &Guard, read: &FirstPass, mode: Mode) -> Result<(), ApiError> {
    let entities = read.entities();
    let mut collections: Vec<Collection> = entities.iter().map(|(c, _)| *c).collect();
    collections.dedup();
    for collection in collections {
        guard.require(Target::Collection(collection), PermissionKind::Create, "*")?;
    }
    let may_update = |collection: Collection, name: &str| -> Result<(), ApiError> {
        if let Some(idx) = guard.index.lookup(collection, name)
            && guard.decide(Target::Entity(idx), PermissionKind::Update, "*") != Outcome::Allow
        {
            tracing::info!(
                user = %guard.caller.name,
                entity = %format!("{collection}/{name}"),
                permission = "Update",
                "import denied"
            );
            return Err(ApiError::forbidden(
                PermissionKind::Update,
                "*",
                name.to_owned(),
            ));
        }
        Ok(())
    };
    for (collection, name) in entities {
        may_update(collection, name)?;
    }
    if mode == Mode::Storage {
        // Collection rules are a security administrator's; the entity rules a permissions
        // file lists need Update on each entity they change, like the entity itself.
        if !read.collection_rules().is_empty() {
            guard.require_security_admin("collection permissions")?;
        }
        if !guard.is_security_admin() {
            for listed in read.listed_rules() {
                may_update(listed.collection, &listed.name)?;
            }
        }
    }
    Ok(())
}

fn report_json(report: &ironworx_importer::apply::Report) -> Value {
    json!({
        "status": "success",
        "entities": report.entities(),
        "created": report.created.iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "replaced": report.replaced.iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "entityRules": report.entity_rules,
        "instanceRules": report.instance_rules,
        "collectionRules": report.collection_rules,
        "ignoredCollectionRules": report.ignored_collection_rules,
        "memberships": report.memberships,
        "droppedPrincipals": report.dropped.iter().map(|d| json!({
            "name": d.name,
            "type": d.principal_type.as_str(),
            "references": d.references,
        })).collect::<Vec<_>>(),
        "warnings": report.warnings,
    })
}

/// `POST /Thingworx/Importer?purpose=import`: a file-mode import of the multipart field `file`.
///
/// Everything cheap comes before the upload is read: the credentials, the XSRF header, whether
/// the caller may import anything at all ([`may_import_something`]) and the caller's one upload
/// at a time ([`UploadTicket`]). The upload is then saved (under the body deadlines of
/// [`crate::http::body_timeout`]), and only then is an import slot taken.
#[post("/Thingworx/Importer")]
pub async fn importer(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let guard = Guard::of(&req, &state).await?;
    let token = req
        .headers()
        .get(XSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if token != XSRF_VALUE {
        return Err(ApiError::BadRequest(format!(
            "missing header {XSRF_HEADER}: {XSRF_VALUE}"
        )));
    }
    may_import_something(&guard)?;
    let _ticket = UploadTicket::take(&guard.caller.name).ok_or_else(|| {
        ApiError::Busy(format!(
            "user {} already has an import upload under way; wait for it to finish",
            guard.caller.name
        ))
    })?;
    let limits = state.config.limits.import();
    let spool = uploads::open(&state.config.data_dir).map_err(ApiError::internal)?;
    let upload = save_upload(&mut payload, spool.dir(), limits.max_file_bytes)
        .await?
        .ok_or_else(|| ApiError::BadRequest("missing multipart field 'file'".into()))?;
    let (name, file) = upload;
    let slot = transfer::import_slot().await?;
    // Rights are decided on the model as it is once the upload is in.
    let guard = guard.current(&state).await?;
    let user_services = |user: &str, service: &str| guard.may_invoke_user(user, service);
    let report = transfer::import_checked(
        slot,
        &state.db,
        &ExportLocation::upload(file.path(), &name),
        &limits,
        PlanOptions {
            mode: Mode::File,
            strict: false,
        },
        &guard.import_caller(&user_services),
        |read| authorize_import(&guard, read, Mode::File),
    )
    .await?;
    drop(file);
    Ok(HttpResponse::Ok().json(report_json(&report)))
}

/// Refuses, before an upload is read, a caller who could import nothing whatever the file
/// held: neither a security administrator nor allowed design-time Create on any collection.
fn may_import_something(guard: &Guard) -> Result<(), ApiError> {
    if guard.is_security_admin() {
        return Ok(());
    }
    // Asked of the index directly: these questions are not decisions on the request, and
    // counting them would flood the decision metrics.
    let may_create = Collection::ALL.iter().any(|collection| {
        let question = crate::authz::Request {
            user: guard.user,
            target: Target::Collection(*collection),
            kind: PermissionKind::Create,
            resource: "*",
        };
        crate::authz::decide(&guard.index, &question) == Outcome::Allow
    });
    if may_create {
        return Ok(());
    }
    tracing::info!(user = %guard.caller.name, permission = "Create", "import denied");
    Err(ApiError::forbidden(
        PermissionKind::Create,
        "*",
        "any collection",
    ))
}

/// Saves the multipart field `file` to a temporary file in `dir` (removed when dropped), at
/// most `max_bytes` of it, and gives the name it was uploaded as; `None` without such a field.
async fn save_upload(
    payload: &mut Multipart,
    dir: &Path,
    max_bytes: u64,
) -> Result<Option<(String, tempfile::NamedTempFile)>, ApiError> {
    use tokio::io::AsyncWriteExt as _;

    let mut upload = None;
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|e| ApiError::BadRequest(format!("bad upload: {e}")))?;
        if field.name() != Some("file") {
            continue;
        }
        let name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .unwrap_or("upload.xml")
            .to_owned();
        let saved = tempfile::Builder::new()
            .prefix(uploads::UPLOAD_PREFIX)
            .tempfile_in(dir)
            .map_err(ApiError::internal)?;
        let mut file = tokio::fs::File::from_std(saved.reopen().map_err(ApiError::internal)?);
        let mut written: u64 = 0;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("bad upload: {e}")))?;
            written += chunk.len() as u64;
            if written > max_bytes {
                return Err(ApiError::TooLarge(max_bytes));
            }
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        file.flush().await.map_err(ApiError::internal)?;
        upload = Some((name, saved));
    }
    Ok(upload)
}

/// `GET /Thingworx/Exporter/<Collection>/<Name>`: one entity as a single-file XML export.
#[get("/Thingworx/Exporter/{collection}/{name}")]
pub async fn exporter(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (collection, name) = path.into_inner();
    let guard = Guard::of(&req, &state).await?;
    let (collection, idx) = guard.visible_entity(&collection, &name)?;
    guard.enforce_route(
        Method::Get,
        "/Thingworx/Exporter/{collection}/{name}",
        Some(idx),
    )?;
    let filter = Filter {
        collections: vec![collection],
        names: vec![name.clone()],
        ..Filter::default()
    };
    let export = transfer::extract(&state.db, &filter, Mode::File, true, true).await?;
    let bytes = transfer::to_bytes(&export, Mode::File, Format::Xml, true)?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{}.xml\"", name.replace('"', "")),
        ))
        .body(bytes))
}

/// The parameters of the source-control services.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SourceControlParams {
    repository_name: Option<String>,
    path: Option<String>,
    project_name: Option<String>,
    tags: Option<String>,
    collection: Option<String>,
    strict: Option<bool>,
    include_system: Option<bool>,
}

impl SourceControlParams {
    /// The repository named, or the default one.
    fn repository(&self) -> String {
        self.repository_name
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REPOSITORY.to_owned())
    }
}

/// A folder of the storage repository: `<storage-dir>/repository/<repository>/<path>`.
/// Refuses any path that would leave the repository (`..`, absolute paths, symbolic links
/// pointing out).
pub fn repository_path(
    storage_dir: &Path,
    repository: &str,
    path: &str,
) -> Result<PathBuf, ApiError> {
    let leaves = || ApiError::BadRequest(format!("path '{path}' leaves the repository"));
    if repository.is_empty()
        || repository.contains(['/', '\\'])
        || repository == "."
        || repository == ".."
    {
        return Err(ApiError::BadRequest(format!(
            "invalid repository name '{repository}'"
        )));
    }
    let root = storage_dir.join("repository").join(repository);
    let mut full = root.clone();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => full.push(part),
            Component::CurDir => {}
            _ => return Err(leaves()),
        }
    }
    // Symbolic links inside the repository may not point out of it.
    if let (Ok(real_root), Ok(real)) = (root.canonicalize(), full.canonicalize())
        && !real.starts_with(&real_root)
    {
        return Err(leaves());
    }
    Ok(full)
}

/// `Resources/SourceControlFunctions/Services/<service>`.
pub async fn source_control(
    state: &AppState,
    guard: &Guard,
    service: &str,
    body: &[u8],
) -> Option<Result<Value, ApiError>> {
    match service {
        "ImportSourceControlledEntities" => {
            Some(import_source_controlled(state, guard, body).await)
        }
        "ExportSourceControlledEntities" => {
            Some(export_source_controlled(state, guard, body).await)
        }
        _ => None,
    }
}

async fn import_source_controlled(
    state: &AppState,
    guard: &Guard,
    body: &[u8],
) -> Result<Value, ApiError> {
    let params: SourceControlParams = parse_body(body)?;
    let repository = params.repository();
    let path = params.path.clone().unwrap_or_default();
    let folder = repository_path(&state.config.storage_dir, &repository, &path)?;
    if !folder.exists() {
        return Err(ApiError::BadRequest(format!(
            "no folder '{path}' in repository '{repository}'"
        )));
    }
    let limits = state.config.limits.import();
    let user_services = |user: &str, service: &str| guard.may_invoke_user(user, service);
    let report = transfer::import_checked(
        transfer::import_slot().await?,
        &state.db,
        &ExportLocation::path(&folder),
        &limits,
        PlanOptions {
            mode: Mode::Storage,
            strict: params.strict.unwrap_or(false),
        },
        &guard.import_caller(&user_services),
        |read| authorize_import(guard, read, Mode::Storage),
    )
    .await?;
    Ok(report_json(&report))
}

/// `ExportSourceControlledEntities`: writes into the server's repository, which a later
/// storage-mode import trusts, so only a security administrator may (the catalog says so, and
/// the dispatcher checks it before this runs).
async fn export_source_controlled(
    state: &AppState,
    guard: &Guard,
    body: &[u8],
) -> Result<Value, ApiError> {
    let params: SourceControlParams = parse_body(body)?;
    let repository = params.repository();
    let path = required(&params.path, "path")?.to_owned();
    let folder = repository_path(&state.config.storage_dir, &repository, &path)?;
    let mut filter = Filter {
        project: params.project_name.clone().filter(|p| !p.is_empty()),
        ..Filter::default()
    };
    if let Some(tags) = params.tags.as_deref().filter(|t| !t.is_empty()) {
        filter.tags = ironworx_entity::vocab::Tag::parse_list(tags)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    if let Some(c) = params.collection.as_deref().filter(|c| !c.is_empty()) {
        filter.collections = vec![c.parse().map_err(|e: ironworx_entity::vocab::VocabError| {
            ApiError::BadRequest(e.to_string())
        })?];
    }
    let include_system = params.include_system.unwrap_or(false);
    let mut export =
        transfer::extract(&state.db, &filter, Mode::Storage, true, include_system).await?;
    // Only what the caller may read; collection rules only for security administrators.
    export.entities.retain(|e| {
        guard
            .index
            .lookup(e.collection, &e.name)
            .is_some_and(|idx| {
                guard.decide(Target::Entity(idx), PermissionKind::Read, "*") == Outcome::Allow
            })
    });
    if !guard.is_security_admin() {
        export.collection_rules.clear();
    }
    let count = export.entities.len();
    let rules = export.collection_rules.len();
    let written = folder.clone();
    web::block(move || {
        std::fs::create_dir_all(&written).map_err(|e| ImportError::io(written.display(), e))?;
        transfer::write_to(&export, Mode::Storage, Format::Xml, true, &written)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(json!({
        "status": "success",
        "repositoryName": repository,
        "path": path,
        "entities": count,
        "collectionRules": rules,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths_stay_inside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = repository_path(dir.path(), "SystemRepository", "exports/a").expect("inside");
        assert!(ok.starts_with(dir.path().join("repository/SystemRepository")));
        for bad in ["../x", "a/../../x", "/etc/../..", "a/../../../etc"] {
            assert!(
                repository_path(dir.path(), "SystemRepository", bad).is_err(),
                "{bad} must be refused"
            );
        }
        assert!(repository_path(dir.path(), "..", "x").is_err());
        assert!(repository_path(dir.path(), "a/b", "x").is_err());
    }
}
