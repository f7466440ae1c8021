//! The one evaluator for visibility, design time and run time (contract section 4, items 1–3).
//!
//! Order: the Administrator user or a member of `Administrators` is allowed; the owner is
//! allowed; an entity the user cannot see is "not visible" (404); then the levels from most to
//! least specific (the entity's own rules, instance rules of its templates nearest first, instance
//! rules of its shapes, the collection): the first level whose rules name one of the user's
//! principals for this permission decides. Inside a level the row of the named resource is looked
//! at before the `*` row, and inside a row a deny beats an allow. Nothing said anywhere: deny.
//!
//! The same function serves the hot path and explanations: it reports each step to a
//! [`Tracer`]; the hot path passes [`NoTrace`], whose calls compile away.

use ironworx_entity::vocab::{
    ANY_RESOURCE, Collection, PermissionCategory, PermissionKind, PrincipalType,
};

use crate::authz::index::{
    ANY_RID, AuthzIndex, EntityIdx, Hot, Pid, PidSet, Rid, Row, Rules, Word, word_allows, word_pid,
};

/// The services a user may always call on its own User entity (contract section 4, item 3).
pub const SELF_SERVICES: &[&str] = &[
    "ChangePassword",
    "SetLanguagePreferences",
    "GetLanguagePreferences",
    "GetGroups",
    "GetUserPreferenceInfo",
];

/// What is being asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One entity.
    Entity(EntityIdx),
    /// A whole collection (design-time `Create`).
    Collection(Collection),
}

/// One question: may `user` exercise `kind` on `resource` of `target`?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The user (an entity of the Users collection), or a group asked about as a subject
    /// (its own rules and those of the groups it is in; no owner or self-service bypass).
    pub user: EntityIdx,
    /// The entity or collection.
    pub target: Target,
    /// The permission.
    pub kind: PermissionKind,
    /// A property, service or event name, or `*`; ignored outside run time.
    pub resource: &'a str,
}

/// The answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed.
    Allow,
    /// Denied: 403.
    Deny,
    /// The entity does not exist for this user: 404.
    NotVisible,
}

/// The layer a step belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The administrator bypass.
    Administrator,
    /// The owner bypass.
    Owner,
    /// The self-service bypass on one's own User entity.
    SelfService,
    /// The visibility gate.
    Visibility,
    /// The entity's own rules.
    Entity(String),
    /// Instance rules of a ThingTemplate.
    TemplateInstance(String),
    /// Instance rules of a ThingShape.
    ShapeInstance(String),
    /// Rules of a collection.
    Collection(Collection),
    /// Nothing granted: default deny.
    Default,
    /// Inside a script service the caller was not allowed, so the `System` user's rules are
    /// looked at ([`crate::authz::wrapped`]).
    WrappedCall,
}

impl Layer {
    /// The layer's name as `ExplainPermission` reports it.
    pub fn label(&self) -> String {
        match self {
            Layer::Administrator => "Administrator".into(),
            Layer::Owner => "Owner".into(),
            Layer::SelfService => "SelfService".into(),
            Layer::Visibility => "Visibility".into(),
            Layer::Entity(_) => "Entity".into(),
            Layer::TemplateInstance(_) => "ThingTemplateInstance".into(),
            Layer::ShapeInstance(_) => "ThingShapeInstance".into(),
            Layer::Collection(_) => "Collection".into(),
            Layer::Default => "Default".into(),
            Layer::WrappedCall => "WrappedCall".into(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Layer::Entity(name) => format!("entity {name}"),
            Layer::TemplateInstance(name) => format!("the instance rules of ThingTemplate {name}"),
            Layer::ShapeInstance(name) => format!("the instance rules of ThingShape {name}"),
            Layer::Collection(c) => format!("the {c} collection"),
            other => other.label(),
        }
    }
}

/// Where a level's rules sit, by position in the index: cheap to copy, and turned into a
/// named [`Layer`] only when an explanation is wanted, so the hot path never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LevelAt {
    Entity(EntityIdx),
    Template(EntityIdx),
    Shape(EntityIdx),
    Collection(Collection),
}

