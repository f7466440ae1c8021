//! Which Things implement a ThingTemplate or ThingShape, as the index holds them: shared by the
//! `GetImplementingThings` services and scripts' `ThingTemplates[…]` and `ThingShapes[…]`.

use ironworx_entity::vocab::Collection;

use crate::authz::EntityIdx;
use crate::domain::Ctx;

/// The Things that implement the template or shape `idx`: through their template chain, or
/// their own or their templates' shapes (as the index holds them).
pub fn implementing(ctx: &Ctx, idx: EntityIdx) -> Vec<EntityIdx> {
    let index = &ctx.index;
    (0..index.entity_count())
        .filter_map(|i| EntityIdx::try_from(i).ok())
        .filter(|&i| {
            index
                .entity(i)
                .is_some_and(|e| e.collection == Collection::Things)
        })
        .filter(|&i| {
            index.hot(i).is_some_and(|hot| {
                let (templates, shapes) = index.levels(hot);
                templates.contains(&idx) || shapes.contains(&idx)
            })
        })
        .collect()
}
