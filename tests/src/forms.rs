//! Form login as a browser does it: pages read with their cookies and fields, forms posted
//! with the CSRF cookie and field, for the tests of login pages and of sessions.
//!
//! # Panics
//! The helpers panic when a request cannot be sent or a page lacks what a login needs.

use reqwest::header::{self, HeaderMap};
use reqwest::{Client, Response, StatusCode};

use crate::TestServer;

/// A browser-like client: HTML, no redirects followed, no cookie store (cookies are sent by
/// hand so each request says exactly which it carries).
pub fn browser() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A response, read: status, headers, the cookies it sets (name, value, HttpOnly, SameSite
/// Strict, path, removal) and the body.
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The cookies it sets.
    pub cookies: Vec<SetCookie>,
    /// The body.
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct SetCookie {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite=Strict`.
    pub strict: bool,
    /// `Path`.
    pub path: Option<String>,
    /// Whether it removes the cookie (empty, or `Max-Age=0`).
    pub removal: bool,
}

impl Reply {
    /// Reads a response.
    pub async fn of(res: Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let cookies = res
            .cookies()
            .map(|c| SetCookie {
                name: c.name().to_owned(),
                value: c.value().to_owned(),
                http_only: c.http_only(),
                strict: c.same_site_strict(),
                path: c.path().map(str::to_owned),
                removal: c.max_age().is_some_and(|d| d.is_zero()) || c.value().is_empty(),
            })
            .collect();
        Reply {
            status,
            headers,
            cookies,
            body: res.text().await.expect("body"),
        }
    }

    /// The cookie `name` it sets.
    pub fn cookie(&self, name: &str) -> Option<&SetCookie> {
        self.cookies.iter().find(|c| c.name == name)
    }

    /// Its `Location` header.
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the form field `name` in the page.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let len = self.body[start..].find('"')?;
        Some(self.body[start..start + len].to_owned())
    }
}

/// GETs `path` as a browser would, with `cookies`.
pub async fn get(server: &TestServer, path: &str, cookies: &str) -> Reply {
    let mut req = browser()
        .get(server.url(path))
        .header(header::ACCEPT, "text/html");
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies);
    }
    Reply::of(req.send().await.expect("request")).await
}

/// POSTs `form` to `path` as a browser would, with `cookies`.
pub async fn post_form(
    server: &TestServer,
    path: &str,
    cookies: &str,
    form: &[(&str, &str)],
) -> Reply {
    let mut req = browser()
        .post(server.url(path))
        .header(header::ACCEPT, "text/html")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(urlencoded(form));
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies);
    }
    Reply::of(req.send().await.expect("request")).await
}

/// `form` as `application/x-www-form-urlencoded`.
pub fn urlencoded(form: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Opens `org`'s login page: the CSRF cookie it sets, which the form repeats.
pub async fn open_form(server: &TestServer, org: &str) -> String {
    let page = get(server, &format!("/Thingworx/FormLogin/{org}"), "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let cookie = page.cookie("CSRFID").expect("CSRF cookie").value.clone();
    assert_eq!(page.field("x-csrf-id").as_deref(), Some(cookie.as_str()));
    cookie
}

/// Posts the login form of `org` with a matching CSRF cookie and field.
pub async fn login(server: &TestServer, org: &str, user: &str, password: &str) -> Reply {
    let csrf = open_form(server, org).await;
    post_form(
        server,
        "/Thingworx/action-login",
        &format!("CSRFID={csrf}"),
        &[
            ("thingworx-form-userid", user),
            ("thingworx-form-password", password),
            ("OrganizationName", org),
            ("x-thingworx-session", "true"),
            ("x-csrf-id", &csrf),
        ],
    )
    .await
}