impl LevelAt {
    fn layer(self, index: &AuthzIndex) -> Layer {
        let name = |idx: EntityIdx| {
            index
                .entity(idx)
                .map(|e| e.name.clone())
                .unwrap_or_default()
        };
        match self {
            LevelAt::Entity(idx) => Layer::Entity(name(idx)),
            LevelAt::Template(idx) => Layer::TemplateInstance(name(idx)),
            LevelAt::Shape(idx) => Layer::ShapeInstance(name(idx)),
            LevelAt::Collection(c) => Layer::Collection(c),
        }
    }
}

/// The effect a step reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepEffect {
    /// The step grants.
    Allow,
    /// The step denies.
    Deny,
    /// The step found nothing that applies.
    None,
}

impl StepEffect {
    /// `ALLOW`, `DENY` or `NONE`.
    pub fn label(self) -> &'static str {
        match self {
            StepEffect::Allow => "ALLOW",
            StepEffect::Deny => "DENY",
            StepEffect::None => "NONE",
        }
    }
}

/// One row of an explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Where the rule sits.
    pub layer: Layer,
    /// The principal the rule names, if any.
    pub principal: Option<(PrincipalType, String)>,
    /// The resource row looked at (`*` or a name).
    pub resource: String,
    /// What the step says.
    pub effect: StepEffect,
    /// Whether this step decided.
    pub decisive: bool,
    /// A sentence an administrator can act on.
    pub detail: String,
}

/// Receives the steps of a decision.
pub trait Tracer {
    /// Whether steps are wanted at all (lets the evaluator skip building them).
    const ENABLED: bool;
    /// Records one step.
    fn step(&mut self, step: Step);
}

/// The tracer of the hot path: records nothing.
pub struct NoTrace;

impl Tracer for NoTrace {
    const ENABLED: bool = false;
    fn step(&mut self, _: Step) {}
}

impl Tracer for Vec<Step> {
    const ENABLED: bool = true;
    fn step(&mut self, step: Step) {
        self.push(step);
    }
}

/// Decides without explaining.
pub fn decide(index: &AuthzIndex, request: &Request<'_>) -> Outcome {
    evaluate(index, request, &mut NoTrace)
}

/// Decides and returns every step looked at; exactly one step is decisive.
pub fn explain(index: &AuthzIndex, request: &Request<'_>) -> (Outcome, Vec<Step>) {
    let mut steps = Vec::new();
    let outcome = evaluate(index, request, &mut steps);
    (outcome, steps)
}

fn bypass<T: Tracer>(
    tracer: &mut T,
    layer: Layer,
    principal: Option<(PrincipalType, String)>,
    detail: String,
) {
    if T::ENABLED {
        tracer.step(Step {
            layer,
            principal,
            resource: ANY_RESOURCE.into(),
            effect: StepEffect::Allow,
            decisive: true,
            detail,
        });
    }
}

/// The rows a level looks at, in order: the named resource (when some rule names it), then `*`.
#[derive(Clone, Copy)]
struct Rows<'a> {
    named: Option<(Rid, &'a str)>,
}

impl<'a> Rows<'a> {
    const ANY: Rows<'static> = Rows { named: None };

