//! The built-in services a script calls besides Streams and DataTables: a Thing's property
//! values and lifecycle (`GetPropertyValues`, `SetPropertyValues`, `UpdatePropertyValues`,
//! `EnableThing`, `DisableThing`, `RestartThing`, `IsEnabled`), the `Create…` services of
//! `Resources["EntityServices"]` and `Resources["RuntimeLocalizationFunctions"]`. Each is checked as its REST route checks it, under the
//! wrapped-call rule. Reads answer at once; writes are kept with the invocation
//! ([`EntityOp`], property writes) and written with its other writes in one transaction
//! ([`apply`]), so a Thing a script creates and enables exists, enabled, only once the script
//! has returned, and not at all when it throws.

use ironworx_entity::queries::audit::{self, Change};
use ironworx_entity::queries::models;
use ironworx_entity::vocab::{ANY_RESOURCE, Collection, PermissionKind};
use sea_orm::ConnectionTrait;
use serde_json::{Map, Value, json};

use crate::authz::{Outcome, Target};
use crate::domain::create::{self, CreateParams, NewEntity};
use crate::domain::localization::effective_token;
use crate::domain::shapes::rows_of;
use crate::domain::things::{properties_of, readable_table};
use crate::error::ApiError;
use crate::script::host::{Session, Throw, text};

/// The services a Thing the invocation creates offers before the invocation returns.
const LIFECYCLE: &[&str] = &["EnableThing", "DisableThing", "RestartThing", "IsEnabled"];

/// An entity change a script made, kept until the invocation returns.
pub enum EntityOp {
    /// `Resources["EntityServices"].Create…`.
    Create {
        /// The checked entity.
        new: Box<NewEntity>,
        /// The service that created it.
        service: String,
    },
    /// `EnableThing` (`true`) or `DisableThing` (`false`).
    Enable {
        /// The Thing.
        thing: String,
        /// Whether it is enabled.
        enable: bool,
    },
    /// `RestartThing`.
    Restart {
        /// The Thing.
        thing: String,
    },
}

