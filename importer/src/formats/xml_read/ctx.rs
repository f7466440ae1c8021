//! The conversion context (origin, notes) and the scalars read from attributes (booleans, integers,
//! dates), and kept elements.

use super::*;

// ------------------------------------------------------------------------------------------
// Conversion context.
// ------------------------------------------------------------------------------------------

/// What converting one entity (or one permission record) needs: where, and the notes.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) entity: Label<'a>,
    pub(super) line: u64,
    pub(super) notes: &'a mut Vec<Note>,
    /// The messages of this entity's notes, so that each is noted once in constant time.
    pub(super) noted: HashSet<String>,
}

/// Names the entity (or collection) a [`Ctx`] converts; formatted only when a note or an
/// error needs it.
pub(super) enum Label<'a> {
    Text(String),
    Entity(Collection, &'a str),
}

impl Label<'_> {
    pub(super) fn text(&self) -> String {
        match self {
            Label::Text(text) => text.clone(),
            Label::Entity(collection, name) => format!("{collection}/{name}"),
        }
    }
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        file: &'a str,
        entity: Label<'a>,
        line: u64,
        notes: &'a mut Vec<Note>,
    ) -> Self {
        Ctx {
            file,
            entity,
            line,
            notes,
            noted: HashSet::new(),
        }
    }

    pub(super) fn origin(&self, line: u64) -> Origin {
        Origin {
            file: self.file.to_owned(),
            line: Some(line),
        }
    }

    /// A note about this entity, once per distinct message.
    pub(super) fn note(&mut self, message: String) {
        if !self.noted.insert(message.clone()) {
            return;
        }
        self.notes.push(Note {
            origin: self.origin(self.line),
            entity: Some(self.entity.text()),
            message,
        });
    }

    pub(super) fn unplaced_attr(&mut self, owner: &str, key: &str) {
        self.note(format!(
            "attribute '{key}' of <{owner}> has no place in the model and was dropped"
        ));
    }

    pub(super) fn unplaced_child(&mut self, owner: &str, child: &str) {
        self.note(format!(
            "element <{child}> inside <{owner}> has no place in the model and was dropped"
        ));
    }

    pub(super) fn invalid(&self, node: Node<'_>, message: String) -> ImportError {
        ImportError::Invalid {
            origin: self.origin(node.line()),
            entity: self.entity.text(),
            message,
        }
    }
}

pub(super) fn parse_bool(text: &str) -> bool {
    text.trim() == "true"
}

pub(super) fn parse_int(ctx: &mut Ctx<'_>, owner: &str, key: &str, text: &str) -> i32 {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return 0;
    }
    if let Ok(n) = trimmed.parse::<i32>() {
        return n;
    }
    if let Some(f) = trimmed
        .parse::<f64>()
        .ok()
        .filter(|f| f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX))
    {
        return f as i32;
    }
    ctx.note(format!(
        "attribute '{key}' of <{owner}> is not an integer ('{trimmed}'); read as 0"
    ));
    0
}

/// [`values::parse_date`] with a fast path for the shapes exports write
/// (`2019-11-26T09:43:27.449Z`, `2018-07-10T08:40:18.709+02:00`); anything else goes to the
/// general parser.
pub(super) fn parse_date(text: &str) -> Option<i64> {
    fast_date(text.as_bytes()).or_else(|| values::parse_date(text))
}

pub(super) fn fast_date(b: &[u8]) -> Option<i64> {
    fn digits(b: &[u8]) -> Option<i64> {
        let mut n = 0i64;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    }
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (hour, minute, second) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month)
        || day < 1
        || day > month_days[usize::try_from(month - 1).ok()?]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if rest.first() == Some(&b'.') {
        let count = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 || count > 9 {
            return None;
        }
        nanos = digits(&rest[1..=count])? * 10i64.pow(9 - count as u32);
        rest = &rest[1 + count..];
    }
    let offset_seconds = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), then seconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    i64::try_from(total / 1_000_000).ok()
}

pub(super) fn parse_date_attr(
    ctx: &mut Ctx<'_>,
    owner: &str,
    key: &str,
    text: &str,
) -> Option<i64> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let parsed = parse_date(trimmed).or_else(|| trimmed.parse::<i64>().ok());
    if parsed.is_none() {
        ctx.note(format!(
            "'{key}' of <{owner}> is not a date ('{trimmed}'); left unset"
        ));
    }
    parsed
}

/// An element as the generic JSON form of [`model::element_json`].
pub(super) fn element_to_json(node: Node<'_>, with_name: bool) -> Json {
    let attributes = node
        .attrs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let children = node.children().map(|c| element_to_json(c, true)).collect();
    model::element_json(
        with_name.then(|| node.name()),
        attributes,
        node.text(),
        children,
    )
}

/// Keeps an unknown child element in `extra` in the neutral form ([`extras`]); a repeated name
/// collects into an array.
pub(super) fn keep_element(extra: &mut Extra, node: Node<'_>) {
    let (key, value) = extras::from_xml_element(node.name(), &element_to_json(node, false));
    match extra.get_mut(&key) {
        None => {
            extra.insert(key, value);
        }
        Some(Json::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Json::Array(vec![first, value]);
        }
    }
}