    /// The rows for `resource`. A name no rule mentions has an empty row, which is skipped.
    fn of(index: &AuthzIndex, resource: &'a str) -> Rows<'a> {
        match index.resource_id(resource) {
            Some(rid) if rid != ANY_RID => Rows {
                named: Some((rid, resource)),
            },
            _ => Rows::ANY,
        }
    }
}

/// The evaluator behind [`decide`] and [`explain`].
pub fn evaluate<T: Tracer>(index: &AuthzIndex, request: &Request<'_>, tracer: &mut T) -> Outcome {
    let Some((user, principals, user_visibility)) = index.user_hot(request.user) else {
        if T::ENABLED {
            tracer.step(Step {
                layer: Layer::Default,
                principal: None,
                resource: request.resource.into(),
                effect: StepEffect::Deny,
                decisive: true,
                detail: "the caller is not a known user; default is deny".into(),
            });
        }
        return Outcome::Deny;
    };
    let user_name = || {
        index
            .entity(request.user)
            .map(|e| e.name.as_str())
            .unwrap_or("")
    };
    if user.admin {
        if T::ENABLED {
            let why = index
                .user(request.user)
                .and_then(|u| u.admin.clone())
                .unwrap_or_default();
            bypass(
                tracer,
                Layer::Administrator,
                Some((PrincipalType::User, user_name().to_owned())),
                format!("{why}, which holds every right"),
            );
        }
        return Outcome::Allow;
    }
    let entity = match request.target {
        Target::Entity(idx) => match index.hot(idx) {
            Some(e) => Some((idx, e)),
            None => return Outcome::NotVisible,
        },
        Target::Collection(_) => None,
    };
    if let Some((idx, e)) = entity {
        if e.owner() == Some(request.user) {
            if T::ENABLED {
                let user_name = user_name();
                let name = index.entity(idx).map(|n| n.name.as_str()).unwrap_or("");
                bypass(
                    tracer,
                    Layer::Owner,
                    Some((PrincipalType::User, user_name.to_owned())),
                    format!(
                        "{user_name} owns {} {name}, and an owner holds every right on it",
                        e.collection
                    ),
                );
            }
            return Outcome::Allow;
        }
        if idx == request.user && is_self_service(request) {
            if T::ENABLED {
                let user_name = user_name();
                bypass(
                    tracer,
                    Layer::SelfService,
                    Some((PrincipalType::User, user_name.to_owned())),
                    format!(
                        "{user_name} may always use {} on its own User entity",
                        describe_request(request)
                    ),
                );
            }
            return Outcome::Allow;
        }
        let gated = !user.group || request.kind == PermissionKind::Visibility;
        if idx != request.user && gated && !visible(index, idx, e, user_visibility, request, tracer)
        {
            return Outcome::NotVisible;
        }
        if request.kind == PermissionKind::Visibility {
            return Outcome::Allow;
        }
    }
    let category = request.kind.category();
    let (resource, rows) = if category == PermissionCategory::RunTime {
        (request.resource, Rows::of(index, request.resource))
    } else {
        (ANY_RESOURCE, Rows::ANY)
    };
    let mut looked_at: Vec<String> = Vec::new();
    if let Some((idx, e)) = entity {
        let look = |source: LevelAt, rules: Rules<'_>, tracer: &mut T| {
            level(
                index,
                rules,
                source,
                principals,
                request.kind,
                resource,
                rows,
                tracer,
            )
        };
        if let Some(outcome) = look(
            LevelAt::Entity(idx),
            index.own_rules(e, request.kind),
            tracer,
        ) {
            return outcome;
        }
        if T::ENABLED {
            looked_at.push(LevelAt::Entity(idx).layer(index).describe());
        }
        let (templates, shapes) = index.levels(e);
        // Only Things have templates and shapes in their levels; shapes count at run time.
        let shapes = if category == PermissionCategory::RunTime {
            shapes
        } else {
            &[]
        };
        let sources = templates
            .iter()
            .map(|t| LevelAt::Template(*t))
            .chain(shapes.iter().map(|s| LevelAt::Shape(*s)));
        for source in sources {
            let rules = match source {
                LevelAt::Template(t) | LevelAt::Shape(t) => index.instance_rules(t),
                _ => Rules::Run(&[]),
            };
            if let Some(outcome) = look(source, rules, tracer) {
                return outcome;
            }
            if T::ENABLED {
                looked_at.push(source.layer(index).describe());
            }
        }
    }
    let collection = match (request.target, entity) {
        (Target::Collection(c), _) => c,
        (_, Some((_, e))) => e.collection,
        (Target::Entity(_), None) => return Outcome::NotVisible,
    };
    let source = LevelAt::Collection(collection);
    let rules = index.collection_rules(collection);
    if !rules.is_empty()
        && let Some(outcome) = level(
            index,
            rules,
            source,
            principals,
            request.kind,
            resource,
            rows,
            tracer,
        )
    {
        return outcome;
    }
    if T::ENABLED {
        looked_at.push(source.layer(index).describe());
        let user_name = user_name();
        let groups = index
            .user(request.user)
            .map(|u| u.groups.as_slice())
            .unwrap_or(&[]);
        let who = if groups.is_empty() {
            format!("user {user_name}")
        } else {
            format!("user {user_name} and its groups {}", groups.join(", "))
        };
        tracer.step(Step {
            layer: Layer::Default,
            principal: None,
            resource: resource.into(),
            effect: StepEffect::Deny,
            decisive: true,
            detail: format!(
                "{who} have no {} rule{} on {}; nothing else grants it; default is deny",
                request.kind,
                if resource == ANY_RESOURCE {
                    String::new()
                } else {
                    format!(" for {resource}")
                },
                join_or(&looked_at)
            ),
        });
    }
    Outcome::Deny
}