impl Session<'_> {
    /// Whether the invocation creates the Thing `thing`.
    pub(super) fn creates(&self, thing: &str) -> bool {
        self.entity_ops.iter().any(|op| {
            matches!(op, EntityOp::Create { new, .. }
                if new.collection == Collection::Things && new.name == thing)
        })
    }

    /// A member of a Thing the invocation creates: its lifecycle services; anything else
    /// waits until the invocation has returned.
    pub(super) fn created_member(&self, thing: &str, name: &str) -> Result<Value, Throw> {
        if LIFECYCLE.contains(&name) {
            return Ok(json!({ "builtin": true }));
        }
        Err(Throw::Plain(format!(
            "Thing '{thing}' is created by this service: '{name}' can be used once the \
             service has returned (before that, only {} are)",
            LIFECYCLE.join(", ")
        )))
    }

    /// Runs the built-in service `service` of `thing` (ServiceInvoke checked by the caller,
    /// but for a Thing the invocation creates, which the caller owns).
    pub(super) async fn thing_builtin(
        &mut self,
        thing: &str,
        service: &str,
        params: Map<String, Value>,
    ) -> Result<Value, Throw> {
        match service {
            "GetPropertyValues" => self.property_values(thing).await,
            "SetPropertyValues" => {
                let rows = rows_of(params.get("values").unwrap_or(&Value::Null))?;
                let [row] = rows.as_slice() else {
                    return Err(Throw::Plain(format!(
                        "parameter 'values' must hold exactly one row, not {}",
                        rows.len()
                    )));
                };
                for (name, value) in row {
                    self.write(&json!({ "thing": thing, "name": name, "value": value }))
                        .await?;
                }
                Ok(Value::Null)
            }
            "UpdatePropertyValues" => {
                for row in rows_of(params.get("values").unwrap_or(&Value::Null))? {
                    let name = row.get("name").and_then(Value::as_str).unwrap_or_default();
                    let value = row.get("value").cloned().unwrap_or(Value::Null);
                    self.write(&json!({ "thing": thing, "name": name, "value": value }))
                        .await?;
                }
                Ok(Value::Null)
            }
            "EnableThing" | "DisableThing" => {
                self.entity_ops.push(EntityOp::Enable {
                    thing: thing.to_owned(),
                    enable: service == "EnableThing",
                });
                Ok(Value::Null)
            }
            "RestartThing" => {
                self.entity_ops.push(EntityOp::Restart {
                    thing: thing.to_owned(),
                });
                Ok(Value::Null)
            }
            "IsEnabled" => self.is_enabled(thing).await.map(Value::Bool),
            other => Err(Throw::Plain(format!(
                "Thing '{thing}' has no service '{other}'"
            ))),
        }
    }

    /// `GetPropertyValues`: the properties the caller or `System` may read, with the values
    /// the invocation wrote.
    async fn property_values(&self, thing: &str) -> Result<Value, Throw> {
        let (idx, defs) = self.visible_thing(thing).await?;
        let may_read = |name: &str| {
            self.permitted(Target::Entity(idx), PermissionKind::PropertyRead, name)
                == Outcome::Allow
        };
        let (mut table, readable) = self
            .state
            .models
            .with_values(defs.id(), self.ctx.sequences.values, |stored| {
                readable_table(&properties_of(&defs, stored), stored, &may_read)
            })
            .await?;
        if readable == 0 {
            self.require(idx, PermissionKind::PropertyRead, ANY_RESOURCE)?;
        }
        let written = self.pending.iter().find(|p| p.thing_id == defs.id());
        if let (Some(written), Some(row)) = (written, table["rows"][0].as_object_mut()) {
            for write in &written.writes {
                if let Some(value) = row.get_mut(&write.name) {
                    *value = write.value.clone();
                }
            }
        }
        Ok(table)
    }

    /// Whether `thing` is enabled, as the invocation leaves it so far.
    async fn is_enabled(&self, thing: &str) -> Result<bool, Throw> {
        let kept = self.entity_ops.iter().rev().find_map(|op| match op {
            EntityOp::Enable { thing: t, enable } if t == thing => Some(*enable),
            _ => None,
        });
        if let Some(enabled) = kept {
            return Ok(enabled);
        }
        if self.creates(thing) {
            // A new Thing waits for EnableThing.
            return Ok(false);
        }
        let (_, row) = models::get_thing(&self.state.db, thing).await?;
        Ok(row.enabled)
    }

    /// `Resources["EntityServices"].Create…` (`{service, params}`): design-time Create on the
    /// collection (caller or `System`), the parameters checked as REST checks them; the entity
    /// is written when the invocation returns.
    pub(super) async fn create(&mut self, arg: &Value) -> Result<Value, Throw> {
        let service = text(arg, "service");
        let collection = creates_in(service).ok_or_else(|| {
            Throw::Plain(format!(
                "EntityServices has no service '{service}' that scripts may call (they may \
                 call {})",
                CREATE_SERVICES
                    .iter()
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if self.permitted(
            Target::Collection(collection),
            PermissionKind::Create,
            ANY_RESOURCE,
        ) != Outcome::Allow
        {
            return Err(ApiError::forbidden(
                PermissionKind::Create,
                ANY_RESOURCE,
                collection.as_str(),
            )
            .into());
        }
        let params: CreateParams =
            serde_json::from_value(arg.get("params").cloned().unwrap_or_else(|| json!({})))
                .map_err(|e| ApiError::BadRequest(format!("the parameters of {service}: {e}")))?;
        if params
            .owner_user_name
            .as_deref()
            .is_some_and(|o| !o.is_empty() && o != self.ctx.caller.name)
        {
            self.ctx
                .require_security_admin("the owner of an entity created for another user")?;
        }
        let visible = |c: Collection, name: &str| {
            self.visible_in(c, name).is_ok() || (c == Collection::Things && self.creates(name))
        };
        let new = create::prepare(
            &self.state.config.auth,
            self.ctx,
            collection,
            params,
            &visible,
        )
        .await?;
        let twice = self.entity_ops.iter().any(|op| {
            matches!(op, EntityOp::Create { new: earlier, .. }
                if earlier.collection == new.collection && earlier.name == new.name)
        });
        if twice || self.ctx.index.lookup(collection, &new.name).is_some() {
            return Err(ApiError::BadRequest(format!(
                "{} '{}' already exists",
                collection.element_name(),
                new.name
            ))
            .into());
        }
        self.entity_ops.push(EntityOp::Create {
            new: Box::new(new),
            service: service.to_owned(),
        });
        Ok(Value::Null)
    }
}

impl Session<'_> {
    /// `RuntimeLocalizationFunctions` `GetEffectiveToken` (`{token}`, the caller's languages)
    /// and `GetEffectiveTokenForLanguage` (`{token, language}`), as REST answers them.
    pub(super) async fn token(&self, arg: &Value) -> Result<Value, Throw> {
        let token = arg
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Throw::Plain("missing parameter 'token'".into()))?;
        let language = match arg.get("language") {
            None | Some(Value::Null) => None,
            Some(Value::String(l)) if !l.is_empty() => Some(l.as_str()),
            Some(_) => return Err(Throw::Plain("missing parameter 'language'".into())),
        };
        let value = effective_token(&self.state.db, &self.ctx.caller.name, language, token).await?;
        Ok(Value::String(value))
    }
}

/// The `Create…` services scripts may call, and the collection each creates in.
const CREATE_SERVICES: &[(&str, Collection)] = &[
    ("CreateThing", Collection::Things),
    ("CreateThingTemplate", Collection::ThingTemplates),
    ("CreateThingShape", Collection::ThingShapes),
    ("CreateDataShape", Collection::DataShapes),
    ("CreateUser", Collection::Users),
    ("CreateGroup", Collection::Groups),
    ("CreateOrganization", Collection::Organizations),
    ("CreateProject", Collection::Projects),
    ("CreateLocalizationTable", Collection::LocalizationTables),
];

fn creates_in(service: &str) -> Option<Collection> {
    CREATE_SERVICES
        .iter()
        .find(|(s, _)| *s == service)
        .map(|(_, c)| *c)
}

/// Writes `ops` in `txn` in the order the script made them, each audited as made by `actor`;
/// the Things to start once committed (enabled from disabled, or restarted) and the change
/// sequence of the last audited change (`None` when nothing was audited).
pub async fn apply<C: ConnectionTrait>(
    txn: &C,
    actor: &str,
    ops: &[EntityOp],
) -> Result<(Vec<String>, Option<i64>), ApiError> {
    let mut started = Vec::new();
    let mut sequence = None;
    for op in ops {
        let change = match op {
            EntityOp::Create { new, service } => {
                new.write(txn).await?;
                new.change(actor, service)
            }
            EntityOp::Enable { thing, enable } => {
                let (entity, row) = models::get_thing(txn, thing).await?;
                models::set_thing_enabled(txn, entity.id, *enable).await?;
                if *enable && !row.enabled {
                    started.push(thing.clone());
                }
                let service = if *enable {
                    "EnableThing"
                } else {
                    "DisableThing"
                };
                Change::on(actor, service, Collection::Things, thing, json!({}))
            }
            EntityOp::Restart { thing } => {
                models::get_thing(txn, thing).await?;
                started.push(thing.clone());
                continue;
            }
        };
        sequence = Some(audit::record(txn, &change).await?);
    }
    Ok((started, sequence))
}
