//! `GET /Thingworx/openapi.json`: the OpenAPI 3.1 document of the whole API, rendered once from
//! [`catalog::operations`]. It is public, like the README that lists the same routes: it
//! describes the server, not the model (no entity names), and tools read it before they have
//! credentials. Each operation carries `x-ironworx-permission`, what a caller needs.

use std::sync::OnceLock;

use actix_web::{HttpResponse, get};
use ironworx_entity::vocab::{BaseType, PermissionKind};
use serde_json::{Value, json};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem, PathsBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Required, ResponseBuilder,
    ResponsesBuilder, Schema,
};

use crate::auth::{APP_KEY_HEADER, SESSION_COOKIE};
use crate::http::catalog::{
    Access, Body, Check, Method, NamedIn, On, Operation, Output, Param, Res, operations,
};
use crate::http::import_export::{XSRF_HEADER, XSRF_VALUE};

/// The name of the extension stating what an operation needs.
pub const PERMISSION_EXTENSION: &str = "x-ironworx-permission";

/// Serves the document.
#[get("/Thingworx/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(text())
}

/// The document as JSON text, rendered on first use.
pub fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        // Serializing plain strings, maps and numbers cannot fail.
        document().to_json().unwrap_or_default()
    })
}

/// The document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for op in operations() {
        paths = paths.path(
            op.path,
            PathItem::new(http_method(op.method), operation(op)),
        );
    }
    let mut tags: Vec<&str> = Vec::new();
    for op in operations() {
        if !tags.contains(&op.tag) {
            tags.push(op.tag);
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Ironworx REST API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION)),
        )
        .paths(paths)
        .components(Some(components()))
        .security(Some(credentials()))
        .tags(Some(
            tags.into_iter().map(|t| TagBuilder::new().name(t).build()),
        ))
        .build()
}

const DESCRIPTION: &str = "The ThingWorx REST API as this server answers it. Every operation \
    states what a caller needs in `x-ironworx-permission`: `access` (`public`, `authenticated` \
    or `securityAdministrator`); `checks`, the permissions required in the order they are \
    checked, each with `permission`, `category`, `target` (`entity`: the one the path names; \
    `namedEntity`: the one the body parameter `parameter` names, in `collection` or in the \
    collection the parameter `collectionParameter` names; `collection`; `importedCollections`; \
    `importedEntities`), `resource` (`*`; `$service`: the service called; `$path.<p>`: the \
    path parameter `p`; `$each`: each property read or written) and \
    `securityAdministratorBypass`; `subjectParameter`, a parameter naming a user, where naming \
    another user than the caller needs a security administrator; `selfService`, true when a \
    user calling it on its own User entity needs no grant; and `filteredBy`, the permission \
    the results are filtered by. Administrators and the owner of an entity hold every right \
    on it; an entity that is missing or not visible is 404, a denied check 403 \
    `Not authorized for <Permission> on <resource> in <Entity>`.";

fn http_method(method: Method) -> HttpMethod {
    match method {
        Method::Get => HttpMethod::Get,
        Method::Put => HttpMethod::Put,
        Method::Post => HttpMethod::Post,
        Method::Delete => HttpMethod::Delete,
    }
}

fn components() -> utoipa::openapi::Components {
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("A stable snake_case code")),
        )
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("What went wrong, for a person")),
        )
        .required("code")
        .required("message");
    let field = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("name", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "description",
            ObjectBuilder::new().schema_type(Type::String),
        )
        .property(
            "baseType",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("A ThingWorx base type")),
        )
        .property("ordinal", ObjectBuilder::new().schema_type(Type::Integer))
        .property("aspects", ObjectBuilder::new().schema_type(Type::Object));
    let infotable = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "An InfoTable: the field definitions of its data shape and its rows",
        ))
        .property(
            "dataShape",
            ObjectBuilder::new().schema_type(Type::Object).property(
                "fieldDefinitions",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(Ref::from_schema_name("FieldDefinition"))),
            ),
        )
        .property(
            "rows",
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)),
        )
        .required("dataShape")
        .required("rows");
    let mut components = ComponentsBuilder::new()
        .schema("Error", error)
        .schema("FieldDefinition", field)
        .schema("InfoTable", infotable)
        .security_scheme(
            "appKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                APP_KEY_HEADER,
                "An application key id",
            ))),
        )
        .security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by form login",
            ))),
        );
    for (name, description) in ERRORS {
        components = components.response(
            *name,
            ResponseBuilder::new().description(*description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            ),
        );
    }
    components.build()
}