fn is_self_service(request: &Request<'_>) -> bool {
    match request.kind {
        PermissionKind::Visibility | PermissionKind::Read => true,
        PermissionKind::ServiceInvoke => SELF_SERVICES.contains(&request.resource),
        _ => false,
    }
}

fn describe_request(request: &Request<'_>) -> String {
    if request.kind.category() == PermissionCategory::RunTime {
        format!("{} on {}", request.kind, request.resource)
    } else {
        request.kind.to_string()
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "any level".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// Looks at one level: the named resource row, then `*`. Returns the outcome when the level
/// names one of `principals`. A level without a rule of `kind` is passed over here, without a
/// call, unless an explanation wants its step.
#[expect(
    clippy::too_many_arguments,
    reason = "the hot path passes plain values instead of building a context per level"
)]
#[inline(always)]
fn level<T: Tracer>(
    index: &AuthzIndex,
    rules: Rules<'_>,
    source: LevelAt,
    principals: PidSet<'_>,
    kind: PermissionKind,
    resource: &str,
    rows: Rows<'_>,
    tracer: &mut T,
) -> Option<Outcome> {
    if !T::ENABLED && !rules.may_hold(kind) {
        return None;
    }
    level_rows(
        index, rules, source, principals, kind, resource, rows, tracer,
    )
}

/// [`level`] for a level that may hold a rule of `kind`.
#[expect(
    clippy::too_many_arguments,
    reason = "the hot path passes plain values instead of building a context per level"
)]
#[inline(never)]
fn level_rows<T: Tracer>(
    index: &AuthzIndex,
    rules: Rules<'_>,
    source: LevelAt,
    principals: PidSet<'_>,
    kind: PermissionKind,
    resource: &str,
    rows: Rows<'_>,
    tracer: &mut T,
) -> Option<Outcome> {
    let [named, star] = rules.rows(kind, rows.named.map_or(ANY_RID, |(rid, _)| rid));
    let named = rows.named.map(|(_, name)| (named, name));
    for (found, row) in named.into_iter().chain([(star, ANY_RESOURCE)]) {
        let found = match found {
            Row::Words(cell) => {
                let rule = |w: Word| (word_pid(w), word_allows(w));
                row_outcome(index, cell, rule, source, principals, kind, row, tracer)
            }
            Row::Entries(cell, packing) => {
                let rule = |e: u32| (packing.pid(e), packing.allows(e));
                row_outcome(index, cell, rule, source, principals, kind, row, tracer)
            }
        };
        if found.is_some() {
            return found;
        }
    }
    if T::ENABLED {
        let layer = source.layer(index);
        tracer.step(Step {
            layer: layer.clone(),
            principal: None,
            resource: resource.to_owned(),
            effect: StepEffect::None,
            decisive: false,
            detail: format!(
                "no {kind} rule on {} names the caller or its groups",
                layer.describe()
            ),
        });
    }
    None
}

/// Looks at one row (its rules sorted by principal; `rule` reads the principal and allow bit of
/// one): the outcome when a rule names one of `principals`, a deny beating an allow.
#[expect(
    clippy::too_many_arguments,
    reason = "the hot path passes plain values instead of building a context per row"
)]
fn row_outcome<E: Copy, T: Tracer>(
    index: &AuthzIndex,
    cell: &[E],
    rule: impl Fn(E) -> (Pid, bool),
    source: LevelAt,
    principals: PidSet<'_>,
    kind: PermissionKind,
    row: &str,
    tracer: &mut T,
) -> Option<Outcome> {
    if cell.is_empty() {
        return None;
    }
    let mut allow: Option<usize> = None;
    let mut deny: Option<usize> = None;
    let mut hit = |i: usize, permitted: bool| {
        let slot = if permitted { &mut allow } else { &mut deny };
        *slot = Some(slot.map_or(i, |j| j.min(i)));
    };
    // A row not much longer than the caller's principals is walked, each rule tested against
    // the principals; a longer one is binary-searched for each principal.
    if cell.len() <= 2 * principals.pids.len() + 8 {
        for (i, entry) in cell.iter().enumerate() {
            let (pid, permitted) = rule(*entry);
            if principals.holds(pid) {
                hit(i, permitted);
            }
        }
    } else {
        for pid in principals.pids {
            if let Ok(i) = cell.binary_search_by_key(pid, |e| rule(*e).0) {
                hit(i, rule(cell[i]).1);
            }
        }
    }
    let decisive = deny.or(allow)?;
    if T::ENABLED {
        let layer = source.layer(index);
        for (i, entry) in cell.iter().enumerate() {
            let (pid, permitted) = rule(*entry);
            if !principals.holds(pid) {
                continue;
            }
            let (ptype, pname) = index.principal(pid);
            let is_decisive = i == decisive;
            let verb = if permitted { "allows" } else { "denies" };
            let mut detail = format!(
                "{} {pname} {verb} {kind}{} on {}",
                ptype,
                if row == ANY_RESOURCE {
                    String::new()
                } else {
                    format!(" for {row}")
                },
                layer.describe()
            );
            if is_decisive && !permitted && allow.is_some() {
                detail.push_str("; inside one row a deny beats an allow");
            } else if !is_decisive {
                detail.push_str("; overruled by the deny in the same row");
            }
            tracer.step(Step {
                layer: layer.clone(),
                principal: Some((ptype, pname.to_owned())),
                resource: row.to_owned(),
                effect: if permitted {
                    StepEffect::Allow
                } else {
                    StepEffect::Deny
                },
                decisive: is_decisive,
                detail,
            });
        }
    }
    Some(if deny.is_some() {
        Outcome::Deny
    } else {
        Outcome::Allow
    })
}

