//! One renderer for every InfoTable a route answers (service results, property reads, lists):
//! JSON by default, XML for `Accept: text/xml` or `application/xml`, CSV for `text/csv`, an
//! HTML table for `text/html`, chosen by the `Accept` header's preferences (`q`). The
//! middleware [`accept`] re-renders a successful JSON answer that is an InfoTable
//! (`{"dataShape":{"fieldDefinitions":…},"rows":[…]}`); every other answer (documents,
//! errors, pages) is left as it is. The shapes are in the README (HTTP API).
//!
//! XML: `<InfoTable><DataShape><FieldDefinitions><FieldDefinition name=… baseType=…
//! ordinal=… description=…/>…</FieldDefinitions></DataShape><Rows><Row><field>value</field>…
//! </Row></Rows></InfoTable>`, the shape ThingWorx's own exports give an InfoTable; a nested
//! InfoTable value is an `<InfoTable>` element, a JSON value its text. CSV: a header line of
//! the field names, then one line per row (RFC 4180 quoting). HTML: one `<table>` with the
//! field names as its header.

use std::fmt::Write as _;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use ironworx_entity::vocab::BaseType;
use serde_json::{Map, Value};

use crate::markup::escape;

/// A rendering of InfoTables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/xml` (or `application/xml`).
    Xml,
    /// `text/csv`.
    Csv,
    /// `text/html`.
    Html,
}

impl Format {
    /// The `Content-Type` of the rendering.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "text/xml; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }

    fn of_media_type(media: &str) -> Option<Format> {
        match media {
            "application/json" | "*/*" | "application/*" => Some(Format::Json),
            "text/xml" | "application/xml" => Some(Format::Xml),
            "text/csv" => Some(Format::Csv),
            "text/html" => Some(Format::Html),
            _ => None,
        }
    }
}

/// The rendering an `Accept` header prefers: the supported media type of highest `q`, the
/// first listed among equals; JSON when there is no header or nothing supported is named.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Json;
    };
    let mut best: Option<(f32, Format)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(format) = Format::of_media_type(&media)
            && q > 0.0
            && best.is_none_or(|(b, _)| q > b)
        {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Json, |(_, f)| f)
}

/// The fields of an InfoTable as (name, base type), by ordinal (then name).
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// The fields of an InfoTable and its rows; `None` when `value` is not an InfoTable.
fn parts(value: &Value) -> Option<(Fields<'_>, &[Value])> {
    let definitions = value
        .get("dataShape")?
        .get("fieldDefinitions")?
        .as_object()?;
    let rows = value.get("rows")?.as_array()?;
    let mut fields: Vec<(i64, &str, &str)> = definitions
        .iter()
        .map(|(name, d)| {
            (
                d.get("ordinal").and_then(Value::as_i64).unwrap_or(i64::MAX),
                name.as_str(),
                d.get("baseType")
                    .and_then(Value::as_str)
                    .unwrap_or(BaseType::String.as_str()),
            )
        })
        .collect();
    fields.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    Some((fields.into_iter().map(|(_, n, t)| (n, t)).collect(), rows))
}

/// `value` rendered as `format`, when it is an InfoTable and `format` is not JSON.
pub fn render(format: Format, value: &Value) -> Option<String> {
    if format == Format::Json {
        return None;
    }
    let (fields, rows) = parts(value)?;
    let mut out = String::new();
    match format {
        Format::Xml => {
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            xml(&mut out, &fields, rows, value);
        }
        Format::Csv => csv(&mut out, &fields, rows),
        Format::Html => html(&mut out, &fields, rows),
        Format::Json => {}
    }
    Some(out)
}

/// A value as text: strings as they are, null as nothing, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether `name` can be an XML element name as it is.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.to_ascii_lowercase().starts_with("xml")
}