/// The error responses of every operation, by component name.
const ERRORS: &[(&str, &str)] = &[
    (
        "BadRequest",
        "Bad input (unknown base type, bad name, missing parameter, malformed JSON or XML): \
         what is wrong",
    ),
    (
        "Unauthorized",
        "No or bad credentials, an expired key, a key used from outside its whitelist, a \
         locked or disabled user: a short reason",
    ),
    (
        "Forbidden",
        "Authenticated but not permitted: `Not authorized for <Permission> on <resource> in \
         <Entity>`",
    ),
    (
        "NotFound",
        "The entity is missing or not visible to the caller, or the service is unknown: \
         `Entity Not Found`",
    ),
    (
        "Conflict",
        "The name is already taken: `<name> already exists`",
    ),
];

/// Any of the three credentials.
fn credentials() -> Vec<SecurityRequirement> {
    ["appKey", "basic", "session"]
        .into_iter()
        .map(|scheme| SecurityRequirement::new(scheme, Vec::<String>::new()))
        .collect()
}

fn operation(op: &Operation) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new()
        .tag(op.tag)
        .summary(Some(op.summary))
        .operation_id(Some(op.operation_id()));
    for name in op.path_params() {
        let mut schema = ObjectBuilder::new().schema_type(Type::String);
        if name == "collection" && !op.collections.is_empty() {
            schema = schema.enum_values(Some(op.collections.iter().map(|c| c.as_str())));
        }
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema)),
        );
    }
    if op.body == Body::None {
        for param in op.params {
            builder = builder.parameter(
                ParameterBuilder::new()
                    .name(param.name)
                    .parameter_in(ParameterIn::Query)
                    .required(required(param.required))
                    .schema(Some(param_schema(param))),
            );
        }
    }
    if op.body == Body::Multipart {
        builder = builder.parameter(
            ParameterBuilder::new()
                .name(XSRF_HEADER)
                .parameter_in(ParameterIn::Header)
                .required(Required::True)
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([XSRF_VALUE])),
                )),
        );
    }
    if let Some(body) = request_body(op) {
        builder = builder.request_body(Some(body));
    }
    if op.need.access == Access::Public {
        builder = builder.securities(Some(Vec::new()));
    }
    builder
        .responses(responses(op))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add(PERMISSION_EXTENSION, need_json(op))
                .build(),
        ))
        .build()
}

fn required(yes: bool) -> Required {
    if yes { Required::True } else { Required::False }
}

/// The JSON schema of a parameter of ThingWorx base type `base_type`.
fn param_schema(param: &Param) -> ObjectBuilder {
    let kind = match param.base_type {
        BaseType::Boolean => None,
        BaseType::Integer | BaseType::Long | BaseType::Datetime => Some(Type::Integer),
        BaseType::Number => Some(Type::Number),
        BaseType::Json | BaseType::Infotable | BaseType::Query | BaseType::Location => None,
        _ => Some(Type::String),
    };
    let mut schema = ObjectBuilder::new();
    if let Some(kind) = kind {
        schema = schema.schema_type(kind);
    }
    let description = match param.base_type {
        BaseType::Boolean => format!("{}: a boolean or its text", param.base_type),
        BaseType::Infotable => format!(
            "{}: an InfoTable (or one row), or its JSON text",
            param.base_type
        ),
        BaseType::Json => format!("{}: a JSON object, or its text", param.base_type),
        BaseType::Datetime => format!("{}: epoch milliseconds", param.base_type),
        BaseType::Tags => format!("{}: Vocabulary:Term pairs joined by ';'", param.base_type),
        other => format!("ThingWorx base type {other}"),
    };
    schema.description(Some(description)).extensions(Some(
        ExtensionsBuilder::new()
            .add("x-thingworx-base-type", param.base_type.as_str())
            .build(),
    ))
}