/// The visibility gate: the entity, its templates' instance visibility, or its collection must
/// grant visibility to an organization or unit of the user (same level rules as permissions).
fn visible<T: Tracer>(
    index: &AuthzIndex,
    idx: EntityIdx,
    e: &Hot,
    user_visibility: PidSet<'_>,
    request: &Request<'_>,
    tracer: &mut T,
) -> bool {
    let mut trace = Vec::new();
    let own = std::iter::once((
        LevelAt::Entity(idx),
        index.own_rules(e, PermissionKind::Visibility),
    ));
    // Only Things have templates among their levels. The hot path passes over a template whose
    // visibility rules cannot name the user (its mask meets none of the user's); an
    // explanation looks at every template.
    let templates = index
        .levels(e)
        .0
        .iter()
        .copied()
        .filter(|t| T::ENABLED || user_visibility.may_meet(index.instance_visibility(*t)))
        .map(|t| (LevelAt::Template(t), index.instance_rules(t)));
    let rules = index.collection_rules(e.collection);
    let collection = (!rules.is_empty()).then_some((LevelAt::Collection(e.collection), rules));
    let mut outcome = None;
    for (source, rules) in own.chain(templates).chain(collection) {
        let mut sub: Vec<Step> = Vec::new();
        let found = if T::ENABLED {
            level(
                index,
                rules,
                source,
                user_visibility,
                PermissionKind::Visibility,
                ANY_RESOURCE,
                Rows::ANY,
                &mut sub,
            )
        } else {
            level(
                index,
                rules,
                source,
                user_visibility,
                PermissionKind::Visibility,
                ANY_RESOURCE,
                Rows::ANY,
                &mut NoTrace,
            )
        };
        if T::ENABLED {
            // Visibility rows are reported under the Visibility layer; a granting row decides
            // only a visibility question, otherwise the permission check that follows decides.
            for mut s in sub {
                s.detail = format!("visibility: {}", s.detail);
                s.layer = Layer::Visibility;
                if found == Some(Outcome::Allow) && request.kind != PermissionKind::Visibility {
                    s.decisive = false;
                }
                trace.push(s);
            }
        }
        if found.is_some() {
            outcome = found;
            break;
        }
    }
    let is_visible = outcome == Some(Outcome::Allow);
    if T::ENABLED {
        for s in trace {
            tracer.step(s);
        }
        if !is_visible {
            let denied = outcome == Some(Outcome::Deny);
            if !denied {
                tracer.step(Step {
                    layer: Layer::Visibility,
                    principal: None,
                    resource: ANY_RESOURCE.into(),
                    effect: StepEffect::Deny,
                    decisive: true,
                    detail: format!(
                        "{} {} is not visible to the caller: no visibility rule on it{} or the {} collection names an organization or unit the caller belongs to, so it answers 404 for {}",
                        e.collection,
                        index.entity(idx).map(|n| n.name.as_str()).unwrap_or(""),
                        if e.collection == Collection::Things { ", its templates" } else { "" },
                        e.collection,
                        describe_request(request)
                    ),
                });
            }
        }
    }
    is_visible
}
