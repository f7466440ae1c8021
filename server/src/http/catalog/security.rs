//! The catalog's security and transfer services: SecurityServices, the audit record, the
//! security log, import and export. Listed with the rest by [`super::operations`].

use super::*;

/// The operations of this family, in the catalog's order.
pub(super) static OPERATIONS: &[Operation] = &[
    // --- security ----------------------------------------------------------------------------
    post(
        Run::Explain,
        "/Thingworx/Resources/SecurityServices/Services/ExplainPermission",
        &[],
        TAG_SECURITY,
        "Every rule the evaluator looked at for one decision, in order, and the one that \
         decided; `wrapped` asks about an access from inside a script service (the System \
         user's rules decide when the user is not allowed)",
        &[
            opt("user", BaseType::UserName),
            req("entityType", BaseType::String),
            opt("entityName", BaseType::String),
            req("permission", BaseType::String),
            opt("resource", BaseType::String),
            opt("wrapped", BaseType::Boolean),
        ],
        Output::InfoTable("Explanation"),
        needs_for(
            &[check(
                PermissionKind::Visibility,
                On::Named {
                    param: "entityName",
                    collection: NamedIn::Param("entityType"),
                },
                Res::Any,
            )],
            "user",
        ),
    ),
    post(
        Run::PermissionDiff,
        "/Thingworx/Resources/SecurityServices/Services/GetEffectivePermissionChanges",
        &[],
        TAG_SECURITY,
        "Every (user, entity, permission, resource) whose effective decision differs between \
         two states of the model (`live`), with the rule that decided on each side; security \
         administrators and members of Auditors",
        &[
            req("before", BaseType::String),
            req("after", BaseType::String),
            opt("user", BaseType::UserName),
            opt("group", BaseType::GroupName),
            opt("entityType", BaseType::String),
            opt("entity", BaseType::String),
            opt("permission", BaseType::String),
        ],
        Output::InfoTable("EffectivePermissionChange"),
        AUDITOR,
    ),
    // --- audit -------------------------------------------------------------------------------
    post(
        Run::AuditSubsystem,
        "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistory",
        &[],
        TAG_SECURITY,
        "The audit record, newest first: who changed what and when, with the recorded \
         parameters; security administrators and members of Auditors",
        AUDIT_PARAMS,
        Output::InfoTable("AuditEntry"),
        AUDITOR,
    ),
    post(
        Run::AuditSubsystem,
        "/Thingworx/Subsystems/AuditSubsystem/Services/QueryAuditHistoryWithQueryCriteria",
        &[],
        TAG_SECURITY,
        "The audit record filtered by a ThingWorx query over the entry fields; security \
         administrators and members of Auditors",
        AUDIT_QUERY_PARAMS,
        Output::InfoTable("AuditEntry"),
        AUDITOR,
    ),
    post(
        Run::AuditEntity,
        "/Thingworx/{collection}/{name}/Services/QueryAuditHistory",
        &[],
        TAG_SECURITY,
        "The audit entries of this entity only, newest first; anyone who may see the entity",
        AUDIT_QUERY_PARAMS,
        Output::InfoTable("AuditEntry"),
        ON_VISIBLE,
    )
    .in_collections(SECURABLE),
    post(
        Run::SecurityLog,
        "/Thingworx/Logs/SecurityLog/Services/QueryLogEntries",
        &[],
        TAG_SECURITY,
        "The security log, newest first: logins, refused logins and application keys, \
         lockouts and session ends; security administrators and members of Auditors",
        &[
            opt("maxItems", BaseType::Number),
            opt("startDate", BaseType::Datetime),
            opt("endDate", BaseType::Datetime),
            opt("user", BaseType::UserName),
            opt("searchExpression", BaseType::String),
            opt("oldestFirst", BaseType::Boolean),
        ],
        Output::InfoTable("SecurityLogEntry"),
        AUDITOR,
    ),
    // --- import and export -------------------------------------------------------------------
    Operation {
        method: Method::Post,
        path: "/Thingworx/Importer",
        run: Run::Route,
        refused_in: &[],
        collections: &[],
        tag: TAG_TRANSFER,
        summary: "File-mode import of the multipart field file (.xml, .twx, .zip), all or \
                  nothing; needs the header X-XSRF-TOKEN: TWX-XSRF-TOKEN-VALUE",
        body: Body::Multipart,
        params: &[req("file", BaseType::Blob)],
        output: Output::Document,
        need: needs(IMPORT_CHECKS),
    },
    post(
        Run::SourceControl,
        "/Thingworx/Resources/SourceControlFunctions/Services/ImportSourceControlledEntities",
        &[],
        TAG_TRANSFER,
        "Storage-mode import of <storage-dir>/repository/<repositoryName>/<path>; collection \
         rules in it, and entity rules its permissions file lists, need a security \
         administrator",
        &[
            opt("repositoryName", BaseType::String),
            opt("path", BaseType::String),
            opt("strict", BaseType::Boolean),
        ],
        Output::Document,
        needs(IMPORT_CHECKS),
    ),
    post(
        Run::SourceControl,
        "/Thingworx/Resources/SourceControlFunctions/Services/ExportSourceControlledEntities",
        &[],
        TAG_TRANSFER,
        "Storage-mode export into the server's repository, which storage-mode imports trust: \
         security administrators only, of what they may read, with the collection rules",
        &[
            opt("repositoryName", BaseType::String),
            req("path", BaseType::String),
            opt("projectName", BaseType::ProjectName),
            opt("tags", BaseType::Tags),
            opt("collection", BaseType::String),
            opt("includeSystem", BaseType::Boolean),
        ],
        Output::Document,
        Need {
            filtered_by: Some(PermissionKind::Read),
            ..SECURITY_ADMIN
        },
    ),
    route(
        Method::Get,
        "/Thingworx/Exporter/{collection}/{name}",
        TAG_TRANSFER,
        "One entity as a single-file XML export",
        Body::None,
        NONE,
        Output::Xml,
        needs(&[VISIBLE, design(PermissionKind::Read)]),
    )
    .in_collections(ALL),
];

/// The parameters of `QueryAuditHistory` on the audit subsystem.
const AUDIT_PARAMS: &[Param] = &[
    opt("maxItems", BaseType::Number),
    opt("startDate", BaseType::Datetime),
    opt("endDate", BaseType::Datetime),
    opt("auditCategory", BaseType::String),
];

/// The audit parameters with a ThingWorx `query`.
const AUDIT_QUERY_PARAMS: &[Param] = &[
    opt("maxItems", BaseType::Number),
    opt("startDate", BaseType::Datetime),
    opt("endDate", BaseType::Datetime),
    opt("auditCategory", BaseType::String),
    opt("query", BaseType::Query),
];