fn request_body(op: &Operation) -> Option<utoipa::openapi::request_body::RequestBody> {
    let object = |params: &[Param]| {
        let mut schema = ObjectBuilder::new().schema_type(Type::Object);
        for param in params {
            schema = schema.property(param.name, param_schema(param));
            if param.required {
                schema = schema.required(param.name);
            }
        }
        schema
    };
    let (content_type, schema, description): (&str, ObjectBuilder, &str) = match op.body {
        Body::None => return None,
        Body::Json => (
            "application/json",
            object(op.params),
            "The service parameters as a JSON object (an empty body is `{}`)",
        ),
        Body::Values => (
            "application/json",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .additional_properties(Some(ObjectBuilder::new())),
            "Values keyed by property (or event data field) name",
        ),
        Body::Document => (
            "application/json",
            ObjectBuilder::new().schema_type(Type::Object),
            "The entity document as GET answers it, edited",
        ),
        Body::Multipart => (
            "multipart/form-data",
            ObjectBuilder::new().schema_type(Type::Object).property(
                "file",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/octet-stream"),
            ),
            "The file to import",
        ),
        Body::Form => (
            "application/x-www-form-urlencoded",
            object(op.params),
            "The form fields",
        ),
    };
    let any_required = op.params.iter().any(|p| p.required) || op.body != Body::Json;
    Some(
        RequestBodyBuilder::new()
            .description(Some(description))
            .required(Some(required(any_required)))
            .content(
                content_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build(),
    )
}

fn error_ref(name: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

fn responses(op: &Operation) -> utoipa::openapi::Responses {
    let json = |schema: RefOr<Schema>| ContentBuilder::new().schema(Some(schema)).build();
    let infotable = || RefOr::Ref(Ref::from_schema_name("InfoTable"));
    let (status, response) = match op.output {
        Output::Nothing => (
            "200",
            ResponseBuilder::new().description("Done: `{}`").content(
                "application/json",
                json(ObjectBuilder::new().schema_type(Type::Object).into()),
            ),
        ),
        Output::Empty => ("200", ResponseBuilder::new().description("Done, no body")),
        Output::InfoTable(shape) => (
            "200",
            ResponseBuilder::new()
                .description(format!("An InfoTable ({shape})"))
                .content("application/json", json(infotable())),
        ),
        Output::Primitive(base_type) => (
            "200",
            ResponseBuilder::new()
                .description(format!(
                    "An InfoTable of one row whose field `result` is a {base_type}"
                ))
                .content("application/json", json(infotable())),
        ),
        Output::Document => (
            "200",
            ResponseBuilder::new().description("A JSON document").content(
                "application/json",
                json(ObjectBuilder::new().schema_type(Type::Object).into()),
            ),
        ),
        Output::Html => (
            "200",
            ResponseBuilder::new().description("An HTML page").content(
                "text/html",
                json(ObjectBuilder::new().schema_type(Type::String).into()),
            ),
        ),
        Output::Redirect => (
            "303",
            ResponseBuilder::new()
                .description("A redirect to the next page")
                .header(
                    "Location",
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                ),
        ),
        Output::Sse => (
            "200",
            ResponseBuilder::new()
                .description("Server-Sent Events: one `data:` line of JSON per firing")
                .content(
                    "text/event-stream",
                    json(ObjectBuilder::new().schema_type(Type::String).into()),
                ),
        ),
        Output::Xml => (
            "200",
            ResponseBuilder::new()
                .description("A single-file XML export")
                .content(
                    "application/xml",
                    json(ObjectBuilder::new().schema_type(Type::String).into()),
                ),
        ),
        Output::NotImplemented => (
            "501",
            ResponseBuilder::new()
                .description("The service exists and the caller may invoke it, but the server does not run its implementation (a Script service runs and answers its result)")
                .content(
                    "application/json",
                    json(RefOr::Ref(Ref::from_schema_name("Error"))),
                ),
        ),
    };
    let mut responses = ResponsesBuilder::new().response(status, response);
    if op.path == "/ready" {
        responses = responses.response(
            "503",
            ResponseBuilder::new().description("The database does not answer"),
        );
    }
    if takes_input(op) {
        responses = responses.response("400", error_ref("BadRequest"));
    }
    if op.need.access != Access::Public {
        responses = responses.response("401", error_ref("Unauthorized"));
    }
    let need = &op.need;
    let may_deny = matches!(need.access, Access::SecurityAdministrator | Access::Auditor)
        || need.subject.is_some()
        || need.self_service
        || need
            .checks
            .iter()
            .any(|c| c.kind != PermissionKind::Visibility);
    if may_deny {
        responses = responses.response("403", error_ref("Forbidden"));
    }
    if need
        .checks
        .iter()
        .any(|c| c.kind == PermissionKind::Visibility)
        || op.path.contains("{collection}")
        || op.path.contains("{name}")
    {
        responses = responses.response("404", error_ref("NotFound"));
    }
    if op.may_conflict() {
        responses = responses.response("409", error_ref("Conflict"));
    }
    responses.build()
}

/// Whether a call can carry bad input.
fn takes_input(op: &Operation) -> bool {
    op.body != Body::None || !op.params.is_empty()
}

/// The `x-ironworx-permission` extension of `op`.
pub fn need_json(op: &Operation) -> Value {
    let need = &op.need;
    let mut out = json!({
        "access": match need.access {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::SecurityAdministrator => "securityAdministrator",
            Access::Auditor => "securityAdministratorOrAuditor",
        },
        "checks": need.checks.iter().map(check_json).collect::<Vec<_>>(),
        "selfService": need.self_service,
    });
    if let Some(subject) = need.subject {
        out["subjectParameter"] = json!(subject);
    }
    if let Some(kind) = need.filtered_by {
        out["filteredBy"] = json!(kind.as_str());
    }
    out
}

fn check_json(check: &Check) -> Value {
    let category = match check.kind.category() {
        ironworx_entity::vocab::PermissionCategory::RunTime => "RunTime",
        ironworx_entity::vocab::PermissionCategory::DesignTime => "DesignTime",
        ironworx_entity::vocab::PermissionCategory::Visibility => "Visibility",
    };
    let mut out = json!({
        "permission": check.kind.as_str(),
        "category": category,
        "resource": match check.resource {
            Res::Any => "*".to_owned(),
            Res::Service => "$service".to_owned(),
            Res::PathParam(p) => format!("$path.{p}"),
            Res::EachProperty => "$each".to_owned(),
        },
        "securityAdministratorBypass": check.security_admin_bypass,
    });
    match check.on {
        On::Path => out["target"] = json!("entity"),
        On::Named { param, collection } => {
            out["target"] = json!("namedEntity");
            out["parameter"] = json!(param);
            match collection {
                NamedIn::Fixed(c) => out["collection"] = json!(c.as_str()),
                NamedIn::Param(p) => out["collectionParameter"] = json!(p),
            }
        }
        On::Collection(c) => {
            out["target"] = json!("collection");
            out["collection"] = json!(c.as_str());
        }
        On::ImportedCollections => out["target"] = json!("importedCollections"),
        On::ImportedEntities => out["target"] = json!("importedEntities"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_document_is_openapi_3_1_with_every_operation() {
        let doc: Value = serde_json::from_str(text()).expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut count = 0;
        for op in operations() {
            let method = op.method.as_str().to_ascii_lowercase();
            let rendered = &doc["paths"][op.path][&method];
            assert!(rendered.is_object(), "{method} {} is missing", op.path);
            assert_eq!(rendered["operationId"], op.operation_id());
            assert_eq!(rendered[PERMISSION_EXTENSION], need_json(op));
            count += 1;
        }
        let rendered: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(rendered, count, "one operation per catalog entry");
        for scheme in ["appKey", "basic", "session"] {
            assert!(doc["components"]["securitySchemes"][scheme].is_object());
        }
        for (name, _) in ERRORS {
            assert!(doc["components"]["responses"][name].is_object(), "{name}");
        }
        // A public route asks for no credentials; the others refer to the error bodies.
        assert_eq!(doc["paths"]["/health"]["get"]["security"], json!([]));
        let create =
            &doc["paths"]["/Thingworx/Resources/EntityServices/Services/CreateThing"]["post"];
        assert_eq!(
            create["responses"]["403"]["$ref"],
            "#/components/responses/Forbidden"
        );
        assert_eq!(
            create[PERMISSION_EXTENSION]["checks"][0],
            json!({"permission": "Create", "category": "DesignTime", "resource": "*",
                   "securityAdministratorBypass": false, "target": "collection",
                   "collection": "Things"})
        );
        assert_eq!(
            create["requestBody"]["content"]["application/json"]["schema"]["required"],
            json!(["name", "thingTemplateName"])
        );
    }
}
