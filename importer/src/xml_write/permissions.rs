//! Permission blocks: design-time, run-time and visibility rules with their principals.

use super::*;

pub(super) fn principal<W: Write>(x: &mut Xml<W>, rule: &Rule) {
    let mut attrs = Attrs::new();
    attrs
        .b("isPermitted", rule.allow)
        .s("name", &rule.principal_name)
        .s("type", rule.principal_type.as_str());
    x.leaf("Principal", attrs);
}

pub(super) fn kind_cell<W: Write>(
    x: &mut Xml<W>,
    kind: PermissionKind,
    rules: &[&Rule],
    resource: Option<&str>,
) {
    x.start(kind.as_str(), Attrs::new());
    for rule in rules
        .iter()
        .filter(|r| r.kind == kind && resource.is_none_or(|res| r.resource == res))
    {
        principal(x, rule);
    }
    x.end(kind.as_str());
}

pub(super) fn design_time_block<W: Write>(x: &mut Xml<W>, name: &str, rules: &[&Rule]) {
    x.start(name, Attrs::new());
    for kind in PermissionKind::DESIGN_TIME {
        kind_cell(x, kind, rules, None);
    }
    x.end(name);
}

pub(super) fn run_time_block<W: Write>(x: &mut Xml<W>, name: &str, rules: &[&Rule]) {
    x.start(name, Attrs::new());
    let mut resources: Vec<&str> = Vec::new();
    for rule in rules {
        if rule.kind.category() == PermissionCategory::RunTime
            && !resources.contains(&rule.resource.as_str())
        {
            resources.push(&rule.resource);
        }
    }
    for resource in resources {
        let mut attrs = Attrs::new();
        attrs.s("resourceName", resource);
        x.start("Permissions", attrs);
        for kind in PermissionKind::RUN_TIME {
            kind_cell(x, kind, rules, Some(resource));
        }
        x.end("Permissions");
    }
    x.end(name);
}

pub(super) fn visibility_block<W: Write>(x: &mut Xml<W>, name: &str, rules: &[&Rule]) {
    x.start(name, Attrs::new());
    kind_cell(x, PermissionKind::Visibility, rules, None);
    x.end(name);
}