fn xml(out: &mut String, fields: &[(&str, &str)], rows: &[Value], table: &Value) {
    out.push_str("<InfoTable><DataShape><FieldDefinitions>");
    let definitions = table.pointer("/dataShape/fieldDefinitions");
    for (ordinal, (name, base_type)) in fields.iter().enumerate() {
        let description = definitions
            .and_then(|d| d.get(*name))
            .and_then(|d| d.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let _ = write!(
            out,
            "<FieldDefinition name=\"{}\" baseType=\"{}\" description=\"{}\" ordinal=\"{ordinal}\"/>",
            escape(name),
            escape(base_type),
            escape(description)
        );
    }
    out.push_str("</FieldDefinitions></DataShape><Rows>");
    for row in rows {
        out.push_str("<Row>");
        for (name, _) in fields {
            let Some(value) = row.get(*name).filter(|v| !v.is_null()) else {
                continue;
            };
            let (open, close) = if is_xml_name(name) {
                (format!("<{name}>"), format!("</{name}>"))
            } else {
                (
                    format!("<Value name=\"{}\">", escape(name)),
                    "</Value>".to_owned(),
                )
            };
            out.push_str(&open);
            match parts(value) {
                Some((inner_fields, inner_rows)) => xml(out, &inner_fields, inner_rows, value),
                None => out.push_str(&escape(&text(value))),
            }
            out.push_str(&close);
        }
        out.push_str("</Row>");
    }
    out.push_str("</Rows></InfoTable>");
}

/// One CSV cell: quoted when it holds a comma, quote or line break.
fn csv_cell(out: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

fn csv(out: &mut String, fields: &[(&str, &str)], rows: &[Value]) {
    let line = |out: &mut String, cells: Vec<String>| {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_cell(out, cell);
        }
        out.push_str("\r\n");
    };
    line(out, fields.iter().map(|(n, _)| (*n).to_owned()).collect());
    for row in rows {
        let empty = Map::new();
        let row = row.as_object().unwrap_or(&empty);
        line(
            out,
            fields
                .iter()
                .map(|(n, _)| row.get(*n).map(text).unwrap_or_default())
                .collect(),
        );
    }
}

fn html(out: &mut String, fields: &[(&str, &str)], rows: &[Value]) {
    out.push_str(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>InfoTable</title></head>\
         <body><table><thead><tr>",
    );
    for (name, _) in fields {
        let _ = write!(out, "<th>{}</th>", escape(name));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (name, _) in fields {
            let cell = row.get(*name).map(text).unwrap_or_default();
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></body></html>\n");
}

/// The middleware: a successful JSON answer that is an InfoTable, to a request whose `Accept`
/// prefers XML, CSV or HTML, is rendered so; anything else passes as it is.
pub async fn accept(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let format = negotiate(
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let res = next.call(req).await?;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if format == Format::Json || !res.status().is_success() || !is_json {
        return Ok(res.map_into_left_body());
    }
    let (request, response) = res.into_parts();
    let (head, body) = response.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.map_err(|e| {
        let e: Box<dyn std::error::Error> = e.into();
        actix_web::error::ErrorInternalServerError(e.to_string())
    })?;
    let rendered = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|value| render(format, &value));
    let response = match rendered {
        Some(text) => {
            let mut response = head.set_body(Bytes::from(text));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            response
        }
        None => head.set_body(bytes),
    };
    Ok(ServiceResponse::new(request, response.map_into_boxed_body()).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::infotable::infotable;
    use serde_json::json;

    #[test]
    fn accept_picks_the_preferred_supported_type() {
        assert_eq!(negotiate(None), Format::Json);
        assert_eq!(negotiate(Some("*/*")), Format::Json);
        assert_eq!(
            negotiate(Some("application/json, text/plain, */*")),
            Format::Json
        );
        assert_eq!(negotiate(Some("text/xml")), Format::Xml);
        assert_eq!(negotiate(Some("application/xml")), Format::Xml);
        assert_eq!(negotiate(Some("text/csv")), Format::Csv);
        assert_eq!(
            negotiate(Some(
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
            )),
            Format::Html
        );
        assert_eq!(
            negotiate(Some("text/html;q=0.1, application/json")),
            Format::Json
        );
        assert_eq!(negotiate(Some("image/png")), Format::Json);
    }

    #[test]
    fn one_table_four_renderings() {
        let table = infotable(
            &[("name", "STRING"), ("value", "NUMBER")],
            vec![
                json!({"name": "a<b, \"c\"", "value": 1.5}),
                json!({"name": "d"}),
            ],
        );
        assert!(render(Format::Json, &table).is_none());
        let xml = render(Format::Xml, &table).expect("xml");
        assert!(
            xml.contains("<FieldDefinition name=\"name\" baseType=\"STRING\""),
            "{xml}"
        );
        assert!(
            xml.contains("<Row><name>a&lt;b, &quot;c&quot;</name><value>1.5</value></Row>"),
            "{xml}"
        );
        let csv = render(Format::Csv, &table).expect("csv");
        assert_eq!(csv, "name,value\r\n\"a<b, \"\"c\"\"\",1.5\r\nd,\r\n");
        let html = render(Format::Html, &table).expect("html");
        assert!(html.contains("<th>name</th><th>value</th>"), "{html}");
        assert!(html.contains("<td>a&lt;b, &quot;c&quot;</td>"), "{html}");
        assert!(render(Format::Xml, &json!({"name": "doc"})).is_none());
    }
}
